// The visited-state table: 64-bit fingerprints (two 32-bit hashes) in an open-addressing table on
// typed arrays, with a 32-bit word of data per entry (the sleep set). V8's Set and Map stop at 2^24
// entries; this grows until memory does.

export class StateTable {
  private lo: Uint32Array;
  private hi: Uint32Array;
  private data: Uint32Array;
  private mask: number;
  size = 0;

  constructor(capacityLog2 = 16) {
    const cap = 1 << capacityLog2;
    this.lo = new Uint32Array(cap);
    this.hi = new Uint32Array(cap);
    this.data = new Uint32Array(cap);
    this.mask = cap - 1;
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.lo.byteLength * 3;
  }

  /**
   * Find the fingerprint; insert it (with `value`) if absent. Returns the slot, negated and minus one
   * when the entry was just inserted.
   */
  insert(h1: number, h2: number, value: number): number {
    // (0, 0) marks an empty slot: move a real fingerprint off it.
    if (h1 === 0 && h2 === 0) h2 = 1;
    let i = (h1 ^ Math.imul(h2, 0x9e3779b1)) & this.mask;
    for (;;) {
      const l = this.lo[i];
      const h = this.hi[i];
      if (l === 0 && h === 0) {
        this.lo[i] = h1;
        this.hi[i] = h2;
        this.data[i] = value;
        if (++this.size * 2 > this.mask) {
          this.grow();
          return -this.find(h1, h2) - 1;
        }
        return -i - 1;
      }
      if (l === h1 && h === h2) return i;
      i = (i + 1) & this.mask;
    }
  }

  get(slot: number): number {
    return this.data[slot];
  }

  set(slot: number, value: number): void {
    this.data[slot] = value;
  }

  private find(h1: number, h2: number): number {
    let i = (h1 ^ Math.imul(h2, 0x9e3779b1)) & this.mask;
    while (this.lo[i] !== h1 || this.hi[i] !== h2) i = (i + 1) & this.mask;
    return i;
  }

  private grow(): void {
    const { lo, hi, data } = this;
    const cap = lo.length * 2;
    this.lo = new Uint32Array(cap);
    this.hi = new Uint32Array(cap);
    this.data = new Uint32Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < lo.length; j++) {
      if (lo[j] === 0 && hi[j] === 0) continue;
      let i = (lo[j] ^ Math.imul(hi[j], 0x9e3779b1)) & this.mask;
      while (this.lo[i] !== 0 || this.hi[i] !== 0) i = (i + 1) & this.mask;
      this.lo[i] = lo[j];
      this.hi[i] = hi[j];
      this.data[i] = data[j];
    }
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
