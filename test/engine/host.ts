// A small straight-through host for engine tests: a fixed set of tasks and CPUs, a stack per task,
// nothing running unless a test says so. It is a real host of the engine (as the Node runtime is), not
// a stand-in for part of it.

import {
  Klp,
  runToEnd,
  enablePatchProc,
  enabledStoreProc,
  forceStoreProc,
  moduleComingProc,
  moduleGoingProc,
  transitionWorkProc,
  updatePatchStateProc,
  handlerProc,
  patchViews,
  type Host,
  type HostLock,
  type LogLevel,
  type ModuleState,
  type PatchDesc,
} from '../../src/engine/index.js';

export class TestHost implements Host {
  readonly klp: Klp;
  readonly lines: string[] = [];
  /** Per task: the code ids on its stack. */
  readonly stacks: number[][] = [];
  readonly running = new Set<number>();
  readonly kthreads = new Set<number>();
  readonly online: boolean[];
  readonly signalled: number[] = [];
  retries = 0;
  reliable = true;
  /** Symbol table: "obj:name" → code ids. */
  readonly symbols = new Map<string, number[]>();
  readonly modules = new Map<string, ModuleState>();
  private nextCode = 1000;
  readonly tasks: number[];

  constructor(
    readonly ntasks = 3,
    readonly ncpus = 2,
  ) {
    this.klp = new Klp(this);
    this.tasks = Array.from({ length: ntasks }, (_, i) => i);
    this.online = Array.from({ length: ncpus }, () => true);
    for (let t = 0; t < ntasks + ncpus; t++) {
      this.klp.initTask(t);
      this.stacks.push([]);
    }
  }

  /** Define a function in an object; returns its code id. */
  define(obj: string, name: string): number {
    const code = this.nextCode++;
    const key = `${obj}:${name}`;
    this.symbols.set(key, [...(this.symbols.get(key) ?? []), code]);
    return code;
  }

  taskCount(): number {
    return this.tasks.length;
  }
  taskAt(i: number): number {
    return this.tasks[i];
  }
  possibleCpus(): number {
    return this.ncpus;
  }
  idleTask(cpu: number): number {
    return this.ntasks + cpu;
  }
  cpuOnline(cpu: number): boolean {
    return this.online[cpu];
  }
  taskRunningElsewhere(task: number, current: number): boolean {
    return task !== current && this.running.has(task);
  }
  taskName(task: number): string {
    return `task${task}:${task}`;
  }
  isKthread(task: number): boolean {
    return this.kthreads.has(task);
  }
  stackOf(task: number): readonly number[] | null {
    return this.stacks[task];
  }
  haveReliableStack(): boolean {
    return this.reliable;
  }
  tryReadLock(_lock: HostLock): boolean {
    return true;
  }
  readUnlock(): void {}
  cpuCanSchedule(): boolean {
    return true;
  }
  scheduleRetry(): void {
    this.retries++;
  }
  signalTask(task: number): void {
    this.signalled.push(task);
  }
  wakeUpIfIdle(): void {}
  log(level: LogLevel, line: string): void {
    if (level !== 'trace') this.lines.push(line);
  }
  lookupSymbol(obj: string, name: string): readonly number[] {
    return this.symbols.get(`${obj}:${name}`) ?? [];
  }
  moduleState(obj: string): ModuleState | null {
    return this.modules.get(obj) ?? null;
  }

  // ---- verbs, run straight through; each returns the proc's result and error ----

  enable(desc: PatchDesc) {
    const p = enablePatchProc(this.klp, 0, 0, desc);
    runToEnd(this.klp, p);
    return p;
  }
  setEnabled(name: string, value: boolean) {
    const p = enabledStoreProc(this.klp, 0, 0, name, value);
    runToEnd(this.klp, p);
    return p;
  }
  force(name: string) {
    const p = forceStoreProc(this.klp, 0, 0, name);
    runToEnd(this.klp, p);
    return p;
  }
  work() {
    runToEnd(this.klp, transitionWorkProc(0, 0));
  }
  barrier(task: number) {
    runToEnd(this.klp, updatePatchStateProc(0, task));
  }
  moduleComing(name: string) {
    this.modules.set(name, 'MODULE_STATE_COMING');
    const p = moduleComingProc(this.klp, 0, 0, name);
    runToEnd(this.klp, p);
    this.modules.set(name, p.error ? 'MODULE_STATE_GOING' : 'MODULE_STATE_LIVE');
    return p;
  }
  moduleGoing(name: string) {
    this.modules.set(name, 'MODULE_STATE_GOING');
    runToEnd(this.klp, moduleGoingProc(this.klp, 0, 0, name));
    this.modules.delete(name);
  }
  /** Which code a call of `code` runs in `task`. */
  call(task: number, code: number): number {
    const ops = this.klp.findOps(code);
    if (ops < 0) return code;
    return runToEnd(this.klp, handlerProc(0, task, ops));
  }

  /** Everything observable about the engine, for "unchanged" assertions. */
  snapshot(): string {
    const k = this.klp;
    return JSON.stringify({
      views: patchViews(k),
      mem: Array.from(k.mem.snapshot()),
      transition: k.transitionPatch?.name ?? null,
      held: [...k.moduleHeld],
      live: [...k.liveModules],
      warnings: k.warnings,
      funcs: k.funcs.map((f) => [f.oldFunc, f.newFunc, f.patched]),
    });
  }
}
