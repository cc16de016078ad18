// The engine's state: what kernel/livepatch keeps in globals, in one object so that two hosts (or two
// simulated kernels in one test) never share it.
//
// Locking (as at the top of core.c): klp_mutex serializes every field here and every admin verb, except
// what the ftrace handler, klp_update_patch_state() and the scheduler hook touch: those are lock-free
// and live in Memory (see memory.ts), ordered by the barriers each verb documents.

import type { Host } from './host.js';
import { addr, ScMemory, Var, type Memory } from './memory.js';
import { KlpFunc, KlpObject, KlpPatch, TRANSITION_IDLE, VMLINUX, type StateDesc } from './model.js';
import type { Proc } from './machine.js';

/** Which form of the transition code runs: the seed's v3 posting, the first merged form, or v6.16. */
export type Variant = 'v3' | 'v4.12' | 'final';

export const TARGET = addr(Var.Target, 0);
/** Fake signals are sent on every SIGNALS_TIMEOUT-th failed attempt (about every 15 s). */
export const SIGNALS_TIMEOUT = 15;

export class Klp {
  /** klp_patches: enabled patches and the one in transition, in the order they were enabled. */
  readonly patches: KlpPatch[] = [];
  /** klp_transition_patch. Invariant (I2): non-null exactly while Memory's klp_target_state != IDLE. */
  transitionPatch: KlpPatch | null = null;
  /** klp_signals_cnt: failed tryComplete attempts since start; signals go out at multiples of signalsTimeout. */
  signalsCnt = 0;
  /**
   * SIGNALS_TIMEOUT, as a field so that a test can change the cadence the way a reviewer might: 1 sends
   * the fake signals on every failed attempt, the first included.
   */
  signalsTimeout = SIGNALS_TIMEOUT;
  /** klp_sched_try_switch_key: the scheduler hook is live only while a transition runs. */
  schedHook = false;
  /** Owner of klp_mutex, or null. */
  mutexOwner: Proc | null = null;
  /** Funcs of accepted patches, by id (ids index Memory). */
  readonly funcs: KlpFunc[] = [];
  /** Ids of freed funcs, reused by the next accepted patch. */
  readonly freeFuncIds: number[] = [];
  /** klp_ops: one per original function, by ops id; the value is the original's code id. */
  readonly opsOldFunc: number[] = [];
  private readonly opsByOldFunc = new Map<number, number>();
  /**
   * Patch modules livepatch holds a reference to (try_module_get at enable): released when the patch
   * is freed, unless a transition of it was forced, in which case the module can never be unloaded.
   */
  readonly moduleHeld = new Set<string>();
  /** Modules whose load livepatch has seen (mod->klp_alive): their objects are "loaded". */
  readonly liveModules = new Set<string>();
  /** Barriers and synchronizes left out (mutations the model checker uses to show each is needed). */
  drop: ReadonlySet<string> = new Set();
  private readonly names: string[] = [];
  /** WARN_ON_ONCE() hits, in order: each one is a bug, and the model checker treats it as a violation. */
  readonly warnings: string[] = [];
  private readonly warnedOnce = new Set<string>();
  private nextPatchId = 1;

  constructor(
    readonly host: Host,
    readonly mem: Memory = new ScMemory(),
    readonly variant: Variant = 'final',
  ) {
    this.mem.store(0, TARGET, TRANSITION_IDLE);
  }

  /** The static initializer of a task that exists before livepatch (init_task, the first idle tasks). */
  initTask(task: number): void {
    this.mem.store(0, addr(Var.PatchState, task), TRANSITION_IDLE);
    this.mem.store(0, addr(Var.Pending, task), 0);
  }

  newPatch(name: string, replace: boolean, states: readonly StateDesc[]): KlpPatch {
    return new KlpPatch(this.nextPatchId++, name, replace, states);
  }

  newFunc(obj: KlpObject, oldName: string, oldSympos: number, newFunc: number, nop: boolean): KlpFunc {
    return new KlpFunc(obj, oldName, oldSympos, newFunc, nop);
  }

  /** Give an accepted patch's funcs their ids (and Memory cells). */
  registerFuncs(patch: KlpPatch): void {
    for (const func of patch.allFuncs()) {
      if (func.id >= 0) continue;
      func.id = this.freeFuncIds.pop() ?? this.funcs.length;
      this.funcs[func.id] = func;
    }
  }

  /**
   * Recycle the ids of funcs no longer on any func stack. Callers guarantee a synchronize has passed
   * since they were unlinked (completeTransition), so no handler still holds one.
   */
  releaseFuncs(funcs: Iterable<KlpFunc>): void {
    for (const func of funcs) {
      if (func.id < 0 || func.patched) continue;
      this.freeFuncIds.push(func.id);
      // Unregistered: a handler that still reaches it by id finds it freed (and WARNs), rather than
      // a stale entry, so a run straight through and one restored from a snapshot agree.
      delete this.funcs[func.id];
      func.id = -1;
    }
  }

  /** klp_find_ops(), creating the ops on first use (ops are never freed: an empty stack means unhooked). */
  opsFor(oldFunc: number): number {
    let ops = this.opsByOldFunc.get(oldFunc);
    if (ops === undefined) {
      ops = this.opsOldFunc.length;
      this.opsOldFunc.push(oldFunc);
      this.opsByOldFunc.set(oldFunc, ops);
    }
    return ops;
  }

  /** The ops id hooking the original function `code`, or -1 if it was never patched. */
  findOps(code: number): number {
    return this.opsByOldFunc.get(code) ?? -1;
  }

  /** Frames hold integers only: strings (module names) go through this table. */
  intern(name: string): number {
    const i = this.names.indexOf(name);
    return i >= 0 ? i : this.names.push(name) - 1;
  }

  nameOf(id: number): string {
    return this.names[id];
  }

  /** mutex_lock(&klp_mutex) as a step: false means "would block" and nothing changed. */
  lockMutex(p: Proc): boolean {
    if (this.mutexOwner !== null && this.mutexOwner !== p) return false;
    this.mutexOwner = p;
    return true;
  }

  unlockMutex(p: Proc): void {
    if (this.mutexOwner !== p) this.warn('klp_mutex released by a non-owner');
    this.mutexOwner = null;
  }

  isObjectLoaded(name: string): boolean {
    return name === VMLINUX || this.liveModules.has(name);
  }

  patchById(id: number): KlpPatch {
    const patch = this.patches.find((p) => p.id === id) ?? this.detached.get(id);
    if (!patch) throw new Error(`livepatch engine: no patch with id ${id}`);
    return patch;
  }

  /** Patches that are being enabled (not yet on klp_patches) or just freed, reachable by id from frames. */
  readonly detached = new Map<number, KlpPatch>();

  warn(what: string): void {
    this.warnings.push(what);
    if (this.warnedOnce.has(what)) return;
    this.warnedOnce.add(what);
    this.host.log('warn', `WARNING: ${what}`);
  }

  log(line: string): void {
    this.host.log('notice', `livepatch: ${line}`);
  }

  debug(line: string): void {
    this.host.log('debug', `livepatch: ${line}`);
  }

  /** Position of the patch in klp_patches, 1-based (sysfs stack_order). */
  stackOrder(patch: KlpPatch): number {
    return this.patches.indexOf(patch) + 1;
  }
}
