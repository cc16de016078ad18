// Issue 4, acceptance 2: transitions complete on events, not on the retry timer. The bounds are turns
// of the event loop (deterministic); bench/runtime.mjs measures the milliseconds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installRuntime, runTask } from '../../src/runtime/index.js';
import { JOBS_SOURCE as SRC, loadModule, sha256, type Jobs as M } from './load.js';

const rt = installRuntime();
// Far beyond any test: a completion seen here came from an event, not from the kernel-style retry.
rt.retryMs = 600_000;

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

const nextMacrotask = (): Promise<void> => new Promise((r) => setImmediate(r));

test('1,000 tasks in flight, none blocking: the transition completes in the same turn', async () => {
  const m = loadModule<M>('./c1/app.js', SRC);
  const g = gate();
  const tasks = Array.from({ length: 1000 }, (_, i) => runTask(`job:${i}`, () => m.work(g.promise)));
  const patch = {
    name: 'c1',
    objs: [{ name: './c1/app.js', sha256: sha256(SRC), funcs: [{ oldName: 'fmt', source: '(x) => "v2:" + x' }] }],
  };
  // From the control socket (the runtime's own context) every task, the root included, switches inside enable.
  rt.asRuntime(() => rt.enable(patch));
  assert.equal(rt.status().patch, null);
  g.open();
  assert.deepEqual(new Set(await Promise.all(tasks)), new Set(['v2:1']));
  // From application code the calling task is on the stack: it switches in a microtask of the same turn.
  rt.disable('c1');
  assert.equal(rt.status().patch, 'c1');
  await null;
  assert.equal(rt.status().patch, null);
});

test('with blockers: the transition completes as the last blocker returns, before the next macrotask', async () => {
  const m = loadModule<M>('./c2/app.js', SRC);
  const idle = gate();
  const others = Array.from({ length: 1000 }, (_, i) => runTask(`job:${i}`, () => m.work(idle.promise)));
  const gates = Array.from({ length: 10 }, () => gate());
  const blockers = gates.map((g, i) => runTask(`GET /slow/${i}`, () => m.slowOp(g.promise)));
  rt.asRuntime(() =>
    rt.enable({
      name: 'c2',
      objs: [
        {
          name: './c2/app.js',
          sha256: sha256(SRC),
          funcs: [
            { oldName: 'fmt', source: '(x) => "v2:" + x' },
            { oldName: 'slowOp', source: 'async function (g) { await g; return fmt(2) }' },
          ],
        },
      ],
    }),
  );
  assert.equal(rt.status().blocked.length, 10);
  for (const g of gates.slice(0, 9)) g.open();
  await nextMacrotask();
  assert.deepEqual(
    rt.status().blocked.map((t) => t.name),
    ['GET /slow/9'],
  );
  gates[9].open();
  const results = await Promise.all(blockers);
  // Every blocker finished on old code, consistently.
  assert.deepEqual(new Set(results), new Set(['v1:2']));
  await nextMacrotask();
  assert.equal(rt.status().patch, null);
  idle.open();
  assert.deepEqual(new Set(await Promise.all(others)), new Set(['v2:1']));
  rt.asRuntime(() => rt.disable('c2'));
  assert.equal(rt.status().patch, null);
});

test('a task released while pending (its owner left first, then its blocking activation ended): the transition completes then', async () => {
  const m = loadModule<M>('./c3/app.js', SRC);
  const gates = Array.from({ length: 3 }, () => gate());
  const results: Array<Promise<string>> = [];
  // Fire and forget: each task's function returns at once, so the task is closing, and it is released
  // (still pending) the moment its slowOp activation ends, without a switch attempt.
  await Promise.all(gates.map((g, i) => runTask(`bg:${i}`, () => void results.push(m.slowOp(g.promise)))));
  rt.asRuntime(() =>
    rt.enable({
      name: 'c3',
      objs: [{ name: './c3/app.js', sha256: sha256(SRC), funcs: [{ oldName: 'slowOp', source: 'async function (g) { await g; return "v2" }' }] }],
    }),
  );
  assert.equal(rt.status().pending, 3);
  for (const g of gates) g.open();
  assert.deepEqual(await Promise.all(results), ['v1:2', 'v1:2', 'v1:2']);
  await nextMacrotask();
  assert.equal(rt.status().patch, null, 'completed when the last pending task was released');
  rt.asRuntime(() => rt.disable('c3'));
  assert.equal(rt.status().patch, null);
});

test('a transition that starts while thousands of activations are suspended sees each task\'s exact stack', async () => {
  const m = loadModule<M>('./c4/app.js', SRC);
  const g = gate();
  // Activations tracked since they started, long before the transition: 3,000 tasks in the function
  // the patch changes, 3,000 in one it does not.
  const holders = Array.from({ length: 3000 }, (_, i) => runTask(`hold:${i}`, () => m.slowOp(g.promise)));
  const others = Array.from({ length: 3000 }, (_, i) => runTask(`other:${i}`, () => m.work(g.promise)));
  rt.asRuntime(() =>
    rt.enable({
      name: 'c4',
      objs: [{ name: './c4/app.js', sha256: sha256(SRC), funcs: [{ oldName: 'slowOp', source: 'async function (g) { await g; return "v2" }' }] }],
    }),
  );
  const st = rt.status(Infinity);
  assert.equal(st.pending, 3000, 'exactly the tasks suspended in slowOp are held');
  assert.ok(st.blocked.every((b) => b.name.startsWith('hold:') && b.holding.length === 1 && b.holding[0].func === 'slowOp'));
  assert.equal(await runTask('new', () => m.slowOp(Promise.resolve())), 'v2', 'a new task runs new code at once');
  g.open();
  assert.deepEqual(new Set(await Promise.all(holders)), new Set(['v1:2']));
  assert.deepEqual(new Set(await Promise.all(others)), new Set(['v1:1']));
  await nextMacrotask();
  assert.equal(rt.status().patch, null);
  rt.asRuntime(() => rt.disable('c4'));
});
