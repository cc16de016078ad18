// Tasks: the runtime's equivalent of the kernel's task_struct. A task is an async context (an HTTP
// request, a job started with runTask(), …) carried by AsyncLocalStorage; code outside any task runs in
// the root task, which plays the idle task of the one CPU (the main thread).
//
// A task's "stack" is the set of activations of async functions and generators of instrumented modules
// that have started and not finished in it: between event-loop callbacks no synchronous frame is on any
// task's stack, so these suspended activations are exactly what can hold old code.

import { AsyncLocalStorage } from 'node:async_hooks';
import { DECISIONS, type Decisions } from './decisions.js';

/** Task ids index the engine's lock-free variables (patchState, pending). */
export const ROOT_TASK = 0;
/** The runtime's own context for admin verbs (the kernel's kworker): never in the task list. */
export const ADMIN_TASK = 1;

/**
 * What a task that has never had an activation shares: most tasks (a request served by synchronous
 * handlers) never do, and two Maps a task are most of its memory. Only enter() writes a task's maps,
 * and it gives the task its own first (exit() and every reader only read).
 */
const NONE: ReadonlyMap<number, number> = new Map();

const ENDED = 1;
const CLOSING = 2;
const KICK_QUEUED = 4;
/** Task start times are kept relative to this (the runtime's load). */
const EPOCH = Date.now();

export class Task {
  /** Open activations by code id (NONE until the first). */
  active = NONE as Map<number, number>;
  /**
   * When the first open activation of a code started (Date.now()), recorded only while a transition
   * runs: status ages are wanted then, and every async call outside transitions stays cheap.
   */
  since = NONE as Map<number, number>;
  /** Position in Tasks.live (swap-removed), -1 once ended; the root task is not in the list. */
  index = -1;
  /** ENDED | CLOSING | KICK_QUEUED: one small integer rather than three fields a task. */
  private flags = 0;
  /** Listeners for the fake signal (a nudge to finish up; never unsafe to ignore); null until the first. */
  signalListeners: Array<() => void> | null = null;
  /** Milliseconds from EPOCH to the start: a small integer, where Date.now() would be a boxed double. */
  private readonly born: number;

  constructor(
    readonly id: number,
    readonly name: string,
    started: number,
    private readonly decide: Decisions = DECISIONS,
  ) {
    this.born = started - EPOCH;
  }

  /** When the task started (Date.now()). */
  get started(): number {
    return EPOCH + this.born;
  }

  get ended(): boolean {
    return (this.flags & ENDED) !== 0;
  }

  set ended(on: boolean) {
    this.flags = on ? this.flags | ENDED : this.flags & ~ENDED;
  }

  /**
   * Its owner is done with it (the response closed, runTask's function settled) but activations are
   * still open: it stays a task, so that those activations keep their version, until the last ends.
   */
  get closing(): boolean {
    return (this.flags & CLOSING) !== 0;
  }

  set closing(on: boolean) {
    this.flags = on ? this.flags | CLOSING : this.flags & ~CLOSING;
  }

  /** A switch attempt is queued for the next microtask. */
  get kickQueued(): boolean {
    return (this.flags & KICK_QUEUED) !== 0;
  }

  set kickQueued(on: boolean) {
    this.flags = on ? this.flags | KICK_QUEUED : this.flags & ~KICK_QUEUED;
  }

  enter(code: number): void {
    if (this.active === NONE) this.active = new Map();
    if (this.decide.enterActivation(this.active, code) && stamping) {
      if (this.since === NONE) this.since = new Map();
      this.since.set(code, Date.now());
    }
  }

  /** Returns true when this closed the last open activation of `code`. */
  exit(code: number): boolean {
    if (!this.decide.exitActivation(this.active, code)) return false;
    if (this.since.size > 0) this.since.delete(code);
    return true;
  }
}

let stamping = false;

/** Record activation start times from now on (a transition started) or stop (it ended). */
export function stampActivations(on: boolean): void {
  stamping = on;
}

export class Tasks {
  readonly als = new AsyncLocalStorage<Task>();
  readonly root: Task;
  /** Every live task but the root: for_each_process_thread(). */
  readonly live: Task[] = [];
  /** Live tasks by id. */
  private readonly slots: Array<Task | undefined> = [];
  private readonly freeIds: number[] = [];
  private nextId = ADMIN_TASK + 1;

  constructor(private readonly decide: Decisions = DECISIONS) {
    this.root = new Task(ROOT_TASK, 'root', Date.now(), decide);
  }

  /** `current`: the task whose code runs now. Code a finished task left behind runs as the root task. */
  current(): Task {
    const t = this.als.getStore();
    return t === undefined || t.ended ? this.root : t;
  }

  /** A new task (not yet started: the caller copies its patch state and runs it). */
  create(name: string): Task {
    const task = new Task(this.freeIds.pop() ?? this.nextId++, name, Date.now(), this.decide);
    task.index = this.live.push(task) - 1;
    this.slots[task.id] = task;
    return task;
  }

  /**
   * The task's owner is done with it. It is gone (release_task, its id reused later) once no activation
   * is open in it; returns whether that happened now.
   */
  end(task: Task): boolean {
    if (task.ended || task === this.root) return false;
    if (task.active.size > 0) {
      task.closing = true;
      return false;
    }
    task.ended = true;
    const last = this.live.pop()!;
    if (last !== task) {
      this.live[task.index] = last;
      last.index = task.index;
    }
    task.index = -1;
    this.slots[task.id] = undefined;
    this.freeIds.push(task.id);
    return true;
  }

  byId(id: number): Task | undefined {
    return id === ROOT_TASK ? this.root : this.slots[id];
  }
}
