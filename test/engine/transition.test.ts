// The transition verbs on a straight-through host: who runs which version, when tasks switch, and
// the kernel's log lines in order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { copyProcess, patchState, pending, patchViews, targetState, SIGNALS_TIMEOUT, type Callbacks } from '../../src/engine/index.js';
import { TestHost } from './host.js';

function setup(ntasks = 3, ncpus = 2) {
  const h = new TestHost(ntasks, ncpus);
  const orig = h.define('vmlinux', 'f');
  const v1 = h.define('p1', 'f_v1');
  const v2 = h.define('p2', 'f_v2');
  const patch = (name: string, newFunc: number, replace = false, callbacks: Callbacks = {}) => ({
    name,
    replace,
    objs: [{ funcs: [{ oldName: 'f', newFunc }], callbacks }],
  });
  return { h, orig, v1, v2, patch };
}

test('enable with nothing in the way completes at once, with the kernel transcript', () => {
  const { h, orig, v1, patch } = setup();
  assert.equal(h.enable(patch('p1', v1)).error, null);
  assert.deepEqual(h.lines, [
    "livepatch: enabling patch 'p1'",
    "livepatch: 'p1': initializing patching transition",
    "livepatch: 'p1': starting patching transition",
    "livepatch: 'p1': completing patching transition",
    "livepatch: 'p1': patching complete",
  ]);
  for (let t = 0; t < 5; t++) assert.equal(patchState(h.klp, t), -1);
  assert.equal(h.call(0, orig), v1);
});

test('a blocked task keeps the old code until it switches; the others run the new code', () => {
  const { h, orig, v1, patch } = setup();
  h.stacks[1] = [orig];
  h.enable(patch('p1', v1));
  assert.equal(h.klp.transitionPatch?.name, 'p1');
  assert.equal(patchState(h.klp, 0), 1);
  assert.equal(patchState(h.klp, 1), 0);
  assert.equal(pending(h.klp, 1), true);
  assert.equal(h.call(0, orig), v1);
  assert.equal(h.call(1, orig), orig);
  h.stacks[1] = [];
  h.work();
  assert.equal(h.klp.transitionPatch, null);
  assert.equal(h.call(1, orig), v1);
});

test('the barrier switches a flagged task even while it is running', () => {
  const { h, orig, v1, patch } = setup();
  h.running.add(2);
  h.enable(patch('p1', v1));
  assert.equal(patchState(h.klp, 2), 0);
  h.barrier(2);
  assert.equal(patchState(h.klp, 2), 1);
  assert.equal(pending(h.klp, 2), false);
  h.work();
  assert.equal(targetState(h.klp), -1);
  assert.equal(h.call(2, orig), v1);
});

test('stacked patches: the top wins, and an unswitched task sees the one below', () => {
  const { h, orig, v1, v2, patch } = setup();
  h.enable(patch('p1', v1));
  h.stacks[1] = [v1];
  h.enable(patch('p2', v2));
  assert.equal(h.call(0, orig), v2);
  assert.equal(h.call(1, orig), v1);
  assert.deepEqual(patchViews(h.klp).map((v) => [v.name, v.stackOrder, v.transition]), [
    ['p1', 1, false],
    ['p2', 2, true],
  ]);
});

test('reverse: tasks that had switched are flagged again, the others are already at the target', () => {
  const { h, orig, v1, patch } = setup();
  h.stacks[1] = [orig];
  h.enable(patch('p1', v1));
  h.lines.length = 0;
  assert.equal(h.setEnabled('p1', false).error, null);
  assert.equal(h.lines[0], "livepatch: 'p1': reversing transition from patching to unpatching");
  assert.equal(h.lines[1], "livepatch: 'p1': starting unpatching transition");
  // Like the kernel, the reverse only restarts; the next retry of the work completes it, since
  // task 1 never switched and the others switch back at once.
  assert.equal(h.klp.transitionPatch?.name, 'p1');
  h.work();
  assert.equal(h.klp.transitionPatch, null);
  assert.equal(h.klp.patches.length, 0);
  assert.equal(h.call(0, orig), orig);
});

test('reverse keeps I4: a pending flag only on tasks not at the target', () => {
  const { h, orig, v1, patch } = setup(4);
  h.stacks[1] = [orig];
  h.running.add(2); // running: neither switched nor checkable
  h.enable(patch('p1', v1));
  h.stacks[3] = [v1]; // task 3 switched and now sleeps in the new version
  h.setEnabled('p1', false);
  assert.equal(h.klp.transitionPatch?.name, 'p1');
  for (let t = 0; t < 6; t++) {
    if (pending(h.klp, t)) assert.notEqual(patchState(h.klp, t), targetState(h.klp), `task ${t}`);
  }
  assert.equal(pending(h.klp, 3), true);
  assert.equal(pending(h.klp, 1), false);
  assert.equal(pending(h.klp, 2), false); // it was at 0 (unpatched) already
});

test('fork copies the parent state and flag (klp_copy_process)', () => {
  const { h, orig, v1, patch } = setup();
  h.stacks[1] = [orig];
  h.enable(patch('p1', v1));
  h.klp.initTask(9);
  copyProcess(h.klp, 0, 1, 9);
  assert.equal(patchState(h.klp, 9), 0);
  assert.equal(pending(h.klp, 9), true);
  copyProcess(h.klp, 0, 0, 9);
  assert.equal(patchState(h.klp, 9), 1);
  assert.equal(pending(h.klp, 9), false);
});

test('signals every 15th failed attempt, then force marks an unpatching patch forced', () => {
  const { h, orig, v1, patch } = setup();
  h.enable(patch('p1', v1));
  h.stacks[1] = [v1];
  h.kthreads.add(1);
  h.setEnabled('p1', false);
  for (let i = 0; i < 2 * SIGNALS_TIMEOUT; i++) h.work();
  assert.deepEqual(h.signalled, [1, 1]);
  assert.equal(h.lines.filter((l) => l === 'livepatch: signaling remaining tasks').length, 1);
  assert.equal(h.force('p1').error, null);
  assert.ok(h.lines.includes('livepatch: forcing remaining tasks to the patched state'));
  h.work();
  assert.equal(h.klp.patches.length, 0);
  assert.ok(h.klp.moduleHeld.has('p1'), 'a forced patch keeps its module');
  assert.equal(h.call(0, orig), orig);
});

test('offline CPUs: their idle task switches at once', () => {
  const { h, v1, patch } = setup(2, 3);
  h.online[2] = false;
  h.running.add(h.idleTask(1)); // an online idle CPU is running its idle task
  h.enable(patch('p1', v1));
  assert.equal(patchState(h.klp, h.idleTask(2)), 1);
  assert.equal(patchState(h.klp, h.idleTask(1)), 0);
  h.barrier(h.idleTask(1));
  h.work();
  assert.equal(h.klp.transitionPatch, null);
});

test('without reliable stacks only safe points switch tasks', () => {
  const { h, v1, patch } = setup(2);
  h.reliable = false;
  h.enable(patch('p1', v1));
  h.work();
  assert.equal(h.klp.transitionPatch?.name, 'p1');
  for (const t of [0, 1, h.idleTask(0), h.idleTask(1)]) h.barrier(t);
  h.work();
  assert.equal(h.klp.transitionPatch, null);
});

test('atomic replace: nops run the original, replaced patches go without callbacks', () => {
  const { h, orig, v1, patch } = setup();
  const g = h.define('vmlinux', 'g');
  const g1 = h.define('p1', 'g_v1');
  const calls: string[] = [];
  const cb: Callbacks = { preUnpatch: () => void calls.push('pre_unpatch'), postUnpatch: () => void calls.push('post_unpatch') };
  h.enable({ name: 'p1', objs: [{ funcs: [{ oldName: 'f', newFunc: v1 }, { oldName: 'g', newFunc: g1 }], callbacks: cb }] });
  const v3 = h.define('p3', 'f_v3');
  h.stacks[1] = [g1];
  h.enable(patch('p3', v3, true));
  // During the transition, task 1 (not switched) still runs p1's g; task 0 runs the nop (original).
  assert.equal(h.call(1, g), g1);
  assert.equal(h.call(0, g), g);
  h.stacks[1] = [];
  h.work();
  assert.deepEqual(patchViews(h.klp).map((v) => v.name), ['p3']);
  assert.equal(h.call(1, g), g);
  assert.equal(h.call(1, orig), v3);
  assert.deepEqual(calls, []);
  assert.equal(h.klp.moduleHeld.has('p1'), false);
});

test('callbacks: a failing pre-patch cancels; a reversed patching runs post-unpatch only', () => {
  const { h, v1, patch } = setup();
  const calls: string[] = [];
  const cb = (ret: number): Callbacks => ({
    prePatch: () => (calls.push('pre_patch'), ret),
    postPatch: () => void calls.push('post_patch'),
    preUnpatch: () => void calls.push('pre_unpatch'),
    postUnpatch: () => void calls.push('post_unpatch'),
  });
  const p = h.enable(patch('bad', v1, false, cb(-19)));
  assert.equal(p.error?.code, 'LP_ERR_CALLBACK_FAILED');
  assert.equal(p.result, -19);
  assert.deepEqual(calls, ['pre_patch']);
  assert.ok(h.lines.includes("livepatch: 'bad': canceling patching transition, going to unpatch"));
  calls.length = 0;
  h.stacks[1] = [h.lookupSymbol('vmlinux', 'f')[0]];
  h.enable(patch('p1', v1, false, cb(0)));
  h.setEnabled('p1', false);
  h.work();
  assert.deepEqual(calls, ['pre_patch', 'post_unpatch']);
});

test('module coming during a transition: patched at once, post-patch waits for completion', () => {
  const { h } = setup();
  const modFn = () => h.lookupSymbol('mod', 'mod_fn')[0];
  const nv = h.define('p', 'new_mod_fn');
  const calls: string[] = [];
  h.stacks[1] = [h.lookupSymbol('vmlinux', 'f')[0]];
  const fv = h.define('p', 'f_p');
  h.enable({
    name: 'p',
    objs: [
      { funcs: [{ oldName: 'f', newFunc: fv }] },
      { name: 'mod', funcs: [{ oldName: 'mod_fn', newFunc: nv }], callbacks: { postPatch: (o) => void calls.push(`post_patch ${o.name}`) } },
    ],
  });
  h.define('mod', 'mod_fn');
  h.moduleComing('mod');
  assert.ok(h.lines.includes("livepatch: applying patch 'p' to loading module 'mod'"));
  assert.equal(h.call(0, modFn()), nv);
  assert.equal(h.call(1, modFn()), modFn());
  assert.deepEqual(calls, []);
  h.stacks[1] = [];
  h.work();
  assert.deepEqual(calls, ['post_patch mod']);
  h.moduleGoing('mod');
  assert.ok(h.lines.includes("livepatch: reverting patch 'p' on unloading module 'mod'"));
  assert.equal(patchViews(h.klp)[0].objects[1].patched, false);
});
