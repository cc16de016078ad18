// Issue 4, acceptance 1: a real HTTP server, started with `--import livepatch/register`, under
// concurrent load from this (second) process on loopback, is patched, unpatched, re-patched, reversed in
// the middle of a transition and atomically replaced through its control socket. Every response says
// which version of each patched function it ran: none may mix versions, none may fail; a request
// suspended inside a patched async function keeps old code until it returns while new requests get new
// code at once.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { ControlClient } from '../../src/runtime/control.js';
import type { PatchFile } from '../../src/runtime/patchfile.js';
import type { PatchInfo, TransitionStatus } from '../../src/runtime/types.js';

const REGISTER = resolve('dist/src/runtime/register.js');
const NODE = process.env.LIVEPATCH_TEST_NODE ?? process.execPath;

/** The service: three functions on every request's path; a patch version changes all three. */
const shop = (v: string): string =>
  [
    `async function handle(url, waitFor) {`,
    `  const seen = { handle: '${v}' };`,
    `  const price = quote(url, seen);`,
    `  await waitFor(url);`,
    `  return render(price, seen);`,
    `}`,
    `function quote(url, seen) { seen.quote = '${v}'; return url.length }`,
    `function render(price, seen) { seen.render = '${v}'; return JSON.stringify({ price, seen }) }`,
    `module.exports = { handle };`,
    ``,
  ].join('\n');

const SHOP = shop('v1');

const SERVER = `
const http = require('node:http');
const { handle } = require('./lib/shop.js');
const gates = new Map();
function waitFor(url) {
  if (!url.startsWith('/slow/')) return new Promise((r) => setImmediate(r));
  return new Promise((r) => gates.set(url.slice(6), r));
}
const server = http.createServer(async (req, res) => {
  if (req.url.startsWith('/release/')) {
    const open = gates.get(req.url.slice(9));
    gates.delete(req.url.slice(9));
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
server.listen(0, '127.0.0.1', () => console.log('READY ' + server.address().port));
`;

function patch(name: string, v: string, replace = false): PatchFile {
  return {
    name,
    replace,
    objs: [
      {
        name: './lib/shop.js',
        sha256: createHash('sha256').update(SHOP).digest('hex'),
        funcs: [
          { oldName: 'handle', source: `async function (url, waitFor) { const seen = { handle: '${v}' }; const price = quote(url, seen); await waitFor(url); return render(price, seen) }` },
          { oldName: 'quote', source: `function (url, seen) { seen.quote = '${v}'; return url.length }` },
          { oldName: 'render', source: `function (price, seen) { seen.render = '${v}'; return JSON.stringify({ price, seen }) }` },
        ],
      },
    ],
  };
}

let dir = '';
let child: ChildProcess;
let port = 0;
let ctl: ControlClient;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** The version a response ran, or throws if it mixed versions. */
function versionOf(body: string): string {
  const { seen } = JSON.parse(body) as { seen: Record<string, string> };
  const versions = new Set(Object.values(seen));
  assert.equal(Object.keys(seen).length, 3, body);
  assert.equal(versions.size, 1, `a response mixed versions: ${body}`);
  return [...versions][0];
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lp-e2e-'));
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'package.json'), '{"type":"commonjs"}');
  writeFileSync(join(dir, 'lib', 'shop.js'), SHOP);
  writeFileSync(join(dir, 'server.js'), SERVER);
  child = spawn(NODE, ['--import', REGISTER, 'server.js'], { cwd: dir, env: { ...process.env, LIVEPATCH_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise<number>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) ok(Number(m[1]));
    });
    child.once('exit', (code) => fail(new Error(`server exited with ${code}`)));
  });
  ctl = await ControlClient.connect(child.pid!);
});

after(() => {
  ctl?.close();
  agent.destroy();
  child?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitIdle(): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    const st = await ctl.call<TransitionStatus>('status');
    if (st.patch === null) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail('transition did not complete');
}

test('patch, unpatch, re-patch, reverse mid-transition and atomic replace under load: no mixed versions, no failures', async () => {
  const counts = new Map<string, number>();
  let failures = 0;
  let running = true;
  const loop = async (n: number): Promise<void> => {
    for (let i = 0; running; i++) {
      const res = await get(`/item/${n}/${i}`);
      if (res.status !== 200) failures++;
      else {
        const v = versionOf(res.body);
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
    }
  };
  const loops = Array.from({ length: 16 }, (_, n) => loop(n));
  const fresh = async (): Promise<string> => versionOf((await get('/item/fresh')).body);
  const slowly = (id: string): Promise<string> => get(`/slow/${id}`).then((r) => versionOf(r.body));
  const release = async (id: string): Promise<void> => {
    // The slow request may not have reached its gate yet.
    while ((await get(`/release/${id}`)).body !== 'released') await new Promise((r) => setTimeout(r, 2));
  };

  assert.equal(await fresh(), 'v1');

  // 1. Patch while a request is suspended inside handle(): it finishes on v1, new requests get v2 at once.
  const a = slowly('a');
  await new Promise((r) => setTimeout(r, 20));
  await ctl.call<PatchInfo>('enable', { patch: patch('shop-v2', 'v2') });
  assert.equal(await fresh(), 'v2');
  const st = await ctl.call<TransitionStatus>('status');
  assert.equal(st.patch, 'shop-v2');
  assert.ok(
    st.blocked.some((t) => t.name === 'GET /slow/a' && t.holding.some((h) => h.func === 'handle')),
    JSON.stringify(st),
  );
  await release('a');
  assert.equal(await a, 'v1');
  await waitIdle();

  // 2. Unpatch, then re-patch.
  await ctl.call('disable', { name: 'shop-v2' });
  await waitIdle();
  assert.equal(await fresh(), 'v1');
  await ctl.call('enable', { patch: patch('shop-v2', 'v2') });
  await waitIdle();
  assert.equal(await fresh(), 'v2');

  // 3. Atomic replace by v3, with a v2 request in flight; then disable v3 in the middle of its
  //    transition: it reverses, and the request that held it back still ends on v2.
  const b = slowly('b');
  await new Promise((r) => setTimeout(r, 20));
  await ctl.call('enable', { patch: patch('shop-v3', 'v3', true) });
  assert.equal(await fresh(), 'v3');
  assert.equal((await ctl.call<TransitionStatus>('status')).patch, 'shop-v3');
  await ctl.call('disable', { name: 'shop-v3' });
  assert.equal(await fresh(), 'v2');
  await release('b');
  assert.equal(await b, 'v2');
  await waitIdle();
  assert.deepEqual(
    (await ctl.call<PatchInfo[]>('list')).map((p) => p.name),
    ['shop-v2'],
  );

  // 4. Replace for good, then remove everything.
  await ctl.call('enable', { patch: patch('shop-v3', 'v3', true) });
  await waitIdle();
  assert.equal(await fresh(), 'v3');
  assert.deepEqual(
    (await ctl.call<PatchInfo[]>('list')).map((p) => p.name),
    ['shop-v3'],
  );
  await ctl.call('disable', { name: 'shop-v3' });
  await waitIdle();
  assert.equal(await fresh(), 'v1');

  running = false;
  await Promise.all(loops);
  assert.equal(failures, 0);
  for (const v of ['v1', 'v2', 'v3']) assert.ok((counts.get(v) ?? 0) > 0, `no load response ran ${v}: ${JSON.stringify([...counts])}`);
});

test('bad input under load: each refused with its code, the service keeps serving its previous code', async () => {
  await ctl.call('enable', { patch: patch('shop-v2', 'v2') });
  await waitIdle();
  let running = true;
  let failures = 0;
  let served = 0;
  const seen = new Set<string>();
  const loops = Array.from({ length: 8 }, async () => {
    while (running) {
      const res = await get('/item/bad');
      if (res.status !== 200) failures++;
      else seen.add(versionOf(res.body));
      served++;
    }
  });
  const bad = (p: PatchFile, mutate: (p: PatchFile) => void): PatchFile => {
    mutate(p);
    return p;
  };
  const cases: Array<[string, unknown]> = [
    ['LP_ERR_PATCH_SYNTAX', bad(patch('b1', 'x'), (p) => (p.objs[0].funcs[1].source = 'function (url, seen { return 1 }'))],
    ['LP_ERR_NO_SUCH_FUNC', bad(patch('b2', 'x'), (p) => (p.objs[0].funcs[1].oldName = 'nope'))],
    ['LP_ERR_SHA_MISMATCH', bad(patch('b3', 'x'), (p) => (p.objs[0].sha256 = '0'.repeat(64)))],
    ['LP_ERR_CALLBACK_FAILED', bad(patch('b4', 'x'), (p) => (p.objs[0].callbacks = { prePatch: '() => { throw new Error("no") }' }))],
    ['LP_ERR_UNPATCHABLE', bad(patch('b5', 'x'), (p) => (p.objs[0].funcs[0].source = 'function* (url) { yield 1 }'))],
  ];
  for (const [code, p] of cases) {
    await assert.rejects(ctl.call('enable', { patch: p }), (e: { code?: string }) => e.code === code, code);
    const list = await ctl.call<PatchInfo[]>('list');
    assert.deepEqual(
      list.map((x) => x.name),
      ['shop-v2'],
    );
  }
  // Keep the load on for a while after the last refusal.
  const until = served + 200;
  while (served < until) await new Promise((r) => setTimeout(r, 5));
  running = false;
  await Promise.all(loops);
  assert.equal(failures, 0);
  assert.deepEqual([...seen], ['v2']);
  await ctl.call('disable', { name: 'shop-v2' });
  await waitIdle();
});
