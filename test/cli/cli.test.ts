// The CLI as a user runs it: a real process, its output and exit status.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('sim list: one line per scenario, name then description', () => {
  const r = cli('sim', 'list');
  assert.equal(r.status, 0);
  const lines = r.stdout.trimEnd().split('\n');
  assert.ok(lines.length >= 31);
  for (const line of lines) assert.match(line, /^[a-z0-9.-]+ {2,}\S/);
  assert.ok(lines.some((l) => l.startsWith('seed-reverse ')));
  assert.ok(lines.some((l) => l.startsWith('seed-hotplug ')));
});

test('sim run prints the transcript and exits 0', () => {
  const r = cli('sim', 'run', 'callbacks-busy-target-module', '--seed', '4');
  assert.equal(r.status, 0, r.stderr);
  const golden = readFileSync(new URL('../../../test/sim/golden/callbacks-busy-target-module.txt', import.meta.url), 'utf8');
  assert.equal(r.stdout, golden);
});

test('sim run --verbose adds who blocks the transition', () => {
  const r = cli('sim', 'run', 'callbacks-busy-target-module', '--verbose');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /kworker\/busy:\d+ is sleeping on function busymod_work_func/);
});

test('bad input: one line with a stable code, exit 2', () => {
  const cases: [string[], string][] = [
    [['sim', 'run', 'no-such-scenario'], 'LP_ERR_NO_SUCH_SCENARIO'],
    [['sim', 'run', 'seed-fork', '--seed', 'x'], 'LP_ERR_USAGE'],
    [['sim', 'run', 'seed-fork', '--seed', '-3'], 'LP_ERR_USAGE'],
    [['sim', 'run', 'seed-fork', '--bogus'], 'LP_ERR_USAGE'],
    [['sim', 'run', 'seed-fork', '--variant', 'v9'], 'LP_ERR_USAGE'],
    [['sim', 'run'], 'LP_ERR_USAGE'],
    [['sim', 'list', 'extra'], 'LP_ERR_USAGE'],
    [['sim', 'frobnicate'], 'LP_ERR_USAGE'],
    [['frobnicate'], 'LP_ERR_USAGE'],
  ];
  for (const [args, code] of cases) {
    const r = cli(...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^livepatch: ${code}: `));
  }
});

test('--help exits 0', () => {
  assert.equal(cli('--help').status, 0);
  assert.equal(cli('sim', '--help').status, 0);
});
