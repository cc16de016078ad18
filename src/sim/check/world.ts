// The world the model checker explores: a small simulated SMP machine hosting the very engine the
// runtime runs, with its whole state capturable as integers.
//
// Processes: the admin (enables the patch, then may reverse it, force it, take the hot-pluggable CPU
// down or up, load a module: each at most as often as the configuration allows, at any moment the
// checker picks), the kworker running klp_transition_work, the idle task of every possible CPU, and
// identical user tasks. A user task loops: from user mode it makes a syscall into patched function f,
// which calls patched function g (I1: both must run the same version), may sleep inside f, and returns
// to user mode through the barrier; or it sleeps freezably outside patched code (the v6.16 scheduler
// hook); the first task may fork once. Every engine step is one checker step.

import {
  buildPatch,
  copyProcess,
  enabledStoreProc,
  enableBuiltPatchProc,
  forceStoreProc,
  handlerProc,
  Klp,
  moduleComingProc,
  schedTrySwitchProc,
  runToEnd,
  St,
  step,
  transitionWorkProc,
  TRANSITION_UNPATCHED,
  updatePatchStateProc,
  where,
  type Host,
  type HostLock,
  type KlpPatch,
  type LogLevel,
  type Memory,
  type ModuleState,
  type Proc,
  type Variant,
} from '../../engine/index.js';
import { addr, ScMemory, Var } from '../../engine/memory.js';
import { captureKlp, captureProc, IntReader, IntVec, restoreKlp, restoreProc } from '../../engine/snapshot.js';
import { Fn } from '../../engine/fn.js';
import { RelaxedMemory } from '../memory.js';
import { Fingerprint, fingerprint } from './table.js';

export type MemoryModel = 'sc' | 'relaxed';

export interface WorldConfig {
  /** User tasks at boot. */
  tasks: number;
  /** Possible CPUs, each with an idle task. */
  cpus: number;
  /** The last CPU can be taken down / brought up by the admin during the run. */
  hotplug: 'none' | 'down' | 'up' | 'both';
  /** How many times the admin may reverse the transition (echo to enabled while in transition). */
  reverses: number;
  /** The first task may fork once. */
  fork: boolean;
  /** The admin may force the transition once. */
  force: boolean;
  /** Tasks may sleep inside f (so a stack check can find them there). */
  sleepInPatched: boolean;
  /** Tasks may sleep freezably outside patched code (the scheduler hook switches them). */
  freezableSleep: boolean;
  /** The admin loads a module the patch has an object for, once, at a moment the checker picks. */
  moduleLoad: boolean;
  /**
   * Lean tasks (the SPIN comparison's protocol): a task makes syscalls that touch no patched code and
   * crosses the barrier on return, or enters f (the handler as one step) and sleeps there. No g, so no
   * I1 check; every other invariant holds.
   */
  lean: boolean;
  /** Syscalls each task makes before it stays in user mode for good (0: no limit). */
  rounds: number;
  /** The patch is enabled and its transition complete at boot (the admin starts from there). */
  prepatched: boolean;
  /** How many times the admin may disable the patch once it is fully applied. */
  disables: number;
  /** Under relaxed memory, the addresses whose stores may be delayed (absent: all). */
  litmus?: readonly number[];
  /**
   * User tasks are CPU-bound: in user mode a task is running, not blocked, so no stack check can switch
   * it and nothing schedules it in (no barrier) before its next step; its freezable sleeps stand for
   * cond_resched() in a CPU-bound kthread, the caller the scheduler hook was written for.
   */
  cpuBound?: boolean;
  /** The patch is the seed's `immediate` kind (variant v3 only: no per-task transition). */
  immediate?: boolean;
  /**
   * klp_have_reliable_stack() (absent: true). Without reliable stacks only a task's own safe points (its
   * flag, at the barrier or in the scheduler hook) and force switch it: the liveness check needs this to
   * show what `wmb-reverse` is for.
   */
  reliableStack?: boolean;
  /**
   * Walks of the task list follow the list order, as in the kernel, instead of the canonical order
   * of walkPicks(). The symmetry key is exact only with the canonical order; this is for comparing
   * unreduced spaces with a model that walks in list order (bench/spin/livepatch.pml).
   */
  listOrder?: boolean;
  variant: Variant;
  memory: MemoryModel;
  drop: readonly string[];
}

// User task program locations.
const U = 0; // user mode, blocked outside patched code
const IN_F_HANDLER = 1;
const IN_F = 2;
const IN_G_HANDLER = 3;
const RETURNING = 4;
const SLEEP_FREEZABLE = 5;
const SLEEP_IN_F = 6;
const BARRIER = 7;
const FORKING = 8;
const UNBORN = 9;

const PC_NAMES = ['user', 'handler(f)', 'in f', 'handler(g)', 'return', 'sleep(freezable)', 'sleep in f', 'barrier', 'fork', 'unborn'];

/** A step the checker can take: which process, and which of its choices. */
export interface Action {
  /** Process index: 0 admin, 1 kworker, 2.. idle tasks, then user tasks; -1/-2 weak-memory steps. */
  proc: number;
  /** Process-specific choice: 0 = the next step of the verb it is in. */
  choice: number;
}

// A user task's choices.
const CH_MAIN = 1;
const CH_SLEEP = 2;
export const CH_FORK = 3;

export interface Violation {
  invariant: string;
  detail: string;
}

/** One step as a trace prints it. */
export interface StepRecord {
  cpu: number;
  actor: string;
  what: string;
  accesses: string[];
}

export const ADMIN = 0;
export const WORKER = 1;
/** Footprints: a bit per process whose steps a step depends on (a user or idle task), and HOTPLUG. */
export const NONE = 0;
/** The admin's CPU hotplug actions (they need no klp_mutex, so they can run beside the kworker). */
export const HOTPLUG = 1 << 30;
/** Anything another process's step could read or write. */
export const GLOBAL = -1;

/** Verbs whose steps touch task cells and read, but never write, what tasks read. */
const TASK_VERBS: ReadonlySet<number> = new Set([
  Fn.InitTransition,
  Fn.StartTransition,
  Fn.TrySwitchTask,
  Fn.TryCompleteTransition,
  Fn.CompleteTransition,
  Fn.ReverseTransition,
  Fn.UpdatePatchState,
  Fn.SendSignals,
  Fn.ForceTransition,
]);

/**
 * Verb positions, between steps, whose next step asks taskAt() for the task at the frame's loop index
 * plus the offset given (pc: offset): after a call returns, the step that follows moves the loop on
 * and asks for the next task in one (local work merges into the next visible step).
 */
const WALK_STEPS: Partial<Record<Fn, Readonly<Record<number, number>>>> = {
  [Fn.InitTransition]: { 2: 0 },
  [Fn.StartTransition]: { 1: 0 },
  [Fn.TryCompleteTransition]: { 1: 0, 2: 1 },
  [Fn.CompleteTransition]: { 7: 0 },
  [Fn.ReverseTransition]: { 1: 0 },
  [Fn.ForceTransition]: { 1: 0, 2: 1 },
  [Fn.SendSignals]: { 1: 0 },
};

/** Whether a frame of verb `fn` has a task as its argument `a`. */
const namesTask = (fn: number): boolean => fn === Fn.TrySwitchTask || fn === Fn.UpdatePatchState;

// A user task's place in the current walk of the task list.
const UNVISITED = 0;
const AT = 1; // the task at the walk's loop index
const PASSED = 2;

/** An admin or kworker choice >= WALK_PICK: its step's walk goes on at task (choice - WALK_PICK). */
const WALK_PICK = 16;
/** No walk choice offered: a step asking for a task no walk has visited yet is a bug. */
const NO_PICK = -1;
/** At boot (one deterministic run, not explored): the walks follow the list order. */
const LIST_ORDER = -2;

/** The modules the World can load. */
const MODULES: readonly string[] = ['mod'];

export class World implements Host {
  readonly klp: Klp;
  readonly mem: Memory;
  readonly patch: KlpPatch;
  private readonly patches: KlpPatch[];
  private readonly patchNames: string[];
  readonly maxTasks: number;
  readonly code: { f: number; g: number; newF: number; newG: number; m: number; newM: number };
  private readonly opsF: number;
  private readonly opsG: number;

  // ---- state (all captured) ----
  /** Per user task: location, and the version of f it runs (code id) while in f. */
  readonly pc: number[] = [];
  readonly vf: number[] = [];
  /** Per user task: syscalls left (when the configuration bounds them). */
  readonly left: number[] = [];
  /** Per process: the engine verb it is in. */
  readonly procs: (Proc | null)[] = [];
  readonly online: boolean[] = [];
  private readers: Record<HostLock, number> = { tasklist: 0, cpus: 0 };
  workQueued = false;
  /** Admin: 0 before enable, 1 enabling, 2 free. Budgets left for the optional actions. */
  adminPc = 0;
  reversesLeft: number;
  forceLeft: number;
  downLeft: number;
  upLeft: number;
  moduleLeft: number;
  forkLeft: number;
  disablesLeft: number;
  /** Tasks in the task list (user tasks that exist), in creation order. */
  readonly taskList: number[] = [];
  /**
   * Per user task: UNVISITED, AT or PASSED in the walk of the task list under way (at most one: the
   * walks run under klp_mutex). Walks visit the tasks in an order that depends on their states (see
   * walkPicks(): no violation of the kernel's list order is lost), so the visited set, not list
   * positions, is all a walk remembers, and it belongs to each task, which makes the symmetry
   * reduction exact inside walks too.
   */
  readonly walk: number[] = [];
  /** Tasks switched by force: their consistency is not guaranteed (force is unsafe by design). */
  forcedTasks = 0;
  /**
   * Set once a force went through while unpatching: tasks may still run the patch's code, so its module
   * must stay pinned (klp_patch.forced set, the module reference never dropped) for good (I8).
   */
  pinned = false;

  // ---- per step ----
  /**
   * What the last step touched beyond its own process: a bit set of the processes whose steps it
   * depends on (bit i: process i, a user or idle task whose fields it read or wrote; HOTPLUG: the
   * hotplug actions, through CPU online or the cpus lock), NONE, or GLOBAL (anything another
   * process's step could read or write). Reading the globals only the admin and kworker write (the
   * target, func transition flags, func stacks) does not count.
   */
  footprint = NONE;
  /** The processes whose task cells the last step read (and did not write): see selfWrites(). */
  private readMask = 0;
  violation: Violation | null = null;
  private warned = 0;
  trace: StepRecord[] | null = null;

  // ---- scratch space, so that a step, a capture and a restore allocate nothing ----
  private readonly reader = new IntReader();
  private readonly sig = new IntVec();
  private readonly taskFp = new Fingerprint();
  /**
   * The parts of the last symmetric key: the fingerprint of everything but the tasks (2 words), the
   * tasks the admin's and the kworker's verbs are aimed at (2), then each task's own fingerprint (2
   * each), then for each task what other processes' steps can change of its own fields (1 each, see
   * reach()). A search keeps them per state, so that after a step of one task only its part is
   * redone, and after another process's step only the parts of the tasks whose reach() changed.
   */
  readonly keyParts: Uint32Array;
  /**
   * The user task whose step the last one was, when it changed nothing but that task's own fields (not
   * a fork), else -1: the key then needs only that task's part redone, and the invariants over every
   * task only that task's conjuncts checked (they held before the step).
   */
  lastLocal = -1;
  /** Whether the last step was a user task's (a fork included). */
  lastByTask = false;
  /** The user task whose step alone came before the quiet lead steps merged into it (run()), or -1. */
  private movedTask = -1;
  /**
   * Merge quiet lead steps into the step before them (quietLead()). Sound only under the partial-order
   * reduction, which would take such a step alone anyway: dfs() sets it for its search and puts it back
   * after; the unreduced search and the other strategies take every step on its own.
   */
  mergeQuiet = false;
  /**
   * When set, run() appends the index, among actions(), of each quiet step it merges: with the index
   * of the step itself before it, that is the path a replay token names.
   */
  mergeLog: number[] | null = null;
  /** Quiet lead steps that turned out not to be (mergeStep() fell back to the unmerged step), since construction. */
  quietFallbacks = 0;
  /** The state before a merged step, to fall back to. */
  private readonly unmerged = new IntVec();
  /** Whether keyParts are this state's (made by a symmetric key since the last step or restore). */
  private keyFresh = false;
  /** Per process slot: the last proc object it held, for restore() to overwrite. */
  private readonly spare: (Proc | null)[] = [];
  private readonly acts: Action[][] = [];
  /** task->patch_state of every user task before the step (for I5). */
  private readonly before: Int32Array;
  /** The task the current step's walk goes on at, or NO_PICK / LIST_ORDER. */
  private walkPick = NO_PICK;

  constructor(readonly config: WorldConfig) {
    this.maxTasks = config.tasks + (config.fork ? 1 : 0);
    const ncells = (this.maxTasks + config.cpus + 2) * 8 + 64;
    this.mem = config.memory === 'relaxed' ? new RelaxedMemory(config.cpus, ncells, config.litmus) : new ScMemory();
    this.klp = new Klp(this, this.traced(this.mem), config.variant);
    this.klp.drop = new Set(config.drop);
    this.code = { f: 1, g: 2, newF: 11, newG: 12, m: 3, newM: 13 };
    const objs = [
      {
        funcs: [
          { oldName: 'f', newFunc: this.code.newF },
          { oldName: 'g', newFunc: this.code.newG },
        ],
      },
      ...(config.moduleLoad ? [{ name: 'mod', funcs: [{ oldName: 'm', newFunc: this.code.newM }] }] : []),
    ];
    this.patch = buildPatch(this.klp, { name: 'p', objs, immediate: config.immediate });
    this.patches = [this.patch];
    this.patchNames = this.patches.map((p) => p.name);
    this.opsF = this.klp.opsFor(this.code.f);
    this.opsG = this.klp.opsFor(this.code.g);
    this.klp.opsFor(this.code.m);
    for (let t = 0; t < this.maxTasks + config.cpus + 2; t++) this.klp.initTask(t);
    for (let t = 0; t < this.maxTasks; t++) {
      this.pc.push(t < config.tasks ? U : UNBORN);
      this.vf.push(0);
      this.left.push(config.rounds);
      this.walk.push(UNVISITED);
      if (t < config.tasks) this.taskList.push(t);
    }
    for (let c = 0; c < config.cpus; c++) this.online.push(!(c === config.cpus - 1 && (config.hotplug === 'up' || config.hotplug === 'both') && config.cpus > 1));
    for (let i = 0; i < 2 + config.cpus + this.maxTasks; i++) {
      this.procs.push(null);
      this.spare.push(null);
    }
    this.before = new Int32Array(this.maxTasks);
    this.keyParts = new Uint32Array(4 + 3 * this.maxTasks);
    this.reversesLeft = config.reverses;
    this.forceLeft = config.force ? 1 : 0;
    this.downLeft = config.hotplug === 'down' || config.hotplug === 'both' ? 1 : 0;
    this.upLeft = config.hotplug === 'up' || config.hotplug === 'both' ? 1 : 0;
    this.moduleLeft = config.moduleLoad ? 1 : 0;
    this.forkLeft = config.fork ? 1 : 0;
    this.disablesLeft = config.disables;
    // Memory is coherent at boot: nothing from the set-up is still in flight.
    this.drain();
    if (config.prepatched) this.bootPatched();
  }

  private drain(): void {
    for (let c = 0; c < this.config.cpus; c++) this.mem.mb(c);
    for (let c = 0; c < this.config.cpus; c++) this.mem.rmb(c);
  }

  /** Enable the patch straight through at boot and let every task switch. */
  private bootPatched(): void {
    const task = this.adminTask();
    this.walkPick = LIST_ORDER;
    this.klp.detached.set(this.patch.id, this.patch);
    runToEnd(this.klp, enableBuiltPatchProc(this.klp, 0, task, this.patch));
    this.drain();
    for (let c = 0; c < this.config.cpus; c++) runToEnd(this.klp, updatePatchStateProc(c, this.idleId(c)));
    this.drain();
    runToEnd(this.klp, transitionWorkProc(0, task + 1));
    this.drain();
    if (this.klp.transitionPatch) throw new Error('check model: the boot-time patch did not complete');
    this.walkPick = NO_PICK;
    this.workQueued = false;
    this.adminPc = 2;
  }

  // ---- identities ----

  get nprocs(): number {
    return this.procs.length;
  }
  idleId(cpu: number): number {
    return this.maxTasks + cpu;
  }
  private adminTask(): number {
    return this.maxTasks + this.config.cpus;
  }
  taskOfProc(i: number): number {
    if (i === ADMIN) return this.adminTask();
    if (i === WORKER) return this.adminTask() + 1;
    if (i < 2 + this.config.cpus) return this.idleId(i - 2);
    return i - 2 - this.config.cpus;
  }
  /** The CPU a process runs on: admin and kworker on CPU 0, idle tasks on theirs, user tasks spread over the CPUs that never go down. */
  cpuOfProc(i: number): number {
    if (i < 2) return 0;
    if (i < 2 + this.config.cpus) return i - 2;
    const stable = this.config.cpus - (this.config.hotplug === 'none' ? 0 : 1);
    return stable > 1 ? 1 + ((i - 2 - this.config.cpus) % (stable - 1)) : 0;
  }
  procName(i: number): string {
    if (i === ADMIN) return 'admin';
    if (i === WORKER) return 'kworker';
    if (i < 2 + this.config.cpus) return `idle${i - 2}`;
    return `task${i - 2 - this.config.cpus}`;
  }

  // ---- Host ----

  taskCount(): number {
    return this.taskList.length;
  }
  /**
   * The walk's loop index i names the task the walk is at (i = visited - 1) or the next one, which the
   * step's action picked among the unvisited (i = visited). The walk ends with the tasklist lock.
   */
  taskAt(i: number): number {
    let visited = 0;
    let at = -1;
    for (const t of this.taskList) {
      if (this.walk[t] !== UNVISITED) visited++;
      if (this.walk[t] === AT) at = t;
    }
    if (i === visited - 1 && at >= 0) return at;
    if (i !== visited) throw new Error(`check world: a walk asked for position ${i} with ${visited} tasks visited`);
    const next = this.walkPick === LIST_ORDER || this.config.listOrder ? this.taskList.find((t) => this.walk[t] === UNVISITED)! : this.walkPick;
    if (next < 0 || this.walk[next] !== UNVISITED) throw new Error(`check world: a walk went on at task ${next}, not an unvisited one`);
    if (at >= 0) this.walk[at] = PASSED;
    this.walk[next] = AT;
    if (this.walkPick !== LIST_ORDER) this.walkPick = NO_PICK;
    return next;
  }

  /** Whether process i's next step goes on with its walk of the task list at a task still to visit. */
  private walkGoesOn(i: number): boolean {
    const p = this.procs[i];
    if (!p || this.config.listOrder) return false;
    const f = p.frames[p.frames.length - 1];
    const offset = WALK_STEPS[f.fn as Fn]?.[f.pc];
    if (offset === undefined) return false;
    let visited = 0;
    for (const t of this.taskList) if (this.walk[t] !== UNVISITED) visited++;
    return f.i + offset === visited && visited < this.taskList.length;
  }
  possibleCpus(): number {
    return this.config.cpus;
  }
  idleTask(cpu: number): number {
    return this.idleId(cpu);
  }
  cpuOnline(cpu: number): boolean {
    // Constant unless hotplug can change it.
    if (cpu === this.hotCpu && this.hotplugPossible()) this.footprint |= this.hotplugGroup();
    return this.online[cpu];
  }
  taskRunningElsewhere(task: number, current: number): boolean {
    // Whether an idle task runs is whether its CPU is online, which hotplug writes (touch() adds it).
    this.touch(task);
    if (task === current) return false;
    if (task >= this.maxTasks) return this.online[task - this.maxTasks]; // an online CPU runs its idle task
    // A task inside a verb is running it: the scheduler hook runs before its task goes to sleep.
    if (this.procs[2 + this.config.cpus + task]) return true;
    const pc = this.pc[task];
    if (pc === U) return this.config.cpuBound === true;
    return pc !== SLEEP_FREEZABLE && pc !== SLEEP_IN_F && pc !== UNBORN;
  }
  taskName(task: number): string {
    return task >= this.maxTasks ? `swapper/${task - this.maxTasks}:${task}` : `task${task}:${task}`;
  }
  isKthread(task: number): boolean {
    return task >= this.maxTasks;
  }
  stackOf(task: number): readonly number[] | null {
    this.touch(task);
    if (task >= this.maxTasks) return [];
    const pc = this.pc[task];
    return pc === IN_F || pc === SLEEP_IN_F || pc === IN_G_HANDLER ? [this.vf[task]] : [];
  }
  haveReliableStack(): boolean {
    return this.config.reliableStack !== false;
  }
  tryReadLock(lock: HostLock): boolean {
    this.lockTouch(lock);
    if (this.readers[lock] < 0) return false;
    this.readers[lock]++;
    return true;
  }
  readUnlock(lock: HostLock): void {
    this.lockTouch(lock);
    this.readers[lock]--;
    // Every walk of the task list, and nothing else, holds the tasklist read lock.
    if (lock === 'tasklist') for (const t of this.taskList) this.walk[t] = UNVISITED;
  }
  cpuCanSchedule(cpu: number): boolean {
    // It reads whether any task on the CPU has preemption off: it depends on every such task's steps
    // (entering or leaving updatePatchState()); the admin and the kworker hold klp_mutex for a whole
    // verb, so the other one is not inside one.
    for (let i = 2; i < this.nprocs; i++) if (this.cpuOfProc(i) === cpu) this.touch(this.taskOfProc(i));
    for (let i = 0; i < this.nprocs; i++) if (this.cpuOfProc(i) === cpu && (this.procs[i]?.preemptOff ?? 0) > 0) return false;
    return true;
  }
  scheduleRetry(): void {
    // Only the kworker reads it, and it cannot start while the caller holds klp_mutex.
    this.workQueued = true;
  }
  signalTask(): void {
    // Every sleeper can already be woken at any step: a fake signal adds no behaviour.
  }
  wakeUpIfIdle(): void {}
  log(level: LogLevel, line: string): void {
    if (this.trace && level !== 'trace') this.trace[this.trace.length - 1]?.accesses.push(`log: ${line}`);
  }
  lookupSymbol(obj: string, name: string): readonly number[] {
    if (obj === 'vmlinux') return name === 'f' ? [this.code.f] : name === 'g' ? [this.code.g] : [];
    if (obj === 'mod' && this.klp.liveModules.has('mod')) return name === 'm' ? [this.code.m] : [];
    return [];
  }
  moduleState(obj: string): ModuleState | null {
    return obj === 'mod' ? 'MODULE_STATE_COMING' : null;
  }

  // ---- actions ----

  /** The one Action object for (proc, choice) of a process: actions() allocates none of its own. */
  private act(proc: number, choice: number): Action {
    const row = (this.acts[proc] ??= []);
    return (row[choice] ??= { proc, choice });
  }

  /** Every step that can be taken now (a blocked one is found out only by trying it). */
  actions(): Action[] {
    const out: Action[] = [];
    const c = this.config;
    // Admin.
    if (this.walkGoesOn(ADMIN)) this.walkPicks(ADMIN, out);
    else if (this.procs[ADMIN]) out.push(this.act(ADMIN, 0));
    else if (this.adminPc === 0) out.push(this.act(ADMIN, 1));
    else if (this.adminPc === 2) {
      const inTransition = this.klp.transitionPatch !== null;
      if (inTransition && this.reversesLeft > 0) out.push(this.act(ADMIN, 2));
      if (inTransition && this.forceLeft > 0) out.push(this.act(ADMIN, 3));
      if (this.downLeft > 0 && this.online[c.cpus - 1]) out.push(this.act(ADMIN, 4));
      if (this.upLeft > 0 && !this.online[c.cpus - 1]) out.push(this.act(ADMIN, 5));
      if (this.moduleLeft > 0) out.push(this.act(ADMIN, 6));
      if (this.disablesLeft > 0 && !inTransition && this.klp.patches.includes(this.patch)) out.push(this.act(ADMIN, 7));
    }
    // The kworker.
    if (this.walkGoesOn(WORKER)) this.walkPicks(WORKER, out);
    else if (this.procs[WORKER] || this.workQueued) out.push(this.act(WORKER, 0));
    // Idle tasks of online CPUs: their loop switches them when flagged.
    for (let cpu = 0; cpu < c.cpus; cpu++) {
      const i = 2 + cpu;
      if (this.online[cpu] && (this.procs[i] || this.mem.load(cpu, addr(Var.Pending, this.idleId(cpu))))) out.push(this.act(i, 0));
    }
    // User tasks.
    for (let t = 0; t < this.maxTasks; t++) {
      const i = 2 + c.cpus + t;
      const pc = this.pc[t];
      if (pc === UNBORN) continue;
      if (this.procs[i]) {
        out.push(this.act(i, 0));
        continue;
      }
      switch (pc) {
        case U:
          if (c.rounds > 0 && this.left[t] === 0) break;
          out.push(this.act(i, CH_MAIN));
          if (c.lean ? c.sleepInPatched : c.freezableSleep) out.push(this.act(i, CH_SLEEP));
          if (t === 0 && this.forkLeft > 0) out.push(this.act(i, CH_FORK));
          break;
        case IN_F:
          out.push(this.act(i, CH_MAIN));
          if (c.sleepInPatched) out.push(this.act(i, CH_SLEEP));
          break;
        case RETURNING:
        case SLEEP_FREEZABLE:
        case SLEEP_IN_F:
          out.push(this.act(i, CH_MAIN));
          break;
        case FORKING:
          out.push(this.act(i, CH_FORK));
          break;
      }
    }
    // Weak memory: a store becomes visible, or a CPU takes in another's store.
    if (this.mem instanceof RelaxedMemory) {
      for (let cpu = 0; cpu < c.cpus; cpu++) {
        for (const k of this.mem.flushable(cpu)) out.push({ proc: -1, choice: cpu * 1024 + k });
        for (const k of this.mem.appliable(cpu)) out.push({ proc: -2, choice: cpu * 1024 + k });
      }
    }
    return out;
  }

  /**
   * Of the actions, those that do not just mirror another's under the symmetry of identical tasks: a
   * user task's steps are left out when an earlier task has the same own part of the key (keyParts,
   * which must be this state's): swapping the two maps the state to itself and the one's successors
   * to the other's, which have the same key.
   */
  representatives(actions: Action[]): Action[] {
    const base = 2 + this.config.cpus;
    let kept: Action[] | null = null;
    for (let j = 0; j < actions.length; j++) {
      const x = actions[j];
      const mirror = x.proc >= base && this.mirrors(x.proc - base);
      if (mirror && kept === null) kept = actions.slice(0, j);
      else if (!mirror && kept !== null) kept.push(x);
    }
    return kept ?? actions;
  }

  /** Whether an earlier task has the same own part of the key as task k. */
  private mirrors(k: number): boolean {
    const parts = this.keyParts;
    for (let j = 0; j < k; j++) if (parts[4 + 2 * j] === parts[4 + 2 * k] && parts[5 + 2 * j] === parts[5 + 2 * k]) return true;
    return false;
  }

  /**
   * The next step of process i, going on with its walk at one unvisited task: one whose visit is quiet
   * (quietVisit(): it only looks at what nothing but the walker changes) if there is one, and among
   * those to choose from the one whose own state (its part of the key) is least, ties to the lowest
   * id. A visit touches only the task visited, so visits to different tasks commute with each
   * other and with every other task's steps, and a walk visits every task: any run whose walks visit
   * in another order (the kernel's list order included) has a twin that visits in this order, with
   * each task's own history, and each invariant's view of it, unchanged. The choice depends on the
   * tasks' states only, not their names, so the symmetry of identical tasks stays exact; and a walk
   * only ever offers one step, so a persistent set holds only the task visited, not every task that
   * could have been.
   */
  private walkPicks(i: number, out: Action[]): void {
    const p = this.procs[i]!;
    out.push(this.act(i, WALK_PICK + this.walkNext(p.frames[p.frames.length - 1].fn)));
  }

  /** The unvisited task the walk of verb `fn` goes on at (see walkPicks()). */
  private walkNext(fn: Fn): number {
    let best = -1;
    let h1 = 0;
    let h2 = 0;
    let inert = false;
    for (const t of this.taskList) {
      if (this.walk[t] !== UNVISITED) continue;
      const still = this.quietVisit(fn, t);
      if (inert && !still) continue;
      if (still && !inert) {
        inert = true;
        best = -1;
      }
      // Its part of this state's key if that is made (no verb is aimed at an unvisited task), else anew.
      let f1: number;
      let f2: number;
      if (this.keyFresh && !((this.keyParts[2] | this.keyParts[3]) & (1 << t))) {
        f1 = this.keyParts[4 + 2 * t];
        f2 = this.keyParts[5 + 2 * t];
      } else {
        this.taskFingerprint(t, 0, 0);
        f1 = this.taskFp.h1;
        f2 = this.taskFp.h2;
      }
      if (best < 0 || f1 < h1 || (f1 === h1 && f2 < h2)) {
        best = t;
        h1 = f1;
        h2 = f2;
      }
    }
    return best;
  }

  /** An unvisited task the walk of verb `fn` would only look at (see quietVisit()), or -1. */
  private quietUnvisited(fn: Fn): number {
    for (const t of this.taskList) if (this.walk[t] === UNVISITED && this.quietVisit(fn, t)) return t;
    return -1;
  }

  /**
   * Whether the visit of the walk of verb `fn` to task t only reads what nothing but the walker can
   * change (or writes what is there already): try-complete and start skip a task at the target, the
   * reverse clears a flag; the task must have no flag and be in no verb (selfWrites()).
   */
  private quietVisit(fn: Fn, t: number): boolean {
    if (this.selfWrites(t)) return false;
    if (fn === Fn.ReverseTransition) return true;
    return (
      (fn === Fn.TryCompleteTransition || fn === Fn.StartTransition) &&
      this.mem.load(0, addr(Var.PatchState, t)) === this.mem.load(0, addr(Var.Target, 0))
    );
  }

  /** Whether `a` is the admin taking the hot-pluggable CPU down or up (which needs no klp_mutex). */
  isHotplug(a: Action): boolean {
    return a.proc === ADMIN && !this.procs[ADMIN] && (a.choice === 4 || a.choice === 5);
  }

  /** What an action does, said before it is taken (for traces). */
  label(a: Action): string {
    if (a.proc === -1) return `cpu${a.choice >> 10}: a buffered store becomes visible`;
    if (a.proc === -2) return `cpu${a.choice >> 10}: takes in another CPU's store`;
    const name = this.procName(a.proc);
    if (a.choice >= WALK_PICK) return `${name} (walk on at task${a.choice - WALK_PICK})`;
    if (a.choice === 0) return this.procs[a.proc] ? name : a.proc === WORKER ? `${name}: klp_transition_work` : `${name}: idle loop`;
    if (a.proc === ADMIN) {
      const cpu = this.config.cpus - 1;
      return `admin: ${['', 'insmod p.ko (enable)', 'echo 0 > enabled (reverse)', 'echo 1 > force', `cpu${cpu} down`, `cpu${cpu} up`, 'insmod mod.ko', 'echo 0 > enabled (disable)'][a.choice]}`;
    }
    const t = this.taskOfProc(a.proc);
    const pc = this.pc[t];
    if (a.choice === CH_FORK) return `${name}: fork`;
    switch (pc) {
      case U:
        if (this.config.lean) return a.choice === CH_MAIN ? `${name}: syscall` : `${name}: syscall, sleeps in f`;
        return a.choice === CH_MAIN ? `${name}: syscall into f` : `${name}: sleeps (freezable)`;
      case IN_F:
        return a.choice === CH_MAIN ? `${name}: f calls g` : `${name}: sleeps in f`;
      case RETURNING:
        return `${name}: returns to user mode`;
      default:
        return `${name}: wakes up`;
    }
  }

  /**
   * Take a step (with mergeQuiet, followed by the quiet lead steps it leaves next). False when it is
   * blocked (and then nothing changed).
   */
  run(a: Action): boolean {
    this.movedTask = -1;
    if (!this.runStep(a)) return false;
    if (this.mergeQuiet) for (let b = this.quietLead(); b && !this.violation; b = this.quietLead()) if (!this.mergeStep(b)) break;
    return true;
  }

  /**
   * Take the quiet next step `b` of a lead (quietLead()) as part of the step just taken. What the step
   * touched stays what the first one did; the key is then made as after a lead step, with the part of
   * the task that took the first one (if one did) made anew too.
   */
  private mergeStep(b: Action): boolean {
    const footprint = this.footprint;
    const local = this.lastLocal;
    const byTask = this.lastByTask;
    // The prediction is checked once the step is taken; to fall back, the state before it is kept.
    this.capture(this.unmerged);
    const logged = this.mergeLog?.length ?? 0;
    this.mergeLog?.push(this.actions().indexOf(b));
    const ran = this.runStep(b);
    if (!ran || this.footprint !== NONE) {
      // Not quiet here (the engine does more than quietLead() predicted, e.g. sends signals on every
      // failed attempt): the step before stands alone, and the state it left is stored and expanded
      // like any other, with b among its steps.
      if (ran) this.trace?.pop();
      if (this.mergeLog) this.mergeLog.length = logged;
      this.restore(this.unmerged.buf);
      this.quietFallbacks++;
      this.footprint = footprint;
      this.lastLocal = local;
      this.lastByTask = byTask;
      return false;
    }
    this.footprint = footprint;
    if (local >= 0) this.movedTask = local;
    // After a fork the key is made anew whole.
    this.lastByTask = byTask && local < 0;
    return true;
  }

  /**
   * The next step of the admin or the kworker (holding klp_mutex), when it is known before it is taken
   * to be quiet: its only form, never blocked, touching no task and no lock or CPU another process
   * waits for, and changing none of the invariants' inputs. At such a state that step alone is a
   * persistent set (dfs.ts), and the state before it is not worth storing: the step is merged into
   * the one before (mergeQuiet). These are the steps of klp_try_complete_transition() that take and
   * drop its locks, or give up until the retry; mergeStep() checks each prediction once taken. Else
   * null.
   */
  private quietLead(): Action | null {
    const owner = this.klp.mutexOwner;
    const i = owner === null ? -1 : owner === this.procs[ADMIN] ? ADMIN : owner === this.procs[WORKER] ? WORKER : -1;
    if (i < 0) return null;
    const frames = owner!.frames;
    const f = frames[frames.length - 1];
    if (f.fn !== Fn.TryCompleteTransition) return null;
    const cpus = this.config.cpus;
    let quiet: boolean;
    switch (f.pc) {
      case 0: // read_lock(&tasklist_lock), which only a fork waits for
        quiet = this.forkLeft === 0 && this.readers.tasklist >= 0;
        break;
      case 1:
      case 2:
        if (this.walkGoesOn(i)) return null;
        // The walk is over (its next ask is past the last task): read_unlock(&tasklist_lock).
        quiet = this.forkLeft === 0 && f.i + WALK_STEPS[Fn.TryCompleteTransition]![f.pc] >= this.taskList.length;
        break;
      case 3: // cpus_read_lock(), which only hotplug waits for
        quiet = !this.hotplugAhead() && this.readers.cpus >= 0;
        break;
      case 4: // every idle task checked: cpus_read_unlock() (at pc 5 the loop index moves on first)
      case 5:
        quiet = !this.hotplugAhead() && f.i + (f.pc === 5 ? 1 : 0) >= cpus;
        break;
      case 7: {
        // Not complete: queue the retry, return, and the caller drops klp_mutex.
        const caller = frames.length === 2 ? frames[0].fn : -1;
        quiet = !f.b && (caller === Fn.TransitionWork || caller === Fn.EnablePatch);
        break;
      }
      default:
        quiet = false;
    }
    return quiet ? this.act(i, 0) : null;
  }

  private runStep(a: Action): boolean {
    this.keyFresh = false;
    if (this.trace) this.trace.push({ cpu: a.proc >= 0 ? this.cpuOfProc(a.proc) : a.choice >> 10, actor: a.proc >= 0 ? this.procName(a.proc) : 'memory', what: this.label(a), accesses: [] });
    this.lastLocal = a.proc >= 2 + this.config.cpus && a.choice !== CH_FORK ? this.taskOfProc(a.proc) : -1;
    this.lastByTask = a.proc >= 2 + this.config.cpus;
    // (I5 compares with these; after a task's step alone it looks at that task only.)
    if (this.lastLocal >= 0) this.before[this.lastLocal] = this.mem.load(0, addr(Var.PatchState, this.lastLocal));
    else for (let t = 0; t < this.maxTasks; t++) this.before[t] = this.mem.load(0, addr(Var.PatchState, t));
    const top = a.proc >= 0 ? this.procs[a.proc]?.frames[this.procs[a.proc]!.frames.length - 1] : undefined;
    // Only these verbs' steps are known to write nothing a task reads but task cells in Memory; so
    // is the kworker's first step (mutex_lock and a look at klp_transition_patch).
    this.footprint = (top ? TASK_VERBS.has(top.fn) : a.proc === WORKER) ? NONE : GLOBAL;
    this.readMask = 0;
    const lead = a.proc === ADMIN || a.proc === WORKER;
    // A step of klp_force_transition() while unpatching: once it returns, the patch must stay pinned.
    const unforcing = a.proc === ADMIN && this.inVerb(ADMIN, Fn.ForceTransition, Infinity) && this.mem.load(0, addr(Var.Target, 0)) === TRANSITION_UNPATCHED;
    const guards = lead ? this.guards() : 0;
    const engine = lead ? this.engineSeen() : 0;
    const ok = this.runAction(a);
    if (!ok) {
      this.trace?.pop();
      return false;
    }
    if (unforcing && !this.inVerb(ADMIN, Fn.ForceTransition, Infinity)) this.pinned = true;
    // A step that switches an invariant on or off for every task is visible (the partial-order
    // reduction's visibility condition): a persistent set must not postpone other tasks' steps past it.
    if (lead && (this.guards() !== guards || this.engineSeen() !== engine)) this.footprint = GLOBAL;
    else if (this.readMask !== 0 && this.footprint !== GLOBAL) {
      for (let i = 2; i < this.nprocs; i++) {
        const t = this.taskOfProc(i);
        if (this.readMask & (1 << i) && this.selfWrites(t)) this.touch(t);
      }
    }
    if (this.trace && a.proc >= 0 && this.procs[a.proc]) this.trace[this.trace.length - 1].what += ` -> ${where(this.procs[a.proc]!)}`;
    // Fake signals add no behaviour here (any sleeper may wake at any step anyway), so the attempt
    // counter is not part of the state: kept at 0, no signal is ever sent and no two states differ
    // by how many retries led to them.
    this.klp.signalsCnt = 0;
    this.checkInvariants(a);
    return true;
  }

  private runAction(a: Action): boolean {
    if (a.proc === -1) {
      (this.mem as RelaxedMemory).flush(a.choice >> 10, a.choice & 1023);
      return true;
    }
    if (a.proc === -2) {
      (this.mem as RelaxedMemory).apply(a.choice >> 10, a.choice & 1023);
      return true;
    }
    const i = a.proc;
    if (this.procs[i]) {
      if (a.choice < WALK_PICK) return this.stepProc(i);
      this.walkPick = a.choice - WALK_PICK;
      const ok = this.stepProc(i);
      if (this.walkPick !== NO_PICK) throw new Error(`check world: ${this.procName(i)} did not go on at the task picked`);
      return ok;
    }
    if (i === ADMIN) return this.adminStart(a.choice);
    if (i === WORKER) {
      if (this.klp.mutexOwner) return false;
      this.workQueued = false;
      this.start(i, transitionWorkProc(0, this.taskOfProc(i)));
      return true;
    }
    if (i < 2 + this.config.cpus) {
      this.start(i, updatePatchStateProc(i - 2, this.idleId(i - 2)));
      return true;
    }
    return this.taskStart(i, a.choice);
  }

  /**
   * Enter a verb and take its first step at once: entering is local to the process (nothing else can
   * see it), so it merges into the first visible step. Verbs that begin by taking klp_mutex are only
   * entered while it is free (their callers check), so this first step never blocks.
   */
  private start(i: number, p: Proc): void {
    p.cpu = this.cpuOfProc(i);
    this.procs[i] = p;
    if (!this.stepProc(i)) throw new Error(`check world: ${this.procName(i)} blocked entering ${where(p)}`);
  }

  private stepProc(i: number): boolean {
    const p = this.procs[i]!;
    if (step(this.klp, p) === St.Block) return false;
    if (p.done) {
      this.procs[i] = null;
      this.finished(i, p);
    } else if (i === ADMIN || i === WORKER) this.skipQuietVisits(i, p);
    return true;
  }

  /**
   * Merge into the step just taken the quiet visits (quietVisit()) the walker would make next: each
   * only looks at what nothing but the walker changes and moves the walk on, which no other process
   * and no invariant sees, so the states between them are not worth telling apart (the engine merges
   * its local steps into the next visible one the same way).
   */
  private skipQuietVisits(i: number, p: Proc): void {
    for (;;) {
      const fn = p.frames[p.frames.length - 1].fn;
      if (!this.walkGoesOn(i)) return;
      const t = this.quietUnvisited(fn);
      if (t < 0) return;
      this.walkPick = t;
      if (step(this.klp, p) === St.Block || this.walkPick !== NO_PICK || p.done)
        throw new Error(`check world: ${this.procName(i)} did not visit task${t} as a step of its own`);
    }
  }

  /** A process's engine verb just returned. */
  private finished(i: number, p: Proc): void {
    if (i === ADMIN) {
      if (this.adminPc === 1) this.adminPc = 2;
      return;
    }
    if (i < 2 + this.config.cpus) return;
    const t = this.taskOfProc(i);
    switch (this.pc[t]) {
      case IN_F_HANDLER:
        this.vf[t] = p.result;
        this.pc[t] = IN_F;
        break;
      case IN_G_HANDLER: {
        const newF = this.vf[t] === this.code.newF;
        const newG = p.result === this.code.newG;
        if (newF !== newG && !(this.forcedTasks & (1 << t)))
          this.violation = { invariant: 'I1', detail: `task${t} runs f ${newF ? 'new' : 'old'} but g, called from it, ${newG ? 'new' : 'old'}` };
        this.pc[t] = RETURNING;
        // Out of f: which version it ran no longer matters (a dead value would split states).
        this.vf[t] = 0;
        break;
      }
      case BARRIER:
      case SLEEP_FREEZABLE:
        // The barrier passed; or the scheduler hook ran and the task now sleeps.
        if (this.pc[t] === BARRIER) this.toUser(t);
        break;
    }
  }

  private toUser(t: number): void {
    // In user mode the task is blocked (U): it passed schedule(), a full barrier on its CPU. Without it
    // the kworker could stack-check and switch the task while the task's own last patch_state store,
    // from updatePatchState(), is still in flight, and that older store would land last. A CPU-bound
    // task keeps running and cannot be stack-checked.
    if (!this.config.cpuBound) this.mem.mb(this.cpuOfProc(2 + this.config.cpus + t));
    this.pc[t] = U;
    this.vf[t] = 0;
    this.forcedTasks &= ~(1 << t);
  }

  private adminStart(choice: number): boolean {
    const task = this.adminTask();
    // Every admin verb but hotplug starts with mutex_lock(&klp_mutex).
    if (choice !== 4 && choice !== 5 && this.klp.mutexOwner) return false;
    switch (choice) {
      case 1:
        this.adminPc = 1;
        this.klp.detached.set(this.patch.id, this.patch);
        this.start(ADMIN, enableBuiltPatchProc(this.klp, 0, task, this.patch));
        return true;
      case 2:
        this.reversesLeft--;
        this.start(ADMIN, enabledStoreProc(this.klp, 0, task, this.patch.name, !this.patch.enabled));
        return true;
      case 3:
        this.forceLeft--;
        this.start(ADMIN, forceStoreProc(this.klp, 0, task, this.patch.name));
        return true;
      case 4:
      case 5: {
        // cpu_down()/cpu_up() under the hotplug write lock; an idle CPU mid-way through its idle loop
        // (preemption disabled) cannot go down until it is out.
        const cpu = this.config.cpus - 1;
        if (this.readers.cpus !== 0) return false;
        if (choice === 4 && this.procs[2 + cpu]) return false;
        if (choice === 4) this.downLeft--;
        else this.upLeft--;
        this.online[cpu] = choice === 5;
        return true;
      }
      case 6:
        this.moduleLeft--;
        this.start(ADMIN, moduleComingProc(this.klp, 0, task, 'mod'));
        return true;
      case 7:
        this.disablesLeft--;
        this.start(ADMIN, enabledStoreProc(this.klp, 0, task, this.patch.name, false));
        return true;
    }
    throw new Error(`admin: bad choice ${choice}`);
  }

  private taskStart(i: number, choice: number): boolean {
    const t = this.taskOfProc(i);
    const cpu = this.cpuOfProc(i);
    // copy_process() takes the tasklist write lock: blocked, the step must change nothing.
    if (this.pc[t] === FORKING && this.readers.tasklist !== 0) return false;
    // A task that was not running is scheduled in: schedule() is a full barrier on its CPU.
    if (!this.taskRunningElsewhere(t, -1)) this.mem.mb(cpu);
    switch (this.pc[t]) {
      case U:
        if (this.config.rounds > 0 && choice !== CH_FORK) this.left[t]--;
        if (choice === CH_FORK) this.pc[t] = FORKING;
        else if (this.config.lean) {
          if (choice === CH_MAIN) this.pc[t] = RETURNING;
          else {
            // Into f (the handler run as one step) and asleep there: the stack check will see f.
            this.vf[t] = runToEnd(this.klp, handlerProc(cpu, t, this.opsF));
            this.pc[t] = SLEEP_IN_F;
          }
        } else if (choice === CH_MAIN) {
          this.pc[t] = IN_F_HANDLER;
          this.start(i, handlerProc(cpu, t, this.opsF));
        } else {
          this.pc[t] = SLEEP_FREEZABLE;
          // __schedule() of a freezable sleep: the task checks its own stack and switches itself.
          if (this.klp.schedHook) this.start(i, schedTrySwitchProc(cpu, t));
        }
        return true;
      case FORKING: {
        // copy_process() under the tasklist write lock (free: checked above).
        const child = this.config.tasks;
        this.forkLeft--;
        this.pc[child] = U;
        this.taskList.push(child);
        copyProcess(this.klp, cpu, t, child);
        this.pc[t] = RETURNING;
        return true;
      }
      case IN_F:
        if (choice === 1) {
          this.pc[t] = IN_G_HANDLER;
          this.start(i, handlerProc(cpu, t, this.opsG));
        } else this.pc[t] = SLEEP_IN_F;
        return true;
      case RETURNING:
        // exit_to_user_mode(): the flagged task switches here.
        if (this.mem.load(cpu, addr(Var.Pending, t))) {
          this.pc[t] = BARRIER;
          this.start(i, updatePatchStateProc(cpu, t));
        } else this.toUser(t);
        return true;
      case SLEEP_FREEZABLE:
        this.pc[t] = RETURNING;
        return true;
      case SLEEP_IN_F:
        if (this.config.lean) {
          this.pc[t] = RETURNING;
          this.vf[t] = 0;
        } else this.pc[t] = IN_F;
        return true;
    }
    throw new Error(`task${t}: no step at ${PC_NAMES[this.pc[t]]}`);
  }

  /** Whether user task t is inside patched code (f, or g called from it): an activation liveness asks to end. */
  inPatched(t: number): boolean {
    const pc = this.pc[t];
    return pc === IN_F_HANDLER || pc === IN_F || pc === IN_G_HANDLER || pc === SLEEP_IN_F;
  }

  // ---- invariants ----

  /**
   * The j-th task the global invariants speak of: the task list, then the idle tasks of the online
   * CPUs; -1 for an offline CPU's idle task. j runs up to taskList.length + cpus.
   */
  private checkedTask(j: number): number {
    const n = this.taskList.length;
    if (j < n) return this.taskList[j];
    return this.online[j - n] ? this.idleId(j - n) : -1;
  }

  /** Whether the admin or the kworker is inside a verb that has not (re)started the transition yet. */
  private starting(): boolean {
    for (let i = ADMIN; i <= WORKER; i++) {
      const p = this.procs[i];
      if (!p) continue;
      for (const f of p.frames) {
        if (f.fn === Fn.InitTransition || f.fn === Fn.ReverseTransition || f.fn === Fn.StartTransition || f.fn === Fn.CancelTransition)
          return true;
      }
    }
    return false;
  }

  /** Whether process i (the admin or the kworker) is inside `fn`, short of its position `pcBelow`. */
  private inVerb(i: number, fn: Fn, pcBelow: number): boolean {
    const p = this.procs[i];
    if (!p) return false;
    for (const f of p.frames) if (f.fn === fn && f.pc < pcBelow) return true;
    return false;
  }

  /**
   * The klp-private fields a task's own steps read outside Memory: whether the scheduler hook is on
   * (__schedule() reads it), and which funcs are registered (the handler looks its func up, and warns
   * if it was freed). A lead step that changes them is seen by every task.
   */
  private engineSeen(): number {
    const k = this.klp;
    return (k.schedHook ? 1 : 0) + 2 * (k.funcs.length * 4096 + k.freeFuncIds.length);
  }

  /**
   * Which of the invariants over every task are in force: I3 (outside a transition), I4 (not while the
   * transition is being set up), I5's exemption (force), I6 (completing). A bit each.
   */
  private guards(): number {
    const target = this.mem.load(0, addr(Var.Target, 0));
    const idle = !this.procs[ADMIN] && !this.procs[WORKER];
    return (
      (target === -1 && idle ? 1 : 0) |
      (target !== -1 && !this.starting() ? 2 : 0) |
      (this.inVerb(ADMIN, Fn.ForceTransition, Infinity) ? 4 : 0) |
      (this.inVerb(ADMIN, Fn.CompleteTransition, 7) || this.inVerb(WORKER, Fn.CompleteTransition, 7) ? 8 : 0)
    );
  }

  private checkInvariants(a: Action): void {
    if (this.violation) return;
    const k = this.klp;
    if (k.warnings.length > this.warned) {
      const w = k.warnings[this.warned];
      this.warned = k.warnings.length;
      this.violation = { invariant: w.includes('patch_state IDLE') ? 'I7' : w.startsWith('completeTransition') ? 'I6' : 'WARN', detail: `WARN_ON_ONCE: ${w}` };
      return;
    }
    // I8: a forced patch's code may still run in some task: marked forced, its module never released.
    if (this.pinned && (!this.patch.forced || !k.moduleHeld.has(this.patch.name))) {
      this.violation = {
        invariant: 'I8',
        detail: `patch '${this.patch.name}' was forced while unpatching but ${this.patch.forced ? 'its module was released' : 'is not marked forced'}: tasks may still run its code`,
      };
      return;
    }
    // Under weak memory no CPU's view is the state: check what the code itself observes (its WARNs,
    // I7 in the handler, I1 in the tasks); the global predicates I2-I6 are checked under sc.
    if (this.config.memory === 'relaxed') return;
    const target = this.mem.load(0, addr(Var.Target, 0));
    // After a step of one user task alone only that task's conjuncts can have changed.
    const only = this.lastLocal;
    if (only < 0 && (k.transitionPatch !== null) !== (target !== -1)) {
      this.violation = { invariant: 'I2', detail: `klp_transition_patch ${k.transitionPatch ? 'set' : 'NULL'} with klp_target_state ${target}` };
      return;
    }
    const checked = only >= 0 ? 1 : this.taskList.length + this.config.cpus;
    const ps = (t: number) => this.mem.load(0, addr(Var.PatchState, t));
    const pend = (t: number) => this.mem.load(0, addr(Var.Pending, t)) !== 0;
    if (target === -1 && !this.procs[ADMIN] && !this.procs[WORKER]) {
      for (let j = 0; j < checked; j++) {
        const t = only >= 0 ? only : this.checkedTask(j);
        if (t >= 0 && (ps(t) !== -1 || pend(t))) {
          this.violation = { invariant: 'I3', detail: `${this.taskName(t)} has patch_state ${ps(t)}${pend(t) ? ' and TIF_PATCH_PENDING' : ''} outside a transition` };
          return;
        }
      }
    }
    if (target !== -1 && !this.starting()) {
      for (let j = 0; j < checked; j++) {
        const t = only >= 0 ? only : this.checkedTask(j);
        if (t >= 0 && pend(t) && ps(t) === target) {
          this.violation = { invariant: 'I4', detail: `${this.taskName(t)} has TIF_PATCH_PENDING but is already at the target (${target})` };
          return;
        }
      }
    }
    // I5: a task switches only at a safe point: never while f is active in it.
    const before = this.before;
    for (let t = only >= 0 ? only : 0; t < (only >= 0 ? only + 1 : this.maxTasks); t++) {
      const now = ps(t);
      if (before[t] === now || before[t] === -1 || now === -1) continue;
      if (this.inVerb(ADMIN, Fn.ForceTransition, Infinity)) {
        this.forcedTasks |= 1 << t;
        continue;
      }
      const pc = this.pc[t];
      if (pc === IN_F || pc === IN_G_HANDLER || pc === SLEEP_IN_F)
        this.violation = { invariant: 'I5', detail: `task${t} switched ${before[t]} -> ${now} while f is active in it (by ${this.procName(a.proc)})` };
    }
    if (this.violation) return;
    // I6: completion only with every task and every possible CPU's idle task at the target. Entering
    // completeTransition() merges into its first steps, so check for as long as it has not yet reset
    // the tasks (its pc 7 loop onwards).
    // (An immediate patch, v3, completes with every task IDLE: it has no per-task transition.)
    for (let i = ADMIN; i <= WORKER && !this.patch.immediate; i++) {
      if (!this.inVerb(i, Fn.CompleteTransition, 7)) continue;
      for (let j = 0; j < checked; j++) {
        const t = only >= 0 ? only : this.checkedTask(j);
        if (t >= 0 && ps(t) !== target) {
          this.violation = { invariant: 'I6', detail: `completing with ${this.taskName(t)} at ${ps(t)}, target ${target}` };
          return;
        }
      }
    }
  }

  // ---- capture / restore ----

  /** The whole state as integers, written to `out` (cleared first). */
  capture(out: IntVec): void {
    out.clear();
    this.captureMem(out);
    this.captureShared(out);
    const n = this.taskList.length;
    out.reserve(2 + n + 4 * this.maxTasks);
    const b = out.buf;
    let o = out.n;
    b[o++] = this.forcedTasks;
    b[o++] = n;
    for (let j = 0; j < n; j++) b[o++] = this.taskList[j];
    for (let t = 0; t < this.maxTasks; t++) {
      b[o++] = this.pc[t];
      b[o++] = this.vf[t];
      b[o++] = this.left[t];
      b[o++] = this.walk[t];
    }
    out.n = o;
    for (const p of this.procs) captureProc(p, out);
    out.push(this.ownerIndex());
  }

  /** Memory, with the first `hideTasks` user tasks' patch_state and pending left out (as 0). */
  private captureMem(out: IntVec, hideTasks = 0): void {
    if (this.mem instanceof ScMemory) this.mem.captureInto(out, hideTasks);
    else {
      const cells: number[] = [];
      this.mem.capture(cells);
      for (const v of cells) out.push(v);
    }
  }

  /** The engine's state and the World's scalars that no permutation of tasks touches. */
  private captureShared(out: IntVec): void {
    captureKlp(this.klp, this.patches, this.patchNames, MODULES, out);
    const online = this.online;
    out.reserve(12 + online.length);
    const b = out.buf;
    let o = out.n;
    b[o++] = this.readers.tasklist;
    b[o++] = this.readers.cpus;
    b[o++] = this.workQueued ? 1 : 0;
    b[o++] = this.adminPc;
    b[o++] = this.reversesLeft;
    b[o++] = this.forceLeft;
    b[o++] = this.downLeft;
    b[o++] = this.upLeft;
    b[o++] = this.moduleLeft;
    b[o++] = this.forkLeft;
    b[o++] = this.disablesLeft;
    b[o++] = this.pinned ? 1 : 0;
    for (let c = 0; c < online.length; c++) b[o++] = online[c] ? 1 : 0;
    out.n = o;
  }

  private ownerIndex(): number {
    const owner = this.klp.mutexOwner;
    return owner ? this.procs.indexOf(owner) : -1;
  }

  /**
   * The fingerprint of the state, or with `symmetry` of its class up to a permutation of identical
   * user tasks (symmetry reduction), written to `fp`; `buf` is scratch. Tasks are interchangeable
   * only between their own CPU's tasks and only under sequentially consistent memory. The class's
   * fingerprint is that of everything but the tasks plus, added up, that of each task's own fields
   * (its place in the current walk, and whether the admin's or the kworker's verb is aimed at it,
   * included): a sum does not depend on the order, so no task needs sorting. The permutation is an
   * exact symmetry: the walks' order by state (see `walk`) makes no task's list position matter.
   */
  key(buf: IntVec, fp: Fingerprint, symmetry: boolean): void {
    this.keyFrom(buf, fp, symmetry, null, 0);
  }

  /**
   * The key after a step of a process other than a user task (the admin, the kworker, an idle task,
   * hotplug): that of the state before it, whose parts are `before[at ..]`, with the part of everything
   * but the tasks made anew, and each task's part only where the step changed its reach(); and after a
   * step of one user task alone followed by quiet lead steps (run()), that task's part too.
   */
  keyAfterOther(buf: IntVec, before: Uint32Array, at: number, fp: Fingerprint): void {
    this.keyFrom(buf, fp, true, before, at);
  }

  private keyFrom(buf: IntVec, fp: Fingerprint, symmetry: boolean, before: Uint32Array | null, at: number): void {
    if (!symmetry || this.config.memory !== 'sc') {
      this.capture(buf);
      fingerprint(buf.buf, 0, buf.n, fp);
      return;
    }
    buf.clear();
    // (Under sc Memory is an ScMemory.)
    this.captureMem(buf, this.maxTasks);
    this.captureShared(buf);
    const parts = this.keyParts;
    const byAdmin = this.aimedAt(ADMIN, buf);
    const byWorker = this.aimedAt(WORKER, buf);
    for (let i = 2; i < 2 + this.config.cpus; i++) captureProc(this.procs[i], buf);
    buf.push(this.ownerIndex());
    fingerprint(buf.buf, 0, buf.n, fp);
    parts[0] = fp.h1;
    parts[1] = fp.h2;
    parts[2] = byAdmin;
    parts[3] = byWorker;
    const reached = 4 + 2 * this.maxTasks;
    for (let t = 0; t < this.maxTasks; t++) {
      if (before !== null && t !== this.movedTask && before[at + reached + t] === this.reach(t, byAdmin, byWorker)) {
        parts[4 + 2 * t] = before[at + 4 + 2 * t];
        parts[5 + 2 * t] = before[at + 5 + 2 * t];
        parts[reached + t] = before[at + reached + t];
      } else this.taskKey(t, byAdmin, byWorker);
    }
    this.sumKey(fp);
  }

  /**
   * The key after a step of user task t alone (lastLocal): that of the state before it, whose parts
   * are `before[at ..]` (a copy of keyParts), with task t's own part made anew. The step changed
   * nothing else the key covers.
   */
  keyAfterLocal(before: Uint32Array, at: number, t: number, fp: Fingerprint): void {
    const parts = this.keyParts;
    for (let j = 0; j < parts.length; j++) parts[j] = before[at + j];
    this.taskKey(t, parts[2], parts[3]);
    this.sumKey(fp);
  }

  /** The class's fingerprint from keyParts (now this state's): everything but the tasks, plus each task's own. */
  private sumKey(fp: Fingerprint): void {
    this.keyFresh = true;
    const parts = this.keyParts;
    let h1 = parts[0];
    let h2 = parts[1];
    for (let j = 4; j < 4 + 2 * this.maxTasks; j += 2) {
      h1 = (h1 + parts[j]) >>> 0;
      h2 = (h2 + parts[j + 1]) >>> 0;
    }
    fp.h1 = h1;
    fp.h2 = h2;
  }

  /** Task t's own part of the key, into keyParts. */
  private taskKey(t: number, byAdmin: number, byWorker: number): void {
    this.taskFingerprint(t, byAdmin, byWorker);
    this.keyParts[4 + 2 * t] = this.taskFp.h1;
    this.keyParts[5 + 2 * t] = this.taskFp.h2;
    this.keyParts[4 + 2 * this.maxTasks + t] = this.reach(t, byAdmin, byWorker);
  }

  /**
   * Of task t's own fields (taskFingerprint()), those a step of any process but a user task can change,
   * in one word: patch_state and the flag (the transition's verbs write them), its place in the walk,
   * whether a verb is aimed at it or force switched it. The rest (its code position and verb, its CPU,
   * the fork) change only by user tasks' steps, after which the key is made anew or by keyAfterLocal().
   */
  private reach(t: number, byAdmin: number, byWorker: number): number {
    const ps = this.mem.load(0, addr(Var.PatchState, t));
    const pending = this.mem.load(0, addr(Var.Pending, t));
    return (
      ((ps & 255) |
        ((pending & 255) << 8) |
        (this.walkSeen(t) << 16) |
        (((this.forcedTasks >> t) & 1) << 20) |
        (((byAdmin >> t) & 1) << 21) |
        (((byWorker >> t) & 1) << 22)) >>>
      0
    );
  }

  /**
   * Task t's place in the walk as far as anything can still tell: a walk reads its AT mark only to
   * ask again for the task it is at (taskAt() at visited - 1), and at the positions of WALK_STEPS its
   * next step asks for the next task instead, so there the mark is dead and the task counts as
   * PASSED. States that differ only in it behave alike (the walk's next step makes them equal), and
   * the key merges them.
   */
  private walkSeen(t: number): number {
    const w = this.walk[t];
    if (w !== AT) return w;
    const owner = this.klp.mutexOwner;
    if (owner === null) return AT;
    const frames = owner.frames;
    for (let j = frames.length - 1; j >= 0; j--) {
      const steps = WALK_STEPS[frames[j].fn as Fn];
      if (steps) return steps[frames[j].pc] === undefined ? AT : PASSED;
    }
    return AT;
  }

  /** The fingerprint of task t's own fields, into taskFp. */
  private taskFingerprint(t: number, byAdmin: number, byWorker: number): void {
    const i = 2 + this.config.cpus + t;
    const sig = this.sig;
    sig.clear();
    sig.reserve(12);
    const b = sig.buf;
    b[0] = this.cpuOfProc(i);
    b[1] = this.mem.load(0, addr(Var.PatchState, t));
    b[2] = this.mem.load(0, addr(Var.Pending, t));
    b[3] = this.taskList.includes(t) ? 1 : 0;
    b[4] = t === 0 ? this.forkLeft : 0;
    b[5] = this.pc[t];
    b[6] = this.vf[t];
    b[7] = this.left[t];
    b[8] = (this.forcedTasks >> t) & 1;
    b[9] = this.walkSeen(t);
    b[10] = (byAdmin >> t) & 1;
    b[11] = (byWorker >> t) & 1;
    const at = (sig.n = 12);
    captureProc(this.procs[i], sig);
    // The task's own id in its own verb; only these verbs' argument is a task (the handler's is
    // an ops id, which must stay as it is).
    for (let j = at + 4; j < sig.n; j += 6) if (namesTask(sig.buf[j])) sig.buf[j + 3] = -9;
    fingerprint(sig.buf, 0, sig.n, this.taskFp);
  }

  /**
   * Capture process i (the admin or the kworker) into `buf` with the user task its verbs are aimed at
   * (trySwitchTask(), updatePatchState() by force) left out, so that the key can count it as that
   * task's own; returns those tasks as a bit set.
   */
  private aimedAt(i: number, buf: IntVec): number {
    const at = buf.n;
    captureProc(this.procs[i], buf);
    let aimed = 0;
    for (let j = at + 4; j < buf.n; j += 6) {
      const task = buf.buf[j + 3];
      if (namesTask(buf.buf[j]) && task < this.maxTasks) {
        aimed |= 1 << task;
        buf.buf[j + 3] = -9;
      }
    }
    return aimed;
  }

  /** Come back to a state capture() wrote. Engine objects are overwritten in place, not rebuilt. */
  restore(data: ArrayLike<number>, at = 0): void {
    this.keyFresh = false;
    const r = this.reader.reset(data, 0);
    r.at = this.mem instanceof ScMemory ? this.mem.restorePacked(data, at) : this.mem.restore(data, at);
    restoreKlp(this.klp, this.patches, this.patchNames, MODULES, r);
    this.klp.signalsCnt = 0; // not part of the state: see run()
    let o = r.at;
    this.readers.tasklist = data[o++];
    this.readers.cpus = data[o++];
    this.workQueued = data[o++] === 1;
    this.adminPc = data[o++];
    this.reversesLeft = data[o++];
    this.forceLeft = data[o++];
    this.downLeft = data[o++];
    this.upLeft = data[o++];
    this.moduleLeft = data[o++];
    this.forkLeft = data[o++];
    this.disablesLeft = data[o++];
    this.pinned = data[o++] === 1;
    for (let c = 0; c < this.online.length; c++) this.online[c] = data[o++] === 1;
    this.forcedTasks = data[o++];
    const n = data[o++];
    if (this.taskList.length !== n) this.taskList.length = n;
    for (let i = 0; i < n; i++) this.taskList[i] = data[o++];
    for (let t = 0; t < this.maxTasks; t++) {
      this.pc[t] = data[o++];
      this.vf[t] = data[o++];
      this.left[t] = data[o++];
      this.walk[t] = data[o++];
    }
    r.at = o;
    for (let i = 0; i < this.nprocs; i++) {
      // A proc object is referred to only from its slot (and klp_mutex, restored below): reuse it.
      const p = restoreProc(this.taskOfProc(i), this.procs[i] ?? this.spare[i], r);
      if (p) this.spare[i] = p;
      this.procs[i] = p;
    }
    const owner = data[r.at++];
    this.klp.mutexOwner = owner < 0 ? null : this.procs[owner];
    // A verb may look up a patch that is not on klp_patches (being enabled): keep every one reachable.
    for (const p of this.patches) if (this.klp.detached.get(p.id) !== p && !this.klp.patches.includes(p)) this.klp.detached.set(p.id, p);
    this.violation = null;
    this.warned = this.klp.warnings.length;
  }

  /** The step depends on task `task`'s steps (a user or idle task), and on hotplug's if that can change whether it runs. */
  private touch(task: number): void {
    if (task >= this.maxTasks + this.config.cpus) this.footprint = GLOBAL;
    else if (this.hotplugTouches(task)) this.footprint |= this.hotplugGroup();
    else this.footprint |= 1 << this.procOfTask(task);
  }

  /**
   * A lock taken or released: the tasklist lock is what fork (copy_process()) waits for, the cpus lock
   * what hotplug waits for; no other step reads them.
   */
  private lockTouch(lock: HostLock): void {
    if (lock === 'tasklist') {
      if (this.forkLeft > 0) this.footprint |= 1 << this.procOfTask(0);
    } else if (this.hotplugAhead()) this.footprint |= this.hotplugGroup();
  }

  /** Hotplug and the idle task of the CPU it takes down and up: each one's steps depend on the other's. */
  private hotplugGroup(): number {
    return HOTPLUG | (1 << this.procOfTask(this.idleId(this.hotCpu)));
  }

  /** The CPU the admin takes down and up, or -1. */
  private get hotCpu(): number {
    return this.config.hotplug === 'none' || this.config.cpus < 2 ? -1 : this.config.cpus - 1;
  }

  /** Whether CPU hotplug has a step left to take in this run. */
  private hotplugAhead(): boolean {
    return this.hotCpu >= 0 && this.downLeft + this.upLeft > 0;
  }

  /**
   * Whether CPU hotplug can act now or later without the current lead stepping first: it needs a step
   * left and the cpus lock free (only the lead releases it).
   */
  private hotplugPossible(): boolean {
    return this.hotplugAhead() && this.readers.cpus === 0;
  }

  /** The process that runs task `t` (a user task or an idle task, as a footprint names them). */
  private procOfTask(t: number): number {
    return t < this.maxTasks ? 2 + this.config.cpus + t : 2 + t - this.maxTasks;
  }

  /** Whether hotplug can change whether the idle task `t`'s steps can run (or what they see). */
  private hotplugTouches(t: number): boolean {
    return t - this.maxTasks === this.hotCpu && this.hotplugPossible();
  }

  /**
   * A Memory access of the current step, for its footprint; `v` the value a write stores. A write of
   * the value a task's cell already holds changes nothing and counts as a read of it.
   */
  private access(a: number, write: boolean, v = 0): void {
    const kind = a % 8;
    if (kind === Var.PatchState || kind === Var.Pending) {
      const task = Math.floor(a / 8);
      if ((write && this.mem.load(0, a) !== v) || task >= this.maxTasks + this.config.cpus) this.touch(task);
      else this.readMask |= 1 << this.procOfTask(task);
    } else if (write) this.footprint = GLOBAL;
  }

  /**
   * Whether task `task` could write its own patch_state or TIF_PATCH_PENDING in steps of its own,
   * with no other process stepping: only with the flag set (test_and_clear in updatePatchState(), the
   * scheduler hook) or inside a verb already. A step that only read those cells of a task that cannot
   * commutes with every step that task can take until some other process acts.
   */
  private selfWrites(task: number): boolean {
    return this.mem.load(0, addr(Var.Pending, task)) !== 0 || this.procs[this.procOfTask(task)] !== null;
  }

  /** Memory with every access reported to the current trace step. */
  private traced(inner: Memory): Memory {
    const note = (s: string) => {
      if (this.trace) this.trace[this.trace.length - 1]?.accesses.push(s);
    };
    const name = (a: number) => varName(a, this);
    return {
      load: (cpu, a) => {
        this.access(a, false);
        const v = inner.load(cpu, a);
        if (this.trace) note(`R ${name(a)} = ${v}`);
        return v;
      },
      store: (cpu, a, v) => {
        this.access(a, true, v);
        inner.store(cpu, a, v);
        if (this.trace) note(`W ${name(a)} := ${v}`);
      },
      testAndClear: (cpu, a) => {
        this.access(a, true, 0);
        const v = inner.testAndClear(cpu, a);
        if (this.trace) note(`RMW test_and_clear ${name(a)} = ${v}`);
        return v;
      },
      wmb: (cpu) => {
        inner.wmb(cpu);
        if (this.trace) note('smp_wmb');
      },
      rmb: (cpu) => {
        inner.rmb(cpu);
        if (this.trace) note('smp_rmb');
      },
      mb: (cpu) => inner.mb(cpu),
      snapshot: () => inner.snapshot(),
      capture: (out) => inner.capture(out),
      restore: (d, at) => inner.restore(d, at),
    };
  }
}

/** The kernel's name of a Memory address. */
function varName(a: number, w: World): string {
  const kind = a % 8;
  const index = Math.floor(a / 8);
  const funcName = (id: number) => w.klp.funcs[id]?.oldName ?? `func${id}`;
  switch (kind) {
    case Var.Target:
      return 'klp_target_state';
    case Var.PatchState:
      return `${w.taskName(index).split(':')[0]}->patch_state`;
    case Var.Pending:
      return `TIF_PATCH_PENDING(${w.taskName(index).split(':')[0]})`;
    case Var.Transition:
      return `${funcName(index)}->transition`;
    case Var.StackHead:
      return `func_stack(${['f', 'g', 'm'][index] ?? index}).head`;
    case Var.StackNext:
      return `${funcName(index)}->stack_node.next`;
  }
  return `mem[${a}]`;
}

