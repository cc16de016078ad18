// The TypeScript twin of examples/shop: every request runs lib/shop.ts's handle(). `/slow/<id>` parks the
// request inside handle() until `/release/<id>`, to show a task holding a transition back.
import * as http from 'node:http';
import { handle } from './lib/shop';

const gates = new Map<string, () => void>();
function waitFor(url: string): Promise<void> {
  if (!url.startsWith('/slow/')) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => gates.set(url.slice('/slow/'.length), resolve));
}

const server = http.createServer(async (req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/release/')) {
    const id = url.slice('/release/'.length);
    const open = gates.get(id);
    gates.delete(id);
    if (open) open();
    res.end(open ? 'released' : 'none');
    return;
  }
  try {
    res.setHeader('content-type', 'application/json');
    res.end(await handle(url, waitFor));
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e instanceof Error ? e.stack : e));
  }
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const addr = server.address();
  console.log(`READY ${typeof addr === 'object' && addr ? addr.port : addr}`);
});
