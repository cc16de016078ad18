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

test('a mistyped command or option: did you mean', () => {
  assert.match(cli('enabel', 'fix.json').stderr, /^livepatch: LP_ERR_USAGE: unknown command 'enabel' \(did you mean 'enable'\?\) \(see 'livepatch --help'\)\n$/);
  const r = cli('enable', 'fix.json', '--wiat');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^livepatch: LP_ERR_USAGE: enable: Unknown option '--wiat' \(did you mean --wait\?\)/);
});

test('--help exits 0', () => {
  assert.equal(cli('--help').status, 0);
  assert.equal(cli('sim', '--help').status, 0);
});

test('sim check: a violation exits 1 with a numbered trace and a token that sim replay reproduces', () => {
  const r = cli('sim', 'check', 'seed-reverse', '--variant', 'v3', '--strategy', 'bfs');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /^VIOLATION I4: /m);
  assert.match(r.stdout, /^ {3}1 {2}cpu0 {2}admin/m);
  const token = /^replay: livepatch sim replay (lp1\.\S+)$/m.exec(r.stdout)?.[1];
  assert.ok(token);
  const trace = r.stdout.split('\n').filter((l) => /^ *\d+ {2}cpu\d/.test(l) || /^ {21}/.test(l));
  const again = cli('sim', 'replay', token);
  assert.equal(again.status, 1);
  assert.deepEqual(again.stdout.split('\n').filter((l) => /^ *\d+ {2}cpu\d/.test(l) || /^ {21}/.test(l)), trace);
  assert.match(again.stdout, /VIOLATION I4/);
});

test('sim check --json: one object; a clean model exits 0', () => {
  const r = cli('sim', 'check', 'seed-hotplug', '--json');
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.scenario, 'seed-hotplug');
  assert.equal(o.variant, 'final');
  assert.equal(o.strategy, 'dfs');
  assert.equal(o.complete, true);
  assert.equal(o.states, 5083);
  assert.deepEqual(o.violations, []);
  assert.equal(typeof o.elapsed_ms, 'number');
});

test('sim check --workers 2: the search on two threads, each thread\'s share in the JSON', () => {
  const r = cli('sim', 'check', 'seed-reverse', '--workers', '2', '--json');
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.workers, 2);
  assert.equal(o.complete, true);
  assert.deepEqual(o.violations, []);
  assert.equal(o.worker_transitions.length, 2);
  assert.equal(o.worker_transitions[0] + o.worker_transitions[1], o.transitions);
  const v3 = cli('sim', 'check', 'seed-reverse', '--variant', 'v3', '--workers', '2');
  assert.equal(v3.status, 1, v3.stderr);
  assert.match(v3.stdout, /dfs on 2 threads/);
  assert.match(v3.stdout, /^VIOLATION I4: /m);
});

test('sim check / replay: bad input is one line with a stable code, exit 2', () => {
  const cases: [string[], string][] = [
    [['sim', 'check', 'nope'], 'LP_ERR_NO_SUCH_SCENARIO'],
    [['sim', 'check', 'livepatch-basic-function-patching'], 'LP_ERR_NO_SUCH_SCENARIO'],
    [['sim', 'check', 'seed-reverse', '--strategy', 'sideways'], 'LP_ERR_USAGE'],
    [['sim', 'check', 'seed-reverse', '--tasks', '0'], 'LP_ERR_USAGE'],
    [['sim', 'check', 'seed-reverse', '--memory', 'tso'], 'LP_ERR_USAGE'],
    [['sim', 'check', 'seed-reverse', '--drop', 'wmb-everything'], 'LP_ERR_USAGE'],
    [['sim', 'check', 'seed-reverse', '--workers', '0'], 'LP_ERR_USAGE'],
    [['sim', 'check', 'seed-reverse', '--workers', 'two'], 'LP_ERR_USAGE'],
    [['sim', 'check', 'seed-reverse', '--workers', '2', '--strategy', 'bfs'], 'LP_ERR_USAGE'],
    [['sim', 'replay', 'not-a-token'], 'LP_ERR_USAGE'],
    [['sim', 'replay'], 'LP_ERR_USAGE'],
  ];
  for (const [args, code] of cases) {
    const r = cli(...args);
    assert.equal(r.status, 2, args.join(' '));
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^livepatch: ${code}: `));
  }
});
