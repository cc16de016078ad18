// The runtime's decisions, free of Node APIs: which code a call runs in a task, when that answer may be
// remembered or the handler skipped, when a task is worth a switch attempt, when the transition can
// complete, what a new task inherits, and the activation count that stands for a task's stack. The
// runtime (livepatch.ts, tasks.ts) calls these, and so does the Node-host World the model checker
// explores (src/sim/node/), which is why they live apart from the event loop and the async contexts:
// the checker runs this code, not a model of it. Each one is small on purpose: a change here is a
// change to what is checked.

import { copyProcess, handlerProc, pending, runToEnd, schedTrySwitchProc, updatePatchStateProc, type Klp } from '../engine/index.js';
import { addr, Var } from '../engine/memory.js';

/** The runtime's one CPU (the main thread). */
export const CPU = 0;

/** The handler (klp_ftrace_handler) in task `task`: the code a call of `code` runs (`code` itself: the original). */
export function handlerAnswer(klp: Klp, task: number, code: number): number {
  const ops = klp.findOps(code);
  return ops < 0 ? code : runToEnd(klp, handlerProc(CPU, task, ops));
}

/**
 * Whether a handler answer may be remembered per code for every task: only while no transition runs.
 * Then every func->transition is clear, so each func stack's top wins whatever the task; the answer
 * changes only in an admin verb, after which the runtime forgets every remembered one.
 */
export function answerMemoizable(klp: Klp): boolean {
  return klp.transitionPatch === null;
}

/**
 * Whether calls of a code may skip the handler and run its replacement directly from now on: when the
 * answer may be remembered, and a call of the replacement is not an activation the runtime must count
 * for it (`activation`: an async function or a generator whose body does not count its own, so it
 * goes through the runtime's wrapper every time; one compiled with its tracking counts itself).
 */
export function directCallable(klp: Klp, activation: boolean): boolean {
  return answerMemoizable(klp) && !activation;
}

/** Activation counts by code id: a task's stack (what can hold old code between event-loop callbacks). */
export type Activations = Map<number, number>;

/** An activation of `code` starts; returns whether it is the only open one. */
export function enterActivation(active: Activations, code: number): boolean {
  const n = active.get(code);
  active.set(code, (n ?? 0) + 1);
  return n === undefined;
}

/** An activation of `code` ends; returns whether it was the last open one (the code left the stack). */
export function exitActivation(active: Activations, code: number): boolean {
  const n = active.get(code);
  if (n === undefined) return false;
  if (n > 1) {
    active.set(code, n - 1);
    return false;
  }
  active.delete(code);
  return true;
}

/**
 * A task's last activation of some code just ended (exitActivation() said so): whether to kick it, a
 * switch attempt at the next microtask, when none of its frames is on the JS stack.
 */
export function kickWanted(klp: Klp, task: number): boolean {
  return klp.transitionPatch !== null && pending(klp, task);
}

/**
 * The kick, run at a microtask: a task still pending checks its own stack and switches if nothing
 * being changed is on it (the scheduler hook's klp_try_switch_task on itself). Returns whether the task
 * is no longer pending, so that the transition may be ready to complete.
 */
export function kickSwitch(klp: Klp, task: number, ended: boolean): boolean {
  if (!klp.transitionPatch || ended) return false;
  if (pending(klp, task)) runToEnd(klp, schedTrySwitchProc(CPU, task));
  return !pending(klp, task);
}

/**
 * maybeComplete's test: a transition runs, no admin verb is under way (klp_mutex free), and no task of
 * `tasks` (every live one, the root included) is pending. Then the transition work completes it now
 * instead of at the next retry.
 */
export function completionDue(klp: Klp, tasks: Iterable<number>): boolean {
  if (!klp.transitionPatch || klp.mutexOwner !== null) return false;
  for (const t of tasks) if (pending(klp, t)) return false;
  return true;
}

/**
 * copy_process() for a task started from task `parent`: the child inherits the parent's patch state
 * and pending flag; nothing of it is on any stack yet, so, like a forked child leaving the kernel
 * through the syscall exit, it switches at once (klp_update_patch_state).
 */
export function startChild(klp: Klp, parent: number, child: number): void {
  copyProcess(klp, CPU, parent, child);
  // klp_update_patch_state() does nothing unless the flag is set (its test_and_clear): skip the proc
  // then, as every task starts outside a transition. One CPU, so no barrier is lost.
  if (pending(klp, child)) runToEnd(klp, updatePatchStateProc(CPU, child));
}

/** release_task(): a task that ended is gone, its flag with it (its id's next task gets both from its parent). */
export function releaseTask(klp: Klp, task: number): void {
  klp.mem.store(CPU, addr(Var.Pending, task), 0);
}

/**
 * The decisions as one object: the runtime calls them through the one it was made with (the model
 * checker's mutation tests hand it a changed one, to replay a counterexample against real async code).
 */
export const DECISIONS = {
  handlerAnswer,
  answerMemoizable,
  directCallable,
  enterActivation,
  exitActivation,
  kickWanted,
  kickSwitch,
  completionDue,
  startChild,
  releaseTask,
};

export type Decisions = typeof DECISIONS;
