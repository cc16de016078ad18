// A CPU's side of the process-level transition: the ops of the coordinator's log applied to this
// runtime, once each and in order (CpuLog), and the report of where it is.

import { isLpError } from '../engine/index.js';
import type { Runtime } from '../runtime/livepatch.js';
import { CpuLog, type GroupOp } from './coord.js';
import type { CpuReport } from './types.js';

/** Blocked tasks a report carries: enough for `status` to name what holds each CPU. */
const REPORT_BLOCKED = 5;

/** One op of the log on this runtime (the coordinating one's own verbs included, see threads.ts). */
export function applyOp(rt: Runtime, op: GroupOp): void {
  const here = rt.klp.transitionPatch?.name === op.name;
  // A force reaches CPUs that are done with the patch already: there is nothing to force there.
  if (op.kind === 'force') {
    if (here) rt.force(op.name);
  } else if (op.kind === 'enable') rt.enable(op.patch);
  // A replace of nothing comes back to nothing: its reverse is the unpatch.
  else if (!op.restore || here || op.restore.length === 0) rt.disable(op.name);
  else if (op.restore.length === 1) {
    // The reverse of a replace completed here: the replaced patch comes back as a replace of this one,
    // so that each task goes from the new code straight back to the old, never to what lies below.
    rt.enable(asReplace(op.restore[0].patch));
  } else {
    // Several replaced patches cannot come back in one transition (docs/cluster.md): this CPU unpatches.
    rt.disable(op.name);
    rt.log('err', `livepatch: '${op.name}' replaced ${op.restore.length} patches here; its reverse unpatches them all on this CPU`);
  }
}

function asReplace(patch: unknown): unknown {
  const file = (typeof patch === 'string' ? JSON.parse(patch) : patch) as Record<string, unknown>;
  return { ...file, replace: true };
}

export class RuntimeCpu {
  readonly log = new CpuLog();
  /** The last op this CPU could not apply, and why. */
  private error: string | undefined;

  constructor(private readonly rt: Runtime) {}

  /** The replay answered at coming online: it runs before any user code of this CPU. */
  replayed(seq: number, ops: readonly GroupOp[]): void {
    this.run(this.log.replayed(seq, ops));
  }

  /** Ops broadcast (or sent) by the coordinator; duplicates and early ones are sorted out by the log. */
  received(ops: readonly GroupOp[]): void {
    this.run(this.log.take(ops));
  }

  private run(ops: readonly GroupOp[]): void {
    const { rt } = this;
    for (const op of ops) {
      try {
        rt.asRuntime(() => applyOp(rt, op));
        this.error = undefined;
      } catch (e) {
        // Fail open: this CPU keeps its code for this op; status shows why.
        this.error = `${op.kind} '${op.name}' (op ${op.seq}): ${isLpError(e) ? `${e.code}: ${e.message}` : String(e)}`;
        rt.log('err', `livepatch: this thread could not apply ${this.error}`);
      }
    }
  }

  report(): CpuReport {
    const r: CpuReport = { applied: this.log.applied, transition: this.rt.klp.transitionPatch !== null, status: this.rt.localStatus(REPORT_BLOCKED) };
    if (this.error) r.error = this.error;
    return r;
  }
}
