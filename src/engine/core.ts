// core.c: enabling and disabling patches, the sysfs writes that steer a transition, atomic replace
// (nops), and modules coming and going. All of it runs under klp_mutex.

import { prePatchCallback, preUnpatchCallback, postPatchCallback, postUnpatchCallback } from './callbacks.js';
import { EBUSY, EINVAL, LpError } from './errors.js';
import { Fn } from './fn.js';
import type { Klp } from './klp.js';
import { call, ret, St, type Frame, type Proc } from './machine.js';
import { TRANSITION_PATCHED, TRANSITION_UNPATCHED, KlpObject, VMLINUX, type KlpFunc, type KlpPatch, type PatchDesc } from './model.js';
import { NOPS_ONLY } from './patch.js';
import { isPatchCompatible } from './state.js';

/**
 * Check a patch description and build the patch, touching no engine state: a malformed patch is
 * refused here with nothing changed. (klp_enable_patch's -EINVAL checks and klp_init_patch_early.)
 */
export function buildPatch(k: Klp, desc: PatchDesc): KlpPatch {
  const bad = (msg: string, code: ConstructorParameters<typeof LpError>[0] = 'LP_ERR_INVALID_PATCH'): never => {
    throw new LpError(code, msg, EINVAL);
  };
  if (!desc || typeof desc !== 'object') bad('a patch must be an object with a name and objs');
  if (typeof desc.name !== 'string' || !/^[\w.-]{1,64}$/.test(desc.name))
    bad(`patch name ${JSON.stringify(desc.name)} is not a module name: use 1-64 letters, digits, '_', '.', '-'`);
  if (!Array.isArray(desc.objs) || desc.objs.length === 0) bad(`patch '${desc.name}' has no objects: list at least one object with funcs`);
  const states = desc.states ?? [];
  if (!Array.isArray(states)) bad(`patch '${desc.name}': states must be an array of { id, version }`);
  const stateIds = new Set<number>();
  for (const s of states) {
    if (!Number.isInteger(s?.id) || s.id <= 0 || !Number.isInteger(s.version) || s.version < 0)
      bad(`patch '${desc.name}': state ${JSON.stringify(s)} needs a positive integer id and a non-negative integer version`);
    if (stateIds.has(s.id)) bad(`patch '${desc.name}': state id ${s.id} is listed twice`);
    stateIds.add(s.id);
  }
  if (desc.immediate === true && k.variant !== 'v3')
    bad(`patch '${desc.name}': immediate patches exist only in the seed's v3 code (upstream removed them in 2018); drop "immediate" or check with --variant v3`);
  const patch = k.newPatch(desc.name, desc.replace === true, states);
  patch.immediate = desc.immediate === true;
  const objNames = new Set<string>();
  for (const od of desc.objs) {
    const name = od?.name ?? VMLINUX;
    if (typeof name !== 'string' || name === '') bad(`patch '${desc.name}': an object name must be a non-empty string`);
    if (objNames.has(name)) bad(`patch '${desc.name}': object '${name}' is listed twice; merge its funcs into one entry`, 'LP_ERR_DUPLICATE_OBJECT');
    objNames.add(name);
    // An object may have no funcs (only callbacks), but it must say so with an empty list.
    if (!Array.isArray(od.funcs)) bad(`patch '${desc.name}': object '${name}' needs a funcs list (empty for callbacks only)`);
    const obj = new KlpObject(patch, name, od.callbacks ?? {}, false);
    const seen = new Set<string>();
    for (const fd of od.funcs) {
      if (typeof fd?.oldName !== 'string' || fd.oldName === '') bad(`patch '${desc.name}': a func in '${name}' has no oldName`);
      const sympos = fd.oldSympos ?? 0;
      if (!Number.isInteger(sympos) || sympos < 0) bad(`patch '${desc.name}': ${fd.oldName}: oldSympos must be a non-negative integer`);
      if (!Number.isInteger(fd.newFunc)) bad(`patch '${desc.name}': ${fd.oldName}: newFunc must be a code id`);
      const key = `${fd.oldName},${sympos === 0 ? 1 : sympos}`;
      if (seen.has(key))
        bad(`patch '${desc.name}': func '${fd.oldName}' (sympos ${sympos}) is patched twice in '${name}'; keep one entry`, 'LP_ERR_DUPLICATE_FUNC');
      seen.add(key);
      obj.funcs.push(k.newFunc(obj, fd.oldName, sympos, fd.newFunc, false));
    }
    patch.objs.push(obj);
  }
  return patch;
}

/** klp_find_object_symbol(): resolve one func against the loaded object, or say why not. */
function resolveFunc(k: Klp, obj: KlpObject, func: KlpFunc): string | null {
  const codes = k.host.lookupSymbol(obj.name, func.oldName);
  if (codes.length === 0) return `symbol '${func.oldName}' not found in symbol table`;
  if (func.oldSympos === 0 && codes.length > 1)
    return `unresolvable ambiguity for symbol '${func.oldName}' in object '${obj.name}'`;
  if (func.oldSympos > codes.length)
    return `symbol position ${func.oldSympos} for symbol '${func.oldName}' in object '${obj.name}' not found`;
  func.oldFunc = codes[Math.max(func.oldSympos, 1) - 1];
  if (func.nop) func.newFunc = func.oldFunc;
  return null;
}

/** klp_init_object_loaded(): resolve every func of an object whose module is loaded; all or nothing. */
function initObjectLoaded(k: Klp, obj: KlpObject): LpError | null {
  for (const func of obj.funcs) {
    const why = resolveFunc(k, obj, func);
    if (why !== null) {
      for (const f of obj.funcs) f.oldFunc = -1;
      k.host.log('err', `livepatch: ${why}`);
      const code = why.startsWith('unresolvable') ? 'LP_ERR_AMBIGUOUS_FUNC' : 'LP_ERR_NO_SUCH_FUNC';
      return new LpError(
        code,
        `${why} (patch '${obj.patch.name}'): check oldName/oldSympos against the target object's current code`,
        EINVAL,
      );
    }
  }
  obj.loaded = true;
  return null;
}

function freeObjectLoaded(obj: KlpObject): void {
  obj.loaded = false;
  for (const func of obj.funcs) {
    func.oldFunc = -1;
    if (func.nop) func.newFunc = -1;
  }
}

const sameFunc = (a: KlpFunc, b: KlpFunc): boolean =>
  a.oldName === b.oldName && (a.oldSympos === b.oldSympos || Math.max(a.oldSympos, 1) === Math.max(b.oldSympos, 1));

/**
 * klp_add_nops(): an atomic-replace patch takes over every function any installed patch changes; for
 * the ones it does not change itself it carries a nop ("run the original"), in a dynamic object where
 * it has none of that name.
 */
function addNops(k: Klp, patch: KlpPatch): void {
  for (const old of k.patches) {
    for (const oldObj of old.objs) {
      let obj = patch.objs.find((o) => o.name === oldObj.name);
      for (const oldFunc of oldObj.funcs) {
        if (obj?.funcs.some((f) => sameFunc(f, oldFunc))) continue;
        if (!obj) {
          obj = new KlpObject(patch, oldObj.name, {}, true);
          patch.objs.push(obj);
        }
        obj.funcs.push(k.newFunc(obj, oldFunc.oldName, oldFunc.oldSympos, -1, true));
      }
    }
  }
  patch.funcsChanged();
}

/** Undo what the first step of enablePatch() did, so a refused patch leaves no trace. */
function discardPatch(k: Klp, patch: KlpPatch): void {
  freePatch(k, patch);
  for (const obj of patch.objs) freeObjectLoaded(obj);
}

function fail(k: Klp, p: Proc, err: LpError): St {
  p.error = err;
  k.unlockMutex(p);
  return ret(p, err.errno, St.Next);
}

/**
 * klp_enable_patch(patch = a) with __klp_enable_patch(). On failure before the transition starts the
 * engine is left as it was; a failing pre-patch callback cancels the transition (the kernel's
 * transcript: "failed to enable patch", "canceling patching transition").
 */
export function enablePatch(k: Klp, p: Proc, f: Frame): St {
  const patch = k.patchById(f.a);
  switch (f.pc) {
    case 0: {
      if (!k.lockMutex(p)) return St.Block;
      if (k.patches.some((q) => q.name === patch.name)) {
        k.detached.delete(patch.id);
        return fail(k, p, new LpError('LP_ERR_DUPLICATE_PATCH', `a patch named '${patch.name}' is already installed: disable it or choose another name`, -17));
      }
      if (!isPatchCompatible(k, patch)) {
        k.host.log('err', `livepatch: Livepatch patch (${patch.name}) is not compatible with the already installed livepatches.`);
        k.detached.delete(patch.id);
        return fail(
          k,
          p,
          new LpError(
            'LP_ERR_INCOMPATIBLE_STATE',
            `patch '${patch.name}' is not compatible with the installed patches' system states: a replace patch must carry every installed state id, at the same or a higher version`,
          ),
        );
      }
      if (k.transitionPatch) {
        k.detached.delete(patch.id);
        return fail(
          k,
          p,
          new LpError('LP_ERR_BUSY', `cannot enable '${patch.name}': patch '${k.transitionPatch.name}' is in transition; wait for it, reverse it or force it`, EBUSY),
        );
      }
      if (patch.replace) addNops(k, patch);
      for (const obj of patch.objs) {
        if (!k.isObjectLoaded(obj.name)) continue;
        const err = initObjectLoaded(k, obj);
        if (err) {
          discardPatch(k, patch);
          return fail(k, p, err);
        }
      }
      k.registerFuncs(patch);
      k.patches.push(patch);
      k.moduleHeld.add(patch.name);
      k.log(`enabling patch '${patch.name}'`);
      f.pc = 1;
      return St.Next;
    }
    case 1:
      f.pc = 2;
      return call(p, Fn.InitTransition, patch.id, TRANSITION_PATCHED);
    case 2:
      // Orders the func->transition writes of initTransition() before the func stack writes of
      // patchObject(): the handler must see a func in transition from the moment it can see the func.
      // Pairs with the first smp_rmb() in ftraceHandler().
      if (!k.drop.has('wmb-enable')) k.mem.wmb(p.cpu);
      f.pc = 3;
      f.i = 0;
      return St.Next;
    case 3: {
      while (f.i < patch.objs.length && !patch.objs[f.i].loaded) f.i++;
      if (f.i >= patch.objs.length) {
        f.pc = 5;
        return call(p, Fn.StartTransition);
      }
      const obj = patch.objs[f.i];
      const r = prePatchCallback(k, obj);
      if (r !== 0) {
        k.host.log('warn', `livepatch: pre-patch callback failed for object '${obj.name}'`);
        f.b = r;
        f.pc = 6;
        return St.Local;
      }
      f.pc = 4;
      return call(p, Fn.PatchObject, patch.id, f.i);
    }
    case 4:
      f.i++;
      f.pc = 3;
      return St.Local;
    case 5:
      patch.enabled = true;
      f.pc = 8;
      return call(p, Fn.TryCompleteTransition);
    case 6:
      k.host.log('warn', `livepatch: failed to enable patch '${patch.name}'`);
      f.pc = 7;
      return call(p, Fn.CancelTransition);
    case 7:
      discardPatch(k, patch);
      return fail(
        k,
        p,
        new LpError('LP_ERR_CALLBACK_FAILED', `patch '${patch.name}': pre-patch callback failed (${f.b}); the patch was not applied`, f.b),
      );
    case 8:
      k.detached.delete(patch.id);
      k.unlockMutex(p);
      return ret(p, 0, St.Next);
  }
  throw new Error(`enablePatch: bad pc ${f.pc}`);
}

/** __klp_disable_patch(patch = a): start the unpatching transition. Called with klp_mutex held. */
export function disablePatch(k: Klp, p: Proc, f: Frame): St {
  // The patch may be freed by the time this returns (the transition can complete at once).
  const patch = f.pc < 4 ? k.patchById(f.a) : null;
  switch (f.pc) {
    case 0:
      if (!patch) break;
      if (!patch.enabled) {
        k.warn(`disablePatch: '${patch.name}' not enabled`);
        return ret(p, EINVAL);
      }
      if (k.transitionPatch) {
        p.error = new LpError('LP_ERR_BUSY', `cannot disable '${patch.name}': patch '${k.transitionPatch.name}' is in transition; wait for it, reverse it or force it`, EBUSY);
        return ret(p, EBUSY);
      }
      f.pc = 1;
      return call(p, Fn.InitTransition, patch.id, TRANSITION_UNPATCHED);
    case 1:
      for (const obj of patch!.objs) if (obj.patched) preUnpatchCallback(k, obj);
      // Orders the func->transition writes of initTransition() before the pending-flag writes of
      // startTransition(); pairs with the read barrier implied by updatePatchState()'s test_and_clear,
      // which orders a task's flag read before its handler's later func->transition read.
      if (!k.drop.has('wmb-disable')) k.mem.wmb(p.cpu);
      f.pc = 2;
      return St.Next;
    case 2:
      f.pc = 3;
      return call(p, Fn.StartTransition);
    case 3:
      patch!.enabled = false;
      f.pc = 4;
      return call(p, Fn.TryCompleteTransition);
    case 4:
      return ret(p, 0);
  }
  throw new Error(`disablePatch: bad pc ${f.pc}`);
}

/**
 * enabled_store(patch = a, value = b): writing the patch's `enabled`. Reverses a transition in either
 * direction; a disabled patch cannot be re-enabled (load it again instead).
 */
export function enabledStore(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0: {
      if (!k.lockMutex(p)) return St.Block;
      const patch = k.patches.find((q) => q.id === f.a);
      if (!patch) return fail(k, p, new LpError('LP_ERR_NO_SUCH_PATCH', `no installed patch with id ${f.a}`));
      const value = f.b !== 0;
      if (patch.enabled === value)
        return fail(k, p, new LpError('LP_ERR_SAME_VALUE', `patch '${patch.name}' is already ${value ? 'enabled' : 'disabled'}`));
      f.pc = 1;
      if (patch === k.transitionPatch) {
        call(p, Fn.ReverseTransition);
        return St.Next;
      }
      if (!value) {
        call(p, Fn.DisablePatch, patch.id);
        return St.Next;
      }
      return fail(
        k,
        p,
        new LpError('LP_ERR_REENABLE', `patch '${patch.name}' was disabled and cannot be re-enabled: load it again as a new patch`),
      );
    }
    case 1: {
      const err = p.error;
      p.error = null;
      if (err) return fail(k, p, err);
      k.unlockMutex(p);
      return ret(p, f.rv, St.Next);
    }
  }
  throw new Error(`enabledStore: bad pc ${f.pc}`);
}

/** force_store(patch = a): force the transition of the patch in transition. */
export function forceStore(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0: {
      if (!k.lockMutex(p)) return St.Block;
      const patch = k.patches.find((q) => q.id === f.a);
      if (!patch || patch !== k.transitionPatch)
        return fail(
          k,
          p,
          new LpError('LP_ERR_NOT_IN_TRANSITION', `patch ${patch ? `'${patch.name}'` : f.a} is not in transition: only a stalled transition can be forced`),
        );
      f.pc = 1;
      call(p, Fn.ForceTransition);
      return St.Next;
    }
    case 1:
      k.unlockMutex(p);
      return ret(p, 0, St.Next);
  }
  throw new Error(`forceStore: bad pc ${f.pc}`);
}

/**
 * klp_module_coming(module = name id a): patch the loading module's object in every installed patch.
 * A func of a patch in transition is already flagged, so the per-task rule applies at once; postPatch
 * for that object waits until the transition completes. Any failure refuses the module load.
 * Frame: i = patch index, b = object index.
 */
export function moduleComing(k: Klp, p: Proc, f: Frame): St {
  const name = k.nameOf(f.a);
  switch (f.pc) {
    case 0:
      if (!k.lockMutex(p)) return St.Block;
      if (name === VMLINUX) {
        k.host.log('err', 'livepatch: vmlinux.ko: invalid module name');
        return fail(k, p, new LpError('LP_ERR_MODULE_REFUSED', `a module cannot be named '${VMLINUX}'`));
      }
      k.liveModules.add(name);
      f.pc = 1;
      f.i = 0;
      return St.Next;
    case 1: {
      if (f.i >= k.patches.length) {
        k.unlockMutex(p);
        return ret(p, 0, St.Next);
      }
      const patch = k.patches[f.i];
      f.b = patch.objs.findIndex((o) => o.name === name);
      if (f.b < 0) {
        f.i++;
        return St.Local;
      }
      const obj = patch.objs[f.b];
      const err = initObjectLoaded(k, obj);
      if (err) {
        k.host.log('warn', `livepatch: failed to initialize patch '${patch.name}' for module '${name}' (${err.errno})`);
        p.error = err;
        f.pc = 3;
        return St.Local;
      }
      k.log(`applying patch '${patch.name}' to loading module '${name}'`);
      const r = prePatchCallback(k, obj);
      if (r !== 0) {
        k.host.log('warn', `livepatch: pre-patch callback failed for object '${name}'`);
        p.error = new LpError('LP_ERR_CALLBACK_FAILED', `patch '${patch.name}': pre-patch callback failed for module '${name}' (${r})`, r);
        f.pc = 3;
        return St.Local;
      }
      f.pc = 2;
      return call(p, Fn.PatchObject, patch.id, f.b);
    }
    case 2: {
      const patch = k.patches[f.i];
      if (patch !== k.transitionPatch) postPatchCallback(k, patch.objs[f.b]);
      f.i++;
      f.pc = 1;
      return St.Local;
    }
    case 3: {
      const patch = k.patches[f.i];
      k.host.log('warn', `livepatch: patch '${patch.name}' failed for module '${name}', refusing to load module '${name}'`);
      k.liveModules.delete(name);
      freeObjectLoaded(patch.objs[f.b]);
      f.pc = 4;
      return call(p, Fn.CleanupModulePatches, f.a, f.i);
    }
    case 4: {
      const cause = p.error!;
      return fail(k, p, new LpError('LP_ERR_MODULE_REFUSED', `module '${name}' refused: ${cause.message}`, cause.errno));
    }
  }
  throw new Error(`moduleComing: bad pc ${f.pc}`);
}

/** klp_module_going(module = name id a): the module's code is going away; unpatch it now. */
export function moduleGoing(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0:
      if (!k.lockMutex(p)) return St.Block;
      k.liveModules.delete(k.nameOf(f.a));
      f.pc = 1;
      call(p, Fn.CleanupModulePatches, f.a, k.patches.length);
      return St.Next;
    case 1:
      k.unlockMutex(p);
      return ret(p, 0, St.Next);
  }
  throw new Error(`moduleGoing: bad pc ${f.pc}`);
}

/**
 * klp_cleanup_module_patches_limited(module = name id a, limit = b patches): unpatch the module's
 * object in the first b patches. No per-task transition: the module's code is going away.
 */
export function cleanupModulePatches(k: Klp, p: Proc, f: Frame): St {
  const name = k.nameOf(f.a);
  switch (f.pc) {
    case 0: {
      const limit = Math.min(f.b, k.patches.length);
      while (f.i < limit && !k.patches[f.i].objs.some((o) => o.name === name && o.loaded)) f.i++;
      if (f.i >= limit) return ret(p);
      const patch = k.patches[f.i];
      const index = patch.objs.findIndex((o) => o.name === name);
      const obj = patch.objs[index];
      if (patch !== k.transitionPatch) preUnpatchCallback(k, obj);
      k.log(`reverting patch '${patch.name}' on unloading module '${name}'`);
      f.pc = 1;
      return call(p, Fn.UnpatchObject, patch.id, index);
    }
    case 1: {
      const obj = k.patches[f.i].objs.find((o) => o.name === name)!;
      postUnpatchCallback(k, obj);
      freeObjectLoaded(obj);
      f.i++;
      f.pc = 0;
      return St.Local;
    }
  }
  throw new Error(`cleanupModulePatches: bad pc ${f.pc}`);
}

/** klp_unpatch_replaced_patches(): the replace patch reached every task; retire the ones it replaces. */
export function unpatchReplacedPatches(k: Klp, p: Proc, f: Frame): St {
  const old = k.patches[f.i];
  if (!old || old === k.transitionPatch) return ret(p);
  old.enabled = false;
  f.i++;
  return call(p, Fn.UnpatchObjects, old.id);
}

/** klp_discard_nops(): unlink the replace patch's nops and drop them and their dynamic objects. */
export function discardNops(k: Klp, p: Proc, f: Frame): St {
  const patch = k.transitionPatch!;
  if (f.i < patch.objs.length) {
    return call(p, Fn.UnpatchObject, patch.id, f.i++ | NOPS_ONLY);
  }
  k.releaseFuncs(patch.allFuncs().filter((func) => func.nop));
  for (const obj of patch.objs) obj.funcs = obj.funcs.filter((func) => !func.nop);
  patch.objs.splice(0, patch.objs.length, ...patch.objs.filter((obj) => !obj.dynamic));
  patch.funcsChanged();
  return ret(p);
}

/** klp_free_patch_start(): a disabled (or replaced) patch leaves klp_patches and sysfs. */
export function freePatch(k: Klp, patch: KlpPatch): void {
  const i = k.patches.indexOf(patch);
  if (i >= 0) k.patches.splice(i, 1);
  k.detached.delete(patch.id);
  // klp_free_patch_finish(): module_put() unless forced.
  if (!patch.forced) k.moduleHeld.delete(patch.name);
  k.releaseFuncs(patch.allFuncs());
}

/** klp_free_replaced_patches_async(): every patch before the replace patch goes. */
export function freeReplacedPatches(k: Klp, patch: KlpPatch): void {
  for (const old of k.patches.slice(0, k.patches.indexOf(patch))) freePatch(k, old);
}
