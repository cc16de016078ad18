// The in-process API: what an application (or a test) imports from 'livepatch'.

import { installRuntime, type Runtime } from './livepatch.js';
import type { PatchFile } from './patchfile.js';
import type { PatchInfo, TransitionStatus } from './types.js';

export { LpError, isLpError } from '../engine/index.js';
export type { PatchFile, PatchObjectFile, PatchFuncFile } from './patchfile.js';
export type * from './types.js';
export { installRuntime, type Runtime };

/**
 * Run `fn` as a task of its own (a job, a queue message): it switches to new code independently of
 * other tasks. A task started inside a task inherits its patch state (copy_process).
 */
export function runTask<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  const rt = installRuntime();
  const task = rt.startTask(name);
  // No async wrapper and no closure per task: a suspended wrapper would hold a frame and a promise for
  // the task's whole life. The reactions are registered inside the task's context, so they run in it
  // and find the task there.
  return rt.tasks.als.run(task, () => {
    let result: T | Promise<T>;
    try {
      result = fn();
    } catch (e) {
      rt.endTask(task);
      return Promise.reject(e);
    }
    return Promise.resolve(result).then(taskDone, taskFailed) as Promise<T>;
  });
}

function endCurrentTask(): void {
  const rt = installRuntime();
  const task = rt.tasks.als.getStore();
  if (task) rt.endTask(task);
}

function taskDone<T>(value: T): T {
  endCurrentTask();
  return value;
}

function taskFailed(e: unknown): never {
  endCurrentTask();
  throw e;
}

/**
 * klp_update_patch_state(): a long-lived loop's switch point (a kthread's). Call it where no function
 * that a patch may change is active in the task, e.g. between two messages of a consumer loop.
 */
export function klpUpdatePatchState(): void {
  installRuntime().updatePatchState();
}

/**
 * The fake signal: `cb` runs when a transition has waited long for the current task (every 15th
 * retry). Use it to finish long polls early; ignoring it is always safe.
 */
export function onLivepatchSignal(cb: () => void): void {
  const task = installRuntime().current();
  (task.signalListeners ??= []).push(cb);
}

export const enable = (patch: PatchFile | string): PatchInfo => installRuntime().enable(patch);
/** enable(), awaiting async prePatch callbacks (each at most `callbackTimeoutMs`, 10 s) first. */
export const enableAsync = (patch: PatchFile | string): Promise<PatchInfo> => installRuntime().enableAsync(patch);
export const disable = (name: string): PatchInfo => installRuntime().disable(name);
export const force = (name: string): PatchInfo => installRuntime().force(name);
export const list = (): PatchInfo[] => installRuntime().list();
export const status = (limit?: number): TransitionStatus => installRuntime().status(limit);
export const waitIdle = (timeoutMs?: number): Promise<boolean> => installRuntime().waitIdle(timeoutMs);

/** Shadow variables (klp_shadow_*): data attached to live objects, dropped with them. */
export const shadow = {
  get: <T extends object>(obj: object, id: number): T | null => installRuntime().shadow.get<T>(obj, id),
  alloc: (...args: Parameters<Runtime['shadow']['alloc']>) => installRuntime().shadow.alloc(...args),
  getOrAlloc: (...args: Parameters<Runtime['shadow']['getOrAlloc']>) => installRuntime().shadow.getOrAlloc(...args),
  free: (...args: Parameters<Runtime['shadow']['free']>) => installRuntime().shadow.free(...args),
  freeAll: (...args: Parameters<Runtime['shadow']['freeAll']>) => installRuntime().shadow.freeAll(...args),
};
