// What the engine needs from the system it runs in. Two hosts implement it: the simulated SMP kernel
// (src/sim) and the Node.js runtime (src/runtime). Task and CPU identities are small integers the host
// chooses; a task id indexes the task's lock-free variables in Memory.

/** 'trace' is klp_try_switch_task()'s per-task chatter, which the kernel's selftests switch off. */
export type LogLevel = 'notice' | 'debug' | 'trace' | 'warn' | 'err';

/** The kernel locks the transition code takes that belong to the host, not to livepatch. */
export type HostLock = 'tasklist' | 'cpus';

export interface Host {
  /** for_each_process_thread(): the normal tasks. The list is stable while 'tasklist' is read-held. */
  taskCount(): number;
  taskAt(i: number): number;
  /** for_each_possible_cpu(). */
  possibleCpus(): number;
  idleTask(cpu: number): number;
  /** cpu_online(); stable while 'cpus' is read-held. */
  cpuOnline(cpu: number): boolean;
  /** task_curr(task) && task != current: the task runs on a CPU right now and is not the caller. */
  taskRunningElsewhere(task: number, current: number): boolean;
  /** comm:pid as the kernel's per-task messages print it. */
  taskName(task: number): string;
  /** PF_KTHREAD. */
  isKthread(task: number): boolean;
  /**
   * stack_trace_save_tsk_reliable(): the code ids the task's stack holds (what is active in it), or
   * null when the stack cannot be walked reliably. Called only while the task cannot run.
   */
  stackOf(task: number): readonly number[] | null;
  /** klp_have_reliable_stack(): false on an arch without reliable stack traces. */
  haveReliableStack(): boolean;
  /** Non-blocking read_lock()/cpus_read_lock(): false means "would block", and nothing changed. */
  tryReadLock(lock: HostLock, cpu: number): boolean;
  readUnlock(lock: HostLock, cpu: number): void;
  /**
   * klp_synchronize_transition() runs an empty work item on every online CPU and waits. This says
   * whether `cpu` can run it now: false while a reader (handler, klp_update_patch_state(), the scheduler
   * hook) is inside its preempt-disabled section there.
   */
  cpuCanSchedule(cpu: number): boolean;
  /** schedule_delayed_work(&klp_transition_work, ~1s). */
  scheduleRetry(): void;
  /** The fake signal: wake a kthread (wake_up_state) or set_notify_signal() a user task. */
  signalTask(task: number): void;
  /** wake_up_if_idle(): make the CPU's idle task go through its loop (and switch there). */
  wakeUpIfIdle(cpu: number): void;
  /** Every line the engine prints, without the level; `livepatch: ` is part of the line. */
  log(level: LogLevel, line: string): void;
  /** All code ids of functions named `name` in object `obj`, in symbol-table order. */
  lookupSymbol(obj: string, name: string): readonly number[];
  /** The module's state as callbacks print it, null for vmlinux. */
  moduleState(obj: string): import('./model.js').ModuleState | null;
}
