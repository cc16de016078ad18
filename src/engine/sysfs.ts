// What /sys/kernel/livepatch shows: the admin's view of the patches, and /proc/<pid>/patch_state.

import { TARGET, type Klp } from './klp.js';
import { addr, Var } from './memory.js';

export interface ObjectView {
  name: string;
  /** <patch>/<object>/patched */
  patched: boolean;
  funcs: string[];
}

export interface PatchView {
  name: string;
  enabled: boolean;
  transition: boolean;
  replace: boolean;
  forced: boolean;
  /** 1-based position in klp_patches: with several patches on a function the biggest wins. */
  stackOrder: number;
  objects: ObjectView[];
}

export function patchViews(k: Klp): PatchView[] {
  return k.patches.map((patch) => ({
    name: patch.name,
    enabled: patch.enabled,
    transition: patch === k.transitionPatch,
    replace: patch.replace,
    forced: patch.forced,
    stackOrder: k.stackOrder(patch),
    objects: patch.objs
      .filter((obj) => !obj.dynamic)
      .map((obj) => ({
        name: obj.name,
        patched: obj.patched,
        funcs: obj.funcs.filter((f) => !f.nop).map((f) => `${f.oldName},${Math.max(f.oldSympos, 1)}`),
      })),
  }));
}

/** /proc/<pid>/patch_state: -1 outside a transition, 0 unpatched, 1 patched. */
export function patchState(k: Klp, task: number): number {
  return k.mem.load(0, addr(Var.PatchState, task));
}

export function pending(k: Klp, task: number): boolean {
  return k.mem.load(0, addr(Var.Pending, task)) !== 0;
}

export function targetState(k: Klp): number {
  return k.mem.load(0, TARGET);
}
