// Dispatch: run one step of whatever verb a CPU is in. This is the only place that knows every verb.

import * as core from './core.js';
import { Fn, FN_NAMES } from './fn.js';
import type { Klp } from './klp.js';
import { St, type Frame, type Proc } from './machine.js';
import * as patch from './patch.js';
import * as transition from './transition.js';

type StepFn = (k: Klp, p: Proc, f: Frame) => St;

const STEPS: StepFn[] = [];
STEPS[Fn.InitTransition] = transition.initTransition;
STEPS[Fn.StartTransition] = transition.startTransition;
STEPS[Fn.UpdatePatchState] = transition.updatePatchState;
STEPS[Fn.TrySwitchTask] = transition.trySwitchTask;
STEPS[Fn.TryCompleteTransition] = transition.tryCompleteTransition;
STEPS[Fn.CompleteTransition] = transition.completeTransition;
STEPS[Fn.CancelTransition] = transition.cancelTransition;
STEPS[Fn.ReverseTransition] = transition.reverseTransition;
STEPS[Fn.ForceTransition] = transition.forceTransition;
STEPS[Fn.SchedTrySwitch] = transition.schedTrySwitch;
STEPS[Fn.SendSignals] = transition.sendSignals;
STEPS[Fn.SynchronizeTransition] = transition.synchronizeTransition;
STEPS[Fn.TransitionWork] = transition.transitionWork;
STEPS[Fn.FtraceHandler] = patch.ftraceHandler;
STEPS[Fn.PatchObject] = patch.patchObject;
STEPS[Fn.UnpatchObject] = patch.unpatchObject;
STEPS[Fn.UnpatchObjects] = patch.unpatchObjects;
STEPS[Fn.EnablePatch] = core.enablePatch;
STEPS[Fn.DisablePatch] = core.disablePatch;
STEPS[Fn.EnabledStore] = core.enabledStore;
STEPS[Fn.ForceStore] = core.forceStore;
STEPS[Fn.ModuleComing] = core.moduleComing;
STEPS[Fn.ModuleGoing] = core.moduleGoing;
STEPS[Fn.UnpatchReplacedPatches] = core.unpatchReplacedPatches;
STEPS[Fn.DiscardNops] = core.discardNops;
STEPS[Fn.CleanupModulePatches] = core.cleanupModulePatches;

for (let fn = 0; fn < Fn.Count; fn++) if (!STEPS[fn]) throw new Error(`livepatch engine: no step function for ${FN_NAMES[fn]}`);

/**
 * Run `p` up to its next visible step: local steps are merged into it. Returns St.Next after a step
 * that touched shared state (or finished the proc), St.Block if the proc cannot move now.
 */
export function step(k: Klp, p: Proc): St.Next | St.Block {
  for (;;) {
    const f = p.frames[p.frames.length - 1];
    const st = STEPS[f.fn](k, p, f);
    if (st === St.Block) return St.Block;
    if (st === St.Next || p.done) return St.Next;
  }
}

/**
 * Run `p` to the end on a host that does not interleave. A block here is a host bug (nothing else can
 * run to release it), reported with where the proc stands.
 */
export function runToEnd(k: Klp, p: Proc): number {
  while (!p.done) {
    if (step(k, p) === St.Block) {
      const where = p.frames.map((f) => `${FN_NAMES[f.fn]}@${f.pc}`).join(' > ');
      throw new Error(`livepatch engine: ${where} blocked on a host that runs verbs straight through`);
    }
  }
  return p.result;
}

/** Where a proc is, for traces: `tryCompleteTransition@1 > trySwitchTask@0`. */
export function where(p: Proc): string {
  return p.frames.map((f) => `${FN_NAMES[f.fn]}@${f.pc}`).join(' > ');
}
