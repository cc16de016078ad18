// The engine's lock-free shared state: every variable that one CPU writes while another may read it
// without klp_mutex (the ftrace handler, klp_update_patch_state(), the scheduler hook). Everything else
// the engine keeps is written only under klp_mutex and lives in ordinary fields.
//
// Keeping these variables in one flat array behind this interface is what lets a host interpose a weak
// memory model (per-CPU store buffers) and lets a model checker copy and hash the whole shared state.

import type { IntVec } from './snapshot.js';

/** Which kind of variable an address holds; addr = index * KINDS + kind. */
export const enum Var {
  /** klp_target_state (index 0 only). */
  Target = 0,
  /** task->patch_state, by task id. */
  PatchState = 1,
  /** TIF_PATCH_PENDING, by task id. */
  Pending = 2,
  /** func->transition, by func id. */
  Transition = 3,
  /** Head of klp_ops->func_stack (func id + 1, 0 = empty), by ops id. */
  StackHead = 4,
  /** func->stack_node.next (func id + 1, 0 = end of list), by func id. */
  StackNext = 5,
}
export const KINDS = 8;

/** The kinds a symmetric capture leaves out per task (captureInto()'s hideTasks). */
const HIDDEN_KINDS = [Var.PatchState, Var.Pending] as const;

export function addr(kind: Var, index: number): number {
  return index * KINDS + kind;
}

/**
 * Memory as seen from one CPU. Barriers are explicit calls so that a relaxed implementation can order
 * its store buffer; the sequentially consistent one treats them as no-ops.
 */
export interface Memory {
  load(cpu: number, a: number): number;
  store(cpu: number, a: number, v: number): void;
  /** test_and_clear_bit(): atomic, fully ordered (implies smp_mb on both sides). Returns the old value. */
  testAndClear(cpu: number, a: number): number;
  /** smp_wmb(): stores before it become visible before stores after it. */
  wmb(cpu: number): void;
  /** smp_rmb(): loads before it are satisfied before loads after it. */
  rmb(cpu: number): void;
  /** A full barrier, as every CPU passing through schedule() in klp_synchronize_transition() implies. */
  mb(cpu: number): void;
  /** Copy of the globally visible contents, for golden-state tests. */
  snapshot(): Int32Array;
  /** Append everything (visible contents and anything still in flight) to `out`, for a checker. */
  capture(out: number[]): void;
  /** Restore what capture() wrote at `at`; returns the offset after it. */
  restore(data: ArrayLike<number>, at: number): number;
}

/** Sequentially consistent memory: a growable Int32Array. The runtime and the default simulator use it. */
export class ScMemory implements Memory {
  private cells = new Int32Array(64);
  /** One past the highest address ever stored: what capture() needs to copy. */
  private used = 0;

  load(_cpu: number, a: number): number {
    return a < this.cells.length ? this.cells[a] : 0;
  }

  store(_cpu: number, a: number, v: number): void {
    if (a >= this.cells.length) this.grow(a);
    this.cells[a] = v;
    if (a >= this.used) this.used = a + 1;
  }

  testAndClear(cpu: number, a: number): number {
    const old = this.load(cpu, a);
    if (old !== 0) this.store(cpu, a, 0);
    return old;
  }

  wmb(): void {}
  rmb(): void {}
  mb(): void {}

  snapshot(): Int32Array {
    return this.cells.slice(0, this.used);
  }

  capture(out: number[]): void {
    out.push(this.used);
    for (let a = 0; a < this.used; a++) out.push(this.cells[a]);
  }

  /**
   * capture() for a checker: into its reused vector, four cells to an int32 (a cell must fit in a
   * signed byte: the engine keeps small integers there), so a state is shorter to hash and store.
   * The patch_state and pending cells of tasks below `hideTasks` are written as 0 (a symmetry key
   * keeps them with each task instead). restorePacked() reads it back.
   */
  captureInto(out: IntVec, hideTasks = 0): void {
    const n = this.used;
    const words = (n + 3) >> 2;
    out.reserve(1 + words);
    const buf = out.buf;
    let o = out.n;
    buf[o++] = n;
    // Cells from `used` on are 0, and the array's length is a multiple of 4: whole words can be read.
    const cells = this.cells;
    for (let a = 0; a < n; a += 4) {
      const c0 = cells[a];
      const c1 = cells[a + 1];
      const c2 = cells[a + 2];
      const c3 = cells[a + 3];
      if (((c0 + 128) | (c1 + 128) | (c2 + 128) | (c3 + 128)) & ~255) {
        const c = [c0, c1, c2, c3].findIndex((v) => v < -128 || v > 127);
        throw new Error(`memory: cell ${a + c} holds ${cells[a + c]}, beyond what a packed capture keeps`);
      }
      buf[o++] = (c0 & 255) | ((c1 & 255) << 8) | ((c2 & 255) << 16) | (c3 << 24);
    }
    for (let t = 0; t < hideTasks; t++) {
      for (const kind of HIDDEN_KINDS) {
        const c = t * KINDS + kind;
        if (c < n) buf[out.n + 1 + (c >> 2)] &= ~(255 << (8 * (c & 3)));
      }
    }
    out.n = o;
  }

  /** Restore what captureInto() wrote at `at`; returns the offset after it. */
  restorePacked(data: ArrayLike<number>, at: number): number {
    const n = data[at++];
    if (n > this.cells.length) this.grow(n);
    if (this.used > n) this.cells.fill(0, n, this.used);
    const cells = this.cells;
    // Whole words: the bytes past n were captured as 0 (see captureInto()).
    for (let a = 0; a < n; a += 4) {
      const word = data[at++];
      cells[a] = (word << 24) >> 24;
      cells[a + 1] = (word << 16) >> 24;
      cells[a + 2] = (word << 8) >> 24;
      cells[a + 3] = word >> 24;
    }
    this.used = n;
    return at;
  }

  restore(data: ArrayLike<number>, at: number): number {
    const n = data[at++];
    if (n > this.cells.length) this.grow(n);
    if (this.used > n) this.cells.fill(0, n, this.used);
    for (let a = 0; a < n; a++) this.cells[a] = data[at++];
    this.used = n;
    return at;
  }

  private grow(a: number): void {
    let n = this.cells.length;
    while (n <= a) n *= 2;
    const next = new Int32Array(n);
    next.set(this.cells);
    this.cells = next;
  }
}
