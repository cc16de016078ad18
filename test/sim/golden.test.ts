// Acceptance 1 and 2: every ported kernel selftest and every seed scenario reproduces its golden
// transcript line by line, under several schedules, with every check passing and no WARN.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { runScenario } from '../../src/sim/scenario.js';
import { scenarios } from '../../src/sim/scenarios/index.js';

const GOLDEN = new URL('../../../test/sim/golden/', import.meta.url);
const SEEDS = [1, 2, 3, 4, 5];

function golden(name: string, vars: Record<string, string>): string[] {
  return readFileSync(new URL(`${name}.txt`, GOLDEN), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => line.replace(/\$(\w+)/g, (m, v: string) => vars[v] ?? m));
}

const goldenFiles = new Set(
  readdirSync(GOLDEN)
    .filter((f) => f.endsWith('.txt'))
    .map((f) => f.slice(0, -4)),
);

test('every scenario has a golden transcript and every golden a scenario', () => {
  const names = new Set(scenarios.all().map((s) => s.name));
  assert.deepEqual([...names].filter((n) => !goldenFiles.has(n)), []);
  assert.deepEqual([...goldenFiles].filter((n) => !names.has(n)), []);
});

test('the six selftest groups are all ported', () => {
  for (const group of ['livepatch', 'callbacks', 'shadow', 'state', 'sysfs', 'syscall'])
    assert.ok(scenarios.all().some((s) => s.name.startsWith(`${group}-`)), group);
  assert.equal(scenarios.all().filter((s) => s.name.startsWith('callbacks-')).length, 11);
  assert.equal(scenarios.all().filter((s) => s.name.startsWith('sysfs-')).length, 5);
});

for (const scenario of scenarios.all()) {
  test(`${scenario.name} matches its golden transcript`, () => {
    for (const seed of SEEDS) {
      const r = runScenario(scenario, { seed });
      assert.deepEqual(r.failures, [], `seed ${seed}: ${r.failures.join('; ')}`);
      assert.deepEqual(r.transcript, golden(scenario.name, r.goldenVars), `seed ${seed}`);
    }
  });
}
