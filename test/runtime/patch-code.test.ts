// Patch code at enable (issue 11): nothing of a patch runs before its callbacks are called on purpose;
// callbacks are compiled at enable; async callbacks are awaited with a bound and a rejection takes the
// kernel's error path. In this process, with modules loaded as the loader would.

import assert from 'node:assert/strict';
import { subscribe } from 'node:diagnostics_channel';
import { test } from 'node:test';
import { installRuntime, isLpError } from '../../src/runtime/index.js';
import type { PatchFile } from '../../src/runtime/patchfile.js';
import { loadModule, sha256 } from './load.js';

const rt = installRuntime();
const lines: string[] = [];
subscribe('livepatch:log', (msg) => lines.push((msg as { line: string }).line));

const g = globalThis as { canary?: number };

/** `fn` is refused with `code` (and a message matching `why`), and the process is as it was. */
async function refusedAsync(fn: () => unknown, code: string, why?: RegExp): Promise<void> {
  const before = JSON.stringify(rt.list());
  try {
    await fn();
  } catch (e) {
    assert.ok(isLpError(e), String(e));
    assert.equal(e.code, code, e.message);
    if (why) assert.match(e.message, why);
    assert.equal(JSON.stringify(rt.list()), before);
    return;
  }
  assert.fail('accepted');
}

const SRC = 'function price(x) { return x * 2 }\nmodule.exports = { price };\n';

function patch(name: string, obj: string, funcs: PatchFile['objs'][0]['funcs'], callbacks?: PatchFile['objs'][0]['callbacks']): PatchFile {
  return { name, objs: [{ name: obj, sha256: sha256(SRC), funcs, ...(callbacks ? { callbacks } : {}) }] };
}

test('patch code that runs or kills at enable: computed keys and every non-function form are refused, no source runs', async () => {
  const m = loadModule<{ price: (x: number) => number }>('./pc1/price.js', SRC);
  g.canary = 0;
  const evil = [
    '[globalThis.canary = 1]() { return 0 }',
    '[process.exit(7)]() { return 0 }',
    '[(() => { for (;;); })()]() { return 0 }',
    'get [globalThis.canary++]() { return 0 }',
    '(globalThis.canary = 1, function () {})',
    'function () {}\n)(globalThis.canary = 1',
    '(() => {})(globalThis.canary = 1)',
    'function f() {} globalThis.canary = 1',
  ];
  for (const source of evil) {
    for (const where of ['replacement', 'prePatch', 'postUnpatch', 'not loaded']) {
      const p =
        where === 'replacement' ? patch('evil', './pc1/price.js', [{ oldName: 'price', source }])
        : where === 'not loaded' ? patch('evil', './pc1/later.js', [{ oldName: 'price', source }])
        : patch('evil', './pc1/price.js', [], { [where]: source });
      await refusedAsync(() => rt.enableAsync(p), 'LP_ERR_PATCH_SYNTAX');
      assert.throws(() => rt.enable(p), { code: 'LP_ERR_PATCH_SYNTAX' });
    }
  }
  assert.equal(g.canary, 0, 'no patch source ran');
  assert.equal(m.price(2), 4);
});

test('callbacks: a syntax error in any callback is LP_ERR_PATCH_SYNTAX with line:column at enable, loaded or not', async () => {
  loadModule('./pc2/price.js', SRC);
  for (const name of ['prePatch', 'postPatch', 'preUnpatch', 'postUnpatch'] as const) {
    for (const obj of ['./pc2/price.js', './pc2/not-loaded.js']) {
      await refusedAsync(() => rt.enableAsync(patch('syn', obj, [], { [name]: '(obj) => {\n  return 0 +;\n}' })), 'LP_ERR_PATCH_SYNTAX', new RegExp(`callbacks\\.${name}: the replacement does not parse: 2:13: `));
    }
  }
  // Free names are checked at enable too when the module is loaded.
  await refusedAsync(() => rt.enableAsync(patch('unres', './pc2/price.js', [], { postPatch: '() => nowhere()' })), 'LP_ERR_UNRESOLVED', /nowhere/);
});

test('callbacks: an async prePatch is awaited; a rejection or a timeout refuses the enable and changes nothing', async () => {
  const m = loadModule<{ price: (x: number) => number }>('./pc3/price.js', SRC);
  const v2 = [{ oldName: 'price', source: 'function (x) { return x * 3 }' }];
  await refusedAsync(() => rt.enableAsync(patch('rej', './pc3/price.js', v2, { prePatch: "async () => { throw new Error('not today') }" })), 'LP_ERR_CALLBACK_FAILED');
  assert.ok(lines.some((l) => l.includes("'rej': prePatch callback for './pc3/price.js' rejected: not today")));
  await refusedAsync(() => rt.enableAsync(patch('neg', './pc3/price.js', v2, { prePatch: 'async () => -16' })), 'LP_ERR_CALLBACK_FAILED', /\(-16\)/);
  rt.callbackTimeoutMs = 50;
  try {
    await refusedAsync(() => rt.enableAsync(patch('slow', './pc3/price.js', v2, { prePatch: 'async () => new Promise(() => {})' })), 'LP_ERR_CALLBACK_FAILED', /\(-110\)/);
  } finally {
    rt.callbackTimeoutMs = 10_000;
  }
  assert.equal(m.price(2), 4, 'the old code runs');
  // The sync API cannot wait: it says so and changes nothing.
  await refusedAsync(() => rt.enable(patch('sync', './pc3/price.js', v2, { prePatch: 'async () => 0' })), 'LP_ERR_USAGE', /enableAsync/);
  // An async prePatch that resolves: the patch is applied, its result seen by the engine.
  g.canary = 0;
  await rt.enableAsync(patch('ok', './pc3/price.js', v2, { prePatch: 'async () => { await null; globalThis.canary = 1; return 0 }', postUnpatch: 'async () => { globalThis.canary = 2 }' }));
  await rt.waitIdle();
  assert.equal(g.canary, 1);
  assert.equal(m.price(2), 6);
  rt.disable('ok');
  await rt.waitIdle();
  await new Promise((r) => setImmediate(r));
  assert.equal(g.canary, 2);
  assert.equal(m.price(2), 4);
});

test('callbacks: a promise of a callback is never left unhandled; a sync prePatch that returns one fails', async () => {
  const m = loadModule<{ price: (x: number) => number }>('./pc4/price.js', SRC);
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await refusedAsync(() => rt.enableAsync(patch('thenable', './pc4/price.js', [], { prePatch: "() => Promise.reject(new Error('late'))" })), 'LP_ERR_CALLBACK_FAILED');
    assert.ok(lines.some((l) => l.includes("'thenable': prePatch callback for './pc4/price.js' returned a promise: declare it async")));
    await rt.enableAsync(patch('post', './pc4/price.js', [], { postPatch: "async () => { throw new Error('post failed') }", postUnpatch: "() => Promise.reject(new Error('unpatch failed'))" }));
    await rt.waitIdle();
    rt.disable('post');
    await rt.waitIdle();
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(lines.some((l) => l.includes("'post': postPatch callback for './pc4/price.js' rejected: post failed")));
    assert.ok(lines.some((l) => l.includes("'post': postUnpatch callback for './pc4/price.js' rejected: unpatch failed")));
    assert.deepEqual(unhandled, []);
    assert.equal(m.price(2), 4);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('callbacks: an async prePatch for a module not loaded yet is refused at enable (a module load cannot wait)', async () => {
  await refusedAsync(() => rt.enableAsync(patch('later', './pc5/later.js', [], { prePatch: 'async () => 0' })), 'LP_ERR_UNPATCHABLE', /module loads later/);
});
