// The seed thread's points under the final code: what each scenario must show beyond its transcript.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { patchState, pending } from '../../src/engine/index.js';
import { boot, runScenario } from '../../src/sim/scenario.js';
import { scenarios } from '../../src/sim/scenarios/index.js';
import { RandomScheduler } from '../../src/sim/scheduler.js';

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);

for (const name of ['seed-reverse', 'seed-hotplug', 'seed-fork', 'seed-kthread-force']) {
  test(`${name}: no failed check and no WARN over ${SEEDS.length} schedules`, () => {
    for (const seed of SEEDS) {
      const r = runScenario(scenarios.get(name), { seed });
      assert.deepEqual(r.failures, [], `seed ${seed}`);
    }
  });
}

test('seed-reverse: the reverse is logged and tasks that had switched are flagged again', () => {
  const r = runScenario(scenarios.get('seed-reverse'), { seed: 7 });
  assert.ok(r.transcript.includes("livepatch: 'klp_demo': reversing transition from patching to unpatching"));
  assert.ok(r.transcript.includes("livepatch: 'klp_demo': unpatching complete"));
  assert.ok(!r.transcript.some((l) => l.includes('patching complete') && !l.includes('unpatching')));
});

test('seed-hotplug: the CPU that came up ends with its idle task IDLE and nothing pending', () => {
  const { sim, actors } = boot(scenarios.get('seed-hotplug'), new RandomScheduler(3));
  sim.run(actors);
  assert.deepEqual(sim.klp.warnings, []);
  for (let cpu = 0; cpu < 4; cpu++) {
    assert.equal(patchState(sim.klp, sim.idleTask(cpu)), -1, `cpu${cpu}`);
    assert.equal(pending(sim.klp, sim.idleTask(cpu)), false, `cpu${cpu}`);
  }
});

test('seed-fork: children forked during the transition inherit the parent state', () => {
  const { sim, actors } = boot(scenarios.get('seed-fork'), new RandomScheduler(5));
  sim.run(actors);
  assert.ok((sim.vars.forks as number) >= 3);
  assert.deepEqual(sim.failures, []);
  assert.deepEqual(sim.klp.warnings, []);
});

test('seed-kthread-force: signals go out after 15 attempts, then force marks the patch forced', () => {
  const r = runScenario(scenarios.get('seed-kthread-force'), { seed: 2 });
  const at = (line: string) => r.log.indexOf(line);
  assert.ok(at('livepatch: signaling remaining tasks') > 0);
  assert.ok(at('livepatch: forcing remaining tasks to the patched state') > at('livepatch: signaling remaining tasks'));
  assert.ok(r.log.includes('rmmod: ERROR: Module klp_demo is in use'));
});
