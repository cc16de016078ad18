// Issue 16, acceptances 1 and 3 (the Node-host World): a complete search of the runtime's event-driven
// switching, run with the runtime's own decision code, finds no violation; liveness under weak
// fairness holds with the retry timer, and the event-driven switch alone finishes every transition
// that is not reversed; never kicking a task whose activation ended gives a lasso even with the retry.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLasso } from '../../../src/sim/check/liveness.js';
import { checkNode, livenessNode, replayNode, type NodeShape } from '../../../src/sim/node/check.js';

/**
 * Three tasks (task 0 runs two activations of f at once and starts a child after its first await,
 * task 1 runs f as a generator, task 2 is a job loop that never ends), two awaits in every activation;
 * the admin enables p1, may reverse it, and may replace it with p2 (atomic replace).
 */
const FULL: NodeShape = { tasks: 3, acts: 2, awaits: 2, child: true, generator: true, loop: true, enable: 1, reverses: 1, replace: 1, disables: 0, force: 0, moduleLoad: false, retry: true };

test('Node-host World: 3 tasks (+ a child), 2 awaits each, enable + reverse + replace: complete, no violation, 121,869 states', () => {
  const r = checkNode(FULL);
  assert.equal(r.violation, null);
  assert.equal(r.complete, true);
  assert.equal(r.states, 121_869);
});

test('Node-host World: force, disable and a module coming at any point between two loop steps: no violation, 56,056 states', () => {
  const r = checkNode({ ...FULL, tasks: 2, child: false, force: 1, disables: 1, moduleLoad: true });
  assert.equal(r.violation, null);
  assert.equal(r.complete, true);
  assert.equal(r.states, 56_056);
});

test('Node-host liveness, with the retry timer: every transition completes or is reversed to completion', () => {
  const r = livenessNode(FULL);
  assert.equal(r.lasso, null);
  assert.equal(r.states, 121_869);
  // Cycles inside transitions exist (the job loop's rounds), and none of them is fair.
  assert.ok(r.components > 0);
});

test('Node-host liveness, the event-driven switch alone (no retry): enable and replace complete by kicks', () => {
  const r = livenessNode({ ...FULL, retry: false, reverses: 0 });
  assert.equal(r.lasso, null);
  assert.equal(r.states, 34_949);
});

test('Node-host liveness, no retry, with a reverse: the root task stays flagged until the retry (a lasso)', () => {
  // A finding of the check, not a mutation: a reverse flags the tasks already at the old target,
  // among them the root task, and no event kicks a task with nothing open; the runtime then waits
  // for the retry timer (which the check above shows suffices).
  const r = livenessNode({ ...FULL, retry: false });
  assert.ok(r.lasso, 'expected a lasso');
  assert.ok(r.lasso.stem.some((s) => s.includes('reverse')));
});

test('no-kick: a pending task whose last activation ended is never kicked: a lasso, even with the retry', () => {
  const off = livenessNode({ ...FULL, retry: false, reverses: 0, mutation: 'no-kick' });
  assert.ok(off.lasso && off.token);
  const trace = formatLasso(off.lasso);
  console.log(trace.join('\n'));
  assert.ok(trace.some((l) => l.includes('-> loop starts')));
  // The token replays to the loop's first state in the World.
  assert.equal(replayNode(off.token).violation, null);
  // With the retry the job loop can be inside f whenever the timer fires: still a fair lasso.
  const on = livenessNode({ ...FULL, mutation: 'no-kick' });
  assert.ok(on.lasso);
  assert.ok(on.lasso.loop.some((s) => s.startsWith('retry timer')));
});
