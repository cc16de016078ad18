// Issue 16, acceptance 5: two gaps of the kernel checker found by changing the engine the way a
// reviewer might. The quiet-step reduction must fall back to the unmerged step when its premise does
// not hold (here: fake signals on every failed attempt, so try-complete's last step walks the tasks),
// never stop with an internal error; and a force that does not mark the patch forced is caught by an
// invariant (I8: a patch forced while unpatching stays pinned, its module never released).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, type CheckOptions } from '../../../src/sim/check/explore.js';
import { MODELS } from '../../../src/sim/check/models.js';
import { replay } from '../../../src/sim/check/trace.js';
import { World, type WorldConfig } from '../../../src/sim/check/world.js';

const OPTS: CheckOptions = { strategy: 'dfs', maxStates: 3_000_000, seed: 1, symmetry: true, por: true, depth: 400, pctDepth: 3 };

function world(scenario: string, over: Partial<WorldConfig> = {}): World {
  return new World({ ...MODELS[scenario].shape, variant: 'final', memory: 'sc', drop: [], ...over });
}

test('fake signals on every failed attempt: full and seed-fork still get a verdict, the fallbacks counted', () => {
  for (const [scenario, tasks, states] of [
    ['full', 1, 66_953],
    ['seed-fork', 1, 48_024],
  ] as const) {
    const w = world(scenario, { tasks });
    w.klp.signalsTimeout = 1;
    const r = check(w, OPTS);
    assert.equal(r.violation, null, scenario);
    assert.equal(r.complete, true, scenario);
    assert.equal(r.states, states, scenario);
    assert.ok((r.quietFallbacks ?? 0) > 0, `${scenario}: the reduction fell back (${r.quietFallbacks})`);
    // The engine's own cadence: every prediction holds.
    const usual = check(world(scenario, { tasks }), OPTS);
    assert.equal(usual.quietFallbacks, 0, scenario);
  }
});

test('fake signals on every failed attempt: the seed race in v3 is still found', () => {
  const w = world('seed-reverse', { variant: 'v3' });
  w.klp.signalsTimeout = 1;
  const r = check(w, OPTS);
  assert.equal(r.violation?.invariant, 'I4');
});

test('I8: the final code keeps a patch forced while unpatching pinned; without marking it forced, caught and replayed', () => {
  const ok = check(world('seed-force-disable'), OPTS);
  assert.equal(ok.violation, null);
  assert.equal(ok.complete, true);
  assert.equal(ok.states, 77_280);
  const bad = check(world('seed-force-disable', { drop: ['mark-forced'] }), { ...OPTS, strategy: 'bfs' });
  assert.equal(bad.violation?.invariant, 'I8');
  const c = MODELS['seed-force-disable'].shape;
  const r = replay({ scenario: 'seed-force-disable', variant: 'final', memory: 'sc', drop: ['mark-forced'], tasks: c.tasks, cpus: c.cpus, choices: bad.violation!.choices });
  assert.equal(r.violation?.invariant, 'I8');
  assert.equal(r.steps.length, bad.violation!.choices.length);
});
