// All nondeterminism enters through the scheduler: the same seed gives the same run, and replaying
// the recorded choices reproduces it exactly.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runScenario } from '../../src/sim/scenario.js';
import { scenarios } from '../../src/sim/scenarios/index.js';

for (const name of ['seed-reverse', 'callbacks-busy-target-module', 'syscall-patch-getpid-hammered']) {
  test(`${name}: same seed, same run; replayed choices, same run`, () => {
    const a = runScenario(scenarios.get(name), { seed: 11 });
    const b = runScenario(scenarios.get(name), { seed: 11 });
    assert.deepEqual(b.log, a.log);
    assert.deepEqual(b.choices, a.choices);
    const c = runScenario(scenarios.get(name), { replay: a.choices });
    assert.deepEqual(c.log, a.log);
    assert.equal(c.steps, a.steps);
  });
}

test('different seeds explore different schedules', () => {
  const runs = [1, 2, 3, 4].map((seed) => runScenario(scenarios.get('seed-fork'), { seed }).choices.join(','));
  assert.ok(new Set(runs).size > 1);
});
