// The visited-state table: 64-bit fingerprints (two 32-bit hashes) in an open-addressing table on
// a typed array, 8 bytes a slot. V8's Set and Map stop at 2^24 entries; this grows until memory does.

/** The slot a fingerprint's probe starts at, in a table of mask + 1 slots (every table here uses it). */
export function home(h1: number, h2: number, mask: number): number {
  return (h1 ^ Math.imul(h2, 0x9e3779b1)) & mask;
}

export class StateTable {
  /** Slot i holds (lo, hi) at 2i, 2i + 1: one cache line per probe. (0, 0) is an empty slot. */
  private slots: Uint32Array;
  private mask: number;
  size = 0;

  constructor(capacityLog2 = 16) {
    this.slots = new Uint32Array(2 << capacityLog2);
    this.mask = (1 << capacityLog2) - 1;
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  /** Insert the fingerprint; true if it was not there yet. */
  add(h1: number, h2: number): boolean {
    // (As stored: unsigned.)
    h1 >>>= 0;
    h2 >>>= 0;
    // (0, 0) marks an empty slot: move a real fingerprint off it.
    if (h1 === 0 && h2 === 0) h2 = 1;
    const slots = this.slots;
    let i = home(h1, h2, this.mask);
    for (;;) {
      const l = slots[2 * i];
      const h = slots[2 * i + 1];
      if (l === 0 && h === 0) {
        slots[2 * i] = h1;
        slots[2 * i + 1] = h2;
        if (++this.size * 2 > this.mask) this.grow();
        return true;
      }
      if (l === h1 && h === h2) return false;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    const slots = (this.slots = new Uint32Array(2 * cap));
    this.mask = cap - 1;
    for (let j = 0; j < old.length; j += 2) {
      const l = old[j];
      const h = old[j + 1];
      if (l === 0 && h === 0) continue;
      let i = home(l, h, this.mask);
      while (slots[2 * i] !== 0 || slots[2 * i + 1] !== 0) i = (i + 1) & this.mask;
      slots[2 * i] = l;
      slots[2 * i + 1] = h;
    }
  }
}

/**
 * The fingerprints of the states on the DFS stack (what the cycle proviso asks about): a small
 * open-addressing set with deletion, so that the big table needs no mark per state.
 */
export class StackSet {
  private slots = new Uint32Array(2 << 10);
  private mask = (1 << 10) - 1;
  private size = 0;

  has(h1: number, h2: number): boolean {
    h1 >>>= 0;
    h2 >>>= 0;
    if (h1 === 0 && h2 === 0) h2 = 1;
    for (let i = home(h1, h2, this.mask); ; i = (i + 1) & this.mask) {
      const l = this.slots[2 * i];
      const h = this.slots[2 * i + 1];
      if (l === h1 && h === h2) return true;
      if (l === 0 && h === 0) return false;
    }
  }

  add(h1: number, h2: number): void {
    h1 >>>= 0;
    h2 >>>= 0;
    if (h1 === 0 && h2 === 0) h2 = 1;
    if ((this.size + 1) * 2 > this.mask) this.rehash((this.mask + 1) * 2);
    let i = home(h1, h2, this.mask);
    while (this.slots[2 * i] !== 0 || this.slots[2 * i + 1] !== 0) i = (i + 1) & this.mask;
    this.slots[2 * i] = h1;
    this.slots[2 * i + 1] = h2;
    this.size++;
  }

  /** Remove the fingerprint (it must be there); later entries of its probe run move back into the gap. */
  delete(h1: number, h2: number): void {
    h1 >>>= 0;
    h2 >>>= 0;
    if (h1 === 0 && h2 === 0) h2 = 1;
    const s = this.slots;
    let i = home(h1, h2, this.mask);
    while (s[2 * i] !== h1 || s[2 * i + 1] !== h2) i = (i + 1) & this.mask;
    let gap = i;
    for (let j = (i + 1) & this.mask; s[2 * j] !== 0 || s[2 * j + 1] !== 0; j = (j + 1) & this.mask) {
      const k = home(s[2 * j], s[2 * j + 1], this.mask);
      // Move j into the gap unless its home lies cyclically in (gap, j].
      if (gap <= j ? k > gap && k <= j : k > gap || k <= j) continue;
      s[2 * gap] = s[2 * j];
      s[2 * gap + 1] = s[2 * j + 1];
      gap = j;
    }
    s[2 * gap] = 0;
    s[2 * gap + 1] = 0;
    this.size--;
  }

  private rehash(cap: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(2 * cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let j = 0; j < old.length; j += 2) if (old[j] !== 0 || old[j + 1] !== 0) this.add(old[j], old[j + 1]);
  }
}

/**
 * What a depth-first search asks of the states it has seen: claim a state, and for the cycle proviso,
 * have a state that is still open (being explored: on the stack of a search, its own or, searching in
 * parallel, another worker's) expanded fully before it is finished.
 */
export interface Visited {
  /** Claim the state; true if it was new (it is then open until close()). */
  add(h1: number, h2: number): boolean;
  /**
   * If the state (present) is still open, mark it to be expanded fully before it is closed and say
   * true; false if it is finished.
   */
  expandFully(h1: number, h2: number): boolean;
  /**
   * The state's exploration is over: close it, unless expandFully() marked it since it was opened or
   * last asked; then clear the mark, leave it open and say false.
   */
  close(h1: number, h2: number): boolean;
  /** Between two steps: false once the search must stop (another worker's verdict). */
  poll(): boolean;
  /** This search stops (a violation, or the state bound): so do the others sharing the states. */
  stop(): void;
  readonly size: number;
  readonly bytes: number;
}

/** One search's states: all it has seen, those on its stack, and those of these marked to expand fully. */
export class LocalVisited implements Visited {
  private readonly table = new StateTable();
  private readonly onStack = new StackSet();
  private readonly marked = new StackSet();

  add(h1: number, h2: number): boolean {
    if (!this.table.add(h1, h2)) return false;
    this.onStack.add(h1, h2);
    return true;
  }

  expandFully(h1: number, h2: number): boolean {
    if (!this.onStack.has(h1, h2)) return false;
    if (!this.marked.has(h1, h2)) this.marked.add(h1, h2);
    return true;
  }

  close(h1: number, h2: number): boolean {
    if (this.marked.has(h1, h2)) {
      this.marked.delete(h1, h2);
      return false;
    }
    this.onStack.delete(h1, h2);
    return true;
  }

  poll(): boolean {
    return true;
  }

  stop(): void {}

  get size(): number {
    return this.table.size;
  }

  get bytes(): number {
    return this.table.bytes;
  }
}

/** A 64-bit fingerprint as two 32-bit halves; fingerprint() overwrites it, so hashing allocates nothing. */
export class Fingerprint {
  h1 = 0;
  h2 = 0;
}

/** Two independent 32-bit hashes of v[from .. to) (murmur3-style mixing, two seeds), written to `out`. */
export function fingerprint(v: ArrayLike<number>, from: number, to: number, out: Fingerprint): Fingerprint {
  const n = to - from;
  let h1 = 0x811c9dc5 ^ n;
  let h2 = 0x27d4eb2f ^ Math.imul(n, 0x85ebca6b);
  for (let i = from; i < to; i++) {
    let k = v[i] | 0;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h1 ^= k;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    h2 ^= Math.imul(k ^ (k >>> 16), 0x85ebca6b);
    // (| 0 keeps h2 a small integer: a double here makes every iteration box a heap number.)
    h2 = (Math.imul((h2 << 11) | (h2 >>> 21), 0xc2b2ae35) + 0x27d4eb2f) | 0;
  }
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h2 ^= h2 >>> 15;
  h2 = Math.imul(h2, 0x2c1b3c6d);
  h2 ^= h2 >>> 12;
  out.h1 = h1 >>> 0;
  out.h2 = h2 >>> 0;
  return out;
}
