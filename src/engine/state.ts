// state.c: system states a patch introduces or takes over (klp_state), and the compatibility rule for
// cumulative patches.

import type { Klp } from './klp.js';
import type { KlpPatch, KlpState } from './model.js';

/** klp_get_state(): the patch's state with this id, or null. */
export function getState(patch: KlpPatch, id: number): KlpState | null {
  return patch.states.find((s) => s.id === id) ?? null;
}

/**
 * klp_get_prev_state(): the state with this id of the newest patch installed before the one in
 * transition: what a callback of a cumulative patch takes over (or hands back on a reverse).
 */
export function getPrevState(k: Klp, id: number): KlpState | null {
  if (!k.transitionPatch) {
    k.warn('getPrevState: called outside a transition');
    return null;
  }
  let last: KlpState | null = null;
  for (const patch of k.patches) {
    if (patch === k.transitionPatch) break;
    last = getState(patch, id) ?? last;
  }
  return last;
}

/**
 * klp_is_patch_compatible(): every state of every installed patch must be handled. A new patch may
 * leave a state alone only if it does not replace the others; a state it lists needs the same or a
 * higher version (a lower one would not know how to undo the newer modification).
 */
export function isPatchCompatible(k: Klp, patch: KlpPatch): boolean {
  for (const old of k.patches) {
    for (const oldState of old.states) {
      const state = getState(patch, oldState.id);
      if (!state) {
        if (patch.replace) return false;
        continue;
      }
      if (state.version < oldState.version) return false;
    }
  }
  return true;
}
