// What a search over a World is asked, and what it answers.

import type { Violation } from './world.js';

export type Strategy = 'dfs' | 'bfs' | 'random' | 'pct';

export interface CheckOptions {
  strategy: Strategy;
  /** Stop (incomplete) after this many distinct states (dfs, bfs) or steps (random, pct). */
  maxStates: number;
  seed: number;
  /** Identify states that differ only by a permutation of identical tasks. */
  symmetry: boolean;
  /** Partial-order reduction: persistent sets with the cycle proviso (dfs, sequentially consistent memory). */
  por: boolean;
  /** random / pct: steps per run. */
  depth: number;
  /** pct: priority change points per run. */
  pctDepth: number;
  /** dfs: collect the fingerprints of states with no step left (for cross-validating reductions). */
  terminals?: Set<string>;
  /**
   * dfs: collect the fingerprints of the classes (under task symmetry) of the states with no step
   * left: a search with both reductions must reach those of the unreduced search.
   */
  terminalClasses?: Set<string>;
  /**
   * dfs: collect the fingerprint of every stored state's canonical form (its class under task
   * symmetry): an unreduced search and a symmetry-reduced one must reach the same classes.
   */
  classes?: Set<string>;
  /**
   * dfs: searches run at once, each on its own thread and World, sharing one table of visited states
   * (1: this thread alone). With more, the counts vary from run to run; the verdict does not.
   */
  workers?: number;
}

export interface CheckResult {
  complete: boolean;
  /** Distinct states stored (dfs, bfs) or states visited (random, pct). */
  states: number;
  transitions: number;
  violation: (Violation & { choices: number[] }) | null;
  elapsedMs: number;
  /** Bytes of the state table and the search stack / queue at their largest. */
  memoryBytes: number;
  /** dfs: quiet lead steps the reduction took for quiet but were not, taken on their own instead (World.quietFallbacks). */
  quietFallbacks?: number;
  /** dfs with more than one worker: the transitions each took (the first is this thread's). */
  workerTransitions?: number[];
}

export function found(v: Violation, choices: number[], states: number, transitions: number, memoryBytes: number): CheckResult {
  return { complete: false, states, transitions, violation: { ...v, choices }, elapsedMs: 0, memoryBytes };
}
