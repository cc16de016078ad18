// (Un)patch callbacks (core.h) and their symmetry rules: they run only for loaded objects; postUnpatch
// runs only if prePatch ran and succeeded for that object; a reversed patching transition runs
// postUnpatch without preUnpatch (postPatch never ran).

import type { Klp } from './klp.js';
import type { CallbackObject, KlpObject } from './model.js';

function view(k: Klp, obj: KlpObject): CallbackObject {
  return { name: obj.name, patch: obj.patch.name, moduleState: obj.isVmlinux ? null : k.host.moduleState(obj.name) };
}

export function prePatchCallback(k: Klp, obj: KlpObject): number {
  const ret = obj.callbacks.prePatch ? obj.callbacks.prePatch(view(k, obj)) : 0;
  obj.postUnpatchEnabled = ret === 0;
  return ret;
}

export function postPatchCallback(k: Klp, obj: KlpObject): void {
  obj.callbacks.postPatch?.(view(k, obj));
}

export function preUnpatchCallback(k: Klp, obj: KlpObject): void {
  obj.callbacks.preUnpatch?.(view(k, obj));
}

export function postUnpatchCallback(k: Klp, obj: KlpObject): void {
  if (obj.postUnpatchEnabled) obj.callbacks.postUnpatch?.(view(k, obj));
  obj.postUnpatchEnabled = false;
}
