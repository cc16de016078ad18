// The example service on worker threads: the main thread takes the HTTP requests and hands each to one
// of THREADS worker threads (round robin), which runs lib/shop.js's handle() as a livepatch task of its
// own. `/slow/<id>` parks the request inside handle() until `/release/<id>`; `/threads/restart/<i>`
// starts a new worker i and terminates the old one once it has answered its requests.
const http = require('node:http');
const { Worker, isMainThread, parentPort } = require('node:worker_threads');

if (isMainThread) {
  const workers = [];
  const waiting = new Map();
  /** Requests in flight per worker: a restarted worker is terminated once it has answered all of its. */
  const inFlight = new Map();
  let nextId = 1;
  let next = 0;
  const start = (i) => {
    const w = new Worker(__filename);
    inFlight.set(w, 0);
    w.on('message', (m) => {
      const done = waiting.get(m.id);
      waiting.delete(m.id);
      if (done) done(m);
    });
    w.on('error', (e) => console.error(`thread ${i}: ${e.stack}`));
    workers[i] = w;
    return new Promise((resolve) => w.once('online', resolve));
  };
  const ask = (w, msg) =>
    new Promise((resolve) => {
      const id = nextId++;
      inFlight.set(w, inFlight.get(w) + 1);
      waiting.set(id, (m) => {
        inFlight.set(w, inFlight.get(w) - 1);
        resolve(m);
      });
      w.postMessage({ ...msg, id });
    });
  const drained = async (w) => {
    while (inFlight.get(w) > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  };

  const server = http.createServer(async (req, res) => {
    const url = req.url;
    if (url.startsWith('/release/')) {
      // Every live worker: the gate may be in one that is being restarted.
      const answers = await Promise.all([...inFlight.keys()].map((w) => ask(w, { release: url.slice('/release/'.length) })));
      res.end(answers.some((a) => a.released) ? 'released' : 'none');
      return;
    }
    if (url.startsWith('/threads/restart/')) {
      // The new thread takes the old one's place at once; the old one ends when its requests have.
      const i = Number(url.slice('/threads/restart/'.length));
      const old = workers[i];
      await start(i);
      await drained(old);
      await old.terminate();
      inFlight.delete(old);
      res.end('restarted');
      return;
    }
    const w = workers[next++ % workers.length];
    const answer = await ask(w, { url });
    res.statusCode = answer.error ? 500 : 200;
    res.setHeader('content-type', 'application/json');
    res.end(answer.error || answer.body);
  });
  Promise.all(Array.from({ length: Number(process.env.THREADS || 4) }, (_, i) => start(i))).then(() =>
    server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`)),
  );
} else {
  const { handle } = require('./lib/shop.js');
  const gates = new Map();
  const waitFor = (url) => {
    if (!url.startsWith('/slow/')) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => gates.set(url.slice('/slow/'.length), resolve));
  };
  import(process.env.LIVEPATCH_PACKAGE || 'livepatch').then(({ runTask }) => {
    parentPort.on('message', (m) => {
      if (m.release !== undefined) {
        const open = gates.get(m.release);
        gates.delete(m.release);
        if (open) open();
        parentPort.postMessage({ id: m.id, released: Boolean(open) });
        return;
      }
      runTask(`job ${m.url}`, () => handle(m.url, waitFor)).then(
        (body) => parentPort.postMessage({ id: m.id, body }),
        (e) => parentPort.postMessage({ id: m.id, error: String(e && e.stack) }),
      );
    });
  });
}
