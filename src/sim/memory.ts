// A weak memory model for the checker (`--memory relaxed`): what the kernel's barriers are for.
//
// Stores: each CPU has a store buffer. A buffered store becomes visible (is flushed) when the
// checker chooses; stores to different addresses may be flushed out of order (PSO-like), stores to the
// same address in order, and smp_wmb() is a fence in the buffer: nothing after it is flushed before
// everything before it.
// Loads: each CPU reads through its own view of memory. A flushed store reaches the other CPUs'
// views through per-CPU invalidation queues that the checker drains in any order across addresses
// (in order per address), so without smp_rmb() two loads can see memory as of different times.
// smp_rmb() applies the CPU's whole queue; a full barrier (and test_and_clear, and a CPU passing
// through schedule() in synchronize) drains both.
//
// Both lists are kept in a canonical form, so that executions that differ only in bookkeeping are one
// state to a checker: a CPU's queue holds at most one update per address, so its order means nothing
// and it is sorted by address; a store buffer holds at most one store per address and wmb epoch, so
// within an epoch it is sorted by address too. An update equal to what the CPU already sees is no
// update and is not queued.

import type { Memory } from '../engine/memory.js';

interface Pending {
  a: number;
  v: number;
  /** Store buffer: the wmb epoch the store was made in. Invalidation queue: unused (0). */
  e: number;
}

export class RelaxedMemory implements Memory {
  /** Memory as the coherence order has it (what a flushed store wrote last). */
  private global: Int32Array;
  /** Each CPU's view. */
  private readonly view: Int32Array[];
  private readonly buffer: Pending[][];
  private readonly queue: Pending[][];
  private readonly epoch: number[];

  /**
   * @param litmus The addresses whose stores may be delayed, as in a litmus test that names only the
   * variables a barrier orders; a store to any other address becomes visible to every CPU at once
   * whenever that is one of the executions allowed here. Absent: every address is relaxed.
   */
  constructor(
    readonly cpus: number,
    readonly size: number,
    private readonly litmus?: readonly number[],
  ) {
    this.global = new Int32Array(size);
    this.view = Array.from({ length: cpus }, () => new Int32Array(size));
    this.buffer = Array.from({ length: cpus }, () => []);
    this.queue = Array.from({ length: cpus }, () => []);
    this.epoch = Array.from({ length: cpus }, () => 0);
  }

  private check(a: number): void {
    if (a >= this.size) throw new Error(`relaxed memory: address ${a} beyond the model's ${this.size} cells`);
  }

  load(cpu: number, a: number): number {
    this.check(a);
    const buf = this.buffer[cpu];
    for (let i = buf.length - 1; i >= 0; i--) if (buf[i].a === a) return buf[i].v;
    return this.view[cpu][a];
  }

  store(cpu: number, a: number, v: number): void {
    this.check(a);
    const buf = this.buffer[cpu];
    const e = this.epoch[cpu];
    if (this.litmus && !this.litmus.includes(a)) {
      // Not a litmus variable: visible everywhere at once, unless a buffered store must become visible
      // first (one before an smp_wmb(), or one to the same address). Then it waits its turn in
      // program order: fenced on both sides, so it adds no reordering of its own.
      if (!buf.some((p) => p.e !== e || p.a === a)) return this.publish(cpu, a, v);
      const last = buf[buf.length - 1];
      if (last.a === a && last.e === e - 1) last.v = v;
      else {
        const fenced = last.e === e ? e + 1 : e;
        buf.push({ a, v, e: fenced });
        this.epoch[cpu] = fenced + 1;
      }
      return;
    }
    // Coalesce with a buffered store to the same address in the same epoch: nobody else can have
    // seen the older one yet, and without this a CPU storing in a loop makes the state space infinite.
    // The current epoch's stores are the buffer's tail.
    let i = buf.length;
    while (i > 0 && buf[i - 1].e === e && buf[i - 1].a >= a) i--;
    if (i < buf.length && buf[i].a === a) buf[i].v = v;
    else buf.splice(i, 0, { a, v, e });
  }

  testAndClear(cpu: number, a: number): number {
    this.mb(cpu);
    const old = this.global[a];
    if (old !== 0) this.publish(cpu, a, 0);
    return old;
  }

  wmb(cpu: number): void {
    // Only a buffered store of the current epoch needs fencing off: epochs stay dense, so two buffers
    // that order their stores alike capture alike.
    const buf = this.buffer[cpu];
    if (buf.length > 0 && buf[buf.length - 1].e === this.epoch[cpu]) this.epoch[cpu]++;
  }

  rmb(cpu: number): void {
    for (const p of this.queue[cpu]) this.view[cpu][p.a] = p.v;
    this.queue[cpu].length = 0;
  }

  mb(cpu: number): void {
    while (this.buffer[cpu].length > 0) this.flush(cpu, 0);
    this.rmb(cpu);
  }

  snapshot(): Int32Array {
    return this.global.slice();
  }

  /** The buffered stores of `cpu` that may be flushed next (indices into its buffer). */
  flushable(cpu: number): number[] {
    const buf = this.buffer[cpu];
    if (buf.length === 0) return [];
    const out: number[] = [];
    // The oldest epoch holds one store per address, so any of them may go first.
    for (let i = 0; i < buf.length && buf[i].e === buf[0].e; i++) out.push(i);
    return out;
  }

  /** The invalidations `cpu` may apply next (indices into its queue): one per address, so any. */
  appliable(cpu: number): number[] {
    return this.queue[cpu].map((_, i) => i);
  }

  /** Make the i-th buffered store of `cpu` visible. */
  flush(cpu: number, i: number): void {
    const [p] = this.buffer[cpu].splice(i, 1);
    this.publish(cpu, p.a, p.v);
  }

  /** Apply the i-th pending invalidation of `cpu`. */
  apply(cpu: number, i: number): void {
    const [p] = this.queue[cpu].splice(i, 1);
    this.view[cpu][p.a] = p.v;
  }

  private publish(cpu: number, a: number, v: number): void {
    this.global[a] = v;
    // Outside a litmus test's variables every CPU takes the store in at once.
    const everywhere = this.litmus !== undefined && !this.litmus.includes(a);
    for (let c = 0; c < this.cpus; c++) {
      const q = this.queue[c];
      let i = 0;
      while (i < q.length && q[i].a < a) i++;
      const queued = i < q.length && q[i].a === a;
      if (c === cpu || everywhere) {
        // The writer sees its own store at once; an older update from another CPU still queued for
        // this address must not overwrite it later (coherence).
        this.view[c][a] = v;
        if (queued) q.splice(i, 1);
        continue;
      }
      // At most one pending update per address and CPU: a newer one replaces it (the CPU skips the
      // intermediate value, which it may do anyway). This bounds the queues; it drops only the
      // executions that read the intermediate value late.
      if (this.view[c][a] === v) {
        if (queued) q.splice(i, 1);
      } else if (queued) q[i].v = v;
      else q.splice(i, 0, { a, v, e: 0 });
    }
  }

  capture(out: number[]): void {
    for (let a = 0; a < this.size; a++) out.push(this.global[a]);
    for (let c = 0; c < this.cpus; c++) {
      for (let a = 0; a < this.size; a++) out.push(this.view[c][a]);
      // Epochs only matter relative to the oldest buffered store: capture them from there.
      const base = this.buffer[c].length ? this.buffer[c][0].e : this.epoch[c];
      out.push(this.epoch[c] - base, this.buffer[c].length);
      for (const p of this.buffer[c]) out.push(p.a, p.v, p.e - base);
      out.push(this.queue[c].length);
      for (const p of this.queue[c]) out.push(p.a, p.v);
    }
  }

  restore(data: ArrayLike<number>, at: number): number {
    for (let a = 0; a < this.size; a++) this.global[a] = data[at++];
    for (let c = 0; c < this.cpus; c++) {
      for (let a = 0; a < this.size; a++) this.view[c][a] = data[at++];
      this.epoch[c] = data[at++];
      const nb = data[at++];
      this.buffer[c] = [];
      for (let i = 0; i < nb; i++) {
        const a = data[at++];
        const v = data[at++];
        this.buffer[c].push({ a, v, e: data[at++] });
      }
      const nq = data[at++];
      this.queue[c] = [];
      for (let i = 0; i < nq; i++) this.queue[c].push({ a: data[at++], v: data[at++], e: 0 });
    }
    return at;
  }
}
