// The runtime: the engine hosted in this Node.js process. Admin verbs (enable, disable, force, module
// coming, the retry work) run straight through on the main thread; tasks switch one by one, each as
// soon as no function being changed is active in it, driven by events (an activation ending, a task
// starting) rather than only by the kernel's one-second retry.

import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import {
  enablePatchProc,
  enabledStoreProc,
  forbiddenCode,
  forceStoreProc,
  isLpError,
  Klp,
  LpError,
  moduleComingProc,
  patchViews,
  pending,
  runToEnd,
  Shadow,
  targetState,
  transitionWorkProc,
  updatePatchStateProc,
  TRANSITION_IDLE,
  TRANSITION_PATCHED,
  type LogLevel,
  type ModuleState,
  type ObjectDesc,
  type Proc,
} from '../engine/index.js';
import { addr, Var } from '../engine/memory.js';
import { symposOf } from '../naming/sites.js';
import { ObjectCallbacks } from './callbacks.js';
import { checkCompatible, checkPatchable, checkSource, compiledFromFunction, compileIn, type Compiled } from './compile.js';
import { NodeHost, type HostRuntime } from './host.js';
import { startControl } from './control.js';
import { startThreads } from '../cluster/threads.js';
import type { RuntimeGroup } from '../cluster/types.js';
import { installHttpTasks } from './http.js';
import { cut, LOG_REPLY_BUDGET, MAX_LOG_LINE } from './limits.js';
import { parsePatchFile, type PatchFile, type PatchObjectFile } from './patchfile.js';
import { ASK, HookCells, ORIGINAL } from './cells.js';
import { CountingMemory } from './pending.js';
import { CPU, DECISIONS, type Decisions } from './decisions.js';
import { CODE_STRIDE, ModuleRecord, type Callable, type Dispatch } from './registry.js';
import { ADMIN_TASK, ROOT_TASK, stampActivations, Tasks, type Task } from './tasks.js';
import type { BlockedTask, FunctionInfo, ModuleInfo, PatchInfo, TransitionStatus } from './types.js';

const LEVELS: Record<LogLevel | 'off', number> = { off: 0, err: 1, warn: 2, notice: 3, debug: 4, trace: 5 };
const LOG_KEEP = 2000;

/** A compiled replacement: code id → the function a redirected call runs. */
interface Replacement extends Compiled {
  patch: string;
  /** An async one's or a generator's call with its activation tracked (callable()), made once. */
  tracked?: Callable;
}

/** A patch file's objects the engine knows only by name: kept to compile them when the module comes. */
interface PendingObject {
  patch: string;
  file: PatchObjectFile;
  codes: number[];
  cbs: ObjectCallbacks;
}

/** An enable between its checks and the engine's verb (which async prePatch callbacks may sit between). */
interface EnableJob {
  file: PatchFile;
  /** The patch as given: what the CPUs of src/cluster/ are sent. */
  input: unknown;
  /** Replacement code ids compiled for it: dropped when it fails. */
  made: number[];
  pendingObjs: PendingObject[];
  objs: ObjectDesc[];
  /** Loaded objects whose prePatch is async, in object order. */
  awaited: Array<{ cbs: ObjectCallbacks; name: string }>;
}

const logChannel = channel('livepatch:log');
const signalChannel = channel('livepatch:signal');
/** A task is gone: src/delivery/requests.ts records these while a `livepatch apply --report` watches. */
const taskEndChannel = channel('livepatch:task-end');

export class Runtime implements Dispatch, HostRuntime {
  readonly tasks: Tasks;
  readonly klp: Klp;
  private readonly mem = new CountingMemory();
  /** The decisions this runtime takes (decisions.ts; the model checker's mutation tests change one). */
  private readonly decide: Decisions;
  readonly shadow: Shadow;
  runningTask: Task | null = null;
  /** Index = base / CODE_STRIDE; slot 0 is the replacements' range. */
  private readonly modules: Array<ModuleRecord | null> = [null];
  private readonly byName = new Map<string, ModuleRecord>();
  private readonly replacements = new Map<number, Replacement>();
  /** The hook cells (cells.ts) and the module instances reading each. */
  private readonly cells = new HookCells();
  private readonly cellReaders = new Map<string, ModuleRecord[]>();
  private handlerFailed = false;
  private nextReplacement = 1;
  private readonly pendingObjects = new Map<string, PendingObject[]>();
  /** Modules whose `on` flag is set: refreshed after every admin verb. */
  private readonly hooked = new Set<ModuleRecord>();
  private retryTimer: NodeJS.Timeout | null = null;
  private transitionStarted = 0;
  private readonly logLines: string[] = [];
  /** Lines logged since start (the cursor logSince() hands out). */
  private logCount = 0;
  private readonly threshold: number;
  /** Milliseconds between the kernel-style retries of an unfinished transition. */
  retryMs = 1000;
  /** How long an async callback may take (callbacks.ts): an awaited prePatch past it fails with -ETIMEDOUT. */
  callbackTimeoutMs = 10_000;
  /** The other runtimes this one coordinates (src/cluster/), which see its verbs and widen its views. */
  group: RuntimeGroup | null = null;
  /** Called after every admin verb (the CPUs of src/cluster/ report their state from here). */
  readonly verbWatchers: Array<() => void> = [];

  constructor(opts: { logLevel?: LogLevel | 'off'; decisions?: Decisions } = {}) {
    this.decide = opts.decisions ?? DECISIONS;
    this.tasks = new Tasks(this.decide);
    const env = process.env.LIVEPATCH_LOG as LogLevel | 'off' | undefined;
    this.threshold = LEVELS[opts.logLevel ?? (env && Object.hasOwn(LEVELS, env) ? env : 'notice')];
    this.klp = new Klp(new NodeHost(this), this.mem);
    this.shadow = new Shadow((level, line) => this.log(level, line));
    this.klp.initTask(ROOT_TASK);
    this.klp.initTask(ADMIN_TASK);
  }

  // ---- the ABI called by instrumented code (see docs/runtime.md) ----

  /** `__lp$M`: a module starts evaluating. Its patches apply now (module coming). */
  module(id: string, sha256: string, sites: string, evalHost: (s: string) => unknown, cell: string): ModuleRecord {
    let name = id;
    for (let n = 2; this.byName.has(name); n++) name = `${id}#${n}`;
    if (name !== id) this.log('warn', `livepatch: module '${id}' evaluated again: this instance is object '${name}'`);
    const rec = new ModuleRecord(this, name, sha256, sites, evalHost, this.modules.length * CODE_STRIDE, cell);
    this.modules.push(rec);
    this.byName.set(name, rec);
    const readers = this.cellReaders.get(cell);
    if (readers) readers.push(rec);
    else {
      this.cellReaders.set(cell, [rec]);
      if (!this.cells.set(cell, undefined)) this.log('warn', `livepatch: warning: module '${name}': the global object refuses its hook cell ${cell}: its patches will not take effect`);
    }
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

  answer(code: number): Callable | 0 {
    const target = this.handle(code, this.tasks.current().id);
    const rep = target === code ? undefined : this.replacements.get(target);
    return rep ? this.callable(rep, target) : 0;
  }

  /** klp_ftrace_handler(): the code `task` runs for a call of `code`; `code` itself on a failure of ours. */
  private handle(code: number, task: number): number {
    try {
      return this.decide.handlerAnswer(this.klp, task, code);
    } catch (e) {
      // A bug of ours must not become an exception in the application's call: fail open, once loudly.
      if (!this.handlerFailed) this.log('err', `livepatch: the handler failed, running original code: ${(e as Error).stack ?? String(e)}`);
      this.handlerFailed = true;
      return code;
    }
  }

  /** Run an async replacement or a generator: an activation of its code in the task. */
  private invoke(rep: Replacement, code: number, thisArg: unknown, args: ArrayLike<unknown>): unknown {
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
    if (this.decide.kickWanted(this.klp, task.id)) this.kick(task);
  }

  // ---- tasks ----

  /** copy_process(): a new task inherits the current task's state, then starts at a safe point. */
  startTask(name: string): Task {
    const parent = this.tasks.current();
    const task = this.tasks.create(name);
    this.decide.startChild(this.klp, parent.id, task.id);
    return task;
  }

  /** The task's owner is done with it; it goes once its last activation ends. */
  endTask(task: Task): void {
    if (!this.tasks.end(task)) return;
    // Its patch state before release_task() drops it: the version its last code ran.
    if (taskEndChannel.hasSubscribers) {
      const patchState = this.klp.mem.load(CPU, addr(Var.PatchState, task.id));
      taskEndChannel.publish({ name: task.name, started: task.started, ended: Date.now(), patchState, patch: this.klp.transitionPatch?.name ?? null });
    }
    this.decide.releaseTask(this.klp, task.id);
    if (this.klp.transitionPatch) this.maybeComplete();
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
      if (this.decide.kickSwitch(this.klp, task.id, task.ended)) this.maybeComplete();
    });
  }

  /** When no task is left pending, complete now rather than at the next retry. */
  private maybeComplete(): void {
    // Some task is still pending: completionDue() would scan every live task to say no. The count is
    // exact (pending.ts), so the scan runs only when it is zero, i.e. once, when it will complete.
    if (this.mem.pendingTasks !== 0) return;
    if (!this.decide.completionDue(this.klp, this.liveIds())) return;
    this.admin(null, () => runToEnd(this.klp, transitionWorkProc(CPU, ADMIN_TASK)));
  }

  /** Every live task's id, the root task's first. */
  private *liveIds(): Iterable<number> {
    yield ROOT_TASK;
    for (const t of this.tasks.live) yield t.id;
  }

  signal(task: Task): void {
    signalChannel.publish({ id: task.id, name: task.name });
    for (const cb of task.signalListeners ?? []) {
      try {
        cb();
      } catch (e) {
        this.log('warn', `livepatch: a signal listener of ${task.name} threw: ${(e as Error).message}`);
      }
    }
  }

  /** klp_send_signals() on demand (`livepatch apply --signal-after`): the names of the tasks signalled. */
  signalPending(): string[] {
    if (!this.klp.transitionPatch) return [];
    const sent: string[] = [];
    for (const t of [this.tasks.root, ...this.tasks.live]) {
      if (!pending(this.klp, t.id)) continue;
      sent.push(t.name);
      this.signal(t);
    }
    return sent;
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
  private admin<T>(running: Task | null, verb: () => T, changesCode = true): T {
    const wasIdle = this.klp.transitionPatch === null;
    if (changesCode) this.cells.unsettle();
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
    this.refreshHooks();
    this.releaseFreed();
    stampActivations(this.klp.transitionPatch !== null);
    if (!this.klp.transitionPatch) {
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      return;
    }
    if (wasIdle) this.transitionStarted = performance.now();
    if (running) this.kick(running);
  }

  /**
   * Set each module's `on` flag, true exactly while one of its functions is on a func stack, its
   * per-site marks, and the hook cells (cells.ts). The cells go last: a hook that asks the handler
   * sees the marks.
   */
  private refreshHooks(): void {
    const now = new Set<ModuleRecord>();
    const { klp } = this;
    for (const rec of this.hooked) rec.hooked.fill(0);
    klp.opsOldFunc.forEach((code, ops) => {
      if (klp.mem.load(CPU, addr(Var.StackHead, ops)) === 0) return;
      const rec = this.modules[Math.floor(code / CODE_STRIDE)];
      if (!rec) return;
      if (rec.hooked.length === 0) rec.hooked = new Uint8Array(rec.table.s.length);
      rec.hooked[code - rec.base] = 1;
      now.add(rec);
    });
    const cells = new Set<string>();
    for (const rec of this.hooked) if (!now.has(rec)) ((rec.on = false), cells.add(rec.cell));
    for (const rec of now) ((rec.on = true), cells.add(rec.cell));
    this.hooked.clear();
    for (const rec of now) this.hooked.add(rec);
    for (const cell of cells) this.cells.set(cell, this.cellEntries(this.cellReaders.get(cell)!));
  }

  /**
   * A cell's entries: for each site on a func stack, the function every call runs when the answer is
   * settled, else ASK. Settled means: no transition runs (every func->transition is clear, so the top
   * of each func stack wins whatever the task) and one instance reads the cell (its entries hold that
   * instance's replacements). The answer changes only in an admin verb, which unsettles the cells
   * when it starts and calls this when it ends.
   */
  private cellEntries(readers: readonly ModuleRecord[]): Array<0 | 1 | Callable> | undefined {
    const on = readers.filter((r) => r.on);
    if (on.length === 0) return undefined;
    const entries: Array<0 | 1 | Callable> = new Array(Math.max(...on.map((r) => r.hooked.length))).fill(ORIGINAL);
    const settled = this.decide.answerMemoizable(this.klp) && readers.length === 1;
    for (const rec of on) {
      rec.hooked.forEach((h, i) => {
        if (h !== 1) return;
        if (!settled) return void (entries[i] = ASK);
        const code = rec.base + i;
        const target = this.handle(code, ROOT_TASK);
        const rep = target === code ? undefined : this.replacements.get(target);
        // directCallable: the replacement itself may run without the runtime; else its tracked wrapper.
        entries[i] = !rep ? ORIGINAL : this.decide.directCallable(this.klp, wrapped(rep)) ? rep.fn : this.callable(rep, target);
      });
    }
    return entries;
  }

  /**
   * What a call redirected to `rep` runs: the replacement itself, or for an async function or a
   * generator that does not track its own activation (one the task's stack must count) a wrapper that
   * tracks it.
   */
  private callable(rep: Replacement, code: number): Callable {
    if (!wrapped(rep)) return rep.fn;
    const rt = this;
    return (rep.tracked ??= function (this: unknown, ...args: unknown[]) {
      return rt.invoke(rep, code, this, args);
    });
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

  /**
   * klp_enable_patch() from a patch file (text or object). Throws LpError; nothing changes then. A
   * patch with an async prePatch needs enableAsync(): this call cannot wait for it.
   */
  enable(input: unknown): PatchInfo {
    const job = this.prepareEnable(input);
    if (job.awaited.length > 0) {
      this.dropEnable(job);
      throw new LpError('LP_ERR_USAGE', `patch '${job.file.name}' has an async prePatch, which enable() cannot wait for: use await enableAsync() (the CLI does)`);
    }
    return this.finishEnable(job);
  }

  /**
   * enable(), awaiting async prePatch callbacks first (each at most callbackTimeoutMs, in object
   * order, up to the first that fails); the engine's enable then sees their results as it calls them.
   * They run before the engine's checks rather than between its objects: a refusal of the engine after
   * them runs the postUnpatch of those that succeeded, as its cancel path would.
   */
  async enableAsync(input: unknown): Promise<PatchInfo> {
    const trusted = this.trusted;
    const job = this.prepareEnable(input);
    const ran: Array<{ cbs: ObjectCallbacks; name: string }> = [];
    for (const { cbs, name } of job.awaited) {
      const r = await cbs.settlePrePatch({ name, patch: job.file.name, moduleState: this.moduleState(name) });
      if (r !== 0) break;
      ran.push({ cbs, name });
    }
    try {
      return trusted ? this.asRuntime(() => this.finishEnable(job)) : this.finishEnable(job);
    } catch (e) {
      for (const { cbs, name } of ran) if (cbs.takeUnconsumed()) cbs.callbacks.postUnpatch?.({ name, patch: job.file.name, moduleState: this.moduleState(name) });
      throw e;
    }
  }

  private prepareEnable(input: unknown): EnableJob {
    const file = parsePatchFile(input);
    this.group?.admit('enable', file.name);
    const job: EnableJob = { file, input, made: [], pendingObjs: [], objs: [], awaited: [] };
    try {
      for (const obj of file.objs) job.objs.push(this.prepareObject(file, obj, job));
    } catch (e) {
      this.dropEnable(job);
      throw e;
    }
    return job;
  }

  private dropEnable(job: EnableJob): void {
    for (const code of job.made) this.replacements.delete(code);
  }

  private finishEnable(job: EnableJob): PatchInfo {
    const { file } = job;
    try {
      // A module that loaded while prePatch callbacks were awaited is compiled now, as at enable.
      for (const po of job.pendingObjs) {
        const rec = this.byName.get(po.file.name);
        if (rec) this.compilePending(po, rec);
      }
      const p = enablePatchProc(this.klp, CPU, ADMIN_TASK, { name: file.name, replace: file.replace, states: file.states, objs: job.objs });
      this.admin(this.callerTask(), () => runToEnd(this.klp, p));
      if (p.error) throw p.error;
    } catch (e) {
      this.dropEnable(job);
      throw e;
    }
    for (const po of job.pendingObjs) {
      if (this.byName.has(po.file.name)) continue;
      const list = this.pendingObjects.get(po.file.name) ?? [];
      list.push(po);
      this.pendingObjects.set(po.file.name, list);
    }
    this.group?.issued('enable', file.name, job.input);
    return this.info(file.name);
  }

  /** Check and compile what can be compiled now; a module not loaded yet is checked now, compiled when it comes. */
  private prepareObject(file: PatchFile, obj: PatchObjectFile, job: EnableJob): ObjectDesc {
    const rec = this.byName.get(obj.name);
    if (rec && rec.sha256 !== obj.sha256)
      throw new LpError(
        'LP_ERR_SHA_MISMATCH',
        `patch '${file.name}': object '${obj.name}' is not the code the patch was made for (sha256 ${rec.sha256.slice(0, 12)}…, the patch expects ${obj.sha256.slice(0, 12)}…): rebuild the patch against the running version`,
      );
    const codes = obj.funcs.map(() => {
      const code = this.nextReplacement++;
      job.made.push(code);
      return code;
    });
    if (rec) this.compileObject(file.name, rec, obj, codes);
    else for (const f of obj.funcs) if (f.source !== undefined) checkSource(null, f.source, `patch '${file.name}': ${obj.name}: ${f.oldName}`);
    const cbs = new ObjectCallbacks(this, file.name, obj, rec ?? null);
    if (cbs.asyncPrePatch) job.awaited.push({ cbs, name: obj.name });
    if (!rec) job.pendingObjs.push({ patch: file.name, file: obj, codes, cbs });
    return { name: obj.name, funcs: obj.funcs.map((f, i) => ({ oldName: f.oldName, oldSympos: f.oldSympos, newFunc: codes[i] })), callbacks: cbs.callbacks };
  }

  private compileObject(patch: string, rec: ModuleRecord, obj: PatchObjectFile, codes: number[]): void {
    obj.funcs.forEach((f, i) => {
      const what = `patch '${patch}': ${obj.name}: ${f.oldName}`;
      const sites = rec.lookup(f.oldName);
      const code = sites[Math.max(f.oldSympos ?? 0, 1) - 1];
      // A missing or ambiguous name is the engine's to report (klp_find_object_symbol), with its message.
      const site = code !== undefined && (sites.length === 1 || (f.oldSympos ?? 0) > 0) ? rec.site(code) : null;
      if (site) checkPatchable(site, what);
      const compiled = f.fn ? compiledFromFunction(f.fn as (...a: unknown[]) => unknown) : compileIn(rec, f.source!, what, f.origin, codes[i]);
      if (site) checkCompatible(site, compiled, what);
      this.replacements.set(codes[i], { ...compiled, patch });
    });
  }

  private compilePending(po: PendingObject, rec: ModuleRecord): void {
    if (po.file.sha256 !== rec.sha256)
      throw new LpError('LP_ERR_SHA_MISMATCH', `patch '${po.patch}' was made for a different version of '${rec.name}' (sha256 mismatch)`);
    this.compileObject(po.patch, rec, po.file, po.codes);
    po.cbs.compile(rec);
  }

  /** klp_module_coming(): the patches waiting for this module are compiled, checked and applied. */
  private moduleComing(rec: ModuleRecord): void {
    for (const po of this.pendingObjects.get(rec.name) ?? []) this.compilePending(po, rec);
    this.pendingObjects.delete(rec.name);
    if (this.klp.mutexOwner !== null) {
      // Loaded from inside an admin verb (a callback required it): the engine cannot nest verbs.
      throw new LpError('LP_ERR_BUSY', 'loaded while a livepatch operation was running; its patches are not applied');
    }
    this.coming = rec.name;
    try {
      // A module no patch names changes no func stack: the other modules' settled answers stand.
      const named = this.klp.patches.some((p) => p.objs.some((o) => o.name === rec.name));
      const p = this.admin(
        this.callerTask(),
        () => {
          const proc = moduleComingProc(this.klp, CPU, ADMIN_TASK, rec.name);
          runToEnd(this.klp, proc);
          return proc;
        },
        named,
      );
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
            // Activations are stamped only while a transition runs (tasks.ts): one older than the
            // transition is bounded by its task's age instead.
            const since = t.since.get(code);
            const site = this.modules[Math.floor(code / CODE_STRIDE)]?.site(code);
            holding.push({
              func: func.oldName,
              object: obj.name,
              ageMs: Math.round(now - (since ?? t.started)),
              exact: since !== undefined,
              line: site ? site[2] : null,
              column: site ? site[3] : null,
            });
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
    const sympos = symposOf(rec.table.s.map((row) => row[0]));
    return rec.table.s.map(([name, kind, line, column, unpatchable], i) => ({ name, sympos: sympos[i], kind, line, column, unpatchable }));
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

  log(level: LogLevel, text: string): void {
    // Lines echo names from patch files and requests: each is cut to a bounded size before it is kept.
    const line = cut(text, MAX_LOG_LINE);
    this.logLines.push(line);
    this.logCount++;
    if (this.logLines.length > LOG_KEEP) this.logLines.shift();
    if (logChannel.hasSubscribers) logChannel.publish({ level, line });
    if (LEVELS[level] <= this.threshold) process.stderr.write(`${line}\n`);
  }

  /**
   * Log lines after cursor `since` (the `next` of an earlier call; 0 = all that are kept), at most
   * LOG_REPLY_BUDGET units of them: then `more` is set and `next` points at the first line left.
   */
  logSince(since = 0): { next: number; lines: string[]; more?: true } {
    const first = this.logCount - this.logLines.length;
    const start = Math.min(Math.max(0, since - first), this.logLines.length);
    const lines: string[] = [];
    let size = 0;
    for (let i = start; i < this.logLines.length; i++) {
      size += this.logLines[i].length;
      if (size > LOG_REPLY_BUDGET && lines.length > 0) break;
      lines.push(this.logLines[i]);
    }
    const next = first + start + lines.length;
    return next < this.logCount ? { next, lines, more: true } : { next, lines };
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

/** Whether calls of `rep` go through callable()'s wrapper: an activation it does not count itself. */
function wrapped(rep: Replacement): boolean {
  return (rep.async || rep.generator) && !rep.tracks;
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
