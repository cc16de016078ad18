// The runtime: the engine hosted in this Node.js process. Admin verbs (enable, disable, force, module
// coming, the retry work) run straight through on the main thread; tasks switch one by one, each as
// soon as no function being changed is active in it, driven by events (an activation ending, a task
// starting) rather than only by the kernel's one-second retry.

import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import {
  copyProcess,
  enablePatchProc,
  enabledStoreProc,
  forbiddenCode,
  forceStoreProc,
  handlerProc,
  isLpError,
  Klp,
  LpError,
  moduleComingProc,
  patchViews,
  pending,
  runToEnd,
  schedTrySwitchProc,
  Shadow,
  targetState,
  transitionWorkProc,
  updatePatchStateProc,
  TRANSITION_IDLE,
  TRANSITION_PATCHED,
  type Callbacks,
  type CallbackObject,
  type LogLevel,
  type ModuleState,
  type ObjectDesc,
  type Proc,
} from '../engine/index.js';
import { addr, Var } from '../engine/memory.js';
import { checkCompatible, checkPatchable, compiledFromFunction, compileIn, type Compiled } from './compile.js';
import { NodeHost, type HostRuntime } from './host.js';
import { startControl } from './control.js';
import { startThreads } from '../cluster/threads.js';
import type { RuntimeGroup } from '../cluster/types.js';
import { installHttpTasks } from './http.js';
import { CALLBACKS, parsePatchFile, type Code, type PatchFile, type PatchObjectFile } from './patchfile.js';
import { CODE_STRIDE, ModuleRecord, type Dispatch } from './registry.js';
import { ADMIN_TASK, ROOT_TASK, stampActivations, Tasks, type Task } from './tasks.js';
import type { BlockedTask, FunctionInfo, ModuleInfo, PatchInfo, TransitionStatus } from './types.js';

const LEVELS: Record<LogLevel | 'off', number> = { off: 0, err: 1, warn: 2, notice: 3, debug: 4, trace: 5 };
const CPU = 0;
const LOG_KEEP = 2000;

/** A compiled replacement: code id → the function a redirected call runs. */
interface Replacement extends Compiled {
  patch: string;
}

/** A patch file's objects the engine knows only by name: kept to compile them when the module comes. */
interface PendingObject {
  patch: string;
  file: PatchObjectFile;
  codes: number[];
  callbacks: Callbacks;
}

const logChannel = channel('livepatch:log');
const signalChannel = channel('livepatch:signal');

export class Runtime implements Dispatch, HostRuntime {
  readonly tasks = new Tasks();
  readonly klp: Klp;
  readonly shadow: Shadow;
  runningTask: Task | null = null;
  /** Index = base / CODE_STRIDE; slot 0 is the replacements' range. */
  private readonly modules: Array<ModuleRecord | null> = [null];
  private readonly byName = new Map<string, ModuleRecord>();
  private readonly replacements = new Map<number, Replacement>();
  /**
   * The handler's answer per hooked code while no transition runs: then it depends on no task (every
   * func->transition is clear, so each stack's top wins) and changes only in an admin verb, after
   * which this is emptied.
   */
  private readonly decided = new Map<number, number>();
  private handlerFailed = false;
  private nextReplacement = 1;
  private readonly pendingObjects = new Map<string, PendingObject[]>();
  /** Modules whose `on` flag is set: refreshed after every admin verb. */
  private readonly hooked = new Set<ModuleRecord>();
  private retryTimer: NodeJS.Timeout | null = null;
  private transitionStarted = 0;
  /** The same moment by Date.now(), the clock activation starts are stamped with. */
  private transitionStartedAt = 0;
  private readonly logLines: string[] = [];
  /** Lines logged since start (the cursor logSince() hands out). */
  private logCount = 0;
  private readonly threshold: number;
  /** Milliseconds between the kernel-style retries of an unfinished transition. */
  retryMs = 1000;
  /** The other runtimes this one coordinates (src/cluster/), which see its verbs and widen its views. */
  group: RuntimeGroup | null = null;
  /** Called after every admin verb (the CPUs of src/cluster/ report their state from here). */
  readonly verbWatchers: Array<() => void> = [];

  constructor(opts: { logLevel?: LogLevel | 'off' } = {}) {
    const env = process.env.LIVEPATCH_LOG as LogLevel | 'off' | undefined;
    this.threshold = LEVELS[opts.logLevel ?? (env && env in LEVELS ? env : 'notice')];
    this.klp = new Klp(new NodeHost(this));
    this.shadow = new Shadow((level, line) => this.log(level, line));
    this.klp.initTask(ROOT_TASK);
    this.klp.initTask(ADMIN_TASK);
  }

  // ---- the ABI called by instrumented code (see docs/runtime.md) ----

  /** `__lp$M`: a module starts evaluating. Its patches apply now (module coming). */
  module(id: string, sha256: string, sites: string, evalHost: (s: string) => unknown): ModuleRecord {
    let name = id;
    for (let n = 2; this.byName.has(name); n++) name = `${id}#${n}`;
    if (name !== id) this.log('warn', `livepatch: module '${id}' evaluated again: this instance is object '${name}'`);
    const rec = new ModuleRecord(this, name, sha256, sites, evalHost, this.modules.length * CODE_STRIDE);
    this.modules.push(rec);
    this.byName.set(name, rec);
    try {
      this.moduleComing(rec);
    } catch (e) {
      // Fail open: the module loads with its original code.
      this.log('err', `livepatch: module '${name}' not patched: ${isLpError(e) ? e.message : String(e)}`);
    }
    return rec;
  }

  current(): Task {
    return this.tasks.current();
  }

  redirect(m: ModuleRecord, code: number, thisArg: unknown, args: ArrayLike<unknown>): unknown {
    let target = this.decided.get(code);
    if (target === undefined) {
      try {
        const ops = this.klp.findOps(code);
        target = ops < 0 ? code : runToEnd(this.klp, handlerProc(CPU, this.tasks.current().id, ops));
      } catch (e) {
        // A bug of ours must not become an exception in the application's call: fail open, once loudly.
        if (!this.handlerFailed) this.log('err', `livepatch: the handler failed, running original code: ${(e as Error).stack ?? String(e)}`);
        this.handlerFailed = true;
        return m;
      }
      if (this.klp.transitionPatch === null) this.decided.set(code, target);
    }
    if (target === code) return m;
    const rep = this.replacements.get(target);
    if (!rep) return m;
    if (this.klp.transitionPatch === null && !rep.async && !rep.generator) m.direct[code - m.base] = rep.fn;
    return this.invoke(rep, target, thisArg, args);
  }

  /** Run a replacement; an async one or a generator is an activation of its code in the task. */
  private invoke(rep: Replacement, code: number, thisArg: unknown, args: ArrayLike<unknown>): unknown {
    if (!rep.async && !rep.generator) return Reflect.apply(rep.fn, thisArg, args);
    const task = this.tasks.current();
    const done = (): void => {
      if (task.exit(code)) this.activationEnded(task);
    };
    if (rep.generator) {
      const inner = Reflect.apply(rep.fn, thisArg, args) as Iterable<unknown> & AsyncIterable<unknown>;
      return rep.async ? trackedAsync(inner, task, code, done) : tracked(inner, task, code, done);
    }
    task.enter(code);
    let result: unknown;
    try {
      result = Reflect.apply(rep.fn, thisArg, args);
    } catch (e) {
      done();
      throw e;
    }
    (result as Promise<unknown>).then(done, done);
    return result;
  }

  activationEnded(task: Task): void {
    if (task.closing && task.active.size === 0) {
      this.endTask(task);
      return;
    }
    if (this.klp.transitionPatch && pending(this.klp, task.id)) this.kick(task);
  }

  // ---- tasks ----

  /** copy_process(): a new task inherits the current task's state, then starts at a safe point. */
  startTask(name: string): Task {
    const parent = this.tasks.current();
    const task = this.tasks.create(name);
    copyProcess(this.klp, CPU, parent.id, task.id);
    // Nothing of it is on any stack yet: like a forked child leaving the kernel through the syscall exit,
    // it switches at once.
    runToEnd(this.klp, updatePatchStateProc(CPU, task.id));
    return task;
  }

  /** The task's owner is done with it; it goes once its last activation ends. */
  endTask(task: Task): void {
    if (this.tasks.end(task) && this.klp.transitionPatch) this.maybeComplete();
  }

  /** klp_update_patch_state(current): the caller vouches that no function being changed is active in its task. */
  updatePatchState(): void {
    const task = this.tasks.current();
    runToEnd(this.klp, updatePatchStateProc(CPU, task.id));
    if (this.klp.transitionPatch) this.maybeComplete();
  }

  /** The task may be able to switch: try at the next microtask, when none of its frames is on the stack. */
  kick(task: Task): void {
    if (task.kickQueued) return;
    task.kickQueued = true;
    queueMicrotask(() => {
      task.kickQueued = false;
      if (!this.klp.transitionPatch || task.ended) return;
      if (pending(this.klp, task.id)) runToEnd(this.klp, schedTrySwitchProc(CPU, task.id));
      if (!pending(this.klp, task.id)) this.maybeComplete();
    });
  }

  /** When no task is left pending, complete now rather than at the next retry. */
  private maybeComplete(): void {
    if (!this.klp.transitionPatch || this.klp.mutexOwner !== null) return;
    if (pending(this.klp, ROOT_TASK)) return;
    for (const t of this.tasks.live) if (pending(this.klp, t.id)) return;
    this.admin(null, () => runToEnd(this.klp, transitionWorkProc(CPU, ADMIN_TASK)));
  }

  signal(task: Task): void {
    signalChannel.publish({ id: task.id, name: task.name });
    for (const cb of task.signalListeners) {
      try {
        cb();
      } catch (e) {
        this.log('warn', `livepatch: a signal listener of ${task.name} threw: ${(e as Error).message}`);
      }
    }
  }

  scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.admin(null, () => runToEnd(this.klp, transitionWorkProc(CPU, ADMIN_TASK)));
    }, this.retryMs);
    this.retryTimer.unref();
  }

  // ---- admin verbs ----

  /**
   * Run an admin verb. `running` is the task whose code called us (its synchronous frames are on the
   * stack, so it cannot be switched before they return), or null when the runtime itself calls.
   */
  private admin<T>(running: Task | null, verb: () => T): T {
    const wasIdle = this.klp.transitionPatch === null;
    this.runningTask = running;
    try {
      return verb();
    } finally {
      this.runningTask = null;
      this.afterVerb(wasIdle, running);
      for (const w of this.verbWatchers) w();
    }
  }

  private afterVerb(wasIdle: boolean, running: Task | null): void {
    this.decided.clear();
    this.refreshHooks();
    this.releaseFreed();
    stampActivations(this.klp.transitionPatch !== null);
    if (!this.klp.transitionPatch) {
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      return;
    }
    if (wasIdle) {
      this.transitionStarted = performance.now();
      this.transitionStartedAt = Date.now();
    }
    if (running) this.kick(running);
  }

  /**
   * Set each module's `on` flag, true exactly while one of its functions is on a func stack, and its
   * per-site marks. The flag goes up last: a hook that sees it sees the marks.
   */
  private refreshHooks(): void {
    const now = new Set<ModuleRecord>();
    const { klp } = this;
    for (const rec of this.hooked) {
      rec.hooked.fill(0);
      rec.direct.length = 0;
    }
    klp.opsOldFunc.forEach((code, ops) => {
      if (klp.mem.load(CPU, addr(Var.StackHead, ops)) === 0) return;
      const rec = this.modules[Math.floor(code / CODE_STRIDE)];
      if (!rec) return;
      if (rec.hooked.length === 0) rec.hooked = new Uint8Array(rec.table.s.length);
      rec.hooked[code - rec.base] = 1;
      now.add(rec);
    });
    for (const rec of this.hooked) if (!now.has(rec)) rec.on = false;
    for (const rec of now) rec.on = true;
    this.hooked.clear();
    for (const rec of now) this.hooked.add(rec);
  }

  /** Drop the compiled code of patches the engine has freed. */
  private releaseFreed(): void {
    const live = new Set(this.klp.patches.map((p) => p.name));
    for (const [code, rep] of this.replacements) if (!live.has(rep.patch)) this.replacements.delete(code);
    for (const [obj, list] of this.pendingObjects) {
      const kept = list.filter((po) => live.has(po.patch));
      if (kept.length) this.pendingObjects.set(obj, kept);
      else this.pendingObjects.delete(obj);
    }
  }

  /** klp_enable_patch() from a patch file (text or object). Throws LpError; nothing changes then. */
  enable(input: unknown): PatchInfo {
    const file = parsePatchFile(input);
    this.group?.admit('enable', file.name);
    const made: number[] = [];
    const pendingObjs: PendingObject[] = [];
    try {
      const objs = file.objs.map((obj) => this.prepareObject(file, obj, made, pendingObjs));
      const p = enablePatchProc(this.klp, CPU, ADMIN_TASK, { name: file.name, replace: file.replace, states: file.states, objs });
      this.admin(this.callerTask(), () => runToEnd(this.klp, p));
      if (p.error) throw p.error;
    } catch (e) {
      for (const code of made) this.replacements.delete(code);
      throw e;
    }
    for (const po of pendingObjs) {
      const list = this.pendingObjects.get(po.file.name) ?? [];
      list.push(po);
      this.pendingObjects.set(po.file.name, list);
    }
    this.group?.issued('enable', file.name, input);
    return this.info(file.name);
  }

  /** Compile what can be compiled now; a module not loaded yet is compiled when it comes. */
  private prepareObject(file: PatchFile, obj: PatchObjectFile, made: number[], pendingObjs: PendingObject[]): ObjectDesc {
    const rec = this.byName.get(obj.name);
    if (rec && rec.sha256 !== obj.sha256)
      throw new LpError(
        'LP_ERR_SHA_MISMATCH',
        `patch '${file.name}': object '${obj.name}' is not the code the patch was made for (sha256 ${rec.sha256.slice(0, 12)}…, the patch expects ${obj.sha256.slice(0, 12)}…): rebuild the patch against the running version`,
      );
    const codes = obj.funcs.map(() => {
      const code = this.nextReplacement++;
      made.push(code);
      return code;
    });
    if (rec) this.compileObject(file.name, rec, obj, codes);
    const callbacks = this.callbacksOf(file.name, obj);
    if (!rec) pendingObjs.push({ patch: file.name, file: obj, codes, callbacks });
    return { name: obj.name, funcs: obj.funcs.map((f, i) => ({ oldName: f.oldName, oldSympos: f.oldSympos, newFunc: codes[i] })), callbacks };
  }

  private compileObject(patch: string, rec: ModuleRecord, obj: PatchObjectFile, codes: number[]): void {
    obj.funcs.forEach((f, i) => {
      const what = `patch '${patch}': ${obj.name}: ${f.oldName}`;
      const sites = rec.lookup(f.oldName);
      const code = sites[Math.max(f.oldSympos ?? 0, 1) - 1];
      // A missing or ambiguous name is the engine's to report (klp_find_object_symbol), with its message.
      const site = code !== undefined && (sites.length === 1 || (f.oldSympos ?? 0) > 0) ? rec.site(code) : null;
      if (site) checkPatchable(site, what);
      const compiled = f.fn ? compiledFromFunction(f.fn as (...a: unknown[]) => unknown) : compileIn(rec, f.source!, what);
      if (site) checkCompatible(site, compiled, what);
      this.replacements.set(codes[i], { ...compiled, patch });
    });
  }

  /**
   * Callbacks compiled in the object's module scope when first called (the module may not be loaded
   * yet). A callback that throws is logged; a throwing prePatch refuses the object (-EINVAL).
   */
  private callbacksOf(patch: string, obj: PatchObjectFile): Callbacks {
    const out: Callbacks = {};
    for (const name of CALLBACKS) {
      const code: Code | undefined = obj.callbacks?.[name];
      if (code === undefined) continue;
      let fn: ((o: CallbackObject) => unknown) | null = typeof code === 'function' ? (code as (o: CallbackObject) => unknown) : null;
      const run = (o: CallbackObject): number => {
        try {
          if (!fn) {
            const rec = this.byName.get(obj.name);
            if (!rec) throw new LpError('LP_ERR_NOT_INSTRUMENTED', `module '${obj.name}' is not loaded`);
            fn = compileIn(rec, code as string, `patch '${patch}': ${obj.name}: callbacks.${name}`).fn as (o: CallbackObject) => unknown;
          }
          const r = fn(o);
          return typeof r === 'number' && r < 0 ? r : 0;
        } catch (e) {
          this.log('err', `livepatch: '${patch}': ${name} callback for '${obj.name}' threw: ${(e as Error)?.message ?? String(e)}`);
          return -22;
        }
      };
      if (name === 'prePatch') out.prePatch = run;
      else out[name] = (o) => void run(o);
    }
    return out;
  }

  /** klp_module_coming(): the patches waiting for this module are compiled, checked and applied. */
  private moduleComing(rec: ModuleRecord): void {
    for (const po of this.pendingObjects.get(rec.name) ?? []) {
      if (po.file.sha256 !== rec.sha256)
        throw new LpError('LP_ERR_SHA_MISMATCH', `patch '${po.patch}' was made for a different version of '${rec.name}' (sha256 mismatch)`);
      this.compileObject(po.patch, rec, po.file, po.codes);
    }
    this.pendingObjects.delete(rec.name);
    if (this.klp.mutexOwner !== null) {
      // Loaded from inside an admin verb (a callback required it): the engine cannot nest verbs.
      throw new LpError('LP_ERR_BUSY', 'loaded while a livepatch operation was running; its patches are not applied');
    }
    this.coming = rec.name;
    try {
      const p = this.admin(this.callerTask(), () => {
        const proc = moduleComingProc(this.klp, CPU, ADMIN_TASK, rec.name);
        runToEnd(this.klp, proc);
        return proc;
      });
      if (p.error) throw p.error;
    } finally {
      this.coming = null;
    }
  }

  /** echo 0 > enabled: unpatch, or reverse the transition in progress. */
  disable(name: string): PatchInfo {
    this.group?.admit('disable', name);
    if (this.group?.runLocal('disable', name) ?? true) this.enabledStore(name, false);
    this.group?.issued('disable', name);
    return this.info(name);
  }

  /** echo 1 > force. */
  force(name: string): PatchInfo {
    this.group?.admit('force', name);
    if (this.group?.runLocal('force', name) ?? true) this.adminProc(forceStoreProc(this.klp, CPU, ADMIN_TASK, name));
    this.group?.issued('force', name);
    return this.info(name);
  }

  private enabledStore(name: string, value: boolean): void {
    this.adminProc(enabledStoreProc(this.klp, CPU, ADMIN_TASK, name, value));
  }

  private adminProc(p: Proc): void {
    this.admin(this.callerTask(), () => runToEnd(this.klp, p));
    if (p.error) throw p.error;
  }

  /** The task calling the API from user code; null while the control socket (our own code) calls. */
  private callerTask(): Task | null {
    return this.trusted ? null : this.tasks.current();
  }

  private trusted = false;

  /** Run `fn` as the runtime's own code (the control socket): no user frame is on the stack. */
  asRuntime<T>(fn: () => T): T {
    const was = this.trusted;
    this.trusted = true;
    try {
      return this.tasks.als.exit(fn);
    } finally {
      this.trusted = was;
    }
  }

  // ---- views ----

  private info(name: string): PatchInfo {
    const view = this.list().find((p) => p.name === name);
    if (view) return view;
    // Disabled and already freed: report it gone.
    return { name, enabled: false, transition: false, replace: false, forced: false, stackOrder: 0, objects: [], pendingObjects: [] };
  }

  list(): PatchInfo[] {
    const local = patchViews(this.klp).map((view) => {
      const patch = this.klp.patches.find((p) => p.name === view.name)!;
      return { ...view, pendingObjects: patch.objs.filter((o) => !o.dynamic && !o.loaded).map((o) => o.name) };
    });
    return this.group ? this.group.list(local) : local;
  }

  /** The process's transition: this runtime's, and the runtimes it coordinates (src/cluster/). */
  status(limit = 100): TransitionStatus {
    const local = this.localStatus(this.group ? Number.MAX_SAFE_INTEGER : limit);
    return this.group ? this.group.status(local, limit) : local;
  }

  /** This runtime's own transition. */
  localStatus(limit = 100): TransitionStatus {
    const now = Date.now();
    const patch = this.klp.transitionPatch;
    const tgt = targetState(this.klp);
    const all = [this.tasks.root, ...this.tasks.live];
    const blocked: BlockedTask[] = [];
    if (patch) {
      for (const t of all) {
        if (!pending(this.klp, t.id)) continue;
        const holding: BlockedTask['holding'] = [];
        for (const obj of patch.objs) {
          if (!obj.patched) continue;
          for (const func of obj.funcs) {
            const code = forbiddenCode(this.klp, CPU, tgt, func);
            if (!t.active.has(code)) continue;
            // An activation older than the transition reports the transition's age (at least that).
            holding.push({ func: func.oldName, object: obj.name, ageMs: now - (t.since.get(code) ?? this.transitionStartedAt) });
          }
        }
        holding.sort((x, y) => y.ageMs - x.ageMs);
        const ps = this.klp.mem.load(CPU, addr(Var.PatchState, t.id));
        blocked.push({ id: t.id, name: t.name, ageMs: Math.round(now - t.started), patchState: ps, holding });
      }
      blocked.sort((x, y) => y.ageMs - x.ageMs);
    }
    return {
      patch: patch ? patch.name : null,
      targetState: tgt === TRANSITION_IDLE ? 'idle' : tgt === TRANSITION_PATCHED ? 'patching' : 'unpatching',
      ageMs: patch ? Math.round(performance.now() - this.transitionStarted) : 0,
      tasks: all.length,
      pending: blocked.length,
      blocked: blocked.slice(0, limit),
      attempts: patch ? this.klp.signalsCnt : 0,
    };
  }

  modulesInfo(): ModuleInfo[] {
    return [...this.byName.values()].map((rec) => ({
      name: rec.name,
      sha256: rec.sha256,
      functions: rec.table.s.length,
      patched: rec.on ? rec.table.s.filter((_, i) => this.klp.findOps(rec.base + i) >= 0).length : 0,
    }));
  }

  functions(module: string): FunctionInfo[] {
    const rec = this.byName.get(module);
    if (!rec) throw new LpError('LP_ERR_NOT_INSTRUMENTED', `no instrumented module '${module}': see the module list (livepatch modules)`);
    const seen = new Map<string, number>();
    return rec.table.s.map(([name, kind, line, column, unpatchable]) => {
      const sympos = (seen.get(name) ?? 0) + 1;
      seen.set(name, sympos);
      return { name, sympos, kind, line, column, unpatchable };
    });
  }

  /** Resolves when no transition is in progress (or after `timeoutMs`, false). */
  async waitIdle(timeoutMs = 30_000): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    while (this.klp.transitionPatch || !(this.group?.idle() ?? true)) {
      if (performance.now() > until) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
    return true;
  }

  // ---- host services ----

  log(level: LogLevel, line: string): void {
    this.logLines.push(line);
    this.logCount++;
    if (this.logLines.length > LOG_KEEP) this.logLines.shift();
    if (logChannel.hasSubscribers) logChannel.publish({ level, line });
    if (LEVELS[level] <= this.threshold) process.stderr.write(`${line}\n`);
  }

  /** Log lines after cursor `since` (the `next` of an earlier call; 0 = all that are kept). */
  logSince(since = 0): { next: number; lines: string[] } {
    const first = this.logCount - this.logLines.length;
    return { next: this.logCount, lines: this.logLines.slice(Math.max(0, since - first)) };
  }

  lookupSymbol(obj: string, name: string): readonly number[] {
    return this.byName.get(obj)?.lookup(name) ?? [];
  }

  moduleState(obj: string): ModuleState {
    return obj === this.coming || !this.byName.has(obj) ? 'MODULE_STATE_COMING' : 'MODULE_STATE_LIVE';
  }

  /** The module whose patches klp_module_coming() is applying. */
  private coming: string | null = null;
}

function* tracked(inner: Iterable<unknown>, task: Task, code: number, done: () => void): Generator<unknown, unknown, unknown> {
  task.enter(code);
  try {
    return yield* inner as Generator<unknown, unknown, unknown>;
  } finally {
    done();
  }
}

async function* trackedAsync(inner: AsyncIterable<unknown>, task: Task, code: number, done: () => void): AsyncGenerator<unknown, unknown, unknown> {
  task.enter(code);
  try {
    return yield* inner as AsyncGenerator<unknown, unknown, unknown>;
  } finally {
    done();
  }
}

const KEY = Symbol.for('livepatch.runtime');

/**
 * The thread's runtime, created on first use and published for instrumented code, with the process's
 * control socket (unless LIVEPATCH_CONTROL=0).
 */
export function installRuntime(): Runtime {
  const g = globalThis as unknown as Record<symbol, Runtime | undefined>;
  let rt = g[KEY];
  if (!rt) {
    rt = g[KEY] = new Runtime();
    installHttpTasks(rt);
    // One socket per process, served by the main thread: a worker thread has its own runtime (its own
    // modules and tasks) but shares the pid, and must not take the socket over.
    if (isMainThread && process.env.LIVEPATCH_CONTROL !== '0') startControl(rt);
    rt.group = startThreads(rt);
  }
  return rt;
}
