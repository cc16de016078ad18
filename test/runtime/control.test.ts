// The control socket of a real process: the protocol of docs/runtime.md, what garbage gets, and the
// socket directory's safety rules.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ControlClient, listSockets, MAX_LINE, socketDir, socketPath } from '../../src/runtime/control.js';
import { hookPath } from '../../src/runtime/loader.js';
import type { PatchInfo, TransitionStatus } from '../../src/runtime/types.js';
import { freshTmp, MODULE, removeTmps, SHA256, startChild, type Child } from './control-child.js';

let child: Child;
let client: ControlClient;

before(async () => {
  child = await startChild();
  // socketPath() and listSockets() look in os.tmpdir(), which follows TMPDIR.
  process.env.TMPDIR = child.tmp;
  client = await ControlClient.connect(child.pid);
});

after(async () => {
  client.close();
  await child.stop();
  removeTmps();
});

/** Send raw lines on a fresh connection; resolves with every line the process answered before it closed. */
function raw(data: string | Buffer, opts: { end?: boolean } = {}): Promise<Array<{ id: unknown; ok: boolean; error?: { code: string; message: string } }>> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socketPath(child.pid));
    let text = '';
    conn.setEncoding('utf8').on('data', (d: string) => (text += d));
    // A refused oversized write fails with EPIPE on our side: the answer is still readable.
    conn.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    conn.on('close', () => resolve(text.split('\n').filter(Boolean).map((l) => JSON.parse(l))));
    conn.write(data);
    if (opts.end !== false) conn.end();
    else setTimeout(() => conn.destroy(), 100);
  });
}

const waitIdle = async () => {
  for (let i = 0; i < 200; i++) {
    if ((await client.call<TransitionStatus>('status')).patch === null) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail('transition did not finish');
};

test('ping: pid, node, livepatch version, the hooks register.js installed, command line, app root', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const { argv, root, ...ping } = await client.call<{ argv: string[]; root: string }>('ping');
  // The child runs on this Node, so it took the same hook path.
  assert.deepEqual(ping, { pid: child.pid, node: process.version, livepatch: pkg.version, hooks: hookPath, primary: null });
  assert.equal(argv[0], process.execPath);
  assert.match(argv.join(' '), /--import \S+register\.js \S+main\.js$/);
  assert.match(root, /app-/);
});

test('list, status, modules, functions, log', async () => {
  assert.deepEqual(await client.call('list'), []);
  const st = await client.call<TransitionStatus>('status', { limit: 5 });
  assert.equal(st.patch, null);
  assert.equal(st.targetState, 'idle');
  assert.deepEqual(await client.call('modules'), [{ name: MODULE, sha256: SHA256, functions: 3, patched: 0 }]);
  const funcs = await client.call<Array<{ name: string; sympos: number; kind: string }>>('functions', { module: MODULE });
  assert.deepEqual(
    funcs.map((f) => [f.name, f.sympos, f.kind]),
    [
      ['price', 1, 'function'],
      ['hold', 1, 'function+async'],
      ['hold><anonymous>', 1, 'arrow'],
    ],
  );
  await assert.rejects(client.call('functions', { module: './nope.js' }), { code: 'LP_ERR_NOT_INSTRUMENTED' });
  const log = await client.call<{ next: number; lines: string[] }>('log');
  assert.equal(log.lines.length, log.next);
  assert.deepEqual(await client.call('log', { since: log.next }), { next: log.next, lines: [] });
});

test('enable a patch for a module not loaded yet: pending; disable removes it', async () => {
  const patch = { name: 'later', objs: [{ name: './lib/later.js', sha256: SHA256, funcs: [{ oldName: 'f', source: 'function () {}' }] }] };
  const info = await client.call<PatchInfo>('enable', { patch });
  assert.equal(info.name, 'later');
  assert.equal(info.enabled, true);
  assert.deepEqual(info.pendingObjects, ['./lib/later.js']);
  await waitIdle();
  assert.deepEqual((await client.call<PatchInfo[]>('list')).map((p) => [p.name, p.enabled, p.pendingObjects]), [['later', true, ['./lib/later.js']]]);
  await assert.rejects(client.call('enable', { patch }), { code: 'LP_ERR_DUPLICATE_PATCH' });
  assert.equal((await client.call<PatchInfo>('disable', { name: 'later' })).enabled, false);
  await waitIdle();
  assert.deepEqual(await client.call('list'), []);
  const { lines } = await client.call<{ lines: string[] }>('log');
  assert.ok(lines.includes("livepatch: 'later': unpatching complete"), lines.join('\n'));
});

test('a patched function runs the new code; force and disable', async () => {
  const patch = { name: 'triple', objs: [{ name: MODULE, sha256: SHA256, funcs: [{ oldName: 'price', source: 'function (n) { return n * 3 }' }] }] };
  await client.call('enable', { patch });
  await waitIdle();
  const printed = child.lines.length;
  child.send('price 5');
  while (child.lines.length === printed) await new Promise((r) => setTimeout(r, 10));
  assert.equal(child.lines.at(-1), '15');
  await assert.rejects(client.call('force', { name: 'triple' }), { code: 'LP_ERR_NOT_IN_TRANSITION' });
  await client.call('disable', { name: 'triple' });
  await waitIdle();
  assert.deepEqual(await client.call('list'), []);
});

test('bad requests get their code and change nothing', async () => {
  await client.call('enable', { patch: { name: 'keep', objs: [{ name: './lib/keep.js', sha256: SHA256, funcs: [{ oldName: 'f', source: 'function () {}' }] }] } });
  await waitIdle();
  const before = JSON.stringify(await client.call('list'));
  const other = 'f'.repeat(64);
  const requests: Array<[unknown, string]> = [
    ['not json', 'LP_ERR_BAD_MESSAGE'],
    [[1, 2], 'LP_ERR_BAD_MESSAGE'],
    ['"a string"', 'LP_ERR_BAD_MESSAGE'],
    [{ id: 1 }, 'LP_ERR_BAD_MESSAGE'],
    [{ id: 2, op: 'frobnicate' }, 'LP_ERR_BAD_MESSAGE'],
    [{ id: 3, op: 'toString' }, 'LP_ERR_BAD_MESSAGE'],
    [{ id: 4, op: 'disable' }, 'LP_ERR_BAD_MESSAGE'],
    [{ id: 5, op: 'disable', args: { name: 7 } }, 'LP_ERR_BAD_MESSAGE'],
    [{ id: 6, op: 'status', args: { limit: -1 } }, 'LP_ERR_BAD_MESSAGE'],
    [{ id: 7, op: 'list', args: { extra: true } }, 'LP_ERR_BAD_MESSAGE'],
    [{ id: 8, op: 'list', args: [] }, 'LP_ERR_BAD_MESSAGE'],
    [{ id: 9, op: 'enable', args: { patch: 'text' } }, 'LP_ERR_BAD_MESSAGE'],
    [{ id: 10, op: 'enable', args: { patch: { name: 'p', objs: [{ name: MODULE, sha256: 'abc', funcs: [] }] } } }, 'LP_ERR_PATCH_FILE'],
    [{ id: 11, op: 'enable', args: { patch: { name: 'p', objs: [{ name: MODULE, sha256: other, funcs: [] }] } } }, 'LP_ERR_SHA_MISMATCH'],
    [{ id: 12, op: 'enable', args: { patch: { name: 'p', objs: [{ name: MODULE, sha256: SHA256, funcs: [{ oldName: 'nope', source: 'function () {}' }] }] } } }, 'LP_ERR_NO_SUCH_FUNC'],
    [{ id: 13, op: 'disable', args: { name: 'nope' } }, 'LP_ERR_NO_SUCH_PATCH'],
  ];
  const text = requests.map(([r]) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';
  const answers = await raw(text);
  assert.equal(answers.length, requests.length);
  answers.forEach((a, i) => {
    const [req, code] = requests[i];
    assert.equal(a.ok, false, JSON.stringify(req));
    assert.equal(a.error?.code, code, `${JSON.stringify(req)}: ${a.error?.message}`);
    assert.ok(!a.error?.message.includes('\n'));
    assert.equal(a.id, typeof req === 'object' && req !== null && !Array.isArray(req) ? (req as { id: unknown }).id : null);
  });
  assert.equal(JSON.stringify(await client.call('list')), before);
  await client.call('disable', { name: 'keep' });
  await waitIdle();
});

test("a patch with an 'fn' that is not a function is refused (JSON carries no functions)", async () => {
  const patch = { name: 'fn', objs: [{ name: MODULE, sha256: SHA256, funcs: [{ oldName: 'price', source: 'function () {}', fn: 1 }] }] };
  try {
    // Accepted, its `fn` would be called as the replacement: every call of price would throw.
    await assert.rejects(client.call('enable', { patch }), { code: 'LP_ERR_PATCH_FILE' });
  } finally {
    await client.call('disable', { name: 'fn' }).catch(() => undefined);
    await waitIdle();
  }
});

test('a line over MAX_LINE (4 MiB) is refused and its connection closed; the process goes on serving', async () => {
  const answers = await raw(Buffer.alloc(MAX_LINE + 1024 * 1024, 'x'));
  assert.equal(answers.length, 1);
  assert.equal(answers[0].id, null);
  assert.equal(answers[0].error?.code, 'LP_ERR_BAD_MESSAGE');
  assert.deepEqual(await client.call('list'), []);
});

test('half a line, then the client goes away: nothing happens', async () => {
  assert.deepEqual(await raw('{"id": 1, "op": "ena', { end: false }), []);
  assert.deepEqual(await raw('{"id": 1, "op": "list"}\n'), [{ id: 1, ok: true, result: [] }]);
  assert.deepEqual(await client.call('list'), []);
});

test('requests on one connection are answered in order, each with its id', async () => {
  const answers = await raw(['{"id":"a","op":"ping"}', '{"op":"list"}', '{"id":3,"op":"list","args":{}}'].join('\n') + '\n');
  assert.deepEqual(
    answers.map((a) => [a.id, a.ok]),
    [
      ['a', true],
      [null, true],
      [3, true],
    ],
  );
});

test('the socket directory is private, and listSockets finds the live process only', () => {
  const st = statSync(socketDir());
  assert.equal(st.mode & 0o777, 0o700);
  assert.ok(statSync(socketPath(child.pid)).isSocket());
  // A socket left by a process that is gone (pid 2^22 + 1 is above Linux's pid_max).
  writeFileSync(join(socketDir(), '4194305.sock'), '');
  assert.deepEqual(listSockets(), [child.pid]);
});

test("another process's stale socket is left alone; the socket goes when the process exits", async () => {
  const stale = join(socketDir(), '4194306.sock');
  writeFileSync(stale, '');
  const second = await startChild(child.tmp);
  assert.ok(existsSync(stale));
  assert.deepEqual(listSockets(), [child.pid, second.pid].sort((a, b) => a - b));
  await second.stop();
  assert.ok(!existsSync(socketPath(second.pid)));
  assert.deepEqual(listSockets(), [child.pid]);
});

test('an open connection does not keep the process alive', { timeout: 20_000 }, async () => {
  const second = await startChild(child.tmp);
  const idle = await ControlClient.connect(second.pid);
  await second.stop();
  await assert.rejects(idle.call('list'), { code: 'LP_ERR_NO_PROCESS' });
});

test('a socket directory with a looser mode is refused: one warning, no socket, the app runs', async () => {
  const tmp = freshTmp();
  const dir = join(tmp, `livepatch-${process.getuid!()}`);
  mkdirSync(dir, { mode: 0o755 });
  const c = await startChild(tmp, { LIVEPATCH_LOG: 'warn' });
  try {
    assert.ok(!existsSync(join(dir, `${c.pid}.sock`)));
    assert.match(c.stderr(), /^livepatch: control socket disabled: .* has mode 0755, not 0700;/);
    c.send('price 2');
    while (c.lines.length < 2) await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.lines[1], '4');
  } finally {
    await c.stop();
  }
});
