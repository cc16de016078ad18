// What the coordination of several runtimes (src/cluster/) shows and how the runtime calls it.

import type { BlockedTask, PatchInfo, TransitionStatus } from '../runtime/types.js';
import type { GroupOpKind } from './coord.js';

/** One CPU of the process-level transition (a thread, a cluster worker) as `status` shows it. */
export interface CpuStatus {
  /** 'main', 'thread 3', 'worker 2 (pid 4711)'. */
  cpu: string;
  /** The seq of the last op it applied, of `ops` in all. */
  applied: number;
  ops: number;
  /** Its own transition: the patch, or null when idle. */
  patch: string | null;
  /** Its tasks not yet switched, of all its tasks. */
  pending: number;
  tasks: number;
  /** At the process level's end (applied every op, idle). */
  switched: boolean;
  /** The op it could not apply, with why (the CPU keeps its previous code for it). */
  error?: string;
}

/** `status` of a process whose runtime coordinates others: the process-level transition, per CPU. */
export interface GroupStatus extends TransitionStatus {
  cpus: CpuStatus[];
}

/** A CPU's report to its coordinator. */
export interface CpuReport {
  applied: number;
  transition: boolean;
  status: TransitionStatus;
  error?: string;
}

/**
 * The runtime's view of the coordinator it belongs to (only the coordinating runtime has one): it
 * hears the runtime's verbs and widens its views to the process level.
 */
export interface RuntimeGroup {
  /** Throws LP_ERR_BUSY when the process level is in transition of another patch. */
  admit(kind: GroupOpKind, name: string): void;
  /**
   * Whether the runtime runs the engine's verb itself: not a force where it is done with the patch, nor
   * the reverse of a replace it has completed (the group takes the replaced patches back instead).
   */
  runLocal(kind: GroupOpKind, name: string): boolean;
  issued(kind: GroupOpKind, name: string, patch?: unknown): void;
  status(local: TransitionStatus, limit: number): TransitionStatus;
  list(local: PatchInfo[]): PatchInfo[];
  /** No process-level transition in progress. */
  idle(): boolean;
}

export type { BlockedTask };
