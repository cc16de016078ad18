// The engine's memory for the runtime, with the number of tasks whose TIF_PATCH_PENDING is set kept
// up to date on every write: completion is then an O(1) test per event (an activation ending, a task
// ending or switching) instead of a scan of every live task, which made a transition with n tasks
// in flight cost O(n) per event and O(n²) in all.

import { KINDS, ScMemory, Var } from '../engine/memory.js';

export class CountingMemory extends ScMemory {
  /**
   * Pending cells holding a nonzero value: every write of one goes through store() (testAndClear()
   * too), so this is exact. The runtime clears a released task's cell (see Runtime.endTask), so it
   * counts live tasks (and the root task) only.
   */
  pendingTasks = 0;

  override store(cpu: number, a: number, v: number): void {
    if (a % KINDS === Var.Pending) this.pendingTasks += Number(v !== 0) - Number(this.load(cpu, a) !== 0);
    super.store(cpu, a, v);
  }
}
