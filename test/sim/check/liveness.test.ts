// Issue 16, acceptance 3 (the kernel World): under fairness every transition completes or is reversed
// to completion, shown by a search of the strongly connected components of the whole state graph
// (src/sim/check/liveness.ts); without `wmb-reverse` (relaxed memory, no reliable stacks, the case the
// barrier is for) a lasso: the task consumes its new flag with the old target and nothing switches it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLiveness, formatLasso } from '../../../src/sim/check/liveness.js';
import { liveWorld } from '../../../src/sim/check/live-world.js';
import { MODELS } from '../../../src/sim/check/models.js';
import { World, type WorldConfig } from '../../../src/sim/check/world.js';

function live(scenario: string, over: Partial<WorldConfig> = {}) {
  const w = new World({ ...MODELS[scenario].shape, variant: 'final', memory: 'sc', drop: [], ...over });
  return checkLiveness(liveWorld(w), 1_000_000);
}

test('kernel liveness: seed-reverse (2 tasks, syscalls without end, a reverse): every transition completes', () => {
  const r = live('seed-reverse');
  assert.equal(r.lasso, null);
  assert.equal(r.states, 57_789);
  assert.ok(r.components > 0, 'the graph has cycles inside transitions (the retries), none of them fair');
});

test('kernel liveness: full (1 task, a fork, a reverse, a hot-plugged CPU): every transition completes', () => {
  const r = live('full', { tasks: 1 });
  assert.equal(r.lasso, null);
  assert.equal(r.states, 85_672);
});

const REVERSE: Partial<WorldConfig> = { memory: 'relaxed', rounds: 0, reliableStack: false };

test('kernel liveness: litmus-reverse, relaxed, no reliable stacks, every barrier: every transition completes', () => {
  const r = live('litmus-reverse', REVERSE);
  assert.equal(r.lasso, null);
  assert.equal(r.states, 24_887);
});

test('kernel liveness: without wmb-reverse the reversed transition never completes (a lasso)', () => {
  const r = live('litmus-reverse', { ...REVERSE, drop: ['wmb-reverse'] });
  assert.ok(r.lasso, 'expected a lasso');
  const trace = formatLasso(r.lasso);
  console.log(trace.join('\n'));
  assert.ok(trace.some((l) => l.includes('-> loop starts')));
  // Before the loop: the reverse, then the task crosses the barrier with its new flag while the flipped
  // klp_target_state is still in CPU 0's store buffer; in the loop the kworker retries forever.
  const reverse = r.lasso.stem.findIndex((s) => s.includes('reverse'));
  assert.ok(reverse >= 0);
  assert.ok(r.lasso.stem.slice(reverse).some((s) => s.includes('returns to user mode')));
  assert.ok(r.lasso.loop.some((s) => s.startsWith('kworker: klp_transition_work')));
});
