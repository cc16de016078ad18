// The control socket against a hostile same-user client (issue 11): each class of bad input that once
// crashed, hung or bloated a serving process, against a real process.

import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { test } from 'node:test';
import { socketPath } from '../../src/runtime/control.js';
import { LOG_REPLY_BUDGET, MAX_JSON_DEPTH, MAX_LOG_LINE } from '../../src/runtime/limits.js';
import { parsePatchFile } from '../../src/runtime/patchfile.js';
import type { PatchInfo } from '../../src/runtime/types.js';
import { childForFile, MODULE, rss, SHA256 } from './control-child.js';

const at = childForFile();

type Answer = { id: unknown; ok: boolean; result?: unknown; error?: { code: string; message: string } };

/** Send `data` on a fresh connection and read `count` answers (or all, until the process closes). */
function ask(data: string, count = Infinity): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socketPath(at.child.pid));
    let text = '';
    const got: Answer[] = [];
    conn.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        got.push(JSON.parse(text.slice(0, nl)) as Answer);
        text = text.slice(nl + 1);
        if (got.length === count) {
          conn.destroy();
          resolve(got);
        }
      }
    });
    conn.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    conn.on('close', () => resolve(got));
    conn.write(data);
    if (count === Infinity) conn.end();
  });
}

const listNow = async () => JSON.stringify(await at.client.call<PatchInfo[]>('list'));

test('a client that never reads its answers: the process stops reading it; memory stays bounded, others are served', async () => {
  // Fill the log with long lines: a prePatch that throws a 1 MiB message, refused again and again.
  const thrower = (i: number) => ({
    name: `loud-${i}`,
    objs: [{ name: MODULE, sha256: SHA256, funcs: [], callbacks: { prePatch: "() => { throw new Error('x'.repeat(1 << 20)) }" } }],
  });
  for (let i = 0; i < 300; i++) await assert.rejects(at.client.call('enable', { patch: thrower(i) }), { code: 'LP_ERR_CALLBACK_FAILED' });
  const log = await at.client.call<{ next: number; lines: string[]; more?: boolean }>('log');
  assert.ok(log.lines.every((l) => l.length <= MAX_LOG_LINE + 40), 'every stored log line is cut to the cap');
  assert.ok(log.lines.some((l) => l.length > MAX_LOG_LINE), 'the thrown message was long enough to be cut');
  const replyChars = log.lines.reduce((n, l) => n + l.length, 0);
  assert.ok(replyChars <= LOG_REPLY_BUDGET + MAX_LOG_LINE + 40 && log.more === true, `one log reply is bounded (${replyChars})`);

  const start = rss(at.child.pid);
  // 20,000 pipelined `log` requests (each answer ~1 MiB) on a connection that never reads.
  const flood: Socket = createConnection(socketPath(at.child.pid));
  flood.on('error', () => undefined);
  flood.pause();
  await new Promise<void>((ok) => flood.once('connect', ok));
  flood.write('{"op":"log"}\n'.repeat(20_000));
  await new Promise((r) => setTimeout(r, 1500));
  const peak = rss(at.child.pid);
  assert.ok(peak < 2 * start, `RSS ${(peak / 2 ** 20).toFixed(1)} MiB stays under 2x its start ${(start / 2 ** 20).toFixed(1)} MiB`);
  // The process serves everyone else meanwhile, and its own code.
  assert.equal(await listNow(), '[]');
  const printed = at.child.lines.length;
  at.child.send('price 4');
  while (at.child.lines.length === printed) await new Promise((r) => setTimeout(r, 10));
  assert.equal(at.child.lines.at(-1), '8');
  flood.destroy();

  // A slow reader gets every answer, in order.
  const answers = await ask(Array.from({ length: 40 }, (_, i) => `{"id":${i},"op":"log","args":{"since":${i}}}`).join('\n') + '\n', 40);
  assert.deepEqual(answers.map((a) => a.id), Array.from({ length: 40 }, (_, i) => i));
});

test('deeply nested JSON anywhere: one LP_ERR_BAD_MESSAGE line, nothing changed', async () => {
  const before = await listNow();
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const lines = [
    `{"id":${deep(5000)},"op":"list"}`,
    `{"id":1,"op":"list","args":{"x":${deep(100_000)}}}`,
    `{"id":2,"op":"enable","args":{"patch":{"name":"deep","states":${deep(5000)},"objs":[]}}}`,
    `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`,
    // Within the depth cap, an id that is not a scalar is not echoed either.
    `{"id":${deep(MAX_JSON_DEPTH - 1)},"op":"list"}`,
    `{"id":"${'i'.repeat(300)}","op":"list"}`,
  ];
  const answers = await ask(lines.join('\n') + '\n');
  assert.equal(answers.length, lines.length);
  for (const a of answers) {
    assert.equal(a.ok, false);
    assert.equal(a.error?.code, 'LP_ERR_BAD_MESSAGE', a.error?.message);
    assert.equal(a.id, null);
  }
  assert.match(answers[0].error!.message, /deeper than 64 levels/);
  assert.equal(await listNow(), before);
  // The same reader refuses a deep patch text in-process, with the patch file's code.
  assert.throws(() => parsePatchFile(`{"name":"d","objs":${deep(100_000)}}`), { code: 'LP_ERR_PATCH_FILE', message: /deeper than 64 levels/ });
});

test('argument checks: inherited names (constructor, __proto__, toString) are not known arguments or fields', async () => {
  const before = await listNow();
  const obj = { name: MODULE, sha256: SHA256, funcs: [{ oldName: 'price', source: 'function (n) { return 0 }' }] };
  const requests: Array<[string, string]> = [
    ['{"id":1,"op":"list","args":{"constructor":1}}', 'LP_ERR_BAD_MESSAGE'],
    ['{"id":2,"op":"list","args":{"__proto__":{}}}', 'LP_ERR_BAD_MESSAGE'],
    ['{"id":3,"op":"disable","args":{"__proto__":{"name":"x"}}}', 'LP_ERR_BAD_MESSAGE'],
    ['{"id":4,"op":"hasOwnProperty"}', 'LP_ERR_BAD_MESSAGE'],
    ['{"id":5,"op":"__proto__"}', 'LP_ERR_BAD_MESSAGE'],
    [`{"id":6,"op":"enable","args":{"patch":{"name":"p","constructor":1,"objs":[${JSON.stringify(obj)}]}}}`, 'LP_ERR_PATCH_FILE'],
    [`{"id":7,"op":"enable","args":{"patch":{"name":"p","objs":[{"__proto__":${JSON.stringify(obj)}}]}}}`, 'LP_ERR_PATCH_FILE'],
    [`{"id":8,"op":"enable","args":{"patch":{"name":"p","objs":[${JSON.stringify({ ...obj, callbacks: { toString: '() => 0' } })}]}}}`, 'LP_ERR_PATCH_FILE'],
  ];
  const answers = await ask(requests.map(([r]) => r).join('\n') + '\n');
  answers.forEach((a, i) => assert.equal(a.error?.code, requests[i][1], `${requests[i][0]}: ${a.error?.message}`));
  assert.equal(await listNow(), before);
  // In-process: a field inherited from a prototype is no field.
  const inherited = Object.create({ name: 'p', objs: [obj] }) as object;
  assert.throws(() => parsePatchFile(inherited), { code: 'LP_ERR_PATCH_FILE', message: /'name' must be a string/ });
});

test('patch code that runs or kills at enable, and callbacks that reject, over the socket: refused, the process serves on', async () => {
  const before = await listNow();
  const obj = (funcs: unknown[], callbacks?: unknown) => ({ name: MODULE, sha256: SHA256, funcs, ...(callbacks ? { callbacks } : {}) });
  const bad: Array<[unknown, string]> = [
    [{ name: 'exit', objs: [obj([{ oldName: 'price', source: '[process.exit(3)]() { return 0 }' }])] }, 'LP_ERR_PATCH_SYNTAX'],
    [{ name: 'hang', objs: [obj([{ oldName: 'price', source: '[(() => { for (;;); })()]() {}' }])] }, 'LP_ERR_PATCH_SYNTAX'],
    [{ name: 'rej', objs: [obj([], { prePatch: "async () => { throw new Error('no') }" })] }, 'LP_ERR_CALLBACK_FAILED'],
    [{ name: 'late', objs: [obj([], { postUnpatch: '() => {\n  oops(;\n}' })] }, 'LP_ERR_PATCH_SYNTAX'],
  ];
  for (const [patch, code] of bad) await assert.rejects(at.client.call('enable', { patch }), { code });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(at.child.proc.exitCode, null);
  assert.equal(await listNow(), before);
  const printed = at.child.lines.length;
  at.child.send('price 5');
  while (at.child.lines.length === printed) await new Promise((r) => setTimeout(r, 10));
  assert.equal(at.child.lines.at(-1), '10');
});
