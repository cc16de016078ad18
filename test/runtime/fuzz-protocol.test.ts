// The protocol fuzz test (issue 11, acceptance 1): thousands of seeded random and mutated control
// messages (garbage bytes, deep nesting, huge strings, wrong types, inherited property names, mutations
// of valid requests, pipelined floods from a client that never reads) against a live HTTP service under
// loopback load. After each batch the process is alive, answers HTTP with the same code version, its
// patch list is unchanged and its RSS stays under twice its start. A failure prints its seed;
// LIVEPATCH_FUZZ_SEED=<seed> replays it.

import assert from 'node:assert/strict';
import http from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { test } from 'node:test';
import { ControlClient, socketPath } from '../../src/runtime/control.js';
import { MAX_JSON_DEPTH, MAX_LINE, MAX_REPLY } from '../../src/runtime/limits.js';
import type { PatchInfo, TransitionStatus } from '../../src/runtime/types.js';
import { freshTmp, MODULE, removeTmps, rss, SHA256, startChild } from './control-child.js';
import { Fuzz, INHERITED, withSeed } from './fuzz.js';

const BATCHES = 8;
const PER_BATCH = 400;
const CONNECTIONS = 4;
const BASE = 'base-v3';
const WRONG_SHA = 'e'.repeat(64);

/** Requests a client may send (none can change what the service runs: the sha256s are wrong or the module absent). */
const TEMPLATES: unknown[] = [
  { id: 1, op: 'ping' },
  { id: 2, op: 'list', args: {} },
  { id: 3, op: 'status', args: { limit: 3 } },
  { id: 4, op: 'modules' },
  { id: 5, op: 'functions', args: { module: MODULE } },
  { id: 6, op: 'log', args: { since: 0 } },
  { id: 'd', op: 'disable', args: { name: 'nope' } },
  { id: 'f', op: 'force', args: { name: 'nope' } },
  { id: 7, op: 'enable', args: { patch: { name: 'fz-absent', objs: [{ name: './lib/absent.js', sha256: SHA256, funcs: [{ oldName: 'f', source: 'function () { return 1 }' }] }] } } },
  {
    id: 8,
    op: 'enable',
    args: { patch: { name: 'fz-sha', states: [{ id: 1, version: 1 }], objs: [{ name: MODULE, sha256: WRONG_SHA, funcs: [{ oldName: 'hold', source: 'async function (ms) { return 1 }' }], callbacks: { prePatch: '() => 0' } }] } },
  },
];

/** One fuzzed message: one or more lines, each ending in a newline. */
function message(fz: Fuzz): Buffer {
  const line = (s: string) => Buffer.from(`${s}\n`);
  const deep = () => fz.deep(MAX_JSON_DEPTH + 1 + fz.int(20_000));
  switch (fz.int(8)) {
    case 0:
      return Buffer.concat([fz.bytes(fz.size(4096)), Buffer.from('\n')]);
    case 1:
      return line(
        fz.pick([
          () => `{"id":${deep()},"op":"list"}`,
          () => `{"id":1,"op":"status","args":${deep()}}`,
          () => `{"id":2,"op":"enable","args":{"patch":{"name":"fz-deep","states":${deep()},"objs":[]}}}`,
          () => deep(),
        ])(),
      );
    case 2: {
      const huge = 'h'.repeat(fz.int(1 << 19));
      return line(JSON.stringify(fz.pick([{ id: huge, op: 'list' }, { id: 1, op: huge }, { op: 'functions', args: { module: huge } }, { op: 'disable', args: { name: huge } }])));
    }
    case 3:
      return line(JSON.stringify({ id: fz.value(0), op: fz.chance(0.5) ? fz.value(1) : fz.pick(['list', 'status', 'enable', 'disable', 'log', 'functions']), args: fz.value() }));
    case 4: {
      const name = fz.pick(INHERITED);
      return line(
        fz.pick([
          `{"id":1,"op":"${name}"}`,
          `{"id":1,"op":"list","args":{"${name}":1}}`,
          `{"id":1,"op":"disable","args":{"${name}":{"name":"${BASE}"}}}`,
          `{"id":1,"op":"enable","args":{"patch":{"name":"fz-i","${name}":1,"objs":[{"name":"./lib/absent.js","sha256":"${SHA256}","funcs":[]}]}}}`,
        ]),
      );
    }
    case 5:
    case 6: {
      let text = JSON.stringify(fz.pick(TEMPLATES));
      for (let n = 1 + fz.int(3); n > 0; n--) text = fz.mutate(text);
      return line(text);
    }
    default:
      return line(JSON.stringify(fz.pick(TEMPLATES)));
  }
}

type Reply = { id?: unknown; ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };

/** Send `data` pipelined on one connection, read every reply until the process closes it. */
function exchange(pid: number, data: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socketPath(pid));
    const chunks: Buffer[] = [];
    conn.on('data', (d: Buffer) => chunks.push(d));
    conn.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    conn.on('close', () => resolve(Buffer.concat(chunks).toString('utf8').split('\n').slice(0, -1)));
    conn.end(data);
  });
}

/** The replies' rules: one per line, JSON, a stable LP_ERR_* code that is not a bug of ours, one line each. */
function checkReplies(lines: string[], expected: number, accepted: Set<string>): void {
  assert.equal(lines.length, expected, 'one reply per request line');
  for (const l of lines) {
    assert.ok(Buffer.byteLength(l) <= MAX_REPLY);
    const r = JSON.parse(l) as Reply;
    assert.equal(typeof r.ok, 'boolean', l.slice(0, 200));
    if (r.ok === false) {
      assert.match(String(r.error?.code), /^LP_ERR_[A-Z_]+$/);
      assert.notEqual(r.error?.code, 'LP_ERR_INTERNAL', String(r.error?.message));
    } else {
      const info = r.result as Partial<PatchInfo> | null;
      // A mutation that still makes a valid patch for an absent module: enabled, pending; removed after the batch.
      if (info && typeof info === 'object' && 'stackOrder' in info && info.name !== BASE && info.enabled) accepted.add(String(info.name));
    }
  }
}

/** Loopback HTTP load: `n` keep-alive loops, counting the bodies they got. */
function startLoad(port: number, n: number): { bodies: Map<string, number>; errors: string[]; stop(): Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: n });
  const bodies = new Map<string, number>();
  const errors: string[] = [];
  let running = true;
  const get = () =>
    new Promise<void>((ok) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d));
          res.on('end', () => {
            bodies.set(body, (bodies.get(body) ?? 0) + 1);
            ok();
          });
        })
        .on('error', (e) => {
          errors.push(e.message);
          ok();
        });
    });
  const loops = Array.from({ length: n }, async () => {
    while (running) await get();
  });
  return {
    bodies,
    errors,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

async function waitIdle(client: ControlClient): Promise<void> {
  while ((await client.call<TransitionStatus>('status')).patch !== null) await new Promise((r) => setTimeout(r, 10));
}

test('protocol fuzz: seeded random and mutated control messages against a live service under loopback load', { timeout: 300_000 }, () =>
  withSeed('dist/test/runtime/fuzz-protocol.test.js', async (seed) => {
    const child = await startChild(freshTmp(), { APP_HTTP: '1' });
    process.env.TMPDIR = child.tmp;
    const client = await ControlClient.connect(child.pid);
    const port = Number(child.lines.find((l) => l.startsWith('http '))!.slice(5));
    const load = startLoad(port, 4);
    try {
      await client.call('enable', { patch: { name: BASE, objs: [{ name: MODULE, sha256: SHA256, funcs: [{ oldName: 'price', source: 'function (n) { return n * 3 }' }] }] } });
      await waitIdle(client);
      const list = JSON.stringify(await client.call('list'));
      await new Promise((r) => setTimeout(r, 300));
      load.bodies.clear();
      const start = rss(child.pid);
      let peak = start;
      const fz = new Fuzz(seed);
      let sent = 0;
      for (let batch = 0; batch < BATCHES; batch++) {
        // A client that pipelines requests with big answers and never reads them, open for the whole batch.
        const flood: Socket = createConnection(socketPath(child.pid));
        flood.on('error', () => undefined);
        flood.pause();
        flood.write(fz.pick(['{"op":"log"}\n', `{"op":"functions","args":{"module":"${MODULE}"}}\n`, '{"op":"modules"}\n']).repeat(5_000 + fz.int(50_000)));
        const perConn: Buffer[][] = Array.from({ length: CONNECTIONS }, () => []);
        for (let i = 0; i < PER_BATCH; i++) perConn[fz.int(CONNECTIONS)].push(message(fz));
        const accepted = new Set<string>();
        await Promise.all(
          perConn.map(async (msgs) => {
            const data = Buffer.concat(msgs);
            checkReplies(await exchange(child.pid, data), data.filter((b) => b === 0x0a).length, accepted);
          }),
        );
        // Once a batch: a line over the cap gets one refusal and its connection closed.
        if (fz.chance(0.5)) {
          const over = await exchange(child.pid, Buffer.concat([Buffer.alloc(MAX_LINE + 1 + fz.int(1024), 'o'), Buffer.from('\n{"op":"list"}\n')]));
          assert.deepEqual(over.map((l) => (JSON.parse(l) as Reply).error?.code), ['LP_ERR_BAD_MESSAGE']);
        }
        sent += PER_BATCH;
        flood.destroy();
        for (const name of accepted) await client.call('disable', { name });
        await waitIdle(client);
        const served = [...load.bodies.entries()];
        load.bodies.clear();
        peak = Math.max(peak, rss(child.pid));
        const where = `after batch ${batch} (${sent} messages)`;
        assert.equal(child.proc.exitCode, null, `${where}: the process is alive`);
        assert.deepEqual(load.errors, [], `${where}: HTTP never failed`);
        assert.ok(served.length > 0, `${where}: HTTP answered during the batch`);
        assert.deepEqual(served.map(([body]) => body), ['3'], `${where}: every response ran the same code version`);
        assert.equal(JSON.stringify(await client.call('list')), list, `${where}: the patch list is unchanged`);
        assert.ok(peak < 2 * start, `${where}: RSS ${(peak / 2 ** 20).toFixed(1)} MiB stays under twice its start (${(start / 2 ** 20).toFixed(1)} MiB)`);
      }
      console.log(`# protocol fuzz: seed ${seed}, ${sent} messages in ${BATCHES} batches; RSS start ${(start / 2 ** 20).toFixed(1)} MiB, peak ${(peak / 2 ** 20).toFixed(1)} MiB`);
    } finally {
      await load.stop();
      client.close();
      await child.stop();
      removeTmps();
    }
  }),
);
