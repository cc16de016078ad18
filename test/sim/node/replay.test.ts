// Issue 16, acceptance 2: three plausible bugs in the runtime's decision code, each caught by the
// Node-host checker with a short counterexample, which then drives a real Runtime made with the same
// decisions, and real instrumented async functions, to the same bad result.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkNode, type NodeShape } from '../../../src/sim/node/check.js';
import { Driver } from './drive.js';

/** Two tasks, task 0 with two activations of f at once and a child; enable, reverse, replace. */
const SHAPE: NodeShape = { tasks: 2, acts: 2, awaits: 2, child: true, generator: false, enable: 1, reverses: 1, replace: 1, disables: 0, force: 0, moduleLoad: false, retry: true };

/** The checker catches `mutation` with a violation of `invariant` after `steps` steps; its trace replayed in a real runtime. */
async function caught(mutation: string, invariant: string, steps: number): Promise<Driver> {
  const r = checkNode({ ...SHAPE, mutation });
  assert.ok(r.violation, 'the checker must catch the mutation');
  assert.equal(r.violation.invariant, invariant);
  assert.equal(r.violation.steps, steps);
  const d = new Driver(r.violation.token, mutation);
  await d.replay();
  return d;
}

test('the code as it is: the same bounds, no violation (12,005 states)', () => {
  const r = checkNode(SHAPE);
  assert.equal(r.violation, null);
  assert.equal(r.complete, true);
  assert.equal(r.states, 12_005);
});

test('kick-early: a task switches with one activation of old f still open, and that f then runs the new g', async () => {
  const d = await caught('kick-early', 'I-return', 5);
  // The same bad state in the runtime: task0 switched (patched, not pending) while f#1, the original f,
  // is suspended at its first await.
  assert.equal(d.patchState(0), 1);
  assert.equal(d.pending(0), false);
  assert.deepEqual(d.ctxs[0][1].out, ['f0']);
  // And its harm: f#1 resumes, in old code, and its call of g runs the patch's g.
  await d.step({ kind: 'resume', slot: 0, act: 1 });
  assert.deepEqual(d.ctxs[0][1].out, ['f0', 'g1']);
});

test('memo-in-transition: the hook cells settle during the transition, and an old f runs the new g', async () => {
  const d = await caught('memo-in-transition', 'I-shortcut', 3);
  // task0 started f twice before the enable and is pending; the cells were settled with the root
  // task's answer (already switched), so the old f's call of g skipped the handler and ran the new g.
  assert.equal(d.rt.status().targetState, 'patching');
  assert.equal(d.pending(0), true);
  assert.deepEqual(d.ctxs[0][0].out, ['f0', 'g1']);
});

test('child-state-only: a child of a pending task starts at the old state and not pending', async () => {
  const d = await caught('child-state-only', 'I-child', 3);
  // The same bad state: the child (slot 2) is at patch_state 0 with the target 1, and not pending, so
  // neither a kick nor the completion test waits for it.
  assert.equal(d.rt.status().targetState, 'patching');
  assert.equal(d.patchState(2), 0);
  assert.equal(d.pending(2), false);
  assert.ok(!d.rt.status().blocked.some((t) => t.name === 'child'), 'status does not even list it as blocking');
});
