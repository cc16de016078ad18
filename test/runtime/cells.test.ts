// The hook cells (src/runtime/cells.ts): what each entry hook reads. The settled answer (a direct
// call of the replacement) exists only while no transition runs, is dropped while an admin verb runs
// and is set anew after it; instances sharing a cell always ask the handler.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installRuntime, runTask } from '../../src/runtime/index.js';
import { hookCell } from '../../src/runtime/instrument.js';
import type { PatchFile } from '../../src/runtime/patchfile.js';
import { loadModule, sha256 } from './load.js';

const rt = installRuntime();
rt.retryMs = 600_000;

const cellOf = (id: string): unknown => (globalThis as Record<string, unknown>)[hookCell(id)];

function patchFor(name: string, obj: string, src: string, funcs: PatchFile['objs'][0]['funcs'], extra: Partial<PatchFile['objs'][0]> = {}): PatchFile {
  return { name, objs: [{ name: obj, sha256: sha256(src), funcs, ...extra }] };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const SRC = 'function f(x) { return "v1:" + x }\nfunction g(x) { return "g:" + x }\nmodule.exports = { f, g };\n';

test('a cell: undefined until patched, the replacement itself once settled, undefined again after disable', () => {
  const id = './cells/a.js';
  const m = loadModule<{ f: (x: number) => string; g: (x: number) => string }>(id, SRC);
  assert.ok(Object.getOwnPropertyDescriptor(globalThis, hookCell(id)), 'defined when the module loads');
  assert.equal(cellOf(id), undefined);
  assert.ok(!Object.keys(globalThis).includes(hookCell(id)), 'not enumerable');
  rt.asRuntime(() => rt.enable(patchFor('cells-a', id, SRC, [{ oldName: 'f', source: 'function (x) { return "v2:" + x }' }])));
  const cell = cellOf(id) as unknown[];
  assert.ok(Object.isFrozen(cell));
  assert.equal(typeof cell[0], 'function', 'f: the settled answer');
  assert.equal(cell[1], 0, 'g: runs the original');
  assert.equal(m.f(1), 'v2:1');
  assert.equal(m.g(1), 'g:1');
  rt.asRuntime(() => rt.disable('cells-a'));
  assert.equal(cellOf(id), undefined);
  assert.equal(m.f(1), 'v1:1');
});

test('never settled during a transition: a blocked transition asks the handler, each task gets its version', async () => {
  const id = './cells/b.js';
  const src = 'function f() { return "v1" }\nasync function hold(gate) { await gate; return f() }\nmodule.exports = { f, hold };\n';
  const m = loadModule<{ f: () => string; hold: (g: Promise<void>) => Promise<string> }>(id, src);
  const gate = deferred();
  const old = runTask('old', () => m.hold(gate.promise));
  rt.asRuntime(() =>
    rt.enable(
      patchFor('cells-b', id, src, [
        { oldName: 'f', source: 'function () { return "v2" }' },
        { oldName: 'hold', source: 'async function (gate) { await gate; return f() + "!" }' },
      ]),
    ),
  );
  assert.equal(rt.status().patch, 'cells-b');
  assert.deepEqual(cellOf(id), [1, 1], 'both ask the handler while the transition runs');
  assert.equal(await runTask('new', () => m.f()), 'v2');
  gate.resolve();
  assert.equal(await old, 'v1', 'the old task finished on old code');
  assert.ok(await rt.waitIdle(5000));
  assert.equal(typeof (cellOf(id) as unknown[])[0], 'function', 'settled after completion');
  assert.equal(m.f(), 'v2');
  rt.asRuntime(() => rt.disable('cells-b'));
  assert.ok(await rt.waitIdle(5000));
});

test('dropped while a verb runs: a post-unpatch callback calling the function runs the original', () => {
  const id = './cells/c.js';
  const seen: string[] = [];
  const src = 'function f() { return "v1" }\nmodule.exports = { f };\n';
  const m = loadModule<{ f: () => string }>(id, src);
  (globalThis as Record<string, unknown>).__cellsSeen = seen;
  rt.asRuntime(() =>
    rt.enable(
      patchFor('cells-c', id, src, [{ oldName: 'f', source: 'function () { return "v2" }' }], {
        callbacks: { prePatch: '() => { globalThis.__cellsSeen.push("pre:" + f()); return 0 }', postUnpatch: '() => { globalThis.__cellsSeen.push("post:" + f()) }' },
      }),
    ),
  );
  assert.equal(m.f(), 'v2');
  rt.asRuntime(() => rt.disable('cells-c'));
  assert.deepEqual(seen, ['pre:v1', 'post:v1']);
  delete (globalThis as Record<string, unknown>).__cellsSeen;
});

test('two instances of one object share the cell and always ask the handler, each running its own version', () => {
  const id = './cells/d.js';
  const first = loadModule<{ f: (x: number) => string }>(id, SRC);
  rt.asRuntime(() => rt.enable(patchFor('cells-d', id, SRC, [{ oldName: 'f', source: 'function (x) { return "v2:" + x }' }])));
  assert.equal(typeof (cellOf(id) as unknown[])[0], 'function');
  const second = loadModule<{ f: (x: number) => string }>(id, SRC);
  assert.equal((cellOf(id) as unknown[])[0], 1, 'a second reader: ask the handler');
  assert.equal(first.f(1), 'v2:1');
  assert.equal(second.f(1), 'v1:1', 'the second instance (object ./cells/d.js#2) is not patched');
  rt.asRuntime(() => rt.disable('cells-d'));
  assert.equal(first.f(1), 'v1:1');
});

test('a settled async replacement is still an activation: disabling waits for the task suspended in it', async () => {
  const id = './cells/e.js';
  const src = 'async function op(gate) { await gate; return "v1" }\nmodule.exports = { op };\n';
  const m = loadModule<{ op: (g: Promise<void>) => Promise<string> }>(id, src);
  rt.asRuntime(() => rt.enable(patchFor('cells-e', id, src, [{ oldName: 'op', source: 'async function (gate) { await gate; return "v2" }' }])));
  // The replacement itself, compiled with its activation tracking: no wrapper around it.
  const entry = (cellOf(id) as unknown[])[0] as () => unknown;
  assert.equal(Object.prototype.toString.call(entry), '[object AsyncFunction]');
  assert.match(String(entry), /__lp\$M\?\.ra\(\d+\)/);
  const gate = deferred();
  const inFlight = runTask('inflight', () => m.op(gate.promise));
  rt.asRuntime(() => rt.disable('cells-e'));
  assert.equal(rt.status().patch, 'cells-e', 'the task suspended in the replacement holds the unpatching transition');
  assert.deepEqual(
    rt.status().blocked.map((b) => [b.name, b.holding.map((h) => h.func)]),
    [['inflight', ['op']]],
  );
  gate.resolve();
  assert.equal(await inFlight, 'v2');
  assert.ok(await rt.waitIdle(5000));
  assert.equal(await m.op(Promise.resolve()), 'v1');
});

test('an async replacement whose body cannot hold the tracking, and one given as a function: wrapped, and still activations', async () => {
  const id = './cells/f.js';
  const src = 'async function op(gate) { await gate; return "v1" }\nasync function op2(gate) { await gate; return "w1" }\nmodule.exports = { op, op2 };\n';
  const m = loadModule<{ op: (g: Promise<void>) => Promise<string>; op2: (g: Promise<void>) => Promise<string> }>(id, src);
  const patch = patchFor('cells-f', id, src, [
    // `var h` and `function h` at the top of a body: legal there, a redeclaration inside the try block.
    { oldName: 'op', source: 'async function (gate) { var h = 1; function h() {} await gate; return "v2" }' },
    { oldName: 'op2', fn: async (gate: Promise<void>) => (await gate, 'w2') },
  ]);
  rt.asRuntime(() => rt.enable(patch));
  for (const entry of cellOf(id) as unknown[]) assert.equal(Object.prototype.toString.call(entry), '[object Function]', 'the tracking wrapper');
  const gate = deferred();
  const a = runTask('a', () => m.op(gate.promise));
  const b = runTask('b', () => m.op2(gate.promise));
  rt.asRuntime(() => rt.disable('cells-f'));
  assert.deepEqual(
    rt.status().blocked.map((t) => [t.name, t.holding.map((h) => h.func)]).sort(),
    [['a', ['op']], ['b', ['op2']]],
  );
  gate.resolve();
  assert.deepEqual([await a, await b], ['v2', 'w2']);
  assert.ok(await rt.waitIdle(5000));
});
