// The shapes the runtime's API returns and the control socket carries (JSON-safe: no functions, no
// cycles). The CLI prints them; tests compare them.

import type { PatchView } from '../engine/index.js';

/** One patch as `livepatch list` shows it: the engine's sysfs view plus the runtime's per-object facts. */
export interface PatchInfo extends PatchView {
  /** Objects not loaded yet (applied when their module loads: module coming). */
  pendingObjects: string[];
}

/** A task not yet switched, with what holds it. */
export interface BlockedTask {
  id: number;
  /** e.g. `GET /upload`, `job:reindex`, `root`. */
  name: string;
  /** Milliseconds since the task started. */
  ageMs: number;
  /** /proc/<pid>/patch_state of the task: 0 unpatched, 1 patched. */
  patchState: number;
  /**
   * Activations of functions being changed, oldest first: qualified name, object, where the function
   * is (1-based line and column in the object's source; null for a patch's replacement code), and how
   * long the task has been inside it.
   */
  holding: Array<{
    func: string;
    object: string;
    line: number | null;
    column: number | null;
    /**
     * Milliseconds inside the function: exact when `exact`; otherwise the activation began before the
     * transition started (activations are timed only during transitions) and this is its task's age,
     * which it cannot exceed.
     */
    ageMs: number;
    exact: boolean;
  }>;
}

export interface TransitionStatus {
  /** The patch in transition, or null when idle. */
  patch: string | null;
  /** 'patching' | 'unpatching' | 'idle' */
  targetState: 'patching' | 'unpatching' | 'idle';
  /** Milliseconds since the transition started (0 when idle). */
  ageMs: number;
  /** Live tasks in all (including the root task). */
  tasks: number;
  /** How many tasks are not at the target yet (all of them, whatever `limit`). */
  pending: number;
  /** Tasks not at the target yet, oldest first (at most `limit` of them when asked). */
  blocked: BlockedTask[];
  /** Failed completion attempts so far (fake signals go out every 15th). */
  attempts: number;
}

export interface ModuleInfo {
  /** Object name: `./lib/x.js` for the app's files, `pkg/path.js` for packages. */
  name: string;
  sha256: string;
  /** Number of instrumented functions. */
  functions: number;
  /** Functions currently redirected by some patch. */
  patched: number;
}

export interface FunctionInfo {
  /** Qualified name (old_name). */
  name: string;
  /** 1-based position among functions of the same name (old_sympos). */
  sympos: number;
  kind: string;
  line: number;
  column: number;
  /** '' when patchable, else why not. */
  unpatchable: string;
}
