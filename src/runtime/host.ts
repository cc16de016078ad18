// The engine's Host for a Node.js process: one CPU (the main thread) whose idle task is the root task,
// tasks are async contexts, a task's stack is its open activations. The engine runs its verbs straight
// through (runToEnd): nothing interleaves inside a verb, so the locks are always free.

import type { Host, LogLevel, ModuleState } from '../engine/index.js';
import { ROOT_TASK, type Task, type Tasks } from './tasks.js';

/** What the host needs from the runtime. */
export interface HostRuntime {
  readonly tasks: Tasks;
  /** The task whose synchronous frames are on the JS stack under the current verb, if any. */
  runningTask: Task | null;
  scheduleRetry(): void;
  signal(task: Task): void;
  kick(task: Task): void;
  log(level: LogLevel, line: string): void;
  lookupSymbol(obj: string, name: string): readonly number[];
  moduleState(obj: string): ModuleState;
}

export class NodeHost implements Host {
  constructor(private readonly rt: HostRuntime) {}

  taskCount(): number {
    return this.rt.tasks.live.length;
  }

  taskAt(i: number): number {
    return this.rt.tasks.live[i].id;
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

  /**
   * A task is "running" when a verb was called from its own code (the in-process API): its synchronous
   * frames are on the stack and invisible to us, so it may only switch after they return.
   */
  taskRunningElsewhere(task: number, current: number): boolean {
    const running = this.rt.runningTask;
    return running !== null && running.id === task && task !== current;
  }

  taskName(task: number): string {
    const t = this.rt.tasks.byId(task);
    return `${t ? t.name : 'task'}:${task}`;
  }

  isKthread(): boolean {
    return false;
  }

  stackOf(task: number): readonly number[] | null {
    const t = this.rt.tasks.byId(task);
    return t ? [...t.active.keys()] : [];
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
    this.rt.scheduleRetry();
  }

  signalTask(task: number): void {
    const t = this.rt.tasks.byId(task);
    if (t) this.rt.signal(t);
  }

  wakeUpIfIdle(): void {
    this.rt.kick(this.rt.tasks.root);
  }

  log(level: LogLevel, line: string): void {
    this.rt.log(level, line);
  }

  lookupSymbol(obj: string, name: string): readonly number[] {
    return this.rt.lookupSymbol(obj, name);
  }

  moduleState(obj: string): ModuleState | null {
    return this.rt.moduleState(obj);
  }
}
