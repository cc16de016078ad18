// Issue 14, acceptance 4: the model checker's cluster-hotplug scenario (src/sim/check/cluster/) runs the
// coordination as built (src/cluster/coord.ts) with workers starting and dying at any point of enable,
// reverse and complete: clean as built; a counterexample when the replay to a new worker is left out
// (a worker comes up on the old version after the process level completed), and a stall when the
// tombstones are (a dead worker's late hello holds the transition forever). Tokens replay them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simMain } from '../../../src/cli/sim.js';

function run(argv: string[]): { code: number; out: string[] } {
  const out: string[] = [];
  const code = simMain(argv, { out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out };
}

test('cluster-hotplug as built: the whole space, no violation', () => {
  const r = run(['check', 'cluster-hotplug', '--json']);
  assert.equal(r.code, 0, r.out.join('\n'));
  const j = JSON.parse(r.out[0]) as { complete: boolean; states: number; violations: unknown[] };
  assert.equal(j.complete, true);
  assert.deepEqual(j.violations, []);
  assert.ok(j.states > 1000, `only ${j.states} states`);
});

test('without the replay to a new worker: a live worker on the old version once complete; the token replays it', () => {
  const r = run(['check', 'cluster-hotplug', '--drop', 'replay-new-worker']);
  assert.equal(r.code, 1);
  assert.match(r.out.join('\n'), /VIOLATION complete-(version|unswitched): .*cpu \S+ .*version 0/);
  const token = /replay: livepatch sim replay (lpc1\.\S+)/.exec(r.out.join('\n'))![1];
  const again = run(['replay', token]);
  assert.equal(again.code, 1);
  assert.match(again.out.at(-1)!, /^VIOLATION complete-/);
  assert.match(again.out.join('\n'), /receives the replay \(at op 1: nothing\)/);
});

test('without tombstones: a dead worker\'s late hello stalls the transition', () => {
  const r = run(['check', 'cluster-hotplug', '--drop', 'tombstone', '--json']);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.out[0]) as { violations: Array<{ invariant: string; detail: string }> };
  assert.equal(j.violations[0].invariant, 'stall');
  assert.match(j.violations[0].detail, /exited but still holds it/);
});

test('cluster-hotplug: bad options are usage errors', () => {
  assert.throws(() => run(['check', 'cluster-hotplug', '--drop', 'wmb-init']), /LP_ERR_USAGE|--drop for cluster-hotplug must name one of replay-new-worker, tombstone/);
  assert.throws(() => run(['check', 'cluster-hotplug', '--tasks', '3']), /cluster scenarios take/);
  assert.throws(() => run(['replay', 'lpc1.garbage']), /not a replay token/);
});
