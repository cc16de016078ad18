// The engine's public surface: build the procs that run its verbs, and drive them.
//
// Admin verbs (enable, the `enabled` and `force` writes, module coming/going, the retry work) take
// klp_mutex; the lock-free verbs (updatePatchState at a task's safe point, the scheduler hook, the
// handler) run in the task's own context. A host runs a proc with step() (interleaving) or runToEnd().

import { buildPatch } from './core.js';
import { LpError } from './errors.js';
import { Fn } from './fn.js';
import type { Klp } from './klp.js';
import { Proc } from './machine.js';
import type { KlpPatch, PatchDesc } from './model.js';

export { buildPatch };

export { Klp, type Variant, SIGNALS_TIMEOUT } from './klp.js';
export { step, runToEnd, where } from './step.js';
export { Proc, St } from './machine.js';
export { copyProcess, forbiddenCode } from './transition.js';
export * from './model.js';
export * from './errors.js';
export * from './sysfs.js';
export { Shadow } from './shadow.js';
export { getState, getPrevState } from './state.js';
export { ScMemory, type Memory } from './memory.js';
export type { Host, HostLock, LogLevel } from './host.js';

function patchNamed(k: Klp, name: string) {
  const patch = k.patches.find((p) => p.name === name);
  if (!patch) {
    const names = k.patches.map((p) => `'${p.name}'`).join(', ');
    throw new LpError('LP_ERR_NO_SUCH_PATCH', `no patch named '${name}' is enabled (${names ? `patches: ${names}` : 'no patches'}; livepatch list shows them)`);
  }
  return patch;
}

/** klp_enable_patch(): a malformed description throws LpError here, before anything changes. */
export function enablePatchProc(k: Klp, cpu: number, task: number, desc: PatchDesc): Proc {
  return enableBuiltPatchProc(k, cpu, task, buildPatch(k, desc));
}

/** klp_enable_patch() of a patch already built with buildPatch() (a checker builds its patches once). */
export function enableBuiltPatchProc(k: Klp, cpu: number, task: number, patch: KlpPatch): Proc {
  k.detached.set(patch.id, patch);
  return new Proc(cpu, task, Fn.EnablePatch, patch.id);
}

/** echo 0|1 > /sys/kernel/livepatch/<name>/enabled */
export function enabledStoreProc(k: Klp, cpu: number, task: number, name: string, value: boolean): Proc {
  return new Proc(cpu, task, Fn.EnabledStore, patchNamed(k, name).id, value ? 1 : 0);
}

/** echo 1 > /sys/kernel/livepatch/<name>/force */
export function forceStoreProc(k: Klp, cpu: number, task: number, name: string): Proc {
  return new Proc(cpu, task, Fn.ForceStore, patchNamed(k, name).id);
}

export function moduleComingProc(k: Klp, cpu: number, task: number, module: string): Proc {
  return new Proc(cpu, task, Fn.ModuleComing, k.intern(module));
}

export function moduleGoingProc(k: Klp, cpu: number, task: number, module: string): Proc {
  return new Proc(cpu, task, Fn.ModuleGoing, k.intern(module));
}

/** The delayed klp_transition_work. */
export function transitionWorkProc(cpu: number, task: number): Proc {
  return new Proc(cpu, task, Fn.TransitionWork);
}

/** klp_update_patch_state(task): at the task's own safe point (return to user mode, idle loop). */
export function updatePatchStateProc(cpu: number, task: number): Proc {
  return new Proc(cpu, task, Fn.UpdatePatchState, task);
}

/** klp_sched_try_switch(): the task is about to sleep freezably. */
export function schedTrySwitchProc(cpu: number, task: number): Proc {
  return new Proc(cpu, task, Fn.SchedTrySwitch);
}

/** The handler for a call of a hooked original function (ops id from Klp.findOps). */
export function handlerProc(cpu: number, task: number, ops: number): Proc {
  return new Proc(cpu, task, Fn.FtraceHandler, ops);
}
