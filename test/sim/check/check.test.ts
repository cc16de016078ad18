// The model checker (issue 3): the seed's races found in the code as first posted, the final code
// clean within the stated bounds, mutations that drop a barrier or a synchronize caught, counterexamples
// that replay exactly, and the reductions cross-validated against the unreduced search.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, type CheckOptions } from '../../../src/sim/check/explore.js';
import { MODELS } from '../../../src/sim/check/models.js';
import { decodeToken, encodeToken, formatTrace, replay, worldFor, type Token } from '../../../src/sim/check/trace.js';
import { Fingerprint } from '../../../src/sim/check/table.js';
import { World, type WorldConfig } from '../../../src/sim/check/world.js';
import { IntVec } from '../../../src/engine/snapshot.js';

const OPTS: CheckOptions = { strategy: 'dfs', maxStates: 3_000_000, seed: 1, symmetry: true, por: true, depth: 400, pctDepth: 3 };

function world(scenario: string, over: Partial<WorldConfig> = {}): World {
  return new World({ ...MODELS[scenario].shape, variant: 'final', memory: 'sc', drop: [], ...over });
}

function tokenOf(scenario: string, w: World, choices: number[]): Token {
  const c = w.config;
  return { scenario, variant: c.variant, memory: c.memory, drop: [...c.drop], tasks: c.tasks, cpus: c.cpus, rounds: c.rounds, choices };
}

test('v3 on seed-reverse: a violation, and bfs finds one of at most 40 steps', () => {
  const dfs = check(world('seed-reverse', { variant: 'v3' }), OPTS);
  assert.ok(dfs.violation);
  const bfs = check(world('seed-reverse', { variant: 'v3' }), { ...OPTS, strategy: 'bfs' });
  assert.ok(bfs.violation);
  assert.ok(bfs.violation.choices.length <= 40, `${bfs.violation.choices.length} steps`);
  // The v3 restart flags tasks already at the new target (the seed thread's first point).
  assert.equal(bfs.violation.invariant, 'I4');
});

test('final on seed-reverse: complete search, no violation (2 tasks)', () => {
  const r = check(world('seed-reverse'), OPTS);
  assert.equal(r.violation, null);
  assert.equal(r.complete, true);
  assert.equal(r.states, 63966);
});

test('v3 on seed-hotplug: a task in the wrong state at completion; final: none', () => {
  const v3 = check(world('seed-hotplug', { variant: 'v3' }), OPTS);
  assert.equal(v3.violation?.invariant, 'I6');
  const fin = check(world('seed-hotplug'), OPTS);
  assert.equal(fin.violation, null);
  assert.equal(fin.complete, true);
  assert.equal(fin.states, 5083);
});

test('final with fork during the transition: complete, no violation', () => {
  const r = check(world('seed-fork', { tasks: 1 }), OPTS);
  assert.equal(r.violation, null);
  assert.equal(r.complete, true);
});

test('final with a reverse, a fork and a hot-plugged CPU (1 task, 2 CPUs): complete, no violation', () => {
  const r = check(world('full', { tasks: 1 }), OPTS);
  assert.equal(r.violation, null);
  assert.equal(r.complete, true);
  assert.equal(r.states, 55094);
});

// Issue 3, acceptance 3: 3 tasks (and the one a fork adds) + 2 CPUs, one of them hot-plugged, with a
// reverse. About 30-35 s on the 2-core test machine (docs/model-checking.md); the time is measured by
// bench/checker-vs-spin.mjs --full, not asserted here.
test('final with a reverse, a fork and a hot-plugged CPU (3 tasks, 2 CPUs): complete, no violation', { timeout: 600_000 }, (t) => {
  const r = check(world('full', { tasks: 3 }), { ...OPTS, maxStates: 10_000_000 });
  t.diagnostic(`${r.states} states, ${r.transitions} transitions, ${r.elapsedMs} ms`);
  assert.equal(r.violation, null);
  assert.equal(r.complete, true);
  assert.equal(r.states, 1689126);
});

test("the key after a step, made from the parts of the tasks the step changed, equals the key made anew", () => {
  // A long seeded random run through worlds where tasks fork, sleep in f and switch at the barrier, a
  // CPU goes down and up, and the admin reverses: after a task's step only its part is redone, after
  // another process's step only the parts of the tasks whose reach it changed.
  for (const [scenario, over] of [
    ['full', { tasks: 3 }],
    ['seed-sched', { tasks: 2 }],
    ['seed-fork', { tasks: 2 }],
    ['seed-kthread-force', { tasks: 2 }],
  ] as [string, Partial<WorldConfig>][]) {
    const w = world(scenario, over);
    const before = new Uint32Array(w.keyParts.length);
    const buf = new IntVec();
    const whole = new Fingerprint();
    const made = new Fingerprint();
    let seed = 12345;
    let locals = 0;
    let others = 0;
    let changed = 0;
    w.capture(buf);
    const initial = buf.copy();
    for (let n = 0; n < 20_000; n++) {
      // Short runs from the start, so that transitions (the admin's and the kworker's steps) recur.
      if (n % 60 === 0) w.restore(initial);
      w.key(buf, whole, true);
      before.set(w.keyParts);
      const actions = w.actions();
      if (actions.length === 0) break;
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      if (!w.run(actions[seed % actions.length])) continue;
      assert.equal(w.violation, null);
      if (w.lastLocal >= 0) {
        locals++;
        w.keyAfterLocal(before, 0, w.lastLocal, made);
      } else if (!w.lastByTask) {
        others++;
        w.keyAfterOther(buf, before, 0, made);
      } else continue;
      w.key(buf, whole, true);
      assert.deepEqual([made.h1, made.h2], [whole.h1, whole.h2], `${scenario} step ${n}`);
      // A step that changed some task's part (one a key copying every task's part would get wrong).
      if (w.keyParts.some((v, j) => j >= 4 && j < 4 + 2 * w.maxTasks && v !== before[j])) changed++;
    }
    assert.ok(locals > 1000 && others > 1000, `${scenario}: ${locals} local steps, ${others} others`);
    assert.ok(changed > 1000, `${scenario}: ${changed} steps changed a task's part`);
  }
});

test("a walk's AT mark counts in the key only where the walk can still read it", () => {
  // Swapping the AT and a PASSED mark between two visited tasks: where the key does not tell the two
  // states apart, no step can (each step from them leads to states with equal keys); and where the
  // walk asks again for the task it is at (startTransition() flagging it), the key tells them apart.
  const w = world('full', { tasks: 3 });
  const buf = new IntVec();
  const k0 = new Fingerprint();
  const k1 = new Fingerprint();
  let seed = 99;
  let merged = 0;
  let apart = 0;
  w.capture(buf);
  const initial = buf.copy();
  for (let n = 0; n < 40_000 && (merged < 200 || apart < 20); n++) {
    if (n % 80 === 0) w.restore(initial);
    const actions = w.actions();
    if (actions.length === 0) {
      w.restore(initial);
      continue;
    }
    const at = w.walk.indexOf(1);
    const passed = w.walk.indexOf(2);
    if (at >= 0 && passed >= 0) {
      w.capture(buf);
      const s = buf.copy();
      w.key(buf, k0, true);
      w.walk[at] = 2;
      w.walk[passed] = 1;
      w.key(buf, k1, true);
      w.capture(buf);
      const swapped = buf.copy();
      if (k0.h1 === k1.h1 && k0.h2 === k1.h2) {
        merged++;
        for (let j = 0; j < actions.length; j++) {
          w.restore(s);
          const ran = w.run(w.actions()[j]);
          w.key(buf, k0, true);
          w.restore(swapped);
          assert.equal(w.run(w.actions()[j]), ran);
          w.key(buf, k1, true);
          assert.deepEqual([k1.h1, k1.h2], [k0.h1, k0.h2], `step ${n}, action ${j}`);
        }
      } else apart++;
      w.restore(s);
    }
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    w.run(actions[seed % actions.length]);
  }
  assert.ok(merged >= 200 && apart >= 20, `${merged} merged, ${apart} apart`);
});

test('quiet steps merged into the step before are logged, and the logged path replays step by step', () => {
  // The admin's and the kworker's bookkeeping steps in try-complete (World.quietLead()); no fork
  // or hotplug to wait for its locks.
  const merging = world('seed-reverse', { tasks: 3 });
  merging.mergeQuiet = true;
  const plain = world('seed-reverse', { tasks: 3 });
  const a = new IntVec();
  const b = new IntVec();
  merging.capture(a);
  const initial = a.copy();
  let seed = 7;
  let taken = 0;
  let logged = 0;
  for (let run = 0; run < 20; run++) {
    merging.restore(initial);
    plain.restore(initial);
    const log: number[] = [];
    merging.mergeLog = log;
    for (let n = 0; n < 400; n++) {
      const actions = merging.actions();
      if (actions.length === 0) break;
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const c = seed % actions.length;
      log.push(c);
      if (!merging.run(actions[c])) log.pop();
      else taken++;
    }
    merging.mergeLog = null;
    logged += log.length;
    for (const c of log) assert.ok(plain.run(plain.actions()[c]));
    merging.capture(a);
    plain.capture(b);
    assert.deepEqual(Array.from(b.view()), Array.from(a.view()), `run ${run}`);
  }
  assert.ok(logged - taken > 100, `${logged} steps logged for ${taken} taken`);
});

test('mutations under sequentially consistent memory: each dropped synchronize is caught', () => {
  const cases: [string, string, string][] = [
    ['sync-reverse', 'seed-sched', 'I6'],
    ['sync-complete-patch', 'seed-sched', 'I7'],
    ['sync-complete-unpatch', 'seed-sched', 'WARN'],
  ];
  for (const [drop, scenario, invariant] of cases) {
    const r = check(world(scenario, { tasks: 1, drop: [drop] }), OPTS);
    assert.equal(r.violation?.invariant, invariant, drop);
  }
});

test('mutations under relaxed memory: the init write barrier and the handler read barrier', () => {
  const opts: CheckOptions = { ...OPTS, strategy: 'random', symmetry: false, por: false, maxStates: 3_000_000 };
  for (const drop of ['wmb-init', 'rmb-handler']) {
    const r = check(world('seed-barriers', { memory: 'relaxed', drop: [drop], rounds: 2 }), opts);
    assert.equal(r.violation?.invariant, 'I7', drop);
  }
  // With every barrier in place the same search finds nothing.
  const clean = check(world('seed-barriers', { memory: 'relaxed', rounds: 2 }), { ...opts, maxStates: 1_000_000 });
  assert.equal(clean.violation, null);
  // These two have no reader here (no reverse, no scheduler hook); test/sim/check/barriers.test.ts
  // checks every barrier on its litmus model with complete searches.
  for (const drop of ['wmb-reverse', 'rmb-sched']) {
    const r = check(world('seed-barriers', { memory: 'relaxed', drop: [drop], rounds: 2 }), { ...opts, maxStates: 300_000 });
    assert.equal(r.violation, null, drop);
  }
});

test('every counterexample token replays to the same trace; the same schedule gives the same states', () => {
  const w = world('seed-reverse', { variant: 'v3' });
  const r = check(w, { ...OPTS, strategy: 'bfs' });
  const token = tokenOf('seed-reverse', w, r.violation!.choices);
  const decoded = decodeToken(encodeToken(token));
  assert.deepEqual(decoded, token);
  const a = replay(decoded);
  const b = replay(decoded);
  assert.equal(a.violation?.invariant, r.violation!.invariant);
  assert.deepEqual(formatTrace(a.steps), formatTrace(b.steps));
  assert.deepEqual(a.states, b.states, 'the checker is deterministic');
  // A DFS counterexample replays too, and so does one from a random search under relaxed memory.
  const cases: [string, Partial<WorldConfig>, CheckOptions['strategy']][] = [
    ['seed-sched', { tasks: 1, drop: ['sync-reverse'] }, 'dfs'],
    ['seed-barriers', { memory: 'relaxed', drop: ['wmb-init'], rounds: 2 }, 'random'],
  ];
  for (const [scenario, over, strategy] of cases) {
    const w2 = world(scenario, over);
    const r2 = check(w2, { ...OPTS, strategy, symmetry: false, por: false, maxStates: 3_000_000 });
    assert.ok(r2.violation, strategy);
    const again = replay(decodeToken(encodeToken(tokenOf(scenario, w2, r2.violation.choices))));
    assert.equal(again.violation?.invariant, r2.violation.invariant);
    assert.equal(again.steps.length, r2.violation.choices.length);
  }
  // With both reductions on (the default): a step left out as mirroring another task's is never
  // named, and each step is named by its index among all the enabled ones.
  // (seed-sched, 3 tasks: a step of the third is named after steps of the second left out; with the
  // index among the kept steps this token diverged. seed-hotplug and full: a persistent set holding
  // hotplug steps, which come before the kworker's step the world was left after; when the set did not
  // put that step first, the search took it for the hotplug step and never explored the hotplug one,
  // and these tokens diverged.)
  const reduced: [string, Partial<WorldConfig>][] = [
    ['seed-sched', { tasks: 3, drop: ['sync-complete-patch'] }],
    ['seed-hotplug', { variant: 'v3' }],
    ['full', { tasks: 2, drop: ['sync-reverse'] }],
  ];
  for (const [scenario, over] of reduced) {
    const w3 = world(scenario, over);
    const r3 = check(w3, OPTS);
    assert.ok(r3.violation, scenario);
    const again = replay(decodeToken(encodeToken(tokenOf(scenario, w3, r3.violation.choices))));
    assert.equal(again.violation?.invariant, r3.violation.invariant, scenario);
    assert.equal(again.steps.length, r3.violation.choices.length, scenario);
  }
});

test('a corrupted token is refused with LP_ERR_USAGE', () => {
  for (const bad of ['', 'lp1.', 'lp1.!!!', 'xx.eyJ9', `lp1.${Buffer.from('{"scenario":1}').toString('base64url')}`]) {
    assert.throws(() => decodeToken(bad), (e: { code?: string }) => e.code === 'LP_ERR_USAGE', bad);
  }
  const t: Token = { scenario: 'seed-reverse', variant: 'final', memory: 'sc', drop: [], tasks: 1, cpus: 1, choices: [99] };
  assert.throws(() => replay(t), /diverged/);
  assert.throws(() => worldFor({ ...t, scenario: 'nope' }), (e: { code?: string }) => e.code === 'LP_ERR_NO_SUCH_SCENARIO');
});

test('partial-order and symmetry reduction, and the walk order by state, agree with the unreduced search in list order; symmetry is exact', { timeout: 600_000 }, () => {
  // Bounded tasks, so the search has terminal states to compare.
  const configs: [string, Partial<WorldConfig>][] = [
    ['bench', { tasks: 2, rounds: 1 }],
    ['seed-reverse', { tasks: 2, rounds: 1 }],
    ['seed-sched', { tasks: 2, rounds: 1 }],
    ['seed-fork', { tasks: 1, rounds: 2 }],
    ['seed-hotplug', { tasks: 1, rounds: 1 }],
    ['seed-reverse', { tasks: 2, rounds: 1, variant: 'v3' }],
    ['seed-sched', { tasks: 1, rounds: 2, drop: ['sync-reverse'] }],
    // Hotplug with a persistent set at the kworker's idle-task checks, a fork, a reverse and retries.
    ['full', { tasks: 1, rounds: 1 }],
    ['seed-hotplug', { tasks: 2, rounds: 1 }],
  ];
  for (const [scenario, over] of configs) {
    const run = (por: boolean, symmetry: boolean, listOrder = false) => {
      const terminals = new Set<string>();
      const terminalClasses = new Set<string>();
      const classes = new Set<string>();
      const r = check(world(scenario, { ...over, listOrder }), { ...OPTS, por, symmetry, terminals, terminalClasses, classes });
      return { r, terminals, terminalClasses, classes };
    };
    const full = run(false, false);
    const por = run(true, false);
    const sym = run(false, true);
    // Both, as the checker runs by default.
    const both = run(true, true);
    // The kernel's list order, against the World's walk order by state (world.ts, walkPicks()).
    const list = run(false, false, true);
    const label = `${scenario} ${JSON.stringify(over)}`;
    assert.equal(!!por.r.violation, !!full.r.violation, `${label}: verdict with POR`);
    assert.equal(!!sym.r.violation, !!full.r.violation, `${label}: verdict with symmetry`);
    assert.equal(!!both.r.violation, !!full.r.violation, `${label}: verdict with both`);
    assert.equal(list.r.violation?.invariant, full.r.violation?.invariant, `${label}: verdict in list order`);
    if (!full.r.violation) {
      assert.ok(full.r.complete && por.r.complete && sym.r.complete && both.r.complete && list.r.complete, label);
      assert.ok(full.terminals.size > 0, `${label}: has terminal states`);
      assert.deepEqual([...list.terminals].sort(), [...full.terminals].sort(), `${label}: terminal states in list order`);
      assert.deepEqual([...por.terminals].sort(), [...full.terminals].sort(), `${label}: terminal states with POR`);
      assert.deepEqual([...both.terminalClasses].sort(), [...full.terminalClasses].sort(), `${label}: terminal classes with both`);
      // Exact symmetry: one state of every class the unreduced search reaches, and no other class.
      assert.equal(sym.r.states, full.classes.size, `${label}: classes with symmetry`);
      assert.deepEqual([...sym.classes].sort(), [...full.classes].sort(), `${label}: classes with symmetry`);
      assert.ok(por.r.states <= full.r.states && sym.r.states <= full.r.states, label);
    }
  }
});

test('list-order walks: the unreduced bench space equals the Promela model of it (bench/spin/livepatch.pml, measured with SPIN)', () => {
  // 2,214 / 20,628 states at 1 / 2 tasks: what pan -DNOREDUCE stores for the same model.
  for (const [tasks, states] of [
    [1, 2_214],
    [2, 20_628],
  ]) {
    const r = check(world('bench', { tasks, listOrder: true }), { ...OPTS, symmetry: false, por: false });
    assert.ok(r.complete && !r.violation);
    assert.equal(r.states, states);
  }
});
