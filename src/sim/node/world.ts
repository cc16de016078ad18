// The Node-host World: the runtime's event-driven switching (src/runtime/livepatch.ts) on a modelled
// event loop, explored by the model checker. The engine's verbs run straight through, as in the
// runtime; the runtime's decisions (src/runtime/decisions.ts: the handler's answer, the memoized answer
// and the direct-call shortcut, activation counting, the kick, the completion test, a child's start)
// are the very functions the runtime calls, handed in as a Decisions object so that a mutation test
// can change one the same way in the checker and in a real runtime.
//
// One step is one event-loop callback: a macrotask (a request arriving, an awaited I/O resolving, the
// retry timer, an admin verb from the control socket, a module loading) or, whenever any is queued,
// the microtask at the head of the queue (an async replacement's settled promise, a task's
// continuation, a kick). Tasks: each runs `acts` activations of the patched async function f at once
// (Promise.all), each awaiting I/O `awaits` times and calling the patched sync function g (and m of
// the module `mod` once it is loaded) after every await; task 0's first activation starts one child
// task after its first await (runTask from inside f); a task whose function settled ends.
//
// Where the model and the real runtime differ (each chosen so that no behaviour of the decisions is
// lost, or said to be out of scope):
// - The hooks' `on` / `hooked` gates are not modelled: the runtime refreshes them from the func stacks
//   after every admin verb, and the stacks change only inside verbs, so between loop steps the gate is
//   "the func stack is not empty", and the handler answers the original for an empty stack anyway.
// - A task's continuation after its activations settle is one microtask (Promise.all and the task
//   wrapper take a few hops in V8): no decision runs between those hops.
// - Admin verbs come from the control socket (no task's frames under them). The in-process API (a verb
//   called from a task's own code, `runningTask`) is not explored.
// - Fake signals (the retry's every-15th attempt) are not sent: their listeners are the application's,
//   never needed for safety; the attempt counter is kept at 0 so retries do not make new states.
// - Runtime.maybeComplete() first tests the counting memory's number of pending tasks (pending.ts), an
//   exact count kept on every store; the World asks completionDue() alone, which that test only skips.
// - Every call asks the handler unless its hook cell is settled; Runtime.handle()'s fail-open catch
//   around the handler is not modelled (the handler does not throw).
// - A generator task's activation opens at its call and ends in its finally, synchronously, like the
//   original async function's tracking; an async replacement's ends a microtask after its promise
//   settles (`.then(done)`): the two orders the runtime has.

import {
  buildPatch,
  enableBuiltPatchProc,
  enabledStoreProc,
  forbiddenCode,
  forceStoreProc,
  Klp,
  LpError,
  moduleComingProc,
  pending,
  runToEnd,
  transitionWorkProc,
  TRANSITION_IDLE,
  type Host,
  type KlpPatch,
  type LogLevel,
  type ModuleState,
  type Proc,
} from '../../engine/index.js';
import { addr, ScMemory, Var } from '../../engine/memory.js';
import { captureKlp, IntReader, IntVec, restoreKlp } from '../../engine/snapshot.js';
import { CPU, DECISIONS, type Decisions } from '../../runtime/decisions.js';
import { ADMIN_TASK, ROOT_TASK } from '../../runtime/tasks.js';
import { Fingerprint, fingerprint } from '../check/table.js';

export interface NodeWorldConfig {
  /** Tasks at boot (a child may come). */
  tasks: number;
  /** Activations of f each task runs at once (task 0's; the others run one). */
  acts: number;
  /** Awaits in each activation of f. */
  awaits: number;
  /** Task 0's first activation starts a child task after its first await. */
  child: boolean;
  /** Task 1 runs f as a generator (its consumer awaits between next() calls) instead of an async function. */
  generator: boolean;
  /**
   * The last boot task is a job loop (runTask(async () => { for (;;) { await f(); await io(); } })): it
   * never ends, and after each round its next one starts as a macrotask. Without it every task ends,
   * and ending a task also lets the transition complete.
   */
  loop?: boolean;
  /** Admin budgets: enable p1 (1 or 0), reverses, replace with p2 (atomic replace), disables, force, load `mod`. */
  enable: number;
  reverses: number;
  replace: number;
  disables: number;
  force: number;
  moduleLoad: boolean;
  /** The retry timer fires (the kernel's delayed work, retryMs): false checks the event-driven switch alone. */
  retry: boolean;
  /** The decision code: the runtime's own, or a mutation of it. */
  decisions?: Decisions;
  /** A name for the decisions (a mutation's), for tokens and traces. */
  mutation?: string;
}

// Code ids: the originals, and each patch's replacements. A code's version: 0 original, 1 p1, 2 p2.
const F = 100;
const G = 101;
const M = 102;
const REPL: Readonly<Record<string, readonly [number, number, number]>> = { p1: [1, 2, 3], p2: [4, 5, 6] };
const versionOf = (code: number): number => (code >= 100 ? 0 : code <= 3 ? 1 : 2);
const NAMES: Readonly<Record<number, string>> = { 100: 'f', 101: 'g', 102: 'm', 1: 'p1:f', 2: 'p1:g', 3: 'p1:m', 4: 'p2:f', 5: 'p2:g', 6: 'p2:m' };
const codeName = (code: number): string => NAMES[code] ?? String(code);

// A task's place.
const UNBORN = 0;
const READY = 1; // exists; its request has not run yet
const RUNNING = 2; // its activations of f are under way
const SETTLED = 3; // its function settled; the continuation that ends it is queued
const ENDED = 4;

// An activation's place: not started, suspended at await k (1..awaits), returned.
const A_NONE = 0;
const A_DONE = 99;

// Microtasks: kind * 1024 + task slot (+ code for DONE).
const MT_DONE = 1; // an async replacement's promise settled: its activation ends (.then(done))
const MT_CONT = 2; // a task's function settled: endTask
const MT_KICK = 3; // a switch attempt
const MT_KICK_ROOT = 4;

/** A step: a macrotask or the microtask at the head of the queue. */
export interface NodeAction {
  kind: 'micro' | 'start' | 'resume' | 'retry' | 'admin';
  /** Task slot (start, resume), activation (resume), admin verb (admin). */
  slot: number;
  act: number;
}

const ADMIN_VERBS = ['enable p1', 'echo 0 > enabled (reverse)', 'enable p2 (atomic replace)', 'echo 0 > enabled (disable)', 'echo 1 > force', 'load mod'] as const;

export interface NodeViolation {
  invariant: string;
  detail: string;
}

/** Tasks the World keeps: slot s is engine task FIRST + s (0 the root, 1 the admin's context). */
const FIRST = ADMIN_TASK + 1;

export class NodeWorld implements Host {
  readonly klp: Klp;
  readonly mem = new ScMemory();
  readonly decide: Decisions;
  private readonly patches: KlpPatch[];
  private readonly patchNames: string[];
  private readonly p1: KlpPatch;
  private readonly p2: KlpPatch;
  readonly maxTasks: number;

  // ---- state (all captured) ----
  readonly tloc: number[] = [];
  /** Per task, per activation: its place, and the code of f it runs. */
  readonly aloc: number[][] = [];
  readonly aver: number[][] = [];
  /** Per task: its activation counts as the decisions keep them (the engine's view of its stack). */
  readonly active: Map<number, number>[] = [];
  readonly kickQueued: boolean[] = [];
  readonly closing: boolean[] = [];
  /** Per task: switched by force while an activation was open (exempt from the consistency checks until it ends). */
  readonly forced: boolean[] = [];
  rootKickQueued = false;
  readonly micro: number[] = [];
  /**
   * The hook cells' settled entries (cells.ts, Runtime.cellEntries()), by code: what every call of a
   * hooked code runs without asking the handler (the original, a sync replacement called directly, or
   * an async one or a generator through a wrapper that only counts the activation). Made after every
   * admin verb when the decisions say the answer may be remembered; else every call asks.
   */
  readonly direct = new Map<number, number>();
  retryArmed = false;
  childLeft = 0;
  enableLeft: number;
  reversesLeft: number;
  replaceLeft: number;
  disablesLeft: number;
  forceLeft: number;
  moduleLeft: number;
  modLoaded = false;

  // ---- per step ----
  violation: NodeViolation | null = null;
  trace: string[][] | null = null;
  private warned = 0;
  private readonly reader = new IntReader();

  constructor(readonly config: NodeWorldConfig) {
    this.decide = config.decisions ?? DECISIONS;
    this.maxTasks = config.tasks + (config.child ? 1 : 0);
    this.klp = new Klp(this, this.mem, 'final');
    const objs = (name: string) => {
      const [f, g, m] = REPL[name];
      return [
        { funcs: [{ oldName: 'f', newFunc: f }, { oldName: 'g', newFunc: g }] },
        ...(config.moduleLoad ? [{ name: 'mod', funcs: [{ oldName: 'm', newFunc: m }] }] : []),
      ];
    };
    this.p1 = buildPatch(this.klp, { name: 'p1', objs: objs('p1') });
    // p2 replaces every function p1 changes, so it needs no nops (which cannot be captured).
    this.p2 = buildPatch(this.klp, { name: 'p2', replace: true, objs: objs('p2') });
    this.patches = [this.p1, this.p2];
    this.patchNames = this.patches.map((p) => p.name);
    for (const code of [F, G, M]) this.klp.opsFor(code);
    for (let t = 0; t < FIRST + this.maxTasks; t++) this.klp.initTask(t);
    for (let s = 0; s < this.maxTasks; s++) {
      const acts = s === 0 ? config.acts : 1;
      this.tloc.push(s < config.tasks ? READY : UNBORN);
      this.aloc.push(new Array<number>(acts).fill(A_NONE));
      this.aver.push(new Array<number>(acts).fill(0));
      this.active.push(new Map());
      this.kickQueued.push(false);
      this.closing.push(false);
      this.forced.push(false);
    }
    this.childLeft = config.child ? 1 : 0;
    this.enableLeft = config.enable;
    this.reversesLeft = config.reverses;
    this.replaceLeft = config.replace;
    this.disablesLeft = config.disables;
    this.forceLeft = config.force;
    this.moduleLeft = config.moduleLoad ? 1 : 0;
  }

  // ---- identities ----

  taskId(s: number): number {
    return FIRST + s;
  }
  taskLabel(s: number): string {
    return s === this.config.tasks ? 'child' : `task${s}`;
  }
  private live(s: number): boolean {
    return this.tloc[s] !== UNBORN && this.tloc[s] !== ENDED;
  }
  /** Every live task's engine id, the root task's first (the runtime's liveIds()). */
  private *liveIds(): Iterable<number> {
    yield ROOT_TASK;
    for (let s = 0; s < this.maxTasks; s++) if (this.live(s)) yield this.taskId(s);
  }
  private looping(s: number): boolean {
    return this.config.loop === true && s === this.config.tasks - 1;
  }
  private slotOf(task: number): number {
    return task - FIRST;
  }

  // ---- Host (NodeHost's answers) ----

  taskCount(): number {
    let n = 0;
    for (let s = 0; s < this.maxTasks; s++) if (this.live(s)) n++;
    return n;
  }
  taskAt(i: number): number {
    for (let s = 0; s < this.maxTasks; s++) if (this.live(s) && i-- === 0) return this.taskId(s);
    throw new Error(`node world: no task at ${i}`);
  }
  possibleCpus(): number {
    return 1;
  }
  idleTask(): number {
    return ROOT_TASK;
  }
  cpuOnline(): boolean {
    return true;
  }
  taskRunningElsewhere(): boolean {
    // Verbs come from the control socket: no task's synchronous frames are under them.
    return false;
  }
  taskName(task: number): string {
    return task === ROOT_TASK ? 'root:0' : `${this.taskLabel(this.slotOf(task))}:${task}`;
  }
  isKthread(): boolean {
    return false;
  }
  stackOf(task: number): readonly number[] {
    return task === ROOT_TASK ? [] : [...this.active[this.slotOf(task)].keys()];
  }
  haveReliableStack(): boolean {
    return true;
  }
  tryReadLock(): boolean {
    return true;
  }
  readUnlock(): void {}
  cpuCanSchedule(): boolean {
    return true;
  }
  scheduleRetry(): void {
    this.retryArmed = true;
  }
  signalTask(): void {}
  wakeUpIfIdle(): void {
    this.kickRoot();
  }
  log(level: LogLevel, line: string): void {
    if (this.trace && level !== 'trace') this.trace[this.trace.length - 1]?.push(`log: ${line}`);
  }
  lookupSymbol(obj: string, name: string): readonly number[] {
    if (obj === 'vmlinux') return name === 'f' ? [F] : name === 'g' ? [G] : [];
    if (obj === 'mod' && this.modLoaded) return name === 'm' ? [M] : [];
    return [];
  }
  moduleState(obj: string): ModuleState | null {
    return obj === 'mod' ? 'MODULE_STATE_COMING' : null;
  }

  // ---- actions ----

  /** The steps: the microtask at the head of the queue if there is one, else every macrotask. */
  actions(): NodeAction[] {
    return this.micro.length > 0 ? [{ kind: 'micro', slot: 0, act: 0 }] : this.macrotasks();
  }

  /** The macrotasks whose event is pending (they run once the microtask queue is empty). */
  macrotasks(): NodeAction[] {
    const out: NodeAction[] = [];
    for (let s = 0; s < this.maxTasks; s++) {
      if (this.tloc[s] === READY) out.push({ kind: 'start', slot: s, act: 0 });
      else if (this.tloc[s] === RUNNING)
        this.aloc[s].forEach((loc, a) => {
          if (loc !== A_NONE && loc !== A_DONE) out.push({ kind: 'resume', slot: s, act: a });
        });
    }
    if (this.retryArmed && this.config.retry) out.push({ kind: 'retry', slot: 0, act: 0 });
    const inTransition = this.klp.transitionPatch !== null;
    const admin = (verb: number) => out.push({ kind: 'admin', slot: verb, act: 0 });
    if (this.enableLeft > 0 && !inTransition) admin(0);
    if (this.reversesLeft > 0 && inTransition) admin(1);
    if (this.replaceLeft > 0 && !inTransition && this.klp.patches.includes(this.p1)) admin(2);
    if (this.disablesLeft > 0 && !inTransition && this.klp.patches.length > 0) admin(3);
    if (this.forceLeft > 0 && inTransition) admin(4);
    if (this.moduleLeft > 0) admin(5);
    return out;
  }

  label(a: NodeAction): string {
    switch (a.kind) {
      case 'micro': {
        const m = this.micro[0];
        const kind = m >> 20;
        const s = m & 1023;
        if (kind === MT_DONE) return `microtask: ${this.taskLabel(s)}'s ${codeName((m >> 10) & 1023)} promise settled (.then(done))`;
        if (kind === MT_CONT) return `microtask: ${this.taskLabel(s)}'s function settled (endTask)`;
        if (kind === MT_KICK) return `microtask: kick ${this.taskLabel(s)}`;
        return 'microtask: kick root';
      }
      case 'start':
        return `${this.taskLabel(a.slot)}: request runs, calls f${this.aloc[a.slot].length > 1 ? ` x${this.aloc[a.slot].length}` : ''}`;
      case 'resume': {
        const k = this.aloc[a.slot][a.act];
        return `${this.taskLabel(a.slot)}: await ${k} of f#${a.act} resolves`;
      }
      case 'retry':
        return 'retry timer: klp_transition_work';
      case 'admin':
        return `admin: ${ADMIN_VERBS[a.slot]}`;
    }
  }

  /** Take a step; a Node event-loop callback never blocks. */
  run(a: NodeAction): void {
    if (this.trace) this.trace.push([this.label(a)]);
    switch (a.kind) {
      case 'micro':
        this.runMicro(this.micro.shift()!);
        break;
      case 'start':
        this.startRequest(a.slot);
        break;
      case 'resume':
        this.resume(a.slot, a.act);
        break;
      case 'retry':
        this.retryArmed = false;
        this.adminVerb(transitionWorkProc(CPU, ADMIN_TASK));
        break;
      case 'admin':
        this.adminAction(a.slot);
        break;
    }
    this.klp.signalsCnt = 0;
    this.checkInvariants(a);
  }

  private adminAction(verb: number): void {
    const name = this.klp.transitionPatch?.name ?? this.klp.patches[this.klp.patches.length - 1]?.name;
    switch (verb) {
      case 0:
        this.enableLeft--;
        this.adminVerb(enableBuiltPatchProc(this.klp, CPU, ADMIN_TASK, this.p1));
        return;
      case 1:
        this.reversesLeft--;
        this.adminVerb(enabledStoreProc(this.klp, CPU, ADMIN_TASK, name!, !this.klp.transitionPatch!.enabled));
        return;
      case 2:
        this.replaceLeft--;
        this.adminVerb(enableBuiltPatchProc(this.klp, CPU, ADMIN_TASK, this.p2));
        return;
      case 3:
        this.disablesLeft--;
        this.adminVerb(enabledStoreProc(this.klp, CPU, ADMIN_TASK, name!, false));
        return;
      case 4:
        // Force switches every task whatever it runs (unsafe by design): those with f open are exempt
        // from the consistency checks until they end.
        for (let s = 0; s < this.maxTasks; s++) if (this.live(s) && this.aloc[s].some((l) => l !== A_NONE && l !== A_DONE)) this.forced[s] = true;
        this.forceLeft--;
        this.adminVerb(forceStoreProc(this.klp, CPU, ADMIN_TASK, name!));
        return;
      case 5:
        this.moduleLeft--;
        this.modLoaded = true;
        this.adminVerb(moduleComingProc(this.klp, CPU, ADMIN_TASK, 'mod'));
        return;
    }
  }

  /** Runtime.admin(null, verb) from the control socket: the verb straight through, then afterVerb(). */
  private adminVerb(p: Proc): void {
    runToEnd(this.klp, p);
    if (p.error && !(p.error instanceof LpError)) throw p.error;
    // afterVerb(): the cells are made anew (refreshHooks()); the retry goes with the transition.
    this.settle();
    if (!this.klp.transitionPatch) this.retryArmed = false;
  }

  /**
   * Runtime.cellEntries() for the one module: when settled, every hooked code's entry is the answer the
   * handler gives (asked in the root task's name: then it depends on no task).
   */
  private settle(): void {
    this.direct.clear();
    if (!this.decide.answerMemoizable(this.klp)) return;
    for (const code of this.modLoaded ? [F, G, M] : [F, G]) {
      const ops = this.klp.findOps(code);
      if (ops < 0 || this.mem.load(CPU, addr(Var.StackHead, ops)) === 0) continue;
      this.direct.set(code, this.decide.handlerAnswer(this.klp, ROOT_TASK, code));
    }
  }

  /** A task's request runs: it calls f (each of its activations), up to each one's first await. */
  private startRequest(s: number): void {
    this.tloc[s] = RUNNING;
    for (let a = 0; a < this.aloc[s].length; a++) {
      const code = this.call(s, F);
      this.aver[s][a] = code;
      this.decide.enterActivation(this.active[s], code);
      this.aloc[s][a] = 1;
      if (this.config.awaits === 0) this.returnFrom(s, a);
    }
  }

  /** Await k of activation a resolves: the body runs on to its next await or returns. */
  private resume(s: number, a: number): void {
    const k = this.aloc[s][a];
    const v = versionOf(this.aver[s][a]);
    this.callIn(s, v, G);
    if (this.modLoaded) this.callIn(s, v, M);
    if (s === 0 && a === 0 && k === 1 && this.childLeft > 0) this.spawnChild(s);
    if (k < this.config.awaits) this.aloc[s][a] = k + 1;
    else this.returnFrom(s, a);
  }

  /** A patched sync call inside an activation running version v: I1 (the same version of the set). */
  private callIn(s: number, v: number, code: number): void {
    const got = this.call(s, code);
    if (this.violation || this.forced[s]) return;
    if (versionOf(got) !== v)
      this.violation = {
        invariant: 'I1',
        detail: `${this.taskLabel(s)} runs f of version ${v} but ${codeName(code)}, called from it, ran ${codeName(got)} (version ${versionOf(got)})`,
      };
  }

  /** The entry hook: the cell's settled entry if there is one, else Runtime.redirect() asks the handler. Returns the code that runs. */
  private call(s: number, code: number): number {
    const d = this.direct.get(code);
    if (d === undefined) return this.decide.handlerAnswer(this.klp, this.taskId(s), code);
    this.shortcutUsed(s, code, d, 'the settled hook cell');
    return d;
  }

  /** A shortcut answered: it must be taken only outside transitions, and say what the handler would. */
  private shortcutUsed(s: number, code: number, used: number, what: string): void {
    if (this.violation) return;
    // (The engine's handler, which no mutation changes.)
    const real = DECISIONS.handlerAnswer(this.klp, this.taskId(s), code);
    if (this.klp.transitionPatch !== null || real !== used)
      this.violation = {
        invariant: 'I-shortcut',
        detail: `${this.taskLabel(s)} called ${codeName(code)} through ${what} (${codeName(used)})${this.klp.transitionPatch ? ` while '${this.klp.transitionPatch.name}' is in transition` : ''}; the handler says ${codeName(real)}`,
      };
  }

  /** Activation a's body returned. */
  private returnFrom(s: number, a: number): void {
    const code = this.aver[s][a];
    this.aloc[s][a] = A_DONE;
    const asyncReplacement = code < 100 && !(this.config.generator && s === 1);
    if (asyncReplacement) this.micro.push((MT_DONE << 20) | (code << 10) | s);
    else this.activationExit(s, code);
    if (this.aloc[s].every((l) => l === A_DONE)) {
      this.tloc[s] = SETTLED;
      this.micro.push((MT_CONT << 20) | s);
    }
  }

  /** ModuleRecord.x() / the replacement's done(): the activation count drops. */
  private activationExit(s: number, code: number): void {
    if (this.decide.exitActivation(this.active[s], code)) this.activationEnded(s);
  }

  /** Runtime.activationEnded(). */
  private activationEnded(s: number): void {
    if (this.closing[s] && this.active[s].size === 0) {
      this.endTask(s);
      return;
    }
    if (this.decide.kickWanted(this.klp, this.taskId(s))) this.kick(s);
  }

  private kick(s: number): void {
    if (this.kickQueued[s]) return;
    this.kickQueued[s] = true;
    this.micro.push((MT_KICK << 20) | s);
  }

  private kickRoot(): void {
    if (this.rootKickQueued) return;
    this.rootKickQueued = true;
    this.micro.push(MT_KICK_ROOT << 20);
  }

  private runMicro(m: number): void {
    const kind = m >> 20;
    const s = m & 1023;
    switch (kind) {
      case MT_DONE:
        this.activationExit(s, (m >> 10) & 1023);
        return;
      case MT_CONT:
        if (this.looping(s)) {
          // The job's next round, after an await of I/O outside patched code.
          this.tloc[s] = READY;
          this.aloc[s].fill(A_NONE);
          this.aver[s].fill(0);
        } else this.endTask(s);
        return;
      case MT_KICK:
        this.kickQueued[s] = false;
        if (this.decide.kickSwitch(this.klp, this.taskId(s), this.tloc[s] === ENDED)) this.maybeComplete();
        return;
      case MT_KICK_ROOT:
        this.rootKickQueued = false;
        if (this.decide.kickSwitch(this.klp, ROOT_TASK, false)) this.maybeComplete();
        return;
    }
  }

  /** Runtime.endTask(): Tasks.end(), then completion if the transition waits for nothing else. */
  private endTask(s: number): void {
    if (this.tloc[s] === ENDED) return;
    if (this.active[s].size > 0) {
      this.closing[s] = true;
      return;
    }
    this.tloc[s] = ENDED;
    this.forced[s] = false;
    this.decide.releaseTask(this.klp, this.taskId(s));
    if (this.klp.transitionPatch) this.maybeComplete();
  }

  private maybeComplete(): void {
    if (!this.decide.completionDue(this.klp, this.liveIds())) return;
    this.adminVerb(transitionWorkProc(CPU, ADMIN_TASK));
  }

  /** Runtime.startTask() from inside task s: the child is its copy, and must start in its state. */
  private spawnChild(s: number): void {
    this.childLeft--;
    const c = this.config.tasks;
    const parent = this.taskId(s);
    const ps = this.mem.load(CPU, addr(Var.PatchState, parent));
    const wasPending = pending(this.klp, parent);
    this.decide.startChild(this.klp, parent, this.taskId(c));
    this.tloc[c] = READY;
    const target = this.mem.load(CPU, addr(Var.Target, 0));
    const want = wasPending ? target : ps;
    const got = this.mem.load(CPU, addr(Var.PatchState, this.taskId(c)));
    const gotPending = pending(this.klp, this.taskId(c));
    if (got !== want || gotPending)
      this.violation = {
        invariant: 'I-child',
        detail: `the child of ${this.taskLabel(s)} (patch_state ${ps}${wasPending ? ', pending' : ''}, target ${target}) starts at patch_state ${got}${gotPending ? ', pending' : ', not pending'}, not ${want}`,
      };
  }

  // ---- invariants ----

  private checkInvariants(a: NodeAction): void {
    if (this.violation) return;
    const k = this.klp;
    if (k.warnings.length > this.warned) {
      this.warned = k.warnings.length;
      this.violation = { invariant: 'WARN', detail: `WARN_ON_ONCE: ${k.warnings[k.warnings.length - 1]}` };
      return;
    }
    const target = this.mem.load(CPU, addr(Var.Target, 0));
    for (let s = 0; s < this.maxTasks; s++) {
      if (!this.live(s)) continue;
      const id = this.taskId(s);
      const ps = this.mem.load(CPU, addr(Var.PatchState, id));
      // A switched task never returns into old code of a function being changed: once at the target, no
      // open activation of f may run the code the switch forbids (the engine's forbiddenCode(), what
      // its stack check looks for). Force is unsafe by design: the tasks it switched are exempt.
      if (target !== TRANSITION_IDLE && ps === target && !this.forced[s]) {
        const bad = this.forbiddenOpen(s, target);
        if (bad >= 0) {
          this.violation = {
            invariant: 'I-return',
            detail: `${this.taskLabel(s)} switched to ${target} (by ${this.label(a)}) with ${codeName(bad)} still active in it: it returns into old code`,
          };
          return;
        }
      }
      if (target === TRANSITION_IDLE && (ps !== TRANSITION_IDLE || pending(k, id))) {
        this.violation = { invariant: 'I3', detail: `${this.taskLabel(s)} has patch_state ${ps}${pending(k, id) ? ' and is pending' : ''} outside a transition` };
        return;
      }
      // Completion: while a transition runs, a task at the wrong state must be pending, or nothing would
      // switch it and the completion test (no live task pending) would pass without it.
      if (target !== TRANSITION_IDLE && ps !== target && !pending(k, id) && !this.forced[s]) {
        this.violation = { invariant: 'I-pending', detail: `${this.taskLabel(s)} is at patch_state ${ps}, target ${target}, and not pending: completion would not wait for it` };
        return;
      }
    }
  }

  /** An open activation of task s running code a switch to `target` forbids, or -1. */
  private forbiddenOpen(s: number, target: number): number {
    const patch = this.klp.transitionPatch;
    if (!patch) return -1;
    for (const obj of patch.objs) {
      if (!obj.patched) continue;
      for (const func of obj.funcs) {
        const code = forbiddenCode(this.klp, CPU, target, func);
        for (let a = 0; a < this.aloc[s].length; a++) if (this.aloc[s][a] !== A_NONE && this.aloc[s][a] !== A_DONE && this.aver[s][a] === code) return code;
      }
    }
    return -1;
  }

  // ---- capture / restore ----

  capture(out: IntVec): void {
    out.clear();
    this.mem.captureInto(out);
    captureKlp(this.klp, this.patches, this.patchNames, ['mod'], out);
    out.push(
      (this.retryArmed ? 1 : 0) |
        (this.rootKickQueued ? 2 : 0) |
        (this.modLoaded ? 4 : 0) |
        (this.childLeft << 3) |
        (this.enableLeft << 4) |
        (this.reversesLeft << 6) |
        (this.replaceLeft << 9) |
        (this.disablesLeft << 11) |
        (this.forceLeft << 13) |
        (this.moduleLeft << 15),
    );
    for (let s = 0; s < this.maxTasks; s++) {
      out.push(this.tloc[s] | (this.kickQueued[s] ? 8 : 0) | (this.closing[s] ? 16 : 0) | (this.forced[s] ? 32 : 0));
      for (let a = 0; a < this.aloc[s].length; a++) out.push(this.aloc[s][a] | (this.aver[s][a] << 8));
      const act = this.active[s];
      out.push(act.size);
      for (const code of [...act.keys()].sort((x, y) => x - y)) out.push((code << 8) | act.get(code)!);
    }
    out.push(this.micro.length);
    for (const m of this.micro) out.push(m);
    out.push(this.direct.size);
    for (const code of [...this.direct.keys()].sort((x, y) => x - y)) out.push((code << 8) | this.direct.get(code)!);
  }

  restore(data: ArrayLike<number>): void {
    let o = this.mem.restorePacked(data, 0);
    const r = this.reader.reset(data, o);
    restoreKlp(this.klp, this.patches, this.patchNames, ['mod'], r);
    o = r.at;
    this.klp.signalsCnt = 0;
    const g = data[o++];
    this.retryArmed = (g & 1) !== 0;
    this.rootKickQueued = (g & 2) !== 0;
    this.modLoaded = (g & 4) !== 0;
    this.childLeft = (g >> 3) & 1;
    this.enableLeft = (g >> 4) & 3;
    this.reversesLeft = (g >> 6) & 7;
    this.replaceLeft = (g >> 9) & 3;
    this.disablesLeft = (g >> 11) & 3;
    this.forceLeft = (g >> 13) & 3;
    this.moduleLeft = (g >> 15) & 1;
    for (let s = 0; s < this.maxTasks; s++) {
      const t = data[o++];
      this.tloc[s] = t & 7;
      this.kickQueued[s] = (t & 8) !== 0;
      this.closing[s] = (t & 16) !== 0;
      this.forced[s] = (t & 32) !== 0;
      for (let a = 0; a < this.aloc[s].length; a++) {
        const v = data[o++];
        this.aloc[s][a] = v & 255;
        this.aver[s][a] = v >> 8;
      }
      const act = this.active[s];
      act.clear();
      for (let n = data[o++]; n > 0; n--) {
        const v = data[o++];
        act.set(v >> 8, v & 255);
      }
    }
    this.micro.length = 0;
    for (let n = data[o++]; n > 0; n--) this.micro.push(data[o++]);
    this.direct.clear();
    for (let n = data[o++]; n > 0; n--) {
      const v = data[o++];
      this.direct.set(v >> 8, v & 255);
    }
    for (const p of this.patches) if (this.klp.detached.get(p.id) !== p && !this.klp.patches.includes(p)) this.klp.detached.set(p.id, p);
    this.violation = null;
    this.warned = this.klp.warnings.length;
  }

  key(buf: IntVec, fp: Fingerprint): void {
    this.capture(buf);
    fingerprint(buf.buf, 0, buf.n, fp);
  }

  /** Whether a transition is under way (what liveness asks to end). */
  inTransition(): boolean {
    return this.klp.transitionPatch !== null;
  }
}
