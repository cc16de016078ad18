// Seeded fuzzing for the hostile-input suites: every random choice comes from one Rng (the simulator's
// mulberry32, src/sim/scheduler.ts), so a run is replayed from its seed: LIVEPATCH_FUZZ_SEED=<n>.

import { Rng } from '../../src/sim/scheduler.js';

/** The run's seed: LIVEPATCH_FUZZ_SEED when set (a replay), else a fresh one. */
export function fuzzSeed(): number {
  const env = process.env.LIVEPATCH_FUZZ_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isSafeInteger(n)) throw new Error(`LIVEPATCH_FUZZ_SEED must be an integer, got '${env}'`);
    return n;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

/** Run `body` with the seed; a failure says how to replay it. */
export async function withSeed(file: string, body: (seed: number) => Promise<void>): Promise<void> {
  const seed = fuzzSeed();
  try {
    await body(seed);
  } catch (e) {
    const replay = `replay: LIVEPATCH_FUZZ_SEED=${seed} node --test ${file}`;
    if (e instanceof Error) e.message = `seed ${seed} (${replay}): ${e.message}`;
    throw e;
  }
}

/** Names an object inherits: a lookup that is not own-property-only finds them. */
export const INHERITED = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__'];

export class Fuzz {
  private readonly rng: Rng;
  constructor(readonly seed: number) {
    this.rng = new Rng(seed);
  }

  /** 0 ≤ n < max. */
  int(max: number): number {
    return this.rng.below(max);
  }

  chance(p: number): boolean {
    return this.rng.next() < p;
  }

  pick<T>(from: readonly T[]): T {
    return from[this.int(from.length)];
  }

  /** Random bytes, newlines and quotes over-represented (they end lines and strings). */
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.chance(0.05) ? this.pick([0x0a, 0x22, 0x5c, 0x7b, 0x5b, 0x7d, 0x5d]) : this.int(256);
    return b;
  }

  /** A size, mostly small, sometimes up to `max`. */
  size(max: number): number {
    return this.chance(0.9) ? this.int(64) : this.int(max);
  }

  /** A JSON value of a random type (no nesting deeper than `depth`). */
  value(depth = 3): unknown {
    switch (this.int(depth > 0 ? 9 : 7)) {
      case 0: return null;
      case 1: return this.chance(0.5);
      case 2: return this.pick([0, -1, 1.5, 2 ** 53, -(2 ** 60), 1e308, 7]);
      case 3: return this.pick(INHERITED);
      case 4: return 'x'.repeat(this.size(1 << 20));
      case 5: return this.bytes(this.size(256)).toString('latin1');
      case 6: return this.pick(['', 'list', 'enable', 'log', '0', '-1']);
      case 7: return Array.from({ length: this.int(4) }, () => this.value(depth - 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(4); i > 0; i--) o[this.chance(0.5) ? this.pick(INHERITED) : String(this.value(0)).slice(0, 20)] = this.value(depth - 1);
        return o;
      }
    }
  }

  /** Nested arrays or objects, `depth` deep, as JSON text. */
  deep(depth: number): string {
    return this.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '0' + '}'.repeat(depth);
  }

  /** One random edit of a text: a byte changed, cut, repeated, a deep or huge value spliced in, or truncated. */
  mutate(text: string): string {
    const at = this.int(text.length + 1);
    switch (this.int(8)) {
      case 0: return text.slice(0, at) + String.fromCharCode(this.int(128)) + text.slice(at + 1);
      case 1: return text.slice(0, at) + text.slice(at + 1 + this.int(8));
      case 2: {
        const len = this.int(16);
        return text.slice(0, at) + text.slice(at, at + len) + text.slice(at);
      }
      case 3: return text.slice(0, at);
      case 4: return text.slice(0, at) + this.deep(60 + this.int(5000)) + text.slice(at);
      case 5: return text.slice(0, at) + JSON.stringify(this.value()) + text.slice(at);
      case 6: return text.slice(0, at) + this.pick(['"', '\\', '{', '}', '[', ']', ',', ':', 'null', '\\u0000', '\u2028']) + text.slice(at);
      default: return text.replace(/"[a-zA-Z]+":/, `"${this.pick(INHERITED)}":`);
    }
  }
}
