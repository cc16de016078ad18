// The kernel World (world.ts) as the liveness search sees it (liveness.ts): fairness for every process
// inside a step of its own (a user task, an idle task, the kworker, the admin inside a verb) and for
// each CPU's store buffer and invalidation queue (a store eventually becomes visible), none for the
// admin's choices to start an optional verb or to plug a CPU; and every task eventually leaves patched
// code (its activation of f ends).

import type { LiveWorld } from './liveness.js';
import { ADMIN, type Action, type World } from './world.js';

export function liveWorld(w: World): LiveWorld<Action> {
  return {
    actions: () => runnable(w),
    step: (a) => w.run(a),
    capture: (out) => w.capture(out),
    restore: (d) => w.restore(d),
    violated: () => (w.violation ? `${w.violation.invariant}: ${w.violation.detail}` : null),
    inTransition: () => w.klp.transitionPatch !== null,
    fairness: (a) => {
      if (a.proc < 0) return 1000 + 2 * (a.choice >> 10) + (a.proc === -1 ? 0 : 1);
      if (a.proc === ADMIN && !w.procs[ADMIN] && a.choice < 16) return -1;
      return a.proc;
    },
    // A process's step is strongly fair (taken when enabled infinitely often), a store buffer's weakly.
    // A process's step is enabled only now and then for three reasons, each served by the kernel: the
    // lead waits in klp_synchronize_transition() for every CPU to schedule, which each does whenever
    // it leaves a preempt-off section (the work item runs at the next schedule); a fork's
    // copy_process() waits for the tasklist write lock the walks read-hold (a waiting writer holds new
    // readers back, qrwlock); and an idle task's loop runs only while its CPU has nothing else to run,
    // when the World lets it step, while on a busy CPU the idle task is not running and the kernel's
    // stack check switches it, which the World (an online CPU always "runs" its idle task) does not.
    strong: (c) => c < 1000,
    justice: () => {
      let bits = 0;
      for (let t = 0; t < w.maxTasks; t++) if (!w.inPatched(t)) bits |= 1 << t;
      return bits;
    },
    justiceMask: (1 << w.maxTasks) - 1,
    describe: (a) => w.label(a),
    describePredicate: (bit) => `task${bit} outside patched code`,
    describeClass: (c) => (c >= 1000 ? `cpu${(c - 1000) >> 1} memory` : w.procName(c)),
  };
}

/**
 * The World's steps, less those a real CPU cannot take: a CPU with preemption off (a task in the
 * handler, in klp_update_patch_state(), in the scheduler hook) runs only the process that turned it
 * off. The World lets other processes on that CPU step meanwhile, an over-approximation that keeps
 * every safety violation; for liveness it would let two tasks on one CPU take turns inside their
 * preempt-off sections forever and starve klp_synchronize_transition(), a run no kernel has.
 */
function runnable(w: World): Action[] {
  const all = w.actions();
  let held = 0;
  for (let i = 0; i < w.nprocs; i++) if ((w.procs[i]?.preemptOff ?? 0) > 0) held |= 1 << w.cpuOfProc(i);
  if (held === 0) return all;
  return all.filter((a) => {
    if (a.proc < 0) return true;
    const cpu = w.cpuOfProc(a.proc);
    return !(held & (1 << cpu)) || (w.procs[a.proc]?.preemptOff ?? 0) > 0;
  });
}
