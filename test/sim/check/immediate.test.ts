// Issue 16, acceptance 4: the seed's `immediate` flag in the v3 variant (upstream removed it in 2018).
// An immediate patch skips the per-task transition: every task takes each func as soon as it is on its
// func stack, so a task between f and g runs a mix. The checker finds it, the token replays it, and the
// same World without the flag (what its removal left: every patch has a per-task transition) is clean.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLpError } from '../../../src/engine/index.js';
import { check, type CheckOptions } from '../../../src/sim/check/explore.js';
import { MODELS } from '../../../src/sim/check/models.js';
import { encodeToken, formatTrace, replay, decodeToken } from '../../../src/sim/check/trace.js';
import { World, type WorldConfig } from '../../../src/sim/check/world.js';

const OPTS: CheckOptions = { strategy: 'bfs', maxStates: 1_000_000, seed: 1, symmetry: true, por: true, depth: 400, pctDepth: 3 };

function world(over: Partial<WorldConfig> = {}): World {
  return new World({ ...MODELS['seed-immediate'].shape, variant: 'v3', memory: 'sc', drop: [], ...over });
}

test('v3 immediate: a task runs the new f and the old g (I1, 8 steps), and the token replays it', () => {
  const r = check(world(), OPTS);
  assert.equal(r.violation?.invariant, 'I1');
  assert.equal(r.violation.detail, 'task0 runs f new but g, called from it, old');
  assert.equal(r.violation.choices.length, 8);
  const token = encodeToken({ scenario: 'seed-immediate', variant: 'v3', memory: 'sc', drop: [], tasks: 1, cpus: 1, choices: r.violation.choices });
  console.log(`replay: livepatch sim replay ${token}`);
  const again = replay(decodeToken(token));
  assert.equal(again.violation?.invariant, 'I1');
  const trace = formatTrace(again.steps).join('\n');
  // The enable pushes f onto its func stack, the task enters it (f->transition is never set), and g's
  // func stack is still empty when f calls it.
  assert.match(trace, /W func_stack\(f\)\.head := 1/);
  assert.match(trace, /R f->transition = 0/);
  assert.match(trace, /R func_stack\(g\)\.head = 0/);
});

test('v3 without immediate (what its removal left): the same World is clean (1,672 states)', () => {
  const r = check(world({ immediate: false }), { ...OPTS, strategy: 'dfs' });
  assert.equal(r.violation, null);
  assert.equal(r.complete, true);
  assert.equal(r.states, 1672);
});

test('immediate exists only in v3: the final code refuses it with LP_ERR_INVALID_PATCH', () => {
  assert.throws(
    () => world({ variant: 'final' }),
    (e: unknown) => isLpError(e) && e.code === 'LP_ERR_INVALID_PATCH' && /only in the seed's v3 code/.test(e.message),
  );
});
