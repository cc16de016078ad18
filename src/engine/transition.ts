// The per-task consistency model: kernel/livepatch/transition.c as step functions. Each verb is a
// switch over its frame's pc; each case does local work plus at most one access to shared state and
// says which (St.Next) or that it touched nothing shared (St.Local).
//
// Loops over "every task, then every possible CPU's idle task" run in two phases: tasks under the
// tasklist read lock (so fork cannot add a task behind the loop's back), then idle tasks.

import { freePatch, freeReplacedPatches } from './core.js';
import { postPatchCallback, postUnpatchCallback } from './callbacks.js';
import { Fn } from './fn.js';
import { TARGET, type Klp } from './klp.js';
import { call, ret, St, type Frame, type Proc } from './machine.js';
import { addr, Var } from './memory.js';
import { TRANSITION_IDLE, TRANSITION_PATCHED, TRANSITION_UNPATCHED, type KlpFunc } from './model.js';

const psAddr = (task: number): number => addr(Var.PatchState, task);
const pendAddr = (task: number): number => addr(Var.Pending, task);

function target(k: Klp, p: Proc): number {
  return k.mem.load(p.cpu, TARGET);
}

function stateName(state: number): string {
  return state === TRANSITION_PATCHED ? 'patching' : 'unpatching';
}

function transitionName(k: Klp): string {
  return k.transitionPatch ? k.transitionPatch.name : '?';
}

/**
 * The task at loop position f.i of phase `idle` (false: normal tasks, true: idle tasks), or -1 when
 * the phase is over. The caller holds the tasklist read lock during the normal-task phase.
 */
function taskAt(k: Klp, f: Frame, idle: boolean): number {
  if (!idle) return f.i < k.host.taskCount() ? k.host.taskAt(f.i) : -1;
  // v3 walked the idle tasks of online CPUs only (the seed's hotplug point).
  if (k.variant === 'v3') while (f.i < k.host.possibleCpus() && !k.host.cpuOnline(f.i)) f.i++;
  return f.i < k.host.possibleCpus() ? k.host.idleTask(f.i) : -1;
}

/** v3's `klp_transition_patch->immediate`: no per-task transition, the patch applies to every task at once. */
function immediate(k: Klp): boolean {
  return k.variant === 'v3' && k.transitionPatch !== null && k.transitionPatch.immediate;
}

/** read_lock(&tasklist_lock) as a step: Block leaves the frame as it was. */
function lockTasklist(k: Klp, p: Proc, f: Frame, next: number): St {
  if (!k.host.tryReadLock('tasklist', p.cpu)) return St.Block;
  f.pc = next;
  f.i = 0;
  return St.Next;
}

function unlockTasklist(k: Klp, p: Proc, f: Frame, next: number): St {
  k.host.readUnlock('tasklist', p.cpu);
  f.pc = next;
  f.i = 0;
  return St.Next;
}

/** klp_init_transition(patch = a, state = b). Called under klp_mutex before any func becomes visible. */
export function initTransition(k: Klp, p: Proc, f: Frame): St {
  const initial = f.b === TRANSITION_PATCHED ? TRANSITION_UNPATCHED : TRANSITION_PATCHED;
  switch (f.pc) {
    case 0: {
      if (target(k, p) !== TRANSITION_IDLE) k.warn('initTransition: klp_target_state != IDLE');
      const patch = k.patchById(f.a);
      k.debug(`'${patch.name}': initializing ${stateName(f.b)} transition`);
      k.transitionPatch = patch;
      // No effect until the pending flags are set in startTransition().
      k.mem.store(p.cpu, TARGET, f.b);
      // v3: "If the patch can be applied or reverted immediately, skip the per-task transitions."
      if (immediate(k)) return ret(p, 0, St.Next);
      f.pc = 1;
      return St.Next;
    }
    case 1:
      return lockTasklist(k, p, f, 2);
    case 2:
    case 3: {
      const idle = f.pc === 3;
      const task = taskAt(k, f, idle);
      if (task < 0) return idle ? ((f.pc = 4), St.Local) : unlockTasklist(k, p, f, 3);
      // Every task starts in the state it is leaving; switching to the target happens task by task.
      if (k.mem.load(p.cpu, psAddr(task)) !== TRANSITION_IDLE)
        k.warn(`initTransition: task ${task} patch_state != IDLE`);
      k.mem.store(p.cpu, psAddr(task), initial);
      f.i++;
      return St.Next;
    }
    case 4:
      // Orders the patch_state initializations above before the func->transition writes below, so
      // that ftraceHandler() never sees a func in transition with a task's patch_state IDLE; pairs
      // with the second smp_rmb() in ftraceHandler(). It also orders the klp_target_state write before
      // the pending-flag writes of startTransition(), so updatePatchState() never copies IDLE into a
      // task; pairs with the implied barrier of test_and_clear in updatePatchState().
      if (!k.drop.has('wmb-init')) k.mem.wmb(p.cpu);
      f.pc = 5;
      f.i = 0;
      return St.Next;
    case 5: {
      // func->transition for every func, including objects whose module is not loaded yet: when it
      // loads (moduleComing) its funcs obey the per-task state at once. When patching, the funcs are not
      // on a func stack yet; patchObject() makes them visible later.
      const funcs = k.patchById(f.a).allFuncs();
      if (f.i >= funcs.length) return ret(p);
      k.mem.store(p.cpu, addr(Var.Transition, funcs[f.i].id), 1);
      f.i++;
      return St.Next;
    }
  }
  throw new Error(`initTransition: bad pc ${f.pc}`);
}

/** klp_start_transition(): flag the tasks that must switch so they do at their next safe point. */
export function startTransition(k: Klp, p: Proc, f: Frame): St {
  const tgt = target(k, p);
  switch (f.pc) {
    case 0:
      if (tgt === TRANSITION_IDLE) k.warn('startTransition: klp_target_state == IDLE');
      k.log(`'${transitionName(k)}': starting ${stateName(tgt)} transition`);
      if (immediate(k)) return ret(p);
      return lockTasklist(k, p, f, 1);
    case 1:
    case 3: {
      // Normal tasks (pc 1), then idle tasks of every possible CPU (pc 3). Only tasks not already in
      // the target state get the flag: after reverseTransition() the tasks that had switched are the
      // ones behind. (The seed's v3 flagged every task here, which left stale flags behind; and it
      // flagged only the idle tasks of online CPUs.)
      const idle = f.pc === 3;
      const task = taskAt(k, f, idle);
      if (task < 0) return idle ? ((f.pc = 5), St.Local) : unlockTasklist(k, p, f, 3);
      if (k.variant === 'v3') {
        f.i++;
        k.mem.store(p.cpu, pendAddr(task), 1);
        return St.Next;
      }
      if (k.mem.load(p.cpu, psAddr(task)) === tgt) {
        f.i++;
        return St.Next;
      }
      f.pc++;
      return St.Next;
    }
    case 2:
    case 4:
      // set_tsk_thread_flag(): an atomic bit set, a separate access from the patch_state read.
      k.mem.store(p.cpu, pendAddr(taskAt(k, f, f.pc === 4)), 1);
      f.i++;
      f.pc--;
      return St.Next;
    case 5:
      k.schedHook = true;
      k.signalsCnt = 0;
      return ret(p);
  }
  throw new Error(`startTransition: bad pc ${f.pc}`);
}

/**
 * klp_update_patch_state(task = a): the lock-free switch at a safe point, run by the task itself (at
 * its return to user mode, or in the idle loop) or by forceTransition() for any task.
 *
 * The target is read and patch_state written in two steps (READ_ONCE, then a store): the seed thread's
 * race lives between them, so they are separate steps here too.
 */
export function updatePatchState(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0:
      // Reader side of synchronizeTransition(): reverseTransition() and completeTransition() wait for us.
      p.preemptOff++;
      // test_and_clear also acts as a read barrier: (1) the flag is read before klp_target_state,
      // pairing with the smp_wmb() in initTransition() and reverseTransition(); (2) the flag is read
      // before a later func->transition read by ftraceHandler() on this CPU, pairing with the smp_wmb()
      // in disablePatch().
      f.pc = k.mem.testAndClear(p.cpu, pendAddr(f.a)) ? 1 : 3;
      return St.Next;
    case 1:
      f.b = k.mem.load(p.cpu, TARGET);
      f.pc = 2;
      return St.Next;
    case 2:
      k.mem.store(p.cpu, psAddr(f.a), f.b);
      // Consumed: a stale copy of the target would make equal positions look different to a checker.
      f.b = 0;
      f.pc = 3;
      return St.Next;
    case 3:
      p.preemptOff--;
      return ret(p, 0, St.Next);
  }
  throw new Error(`updatePatchState: bad pc ${f.pc}`);
}

/** klp_check_stack(): the name of the first func of the transition patch whose forbidden code is on the stack. */
function checkStack(k: Klp, p: Proc, stack: readonly number[]): string | null {
  const patch = k.transitionPatch;
  if (!patch) return null;
  const tgt = target(k, p);
  for (const obj of patch.objs) {
    if (!obj.patched) continue;
    for (const func of obj.funcs) {
      if (stack.includes(forbiddenCode(k, p.cpu, tgt, func))) return func.oldName;
    }
  }
  return null;
}

/**
 * klp_check_stack_func(): the code a task must not have on its stack for `func` when switching toward
 * `tgt`. Target UNPATCHED: the func being removed. Target PATCHED: the code a task that has not
 * switched runs, the entry below it on the func stack (the previous patch's, or the original).
 */
export function forbiddenCode(k: Klp, cpu: number, tgt: number, func: KlpFunc): number {
  if (tgt === TRANSITION_UNPATCHED) return func.newFunc;
  const next = k.mem.load(cpu, addr(Var.StackNext, func.id));
  return next === 0 ? func.oldFunc : k.funcs[next - 1].newFunc;
}

/**
 * klp_try_switch_task(task = a): switch a task whose stack holds none of the functions being changed.
 * Returns 1 when the task is (now) at the target. The check and the switch are one step: the host pins
 * the task (task_call_func) so it cannot run meanwhile.
 */
export function trySwitchTask(k: Klp, p: Proc, f: Frame): St {
  const task = f.a;
  switch (f.pc) {
    case 0:
      if (k.mem.load(p.cpu, psAddr(task)) === target(k, p)) return ret(p, 1, St.Next);
      // Without reliable stacks only the task's own safe points (and force) can switch it.
      if (!k.host.haveReliableStack()) return ret(p, 0, St.Next);
      f.pc = 1;
      return St.Next;
    case 1: {
      if (k.host.taskRunningElsewhere(task, p.task)) {
        k.host.log('trace', `livepatch: ${k.host.taskName(task)} is running`);
        return ret(p, 0, St.Next);
      }
      const stack = k.host.stackOf(task);
      if (stack === null) {
        k.host.log('trace', `livepatch: ${k.host.taskName(task)} has an unreliable stack`);
        return ret(p, 0, St.Next);
      }
      const oldName = checkStack(k, p, stack);
      if (oldName !== null) {
        k.host.log('trace', `livepatch: ${k.host.taskName(task)} is sleeping on function ${oldName}`);
        return ret(p, 0, St.Next);
      }
      k.mem.store(p.cpu, pendAddr(task), 0);
      k.mem.store(p.cpu, psAddr(task), target(k, p));
      // task_call_func() releases the task's locks: it sees these stores before it runs again.
      k.mem.mb(p.cpu);
      return ret(p, 1, St.Next);
    }
  }
  throw new Error(`trySwitchTask: bad pc ${f.pc}`);
}

/**
 * klp_try_complete_transition(): try to switch every task; complete when all are at the target,
 * otherwise retry later (and every 15th attempt send fake signals). Returns 1 when it completed.
 * Frame: b = all switched so far, a = the patch (kept across completeTransition()).
 */
export function tryCompleteTransition(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0:
      if (target(k, p) === TRANSITION_IDLE) k.warn('tryCompleteTransition: klp_target_state == IDLE');
      f.b = 1;
      // v3: an immediate patch has no task to wait for.
      if (immediate(k)) {
        f.pc = 7;
        return St.Local;
      }
      return lockTasklist(k, p, f, 1);
    case 1: {
      const task = taskAt(k, f, false);
      if (task < 0) return unlockTasklist(k, p, f, 3);
      f.pc = 2;
      return call(p, Fn.TrySwitchTask, task);
    }
    case 2:
      if (!f.rv) f.b = 0;
      // Consumed: a stale return value would make equal positions look different to a checker.
      f.rv = 0;
      f.i++;
      f.pc = 1;
      return St.Local;
    case 3:
      // cpus_read_lock(): no CPU goes up or down while its idle task is checked or switched.
      if (!k.host.tryReadLock('cpus', p.cpu)) return St.Block;
      f.pc = 4;
      f.i = 0;
      return St.Next;
    case 4: {
      if (f.i >= k.host.possibleCpus()) {
        k.host.readUnlock('cpus', p.cpu);
        f.pc = 7;
        return St.Next;
      }
      const cpu = f.i;
      if (k.host.cpuOnline(cpu)) {
        f.pc = 5;
        return call(p, Fn.TrySwitchTask, k.host.idleTask(cpu));
      }
      if (k.variant === 'v3') {
        // v3 looked at online CPUs only: an offline CPU's idle task is simply skipped.
        f.i++;
        return St.Local;
      }
      f.pc = 6;
      return St.Local;
    }
    case 5:
      if (!f.rv) {
        f.b = 0;
        // Make the idle task go through its main loop, where it switches itself.
        k.host.wakeUpIfIdle(f.i);
      }
      f.rv = 0;
      f.i++;
      f.pc = 4;
      return St.Local;
    case 6: {
      // An offline CPU's idle task is not running and cannot run until the CPU comes up (which needs
      // the cpus lock we hold): switch it at once.
      const task = k.host.idleTask(f.i);
      if (k.mem.load(p.cpu, psAddr(task)) !== target(k, p)) {
        k.mem.store(p.cpu, pendAddr(task), 0);
        k.mem.store(p.cpu, psAddr(task), target(k, p));
      }
      f.i++;
      f.pc = 4;
      return St.Next;
    }
    case 7:
      if (!f.b) {
        f.pc = 8;
        if ((k.signalsCnt || k.signalsTimeout === 1) && k.signalsCnt % k.signalsTimeout === 0) return call(p, Fn.SendSignals);
        return St.Local;
      }
      k.schedHook = false;
      f.a = k.transitionPatch!.id;
      f.pc = 9;
      return call(p, Fn.CompleteTransition);
    case 8:
      k.signalsCnt++;
      k.host.scheduleRetry();
      return ret(p, 0);
    case 9: {
      const patch = k.patchById(f.a);
      if (!patch.enabled) freePatch(k, patch);
      else if (patch.replace) freeReplacedPatches(k, patch);
      return ret(p, 1);
    }
  }
  throw new Error(`tryCompleteTransition: bad pc ${f.pc}`);
}

/** klp_complete_transition(): every task is at the target; finish and return to IDLE. */
export function completeTransition(k: Klp, p: Proc, f: Frame): St {
  const patch = k.transitionPatch!;
  const tgt = target(k, p);
  switch (f.pc) {
    case 0:
      k.debug(`'${patch.name}': completing ${stateName(tgt)} transition`);
      if (patch.replace && tgt === TRANSITION_PATCHED) {
        f.pc = 1;
        return call(p, Fn.UnpatchReplacedPatches);
      }
      f.pc = 2;
      return St.Local;
    case 1:
      f.pc = 2;
      return call(p, Fn.DiscardNops);
    case 2:
      if (tgt !== TRANSITION_UNPATCHED) {
        f.pc = 4;
        return St.Local;
      }
      f.pc = 3;
      return call(p, Fn.UnpatchObjects, patch.id);
    case 3:
      // Make sure ftraceHandler() can no longer see the funcs being removed from the stacks before
      // their transition flags are cleared below: a task could otherwise run a removed func.
      f.pc = 4;
      f.i = 0;
      if (k.drop.has('sync-complete-unpatch')) return St.Local;
      return call(p, Fn.SynchronizeTransition);
    case 4: {
      // v3: an immediate patch never set func->transition nor any task's patch_state.
      if (f.i === 0 && immediate(k)) {
        f.pc = 9;
        return St.Local;
      }
      const funcs = patch.allFuncs();
      if (f.i < funcs.length) {
        k.mem.store(p.cpu, addr(Var.Transition, funcs[f.i].id), 0);
        f.i++;
        return St.Next;
      }
      f.pc = 5;
      return St.Local;
    }
    case 5:
      f.pc = 6;
      // Make sure ftraceHandler() sees func->transition cleared before patch_state becomes IDLE below;
      // otherwise it could see a func in transition with an IDLE task (I7).
      if (tgt === TRANSITION_PATCHED && !k.drop.has('sync-complete-patch')) return call(p, Fn.SynchronizeTransition);
      return St.Local;
    case 6:
      return lockTasklist(k, p, f, 7);
    case 7:
    case 8: {
      const idle = f.pc === 8;
      const task = taskAt(k, f, idle);
      if (task < 0) return idle ? ((f.pc = 9), St.Local) : unlockTasklist(k, p, f, 8);
      // Every task is at the target with its flag clear, so a concurrent updatePatchState() is a no-op.
      if (k.mem.load(p.cpu, pendAddr(task))) k.warn(`completeTransition: task ${task} still has TIF_PATCH_PENDING`);
      if (k.mem.load(p.cpu, psAddr(task)) !== tgt) k.warn(`completeTransition: task ${task} patch_state != target`);
      k.mem.store(p.cpu, psAddr(task), TRANSITION_IDLE);
      f.i++;
      return St.Next;
    }
    case 9:
      for (const obj of patch.objs) {
        if (!obj.loaded) continue;
        if (tgt === TRANSITION_PATCHED) postPatchCallback(k, obj);
        else postUnpatchCallback(k, obj);
      }
      k.log(`'${patch.name}': ${stateName(tgt)} complete`);
      k.mem.store(p.cpu, TARGET, TRANSITION_IDLE);
      k.transitionPatch = null;
      return ret(p, 0, St.Next);
  }
  throw new Error(`completeTransition: bad pc ${f.pc}`);
}

/** klp_cancel_transition(): an error before startTransition(): go back to unpatched. */
export function cancelTransition(k: Klp, p: Proc, f: Frame): St {
  if (f.pc === 0) {
    if (target(k, p) !== TRANSITION_PATCHED) {
      k.warn('cancelTransition: klp_target_state != PATCHED');
      return ret(p);
    }
    k.debug(`'${transitionName(k)}': canceling patching transition, going to unpatch`);
    k.mem.store(p.cpu, TARGET, TRANSITION_UNPATCHED);
    f.pc = 1;
    call(p, Fn.CompleteTransition);
    return St.Next;
  }
  return ret(p);
}

/**
 * klp_reverse_transition(): switch direction mid-transition. The tasks that already switched are now
 * the ones behind and get flagged again by startTransition(); func->transition stays set and no task's
 * patch_state changes here.
 */
export function reverseTransition(k: Klp, p: Proc, f: Frame): St {
  const v = k.variant;
  switch (f.pc) {
    case 0: {
      const tgt = target(k, p);
      k.debug(
        `'${transitionName(k)}': reversing transition from ${tgt === TRANSITION_PATCHED ? 'patching to unpatching' : 'unpatching to patching'}`,
      );
      if (v === 'final') return lockTasklist(k, p, f, 1);
      // v3 and v4.12 flip the direction first.
      flip(k, p);
      if (v === 'v3') {
        // v3 restarted at once: no clearing of stale flags, no synchronize.
        f.pc = 6;
        return St.Next;
      }
      f.pc = 10;
      return St.Next;
    }
    case 10:
      return lockTasklist(k, p, f, 1);
    case 1:
    case 2: {
      // Clear every flag first, so that no updatePatchState() or schedTrySwitch() starts switching a
      // task toward the old target once we flip it.
      const idle = f.pc === 2;
      const task = taskAt(k, f, idle);
      if (task < 0) return idle ? ((f.pc = 3), St.Local) : unlockTasklist(k, p, f, 2);
      k.mem.store(p.cpu, pendAddr(task), 0);
      f.i++;
      return St.Next;
    }
    case 3:
      // Wait for every updatePatchState() / schedTrySwitch() that saw a flag before it was cleared.
      f.pc = 4;
      if (k.drop.has('sync-reverse')) return St.Local;
      return call(p, Fn.SynchronizeTransition);
    case 4:
      f.pc = 6;
      if (v === 'v4.12') return St.Local;
      // All switching has stopped: now flip the direction.
      flip(k, p);
      // Orders the klp_target_state write before the pending-flag writes of startTransition(); pairs
      // with the read barrier in updatePatchState() / schedTrySwitch() (Petr Mladek, Feb 2023).
      if (!k.drop.has('wmb-reverse')) k.mem.wmb(p.cpu);
      return St.Next;
    case 6:
      f.pc = 7;
      return call(p, Fn.StartTransition);
    case 7:
      return ret(p);
  }
  throw new Error(`reverseTransition: bad pc ${f.pc}`);
}

function flip(k: Klp, p: Proc): void {
  const patch = k.transitionPatch!;
  patch.enabled = !patch.enabled;
  k.mem.store(p.cpu, TARGET, target(k, p) === TRANSITION_PATCHED ? TRANSITION_UNPATCHED : TRANSITION_PATCHED);
}

/**
 * klp_copy_process(): a child forked during a transition takes its parent's flag and state. Runs in
 * one step under the tasklist write lock (the host's fork holds it), so no loop above sees the child
 * half made.
 */
export function copyProcess(k: Klp, cpu: number, parent: number, child: number): void {
  k.mem.store(cpu, pendAddr(child), k.mem.load(cpu, pendAddr(parent)));
  k.mem.store(cpu, psAddr(child), k.mem.load(cpu, psAddr(parent)));
}

/**
 * klp_force_transition(): switch every remaining task now, even running ones: unsafe by design. The
 * patch (or, for a replace patch, the patches it replaces) is marked forced and can never be removed.
 */
export function forceTransition(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0:
      k.host.log('warn', 'livepatch: forcing remaining tasks to the patched state');
      return lockTasklist(k, p, f, 1);
    case 1:
    case 3: {
      const idle = f.pc === 3;
      const task = taskAt(k, f, idle);
      if (task < 0) return idle ? ((f.pc = 5), St.Local) : unlockTasklist(k, p, f, 3);
      f.pc++;
      return call(p, Fn.UpdatePatchState, task);
    }
    case 2:
    case 4:
      f.i++;
      f.pc--;
      return St.Local;
    case 5: {
      // (Dropping 'mark-forced' is the mutation the checker's forced-patch invariant, I8, must catch.)
      if (k.drop.has('mark-forced')) return ret(p);
      const patch = k.transitionPatch!;
      if (target(k, p) === TRANSITION_UNPATCHED) patch.forced = true;
      else if (patch.replace) for (const old of k.patches) if (old !== patch) old.forced = true;
      return ret(p);
    }
  }
  throw new Error(`forceTransition: bad pc ${f.pc}`);
}

/**
 * __klp_sched_try_switch(): a task about to sleep freezably checks its own stack and switches itself
 * (v6.16). Preemption is already disabled by __schedule().
 */
export function schedTrySwitch(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0:
      if (!k.schedHook) return ret(p);
      p.preemptOff++;
      if (!k.mem.load(p.cpu, pendAddr(p.task))) {
        f.pc = 2;
        return St.Next;
      }
      // The flag is read before klp_target_state; pairs with the smp_wmb() in initTransition() and
      // reverseTransition().
      if (!k.drop.has('rmb-sched')) k.mem.rmb(p.cpu);
      f.pc = 1;
      call(p, Fn.TrySwitchTask, p.task);
      return St.Next;
    case 1:
      f.pc = 2;
      return St.Local;
    case 2:
      p.preemptOff--;
      return ret(p, 0, St.Next);
  }
  throw new Error(`schedTrySwitch: bad pc ${f.pc}`);
}

/** klp_send_signals(): nudge every task still pending: wake kthreads, fake-signal user tasks. */
export function sendSignals(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0:
      if (k.signalsCnt === k.signalsTimeout) k.log('signaling remaining tasks');
      return lockTasklist(k, p, f, 1);
    case 1: {
      const task = taskAt(k, f, false);
      if (task < 0) {
        k.host.readUnlock('tasklist', p.cpu);
        return ret(p, 0, St.Next);
      }
      // Racy on purpose: the task may switch itself meanwhile; a spurious signal is harmless.
      if (k.mem.load(p.cpu, pendAddr(task))) k.host.signalTask(task);
      f.i++;
      return St.Next;
    }
  }
  throw new Error(`sendSignals: bad pc ${f.pc}`);
}

/**
 * klp_synchronize_transition(): schedule_on_each_cpu() of an empty work. Waits CPU by CPU (not for one
 * instant where all are quiet, which would be stronger than the kernel's guarantee) until each has left
 * any handler / updatePatchState() / schedTrySwitch() it was in; each CPU passing through schedule()
 * is also a full barrier for its stores.
 */
export function synchronizeTransition(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0:
      if (!k.host.tryReadLock('cpus', p.cpu)) return St.Block;
      f.pc = 1;
      f.i = 0;
      return St.Next;
    case 1:
      if (f.i >= k.host.possibleCpus()) {
        k.host.readUnlock('cpus', p.cpu);
        // Waiting for each CPU's work to complete orders what every CPU made visible before it ran the
        // work before our next access: without this the caller could still read a task's patch_state
        // from before that task's last updatePatchState() (relaxed memory).
        k.mem.mb(p.cpu);
        return ret(p, 0, St.Next);
      }
      if (k.host.cpuOnline(f.i)) {
        if (!k.host.cpuCanSchedule(f.i)) return St.Block;
        k.mem.mb(f.i);
      }
      f.i++;
      return St.Next;
  }
  throw new Error(`synchronizeTransition: bad pc ${f.pc}`);
}

/** klp_transition_work_fn(): the delayed retry of tryCompleteTransition(). */
export function transitionWork(k: Klp, p: Proc, f: Frame): St {
  switch (f.pc) {
    case 0:
      if (!k.lockMutex(p)) return St.Block;
      if (!k.transitionPatch) {
        f.pc = 2;
        return St.Next;
      }
      f.pc = 1;
      call(p, Fn.TryCompleteTransition);
      return St.Next;
    case 1:
      f.pc = 2;
      return St.Local;
    case 2:
      k.unlockMutex(p);
      return ret(p, 0, St.Next);
  }
  throw new Error(`transitionWork: bad pc ${f.pc}`);
}

