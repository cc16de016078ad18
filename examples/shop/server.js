// The example service: every request runs lib/shop.js's handle(). `/slow/<id>` parks the request
// inside handle() until `/release/<id>`, to show a task holding a transition back.
const http = require('node:http');
const { handle } = require('./lib/shop.js');

const gates = new Map();
function waitFor(url) {
  if (!url.startsWith('/slow/')) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => gates.set(url.slice('/slow/'.length), resolve));
}

const server = http.createServer(async (req, res) => {
  if (req.url.startsWith('/release/')) {
    const id = req.url.slice('/release/'.length);
    const open = gates.get(id);
    gates.delete(id);
    if (open) open();
    res.end(open ? 'released' : 'none');
    return;
  }
  try {
    res.setHeader('content-type', 'application/json');
    res.end(await handle(req.url, waitFor));
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e && e.stack));
  }
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
