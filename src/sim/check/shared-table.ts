// The visited-state table shared by the workers of a parallel search: the same open addressing on
// 64-bit fingerprints as StateTable, in a growable SharedArrayBuffer, claimed with compare-and-swap,
// with marks per state for the cycle proviso: whether its claimer has finished exploring it, and
// whether another worker asked for it to be expanded fully first.
// It grows by stopping the world: every worker parks between two steps while one rehashes.

import { home, type Visited } from './table.js';

/**
 * The control words, in one small SharedArrayBuffer of their own: the first cache line is written only
 * rarely (every worker reads it between any two steps), then one line per worker counts the states it
 * claimed (a single shared counter would move between the cores at every claim).
 */
const CAP_LOG2 = 0; // log2 of the slot count
const RESIZE = 1; // 1 while a worker is (about to be) rehashing; the others park
const PARKED = 2; // workers parked for the resize
const ACTIVE = 3; // workers still searching
const STOP = 4; // 1: every worker leaves its search (a violation, or the state bound)
/** Int32 words in a cache line. */
const LINE = 16;
/**
 * A worker looks at the table's load once per this many of its own claims, or fewer in a small table:
 * all workers together claim at most 1/16 of the slots between two looks.
 */
const LOAD_CHECK = 256;
/**
 * The table grows once this share of its slots is claimed (the load then stays under 3/4). Growing
 * stops every worker while one rehashes: at 10 M states that is a second or more, so the table grows
 * less eagerly than StateTable (1/2), at a small cost in probes.
 */
const LOAD = 0.69;

// A slot is (lo, hi) at 2i, 2i + 1 of an Int32Array. lo is h1 with 0 moved to 1, so a non-zero lo
// claims the slot (the compare-and-swap); hi is 29 bits of h2 with bit 29 set, so that 0 means "lo
// is claimed, hi not yet written" (a reader waits out that window); bit 31, CLOSED, says the claimer
// has finished exploring the state, and bit 30, FULL, that another worker asked it to expand the
// state fully first (the cycle proviso). 61 bits of fingerprint are kept.
const HI_SET = 1 << 29;
const HI_BITS = HI_SET - 1;
const FULL = 1 << 30;
const CLOSED = 1 << 31;
const MARKS = FULL | CLOSED;
/** The table never grows past this (2^28 slots). */
const MAX_BYTES = 2 ** 31;

export interface SharedTableBuffers {
  control: SharedArrayBuffer;
  slots: SharedArrayBuffer;
}

export class SharedStateTable implements Visited {
  private readonly control: Int32Array;
  private readonly slots: Int32Array;
  private mask: number;
  /** This worker's insert crossed the load bound: it resizes at its next poll(). */
  private full = false;
  /** Claims until this worker next looks at the load. */
  private untilCheck = 1;

  /** A new table for `workers` workers; worker 0's view (give the others its buffers). */
  static create(workers: number, capacityLog2 = 16): SharedStateTable {
    const control = new SharedArrayBuffer(4 * LINE * (1 + workers));
    const c = new Int32Array(control);
    c[CAP_LOG2] = capacityLog2;
    c[ACTIVE] = workers;
    const slots = new SharedArrayBuffer(8 << capacityLog2, { maxByteLength: MAX_BYTES });
    return new SharedStateTable({ control, slots }, 0);
  }

  /** Where this worker counts its claims. */
  private readonly mine: number;
  private readonly workers: number;

  constructor(
    readonly buffers: SharedTableBuffers,
    worker: number,
  ) {
    this.control = new Int32Array(buffers.control);
    // Length-tracking: the view follows the buffer when it grows.
    this.slots = new Int32Array(buffers.slots);
    this.mask = (1 << this.control[CAP_LOG2]) - 1;
    this.mine = LINE * (1 + worker);
    this.workers = this.control.length / LINE - 1;
  }

  /** The claims of all workers as last counted: behind by up to LOAD_CHECK a worker while they search. */
  size = 0;

  /** The claims of all workers, counted now (exact once they have all left). */
  count(): number {
    let n = 0;
    for (let w = 1; w <= this.workers; w++) n += Atomics.load(this.control, LINE * w);
    return (this.size = n);
  }

  get bytes(): number {
    return this.buffers.slots.byteLength;
  }

  /** Claim the state; true if it was new (then it is open until close()). */
  add(h1: number, h2: number): boolean {
    const lo = h1 | 0 || 1;
    const hi = (h2 & HI_BITS) | HI_SET;
    const s = this.slots;
    for (let i = home(lo, hi, this.mask); ; i = (i + 1) & this.mask) {
      let l = s[2 * i];
      if (l === 0) {
        l = Atomics.compareExchange(s, 2 * i, 0, lo);
        if (l === 0) {
          // Partner: the wait in hiAt(), of a worker that saw lo before this store.
          Atomics.store(s, 2 * i + 1, hi);
          Atomics.store(this.control, this.mine, this.control[this.mine] + 1);
          if (--this.untilCheck === 0) {
            this.untilCheck = Math.max(1, Math.floor(Math.min(LOAD_CHECK, (this.mask + 1) >> 4) / this.workers));
            if (this.overloaded()) this.full = true;
          }
          return true;
        }
      }
      if (l === lo && (this.hiAt(i) & ~MARKS) === hi) return false;
    }
  }

  expandFully(h1: number, h2: number): boolean {
    const at = 2 * this.find(h1, h2) + 1;
    for (let hi = this.hiAt(at >> 1); ; ) {
      if (hi & CLOSED) return false;
      if (hi & FULL) return true;
      // Partner: the compare-and-swap in close() (the claimer sees the mark, or this sees CLOSED).
      const seen = Atomics.compareExchange(this.slots, at, hi, hi | FULL);
      if (seen === hi) return true;
      hi = seen;
    }
  }

  close(h1: number, h2: number): boolean {
    const at = 2 * this.find(h1, h2) + 1;
    for (let hi = this.hiAt(at >> 1); ; ) {
      const next = hi & FULL ? hi & ~FULL : hi | CLOSED;
      const seen = Atomics.compareExchange(this.slots, at, hi, next);
      if (seen === hi) return (hi & FULL) === 0;
      hi = seen;
    }
  }

  /** Stop every worker's search at its next poll(). */
  stop(): void {
    Atomics.store(this.control, STOP, 1);
  }

  /**
   * Between two steps of a search: park while another worker grows the table, or grow it if this
   * one filled it. False once the search must stop.
   */
  poll(): boolean {
    const c = this.control;
    if (this.full) {
      this.full = false;
      // (Another worker may have grown it since.)
      if (this.overloaded() && Atomics.compareExchange(c, RESIZE, 0, 1) === 0) this.grow();
    }
    if (Atomics.load(c, RESIZE) === 1) this.park();
    return Atomics.load(c, STOP) === 0;
  }

  /** This worker's search is over: it touches the table no more until waitAll() (a resize stops waiting for it). */
  leave(): void {
    Atomics.sub(this.control, ACTIVE, 1);
    Atomics.notify(this.control, PARKED);
    Atomics.notify(this.control, ACTIVE);
  }

  /** Block until every worker has left; this view may then be used again (on its own). */
  waitAll(): void {
    for (let n = Atomics.load(this.control, ACTIVE); n > 0; n = Atomics.load(this.control, ACTIVE)) Atomics.wait(this.control, ACTIVE, n, 50);
    // The table may have grown since this worker left.
    this.mask = (1 << this.control[CAP_LOG2]) - 1;
  }

  private park(): void {
    const c = this.control;
    Atomics.add(c, PARKED, 1);
    Atomics.notify(c, PARKED);
    while (Atomics.load(c, RESIZE) === 1) Atomics.wait(c, RESIZE, 1);
    Atomics.sub(c, PARKED, 1);
    Atomics.notify(c, PARKED);
    this.mask = (1 << c[CAP_LOG2]) - 1;
  }

  /** Double the slots once every other worker still searching is parked, and rehash. */
  private grow(): void {
    const c = this.control;
    for (;;) {
      const parked = Atomics.load(c, PARKED);
      if (parked >= Atomics.load(c, ACTIVE) - 1) break;
      Atomics.wait(c, PARKED, parked, 10);
    }
    const log2 = c[CAP_LOG2] + 1;
    if (8 * 2 ** log2 > MAX_BYTES) throw new Error(`shared state table: more than ${Math.floor((LOAD * MAX_BYTES) / 8)} states`);
    const old = this.slots.slice();
    this.buffers.slots.grow(8 * 2 ** log2);
    const s = this.slots;
    s.fill(0);
    c[CAP_LOG2] = log2;
    this.mask = (1 << log2) - 1;
    for (let j = 0; j < old.length; j += 2) {
      if (old[j] === 0) continue;
      let i = home(old[j], old[j + 1] & ~MARKS, this.mask);
      while (s[2 * i] !== 0) i = (i + 1) & this.mask;
      s[2 * i] = old[j];
      s[2 * i + 1] = old[j + 1];
    }
    // Partner: the wait in park() (the parked workers read CAP_LOG2 and the slots after it).
    Atomics.store(c, RESIZE, 0);
    Atomics.notify(c, RESIZE);
    // No new resize may count a worker still leaving this one's park() as parked for it.
    for (let parked = Atomics.load(c, PARKED); parked > 0; parked = Atomics.load(c, PARKED)) Atomics.wait(c, PARKED, parked, 1);
  }

  private overloaded(): boolean {
    return this.count() >= LOAD * (this.mask + 1);
  }

  private find(h1: number, h2: number): number {
    const lo = h1 | 0 || 1;
    const hi = (h2 & HI_BITS) | HI_SET;
    for (let i = home(lo, hi, this.mask); ; i = (i + 1) & this.mask) {
      if (this.slots[2 * i] === lo && (this.hiAt(i) & ~MARKS) === hi) return i;
      if (this.slots[2 * i] === 0) throw new Error('shared state table: a state looked up was never added');
    }
  }

  /** Slot i's hi word, once its claimer has written it. */
  private hiAt(i: number): number {
    let hi = Atomics.load(this.slots, 2 * i + 1);
    while (hi === 0) hi = Atomics.load(this.slots, 2 * i + 1);
    return hi;
  }
}
