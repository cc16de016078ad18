// Issue 14, acceptance 2 (thread pool and node:cluster): workers started and terminated at seeded random points
// during at least 50 transitions (patch, atomic replace, reverse in the middle, unpatch) while every
// worker runs jobs: never a worker left on a wrong version once the process level completes (workers
// started mid-transition included: the replay), never a stall by an exited worker, no job on two
// versions. The seed is printed on failure; LIVEPATCH_TEST_SEED=N replays the run's choices.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { verPatch, writePool } from './pool.js';

const REGISTER = fileURLToPath(new URL('../../src/runtime/register.js', import.meta.url));
const PACKAGE = fileURLToPath(new URL('../../src/runtime/index.js', import.meta.url));

function poolRun(t: TestContext, kind: 'threads' | 'cluster'): void {
  const seed = process.env.LIVEPATCH_TEST_SEED ? Number(process.env.LIVEPATCH_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
  const dir = writePool();
  try {
    const patches = [
      { v: 'v2', patch: verPatch('ver-v2', 'v2') },
      { v: 'v3', patch: verPatch('ver-v3', 'v3', true) },
    ];
    const r = spawnSync(process.execPath, ['--import', REGISTER, 'main.js'], {
      cwd: dir,
      env: { ...process.env, POOL: kind, SEED: String(seed), TRANSITIONS: '50', PATCHES: JSON.stringify(patches), LIVEPATCH_PACKAGE: PACKAGE, LIVEPATCH_LOG: 'warn' },
      encoding: 'utf8',
      timeout: 240_000,
    });
    const line = /RESULT (.*)/.exec(r.stdout)?.[1];
    const replay = `seed ${seed} (replay: LIVEPATCH_TEST_SEED=${seed} node --test dist/test/cluster/pool.test.js)`;
    assert.ok(line, `${replay}: no result (exit ${r.status}): ${r.stderr.slice(-2000)}`);
    t.diagnostic(`${kind}: ${replay}: ${line}`);
    const out = JSON.parse(line) as { transitions: number; wrong: unknown[]; stalls: number; mixed: number; jobs: number; started: number };
    assert.ok(out.transitions >= 50, replay);
    assert.deepEqual(out.wrong, [], replay);
    assert.equal(out.stalls, 0, `${replay}: ${r.stderr.slice(-2000)}`);
    assert.equal(out.mixed, 0, replay);
    assert.ok(out.jobs > 0, replay);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('thread pool: workers come and go at seeded random points of 50+ transitions', (t) => poolRun(t, 'threads'));

test('node:cluster: workers forked and killed at seeded random points of 50+ transitions', (t) => poolRun(t, 'cluster'));
