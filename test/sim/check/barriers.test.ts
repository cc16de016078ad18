// Issue 3, acceptance 4: every barrier of the final code, under relaxed memory, on its litmus model
// (src/sim/check/barrier-models.ts). Where dropping it breaks an invariant: bfs finds the violation,
// its replay token round-trips to the same trace, and the complete search with the barrier finds
// none. Where it cannot break one in this model: complete searches with and without it find none,
// and the test says why.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, type CheckOptions } from '../../../src/sim/check/explore.js';
import { MODELS } from '../../../src/sim/check/models.js';
import { decodeToken, encodeToken, formatTrace, replay } from '../../../src/sim/check/trace.js';
import { World } from '../../../src/sim/check/world.js';

const DFS: CheckOptions = { strategy: 'dfs', maxStates: 1_000_000, seed: 1, symmetry: false, por: false, depth: 400, pctDepth: 3 };

function world(scenario: string, drop: string[]): World {
  return new World({ ...MODELS[scenario].shape, variant: 'final', memory: 'relaxed', drop });
}

function none(scenario: string, drop: string[]): void {
  const r = check(world(scenario, drop), DFS);
  assert.equal(r.violation, null, `${scenario} without ${drop.join(', ') || 'nothing'}`);
  assert.equal(r.complete, true, `${scenario}: the search is complete`);
}

/** Neither with nor without `barrier` is there a violation (a litmus model's executions differ). */
function notShown(barrier: string, scenario: string): void {
  none(scenario, [barrier]);
  none(scenario, []);
}

/**
 * Dropping `drop` breaks `invariant`; with `kept` dropped only (by default nothing), the complete
 * search finds nothing.
 */
function needed(drop: string[], scenario: string, invariant: string, kept: string[] = []): void {
  const w = world(scenario, drop);
  const r = check(w, { ...DFS, strategy: 'bfs' });
  assert.equal(r.violation?.invariant, invariant, drop.join(', '));
  const c = w.config;
  const token = { scenario, variant: c.variant, memory: c.memory, drop, tasks: c.tasks, cpus: c.cpus, rounds: c.rounds, choices: r.violation.choices };
  const decoded = decodeToken(encodeToken(token));
  assert.deepEqual(decoded, token);
  const a = replay(decoded);
  const b = replay(decoded);
  assert.equal(a.violation?.invariant, invariant);
  assert.equal(a.steps.length, r.violation.choices.length);
  assert.deepEqual(formatTrace(a.steps), formatTrace(b.steps));
  none(scenario, kept);
}

test('wmb-init: the handler sees a func in transition before the task patch_state it orders (I7)', () => {
  needed(['wmb-init'], 'litmus-init', 'I7');
});

test('rmb-handler: the handler reads patch_state before func->transition (I7)', () => {
  needed(['rmb-handler'], 'litmus-init', 'I7');
});

test('wmb-disable: a task switches at its barrier before it can see func->transition (I1)', () => {
  // The flag overtakes f->transition; the task switches to UNPATCHED at the end of one syscall, and
  // in the next its handler sees f not in transition and runs the new f, while g, whose flag it does
  // see, sends it to the old g.
  needed(['wmb-disable'], 'litmus-disable', 'I1');
});

test('rmb-handler-stack: the handler reads func->transition before the func stack (I1)', () => {
  // g's handler takes in the push of g but not g->transition: it runs the new g directly, while the
  // task, not switched yet, ran the old f.
  needed(['rmb-handler-stack'], 'litmus-enable', 'I1');
});

test('wmb-enable: no violation in this model, the push onto the func stack already orders it', () => {
  // Its partner is the handler's first smp_rmb() (shown needed above on the same model). But the push
  // (klp_patch_func(): list_add_rcu(), whose rcu_assign_pointer() is a release store, modelled as the
  // smp_wmb() before the head store in patchFunc()) orders every store before it, including the
  // func->transition writes of initTransition(): the handler cannot see the func before it sees the
  // flag whether or not this smp_wmb() is there. The same holds in the kernel; the barrier documents
  // the pairing.
  notShown('wmb-enable', 'litmus-enable');
  // Were the push a plain store, this barrier would be what keeps g's handler from running the new g
  // for a task that has not switched (and it is enough on its own).
  needed(['wmb-enable', 'release-push'], 'litmus-enable', 'I1', ['release-push']);
});

test('wmb-reverse: no violation in this model, a stale klp_target_state after a reverse is the task own state', () => {
  // Without it, startTransition()'s flag can reach a task before the flipped klp_target_state, and
  // updatePatchState() then stores the old target. But the only tasks flagged after a reverse are the
  // ones at the old target (both states are the only values patch_state has in a transition, and
  // synchronize has drained every CPU before the flip), so the store changes nothing: the task merely
  // loses its flag without switching. That is a liveness loss, not a safety one: with reliable stacks
  // tryCompleteTransition() still switches it; without them (where the flag is the only way a task
  // switches, and klp_send_signals() skips unflagged tasks) the transition would never complete. The
  // scheduler hook reads the same stale target, finds it equal to the task's state and returns.
  notShown('wmb-reverse', 'litmus-reverse');
});

test('rmb-sched: a CPU-bound task sees its flag before klp_target_state and switches itself to IDLE (I7)', () => {
  // Its partner is the smp_wmb() in initTransition(). The task, running on CPU 1 (cond_resched() in a
  // CPU-bound kthread: no schedule-in orders anything for it), sees its new TIF_PATCH_PENDING but the
  // klp_target_state of before the transition, IDLE; its stack check passes and it switches itself to
  // IDLE, and its next call of f warns.
  needed(['rmb-sched'], 'litmus-sched', 'I7');
});
