// The one door through which nondeterminism enters the simulator: at every step the kernel lists what
// could happen next (labelled actions) and a Scheduler picks one. Random, replay and the model
// checker's strategies sit behind this interface; a run is reproducible from its seed or its token.

export interface Scheduler {
  /** Pick one of `labels` (never empty); returns its index. */
  choose(labels: readonly string[]): number;
}

/** mulberry32: small, fast, good enough to spread schedules; the state is one 32-bit integer. */
export class Rng {
  constructor(private state: number) {}

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Uniformly random among the enabled actions, from a seed. */
export class RandomScheduler implements Scheduler {
  private readonly rng: Rng;
  constructor(readonly seed: number) {
    this.rng = new Rng(seed);
  }

  choose(labels: readonly string[]): number {
    return this.rng.below(labels.length);
  }
}

/** Records every choice it delegates, so any run can be replayed exactly. */
export class RecordingScheduler implements Scheduler {
  readonly choices: number[] = [];
  constructor(private readonly inner: Scheduler) {}

  choose(labels: readonly string[]): number {
    const i = this.inner.choose(labels);
    this.choices.push(i);
    return i;
  }
}

/** Replays recorded choices; past their end it falls back to the first enabled action. */
export class ReplayScheduler implements Scheduler {
  private at = 0;
  constructor(private readonly choices: readonly number[]) {}

  choose(labels: readonly string[]): number {
    const i = this.choices[this.at++] ?? 0;
    if (i >= labels.length) throw new Error(`replay diverged at choice ${this.at - 1}: ${i} of ${labels.length} actions`);
    return i;
  }
}
