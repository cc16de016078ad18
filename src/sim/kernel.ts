// A deterministic simulated SMP kernel that hosts the engine: possible CPUs (online or not) each with
// an idle task, user tasks and kthreads running small programs, the syscall barrier, fork and exit,
// module load and unload, CPU hotplug, the delayed transition work and its kworker.
//
// Every choice of what happens next goes through the Scheduler; nothing else is random, and no wall
// clock is read. A task's position (its frames and any engine proc it is running) is plain data.

import {
  copyProcess,
  Klp,
  Proc,
  St,
  step,
  where,
  handlerProc,
  transitionWorkProc,
  updatePatchStateProc,
  schedTrySwitchProc,
  pending,
  type Host,
  type HostLock,
  type LogLevel,
  type Memory,
  type ModuleState,
  type Variant,
} from '../engine/index.js';
import type { Scheduler } from './scheduler.js';

/** One instruction of a task's program or of a function body. */
export type Instr =
  /** Call a kernel function: through the livepatch handler when it is hooked. */
  | { op: 'call'; obj: string; fn: string; when?: (sim: SimKernel, t: SimTask) => boolean }
  /** Sleep until woken. 'timer': any time (a scheduler choice); 'signal': only by a (fake) signal;
   * 'cond': when the predicate holds. Interruptible sleeps end early on a fake signal. */
  | { op: 'sleep'; wake: 'timer' | 'signal' | 'cond'; cond?: (sim: SimKernel, t: SimTask) => boolean; freezable?: boolean; interruptible?: boolean }
  /** Return to user mode: the barrier where a flagged task switches (klp_update_patch_state). */
  | { op: 'user' }
  /** printk from the task. */
  | { op: 'print'; text: string | ((sim: SimKernel, t: SimTask) => string) }
  /** Local computation: touches only the simulation's own bookkeeping. */
  | { op: 'do'; fn: (sim: SimKernel, t: SimTask) => void }
  /** Jump within the current body (when the predicate holds, or always). */
  | { op: 'jump'; to: number; when?: (sim: SimKernel, t: SimTask) => boolean }
  /**
   * A user-space polling loop (the admin's waits): blocks until the predicate holds. Each poll sleeps
   * and returns to user mode, so a flagged task passes the barrier while it waits.
   */
  | { op: 'wait'; until: (sim: SimKernel, t: SimTask) => boolean; what: string }
  /** Run an engine verb in this task's context; `done` sees the finished proc. */
  | { op: 'engine'; make: (sim: SimKernel, t: SimTask) => Proc | null; done?: (sim: SimKernel, t: SimTask, p: Proc) => void }
  /** A switch point of a kthread that checks its own flag (klp_update_patch_state(current)). */
  | { op: 'switchPoint' }
  | { op: 'fork'; name: string; program: Instr[]; kthread?: boolean }
  | { op: 'exit' }
  /** Give up the CPU voluntarily (still runnable). */
  | { op: 'yield' }
  | { op: 'cpu'; cpu: number; online: boolean };

export interface Code {
  readonly id: number;
  readonly obj: string;
  readonly name: string;
  readonly body: readonly Instr[];
  /** Code of the task's user-space program: never on a kernel stack. */
  readonly user: boolean;
}

interface TaskFrame {
  code: number;
  pc: number;
}

export type TaskKind = 'user' | 'kthread' | 'idle';
export type TaskStatus = 'runnable' | 'running' | 'sleeping' | 'dead';

export class SimTask {
  status: TaskStatus = 'runnable';
  /** The CPU the task is on (running), or -1. */
  cpu = -1;
  readonly frames: TaskFrame[] = [];
  /** An engine verb running in this task's context, and what to do when it finishes. */
  proc: Proc | null = null;
  procDone: ((sim: SimKernel, t: SimTask, p: Proc) => void) | null = null;
  /** Text the task's functions produced (a read of /proc/cmdline, say). */
  out: string[] = [];
  /** Scenario-owned variables. */
  readonly vars: Record<string, unknown> = {};

  constructor(
    readonly id: number,
    readonly name: string,
    readonly kind: TaskKind,
    /** The idle task's CPU, -1 for others. */
    readonly idleCpu = -1,
  ) {}
}

interface Cpu {
  online: boolean;
  /** The task on this CPU: the idle task when nothing else runs; -1 when offline. */
  current: number;
}

/** A loaded module as the simulator keeps it. */
export interface SimModule {
  readonly name: string;
  state: ModuleState;
  readonly params: Record<string, string>;
  /** Function name → code ids (several for same-named static functions, in symbol order). */
  readonly symbols: Map<string, number[]>;
  /** The livepatch this module enabled, if it is a livepatch module. */
  patch: string | null;
}

export interface SimOptions {
  cpus: number;
  /** CPUs online at boot (default: all). */
  online?: number[];
  variant?: Variant;
  memory?: Memory;
  drop?: Iterable<string>;
  reliableStack?: boolean;
  /** Steps after which a run is declared stuck. */
  maxSteps?: number;
}

export interface LogLine {
  level: LogLevel | 'print';
  text: string;
}

/** A step the kernel could take next, as the scheduler sees it. */
interface Action {
  label: string;
  run: () => boolean;
}

export class SimKernel implements Host {
  readonly klp: Klp;
  readonly codes: Code[] = [];
  readonly tasks: SimTask[] = [];
  readonly cpus: Cpu[] = [];
  readonly modules = new Map<string, SimModule>();
  readonly log_: LogLine[] = [];
  /** Normal tasks in creation order (for_each_process_thread); idle tasks are per CPU. */
  private readonly taskList: number[] = [];
  private readonly idleTasks: number[] = [];
  /** rwlocks: reader count per lock, and whether a writer holds it. */
  private readonly readers: Record<HostLock, number> = { tasklist: 0, cpus: 0 };
  private workQueued = false;
  /** Scenario-owned variables. */
  readonly vars: Record<string, unknown> = {};
  /** console_loglevel, the system setting the state selftests change. */
  consoleLoglevel = 7;
  steps = 0;
  /** What the scenario's checks found wrong (not the simulated machine's warnings: those are in klp.warnings). */
  readonly failures: string[] = [];
  readonly maxSteps: number;
  private readonly reliable: boolean;

  constructor(
    private readonly scheduler: Scheduler,
    opts: SimOptions,
  ) {
    this.maxSteps = opts.maxSteps ?? 200_000;
    this.reliable = opts.reliableStack ?? true;
    this.klp = new Klp(this, opts.memory, opts.variant ?? 'final');
    this.klp.drop = new Set(opts.drop ?? []);
    const online = new Set(opts.online ?? Array.from({ length: opts.cpus }, (_, i) => i));
    const idleLoop = this.defineCode('vmlinux', 'do_idle', [], false);
    for (let c = 0; c < opts.cpus; c++) {
      const idle = this.newTask(`swapper/${c}`, 'idle', c);
      idle.frames.push({ code: idleLoop, pc: 0 });
      this.idleTasks.push(idle.id);
      this.klp.initTask(idle.id);
      const up = online.has(c);
      this.cpus.push({ online: up, current: up ? idle.id : -1 });
      idle.status = up ? 'running' : 'runnable';
      idle.cpu = up ? c : -1;
    }
    const workerThread = this.defineCode('vmlinux', 'worker_thread', [
      { op: 'sleep', wake: 'cond', cond: (sim) => sim.workQueued },
      { op: 'do', fn: (sim) => (sim.workQueued = false) },
      { op: 'engine', make: (_sim, t) => transitionWorkProc(t.cpu, t.id) },
      { op: 'jump', to: 0 },
    ]);
    // The kworker that runs klp_transition_work.
    this.spawnWith('kworker/0', 'kthread', workerThread);
    this.modules.set('vmlinux', { name: 'vmlinux', state: 'MODULE_STATE_LIVE', params: {}, symbols: new Map(), patch: null });
  }

  // ---- building the world ----

  /** Register a function's code; returns its code id. */
  defineCode(obj: string, name: string, body: readonly Instr[], user = false): number {
    const id = this.codes.length;
    this.codes.push({ id, obj, name, body, user });
    if (!user) {
      const mod = this.modules.get(obj);
      if (mod) {
        const list = mod.symbols.get(name) ?? [];
        list.push(id);
        mod.symbols.set(name, list);
      }
    }
    return id;
  }

  private newTask(name: string, kind: TaskKind, idleCpu = -1): SimTask {
    const t = new SimTask(this.tasks.length, name, kind, idleCpu);
    this.tasks.push(t);
    return t;
  }

  private spawnWith(name: string, kind: TaskKind, code: number): SimTask {
    const t = this.newTask(name, kind);
    t.frames.push({ code, pc: 0 });
    this.taskList.push(t.id);
    this.klp.initTask(t.id);
    return t;
  }

  /** A task that exists from boot (before any transition), running `program` (user space for users). */
  spawn(name: string, program: Instr[], kind: 'user' | 'kthread' = 'user'): SimTask {
    return this.spawnWith(name, kind, this.defineCode(kind === 'user' ? '' : 'vmlinux', `${name}:main`, program, kind === 'user'));
  }

  /** Load a module's code (without livepatch's coming notifier: that is the admin's insmod). */
  addModule(name: string, params: Record<string, string>): SimModule {
    const mod: SimModule = { name, state: 'MODULE_STATE_UNFORMED', params, symbols: new Map(), patch: null };
    this.modules.set(name, mod);
    return mod;
  }

  removeModule(name: string): void {
    this.modules.delete(name);
  }

  // ---- Host ----

  taskCount(): number {
    return this.taskList.length;
  }
  taskAt(i: number): number {
    return this.taskList[i];
  }
  possibleCpus(): number {
    return this.cpus.length;
  }
  idleTask(cpu: number): number {
    return this.idleTasks[cpu];
  }
  cpuOnline(cpu: number): boolean {
    return this.cpus[cpu].online;
  }
  taskRunningElsewhere(task: number, current: number): boolean {
    return task !== current && this.tasks[task].status === 'running';
  }
  taskName(task: number): string {
    return `${this.tasks[task].name}:${task}`;
  }
  isKthread(task: number): boolean {
    return this.tasks[task].kind !== 'user';
  }
  stackOf(task: number): readonly number[] | null {
    const t = this.tasks[task];
    // A task preempted in kernel mode has the interrupt's frame on its stack: not reliable (ORC).
    if (t.vars.unreliableStack || (t.vars.preempted && this.inKernel(t))) return null;
    return t.frames.filter((f) => !this.codes[f.code].user).map((f) => f.code);
  }
  haveReliableStack(): boolean {
    return this.reliable;
  }
  tryReadLock(lock: HostLock): boolean {
    if (this.readers[lock] < 0) return false;
    this.readers[lock]++;
    return true;
  }
  readUnlock(lock: HostLock): void {
    this.readers[lock]--;
  }
  private tryWriteLock(lock: HostLock): boolean {
    if (this.readers[lock] !== 0) return false;
    this.readers[lock] = -1;
    return true;
  }
  private writeUnlock(lock: HostLock): void {
    this.readers[lock] = 0;
  }
  cpuCanSchedule(cpu: number): boolean {
    const cur = this.cpus[cpu].current;
    return cur < 0 || (this.tasks[cur].proc?.preemptOff ?? 0) === 0;
  }
  scheduleRetry(): void {
    this.workQueued = true;
  }
  signalTask(task: number): void {
    this.interruptSleep(this.tasks[task]);
  }
  wakeUpIfIdle(): void {
    // The idle loop is an action of its own whenever its idle task is flagged (see actions()).
  }
  log(level: LogLevel, line: string): void {
    this.log_.push({ level, text: line });
  }
  lookupSymbol(obj: string, name: string): readonly number[] {
    return this.modules.get(obj)?.symbols.get(name) ?? [];
  }
  moduleState(obj: string): ModuleState | null {
    return this.modules.get(obj)?.state ?? null;
  }

  // ---- running ----

  printk(text: string): void {
    this.log_.push({ level: 'print', text });
  }

  /** The run's transcript as the selftests filter dmesg (kernel/test lines, admin commands, warnings). */
  transcript(): string[] {
    return this.log_
      .filter((l) => l.level !== 'trace' && /livepatch:|test_klp|^% |^insmod: |^rmmod: |^WARNING: /.test(l.text))
      .map((l) => l.text);
  }

  /** Every line, including the per-task chatter, for `--verbose`. */
  fullLog(): string[] {
    return this.log_.map((l) => (l.level === 'trace' ? `  ${l.text}` : l.text));
  }

  /**
   * Run until every task in `until` has exited (the scenario's scripted actors); background tasks do
   * not keep the run alive. Throws if the run gets stuck (nothing enabled) or exceeds maxSteps.
   */
  run(until: SimTask[]): void {
    while (until.some((t) => t.status !== 'dead')) {
      if (++this.steps > this.maxSteps) throw new Error(`simulation did not finish within ${this.maxSteps} steps; ${this.describe(until)}`);
      if (!this.stepOnce()) throw new Error(`simulation stuck: nothing can run; ${this.describe(until)}`);
    }
  }

  private describe(tasks: SimTask[]): string {
    return tasks
      .filter((t) => t.status !== 'dead')
      .map((t) => {
        const f = t.frames[t.frames.length - 1];
        const instr = f ? this.codes[f.code].body[f.pc] : undefined;
        const at = t.proc ? where(t.proc) : instr?.op === 'wait' ? `waiting for ${instr.what}` : (instr?.op ?? 'end');
        return `${t.name} is ${t.status} at ${at}`;
      })
      .join('; ');
  }

  /** Take one step: list what can happen, let the scheduler pick; retry without it if it blocks. */
  stepOnce(): boolean {
    const actions = this.actions();
    while (actions.length > 0) {
      const i = this.scheduler.choose(actions.map((a) => a.label));
      if (actions[i].run()) return true;
      actions.splice(i, 1);
    }
    return false;
  }

  private actions(): Action[] {
    const out: Action[] = [];
    const freeCpu = this.cpus.findIndex((c) => c.online && c.current >= 0 && this.tasks[c.current].kind === 'idle' && !this.tasks[c.current].proc);
    let waiting = false;
    for (const t of this.tasks) {
      if (t.status === 'dead') continue;
      if (t.kind === 'idle') {
        const cpu = this.cpus[t.idleCpu];
        if (cpu.online && cpu.current === t.id && (t.proc || pending(this.klp, t.id)))
          out.push({ label: `idle${t.idleCpu}`, run: () => this.stepIdle(t) });
        continue;
      }
      if (t.status === 'running') out.push({ label: t.name, run: () => this.stepTask(t) });
      else if (t.status === 'runnable') {
        if (freeCpu >= 0) out.push({ label: t.name, run: () => this.place(t, freeCpu) });
        else waiting = true;
      } else if (t.status === 'sleeping') {
        const f = t.frames[t.frames.length - 1];
        const instr = this.codes[f.code].body[f.pc] as Extract<Instr, { op: 'sleep' }>;
        if (instr.wake === 'timer' || (instr.wake === 'cond' && instr.cond!(this, t)))
          out.push({ label: `wake:${t.name}`, run: () => this.wake(t) });
      }
    }
    if (waiting) {
      for (let c = 0; c < this.cpus.length; c++) {
        const cur = this.cpus[c].current;
        if (cur >= 0 && this.tasks[cur].kind !== 'idle' && (this.tasks[cur].proc?.preemptOff ?? 0) === 0)
          out.push({ label: `preempt${c}`, run: () => this.preempt(this.tasks[cur]) });
      }
    }
    return out;
  }

  /** Whether the task is in kernel code (a kernel function on its stack). */
  private inKernel(t: SimTask): boolean {
    return t.frames.some((f) => !this.codes[f.code].user);
  }

  /** A timer interrupt takes the CPU from the task: it stays runnable, with an interrupt frame on its stack. */
  private preempt(t: SimTask): boolean {
    t.vars.preempted = true;
    return this.deschedule(t, 'runnable');
  }

  /** Put a runnable task on a free CPU and step it; if it cannot progress, undo the placement. */
  private place(t: SimTask, cpu: number): boolean {
    const idle = this.tasks[this.cpus[cpu].current];
    idle.status = 'runnable';
    idle.cpu = -1;
    this.cpus[cpu].current = t.id;
    t.status = 'running';
    t.cpu = cpu;
    const preempted = t.vars.preempted;
    delete t.vars.preempted;
    if (this.stepTask(t)) return true;
    this.deschedule(t, 'runnable');
    if (preempted) t.vars.preempted = true;
    return false;
  }

  /** The task leaves its CPU (sleep, preemption, exit); the CPU falls back to its idle task. */
  private deschedule(t: SimTask, status: TaskStatus): boolean {
    const cpu = t.cpu;
    t.status = status;
    t.cpu = -1;
    if (cpu >= 0) {
      const idle = this.tasks[this.idleTasks[cpu]];
      this.cpus[cpu].current = idle.id;
      idle.status = 'running';
      idle.cpu = cpu;
    }
    return true;
  }

  private wake(t: SimTask): boolean {
    const f = t.frames[t.frames.length - 1];
    f.pc++;
    t.status = 'runnable';
    return true;
  }

  private interruptSleep(t: SimTask): void {
    if (t.status !== 'sleeping') return;
    const f = t.frames[t.frames.length - 1];
    const instr = this.codes[f.code].body[f.pc] as Extract<Instr, { op: 'sleep' }>;
    if (instr.wake === 'signal') this.wake(t);
    else if (instr.interruptible) {
      // The fake signal interrupts the syscall: the kernel frames unwind (-ERESTARTSYS) and the task
      // heads back to user mode, where it passes the barrier.
      while (t.frames.length > 1 && !this.codes[t.frames[t.frames.length - 1].code].user) t.frames.pop();
      t.status = 'runnable';
    }
  }

  /** The idle loop of an online, idle CPU: switch at the end of do_idle() when flagged. */
  private stepIdle(t: SimTask): boolean {
    if (!t.proc) t.proc = updatePatchStateProc(t.idleCpu, t.id);
    return this.stepProc(t);
  }

  private stepProc(t: SimTask): boolean {
    const p = t.proc!;
    p.cpu = t.cpu;
    if (step(this.klp, p) === St.Block) return false;
    if (p.done) {
      t.proc = null;
      const done = t.procDone;
      t.procDone = null;
      done?.(this, t, p);
    }
    return true;
  }

  /** Enter an engine verb (a local step); its own steps follow as the task is scheduled. */
  private runProc(t: SimTask, p: Proc | null, done: ((sim: SimKernel, t: SimTask, p: Proc) => void) | null): boolean {
    t.proc = p;
    t.procDone = p ? done : null;
    return true;
  }

  /** One instruction (or one step of the engine verb the task is in). */
  private stepTask(t: SimTask): boolean {
    if (t.proc) return this.stepProc(t);
    const f = t.frames[t.frames.length - 1];
    const code = this.codes[f.code];
    if (f.pc >= code.body.length) {
      // End of a function body: return to the caller; the end of the main program is exit.
      if (t.frames.length === 1) return this.exit(t);
      t.frames.pop();
      t.frames[t.frames.length - 1].pc++;
      return true;
    }
    const instr = code.body[f.pc];
    switch (instr.op) {
      case 'call': {
        if (instr.when && !instr.when(this, t)) {
          f.pc++;
          return true;
        }
        const orig = this.lookupSymbol(instr.obj, instr.fn);
        if (orig.length === 0) throw new Error(`${t.name}: call of unknown function ${instr.obj}:${instr.fn}`);
        const ops = this.klp.findOps(orig[0]);
        if (ops < 0) {
          t.frames.push({ code: orig[0], pc: 0 });
          return true;
        }
        return this.runProc(t, handlerProc(t.cpu, t.id, ops), (_s, task, p) => task.frames.push({ code: p.result, pc: 0 }));
      }
      case 'sleep':
        if (instr.freezable && this.klp.schedHook && !t.vars.schedHookDone) {
          // __schedule() of a freezable sleep: the task checks its own stack and switches itself.
          return this.runProc(t, schedTrySwitchProc(t.cpu, t.id), (_s, task) => (task.vars.schedHookDone = true));
        }
        delete t.vars.schedHookDone;
        return this.deschedule(t, 'sleeping');
      case 'user':
        f.pc++;
        // exit_to_user_mode_loop(): the flagged task switches here, before handling signals.
        if (pending(this.klp, t.id)) return this.runProc(t, updatePatchStateProc(t.cpu, t.id), null);
        return true;
      case 'switchPoint':
        f.pc++;
        if (pending(this.klp, t.id)) return this.runProc(t, updatePatchStateProc(t.cpu, t.id), null);
        return true;
      case 'print':
        this.printk(typeof instr.text === 'string' ? instr.text : instr.text(this, t));
        f.pc++;
        return true;
      case 'do':
        f.pc++;
        instr.fn(this, t);
        return true;
      case 'jump':
        f.pc = !instr.when || instr.when(this, t) ? instr.to : f.pc + 1;
        return true;
      case 'wait':
        if (instr.until(this, t)) {
          f.pc++;
          return true;
        }
        if (this.inKernel(t)) throw new Error(`${t.name}: 'wait' is a user-space poll; in kernel code sleep on a condition`);
        if (pending(this.klp, t.id)) return this.runProc(t, updatePatchStateProc(t.cpu, t.id), null);
        return false;
      case 'engine': {
        f.pc++;
        const done = instr.done ?? null;
        const p = instr.make(this, t);
        if (!p) return true;
        return this.runProc(t, p, done);
      }
      case 'fork': {
        // copy_process(): the child enters the task list under the tasklist write lock, with
        // klp_copy_process() deciding its state and flag from the parent's at that moment.
        if (!this.tryWriteLock('tasklist')) return false;
        const main = this.defineCode(instr.kthread ? 'vmlinux' : '', `${instr.name}:main`, instr.program, !instr.kthread);
        const child = this.newTask(instr.name, instr.kthread ? 'kthread' : 'user');
        child.frames.push({ code: main, pc: 0 });
        this.taskList.push(child.id);
        copyProcess(this.klp, t.cpu, t.id, child.id);
        this.writeUnlock('tasklist');
        f.pc++;
        return true;
      }
      case 'exit':
        return this.exit(t);
      case 'yield':
        f.pc++;
        return this.deschedule(t, 'runnable');
      case 'cpu':
        if (!this.hotplug(instr.cpu, instr.online)) return false;
        f.pc++;
        return true;
    }
  }

  private exit(t: SimTask): boolean {
    if (!this.tryWriteLock('tasklist')) return false;
    this.taskList.splice(this.taskList.indexOf(t.id), 1);
    this.writeUnlock('tasklist');
    return this.deschedule(t, 'dead');
  }

  /** cpu_up()/cpu_down() under the hotplug write lock; a CPU's running task moves off it first. */
  private hotplug(cpu: number, online: boolean): boolean {
    const c = this.cpus[cpu];
    if (c.online === online) return true;
    if (!this.tryWriteLock('cpus')) return false;
    const idle = this.tasks[this.idleTasks[cpu]];
    if (online) {
      c.online = true;
      c.current = idle.id;
      idle.status = 'running';
      idle.cpu = cpu;
    } else {
      const cur = this.tasks[c.current];
      if ((cur.proc?.preemptOff ?? 0) !== 0) {
        this.writeUnlock('cpus');
        return false;
      }
      if (cur.kind !== 'idle') this.deschedule(cur, 'runnable');
      c.online = false;
      c.current = -1;
      idle.status = 'runnable';
      idle.cpu = -1;
    }
    this.writeUnlock('cpus');
    return true;
  }

  fail(what: string): void {
    this.failures.push(what);
  }



  taskNamed(name: string): SimTask {
    const t = this.tasks.find((x) => x.name === name);
    if (!t) throw new Error(`no task named ${name}`);
    return t;
  }
}
