// Litmus-style models for `--memory relaxed`, one per pair of barriers in the transition code: the
// fewest processes and admin actions that exercise the pair, and only the variable whose late
// visibility the pair is about kept relaxed (every other store becomes visible everywhere at once
// whenever the barriers allow it). That keeps the complete search small enough to finish, while every
// violation found is still an execution of the fully relaxed model.
//
// One user task runs on CPU 1 and calls f, which calls g; the admin and the kworker run on CPU 0.

import { addr, Var } from '../../engine/memory.js';
import type { ModelShape } from './models.js';

// Addresses every World has: task 0 is the first user task, and the patch's funcs get their ids in
// the patch's order when it is enabled (f = 0, g = 1).
const TARGET = addr(Var.Target, 0);
const TASK0_STATE = addr(Var.PatchState, 0);
const F_TRANSITION = addr(Var.Transition, 0);
const G_TRANSITION = addr(Var.Transition, 1);

export function barrierModels(base: ModelShape): Record<string, { description: string; shape: ModelShape }> {
  const litmus: ModelShape = { ...base, tasks: 1, cpus: 2, sleepInPatched: false, rounds: 1 };
  // Disabling is where a func is in transition while it is already on the func stack: the handler
  // reads func->transition with nothing before it that orders the read (enabling orders it through
  // the push onto the stack).
  const disabling: ModelShape = { ...litmus, prepatched: true, disables: 1 };
  return {
    'litmus-init': {
      description: 'disable while task0 on CPU 1 calls f and g; only task0->patch_state is relaxed (wmb-init, rmb-handler)',
      shape: { ...disabling, litmus: [TASK0_STATE] },
    },
    'litmus-disable': {
      // Two syscalls: the task switches at the end of the first and calls f again in the second.
      description: 'disable while task0 on CPU 1 makes two syscalls into f and g; only f->transition is relaxed (wmb-disable)',
      shape: { ...disabling, rounds: 2, litmus: [F_TRANSITION] },
    },
    'litmus-enable': {
      description: 'enable while task0 on CPU 1 calls f and g; only g->transition is relaxed (wmb-enable, rmb-handler-stack)',
      shape: { ...litmus, litmus: [G_TRANSITION] },
    },
    'litmus-reverse': {
      description: 'enable, then a reverse, while task0 on CPU 1 calls f and g; only klp_target_state is relaxed (wmb-reverse)',
      shape: { ...litmus, reverses: 1, litmus: [TARGET] },
    },
    'litmus-sched': {
      // CPU-bound: the hook's caller is already running, so nothing orders its loads but the hook's own
      // smp_rmb(); two rounds: a freezable sleep (cond_resched()), then a syscall into f.
      description:
        'enable while the CPU-bound task0 on CPU 1 sleeps freezably (the scheduler hook), then calls f and g; only klp_target_state is relaxed (rmb-sched)',
      shape: { ...litmus, freezableSleep: true, cpuBound: true, rounds: 2, litmus: [TARGET] },
    },
  };
}
