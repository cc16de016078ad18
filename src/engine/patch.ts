// patch.c: the func stacks (one per original function, top wins) and the handler that picks which
// version of a function a task runs.

import type { Klp } from './klp.js';
import { Fn } from './fn.js';
import { call, ret, St, type Frame, type Proc } from './machine.js';
import { addr, Var } from './memory.js';
import { TRANSITION_IDLE, TRANSITION_UNPATCHED, type KlpFunc } from './model.js';

/**
 * klp_ftrace_handler(ops = a): which code a call of the original function runs in task `current`.
 * Returns the code id. Frame b holds the func being considered (id + 1).
 */
export function ftraceHandler(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0: {
      // Reader side of synchronizeTransition() (ftrace_test_recursion_trylock disables preemption).
      p.preemptOff++;
      f.b = k.mem.load(p.cpu, addr(Var.StackHead, f.a));
      // An empty stack means the function is no longer hooked: the original runs.
      if (f.b === 0) return finish(p, k.opsOldFunc[f.a]);
      // The func stack is read before func->transition; pairs with the smp_wmb() in enablePatch(),
      // which orders the transition writes before the push onto the stack.
      if (!k.drop.has('rmb-handler-stack')) k.mem.rmb(p.cpu);
      f.pc = 1;
      return St.Next;
    }
    case 1:
      // A func no longer registered: it was freed while this handler could still see it (the
      // synchronize after unlinking is what prevents that).
      if (!k.funcs[f.b - 1]) {
        k.warn(`ftraceHandler: func ${f.b - 1} used after it was freed`);
        return finish(p, k.opsOldFunc[f.a]);
      }
      if (!k.mem.load(p.cpu, addr(Var.Transition, f.b - 1))) {
        f.pc = 4;
        return St.Next;
      }
      // func->transition is read before current->patch_state; pairs with the smp_wmb() in
      // initTransition(), which orders the patch_state initializations before the transition writes.
      if (!k.drop.has('rmb-handler')) k.mem.rmb(p.cpu);
      f.pc = 2;
      return St.Next;
    case 2: {
      const patchState = k.mem.load(p.cpu, addr(Var.PatchState, p.task));
      // I7: a func in transition with an IDLE task means the init ordering was broken.
      if (patchState === TRANSITION_IDLE) k.warn(`ftraceHandler: task ${p.task} patch_state IDLE with func in transition`);
      f.pc = patchState === TRANSITION_UNPATCHED ? 3 : 4;
      return St.Next;
    }
    case 3: {
      // Not switched yet: the previous version, or the original if there is none.
      const next = k.mem.load(p.cpu, addr(Var.StackNext, f.b - 1));
      if (next === 0) return finish(p, k.opsOldFunc[f.a]);
      f.b = next;
      f.pc = 4;
      return St.Next;
    }
    case 4: {
      const func = k.funcs[f.b - 1];
      if (!func) {
        k.warn(`ftraceHandler: func ${f.b - 1} used after it was freed`);
        return finish(p, k.opsOldFunc[f.a]);
      }
      // A nop (atomic replace) means "run the original code".
      return finish(p, func.nop ? k.opsOldFunc[f.a] : func.newFunc);
    }
  }
  throw new Error(`ftraceHandler: bad pc ${f.pc}`);
}

function finish(p: Proc, code: number): St {
  p.preemptOff--;
  return ret(p, code, St.Next);
}

/**
 * klp_patch_func(): push the func on its original function's stack; it becomes the top. The next
 * pointer is written before the head (list_add_rcu's release store), so a handler that sees the new
 * head sees a valid list behind it.
 */
function patchFunc(k: Klp, p: Proc, func: KlpFunc): void {
  if (func.patched) k.warn(`patchFunc: ${func.oldName} already patched`);
  func.ops = k.opsFor(func.oldFunc);
  const head = addr(Var.StackHead, func.ops);
  k.mem.store(p.cpu, addr(Var.StackNext, func.id), k.mem.load(p.cpu, head));
  // rcu_assign_pointer() is a release: it also orders the func->transition writes of
  // initTransition() before the push, which is why dropping only wmb-enable changes nothing.
  if (!k.drop.has('release-push')) k.mem.wmb(p.cpu);
  k.mem.store(p.cpu, head, func.id + 1);
  func.patched = true;
}

/** klp_unpatch_func(): unlink the func from its stack (list_del_rcu). */
function unpatchFunc(k: Klp, p: Proc, func: KlpFunc): void {
  const head = addr(Var.StackHead, func.ops);
  const next = k.mem.load(p.cpu, addr(Var.StackNext, func.id));
  let link = head;
  for (let cur = k.mem.load(p.cpu, head); cur !== 0; cur = k.mem.load(p.cpu, addr(Var.StackNext, cur - 1))) {
    if (cur === func.id + 1) {
      k.mem.store(p.cpu, link, next);
      break;
    }
    link = addr(Var.StackNext, cur - 1);
  }
  func.patched = false;
}

/** klp_patch_object(object = patch a's object index b): push every func; then the object is patched. */
export function patchObject(k: Klp, p: Proc, f: Frame): St {
  const obj = k.patchById(f.a).objs[f.b];
  if (f.i === 0 && obj.patched) {
    k.warn(`patchObject: '${obj.name}' already patched`);
    return ret(p);
  }
  if (f.i < obj.funcs.length) {
    patchFunc(k, p, obj.funcs[f.i++]);
    return St.Next;
  }
  obj.patched = true;
  return ret(p);
}

/**
 * __klp_unpatch_object(object = patch a's object index b & 0xffff, nopsOnly = b >> 16): unlink the
 * object's funcs (only its nops when nopsOnly).
 */
export function unpatchObject(k: Klp, p: Proc, f: Frame): St {
  const obj = k.patchById(f.a).objs[f.b & 0xffff];
  const nopsOnly = f.b >> 16 !== 0;
  while (f.i < obj.funcs.length) {
    const func = obj.funcs[f.i++];
    if (nopsOnly && !func.nop) continue;
    if (!func.patched) continue;
    unpatchFunc(k, p, func);
    return St.Next;
  }
  if (!nopsOnly || obj.dynamic) obj.patched = false;
  return ret(p);
}

export const NOPS_ONLY = 1 << 16;

/** klp_unpatch_objects(patch = a): unpatch every patched object. */
export function unpatchObjects(k: Klp, p: Proc, f: Frame): St {
  const objs = k.patchById(f.a).objs;
  while (f.i < objs.length) {
    const index = f.i++;
    if (objs[index].patched) {
      return call(p, Fn.UnpatchObject, f.a, index);
    }
  }
  return ret(p);
}
