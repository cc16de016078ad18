// How engine code runs: every verb is a step function over an explicit frame, not a generator, so a
// CPU's position inside a verb is plain data (fn, pc, a few integer locals) that a model checker can
// copy, hash and restore. One step performs at most one access to shared state (Memory, a lock, the
// klp_mutex-protected model); purely local work is merged into the next visible step.
//
// A host that does not interleave simply calls runToEnd(); a simulator calls step() on whichever CPU its
// scheduler picks.

import type { LpError } from './errors.js';

/** A step function's verdict. */
export const enum St {
  /** Made progress and touched shared state: a point where the host may switch CPUs. */
  Next,
  /** Made progress without touching shared state: keep going on this CPU. */
  Local,
  /** Cannot progress now (a lock, or synchronize waiting for another CPU); nothing was changed. */
  Block,
}

export class Frame {
  pc = 0;
  /** Loop index. */
  i = 0;
  /** Return value of the last callee. */
  rv = 0;
  constructor(
    readonly fn: number,
    /** Arguments / locals, verb-specific. */
    public a: number,
    public b: number,
  ) {}
}

/** One thread of control running engine code on a CPU: an admin write, a worker, a task at its barrier. */
export class Proc {
  readonly frames: Frame[] = [];
  /** Outcome: 0 or a negative errno from the outermost verb. */
  result = 0;
  /** The error a failed admin verb reports; the engine state is as before the call when it is set early. */
  error: LpError | null = null;
  /**
   * Nesting depth of preempt_disable(): while non-zero this CPU cannot pass a
   * klp_synchronize_transition() grace period (reader side of synchronize).
   */
  preemptOff = 0;

  constructor(
    /** The CPU this code runs on (its Memory view). */
    public cpu: number,
    /** `current`: the task this code runs in. */
    readonly task: number,
    fn: number,
    a = 0,
    b = 0,
  ) {
    this.frames.push(new Frame(fn, a, b));
  }

  get done(): boolean {
    return this.frames.length === 0;
  }

  /** The position as integers: fn, pc, i, a, b, rv per frame (for hashing and printing). */
  position(): number[] {
    const out: number[] = [this.preemptOff];
    for (const f of this.frames) out.push(f.fn, f.pc, f.i, f.a, f.b, f.rv);
    return out;
  }
}

export function call(p: Proc, fn: number, a = 0, b = 0): St {
  p.frames.push(new Frame(fn, a, b));
  return St.Local;
}

/** Return from the current frame; `st` says whether the returning step touched shared state. */
export function ret(p: Proc, value = 0, st = St.Local): St {
  p.frames.pop();
  const caller = p.frames[p.frames.length - 1];
  if (caller) caller.rv = value;
  else p.result = value;
  return st;
}
