// The search strategies over a World: exhaustive stateful DFS (dfs.ts; in parallel, parallel.ts), BFS
// for shortest counterexamples, random walks and PCT for configurations too big to exhaust. Every
// strategy reports a violation as the list of choices that reach it: the index of the action taken
// among World.actions() at each step, replayable exactly.

import { LpError } from '../../engine/index.js';
import { IntVec } from '../../engine/snapshot.js';
import { Rng } from '../scheduler.js';
import { dfs } from './dfs.js';
import { found, type CheckOptions, type CheckResult } from './options.js';
import { parallelDfs } from './parallel.js';
import { Fingerprint, LocalVisited, StateTable } from './table.js';
import type { World } from './world.js';

export type { CheckOptions, CheckResult, Strategy } from './options.js';

/** The most threads a search runs on. */
const MAX_WORKERS = 64;

export function check(w: World, opts: CheckOptions): CheckResult {
  const workers = opts.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS)
    throw new LpError('LP_ERR_USAGE', `workers must be an integer from 1 to ${MAX_WORKERS}, not ${workers}`);
  if (workers > 1 && opts.strategy !== 'dfs') throw new LpError('LP_ERR_USAGE', `only dfs runs on several threads, not ${opts.strategy}`);
  const t0 = performance.now();
  const r =
    opts.strategy === 'dfs'
      ? workers > 1
        ? parallelDfs(w, opts)
        : dfs(w, opts, new LocalVisited())
      : opts.strategy === 'bfs'
        ? bfs(w, opts)
        : randomSearch(w, opts);
  r.elapsedMs = Math.round(performance.now() - t0);
  return r;
}

function bfs(w: World, opts: CheckOptions): CheckResult {
  const r = bfsSearch(w, (buf, fp) => w.key(buf, fp, opts.symmetry), opts.maxStates);
  return r.violation
    ? found(r.violation.found, r.violation.choices, r.states, r.transitions, r.memoryBytes)
    : { complete: r.complete, states: r.states, transitions: r.transitions, violation: null, elapsedMs: 0, memoryBytes: r.memoryBytes };
}

/** What a breadth-first search asks of a World (the kernel's and the Node host's alike). */
export interface Searchable<A, V> {
  actions(): readonly A[];
  /** One step; `false` when it was not enabled (the kernel World's blocked steps). */
  run(a: A): boolean | void;
  readonly violation: V | null;
  capture(out: IntVec): void;
  restore(data: ArrayLike<number>): void;
}

export interface BfsResult<V> {
  complete: boolean;
  states: number;
  transitions: number;
  /** The first violation reached, with the shortest list of choices that reaches it. */
  violation: { found: V; choices: number[] } | null;
  memoryBytes: number;
}

/**
 * Every state reachable, level by level; stops at the first violation (so its path is a shortest one)
 * or once `maxStates` states are stored (then incomplete). `key` fingerprints the state the World is in.
 */
export function bfsSearch<A, V>(w: Searchable<A, V>, key: (buf: IntVec, fp: Fingerprint) => void, maxStates: number): BfsResult<V> {
  const table = new StateTable();
  const buf = new IntVec();
  // Per discovered state: its parent's index and the choice that led to it (for the counterexample).
  const parent: number[] = [-1];
  const via: number[] = [-1];
  let frontier: { state: Int32Array; id: number }[] = [];
  let transitions = 0;
  let peak = 0;
  const fp = new Fingerprint();
  key(buf, fp);
  table.add(fp.h1, fp.h2);
  w.capture(buf);
  frontier.push({ state: buf.copy(), id: 0 });
  const path = (id: number, last: number): number[] => {
    const out = [last];
    for (let i = id; parent[i] >= 0; i = parent[i]) out.push(via[i]);
    return out.reverse();
  };
  const result = (complete: boolean, violation: BfsResult<V>['violation']): BfsResult<V> => ({
    complete,
    states: table.size,
    transitions,
    violation,
    memoryBytes: table.bytes + peak,
  });
  while (frontier.length > 0) {
    const next: typeof frontier = [];
    for (const node of frontier) {
      w.restore(node.state);
      const actions = w.actions();
      for (let index = 0; index < actions.length; index++) {
        w.restore(node.state);
        if (w.run(actions[index]) === false) continue;
        transitions++;
        if (w.violation) return result(false, { found: w.violation, choices: path(node.id, index) });
        key(buf, fp);
        if (!table.add(fp.h1, fp.h2)) continue;
        parent.push(node.id);
        via.push(index);
        if (table.size >= maxStates) return result(false, null);
        w.capture(buf);
        next.push({ state: buf.copy(), id: parent.length - 1 });
      }
    }
    frontier = next;
    peak = Math.max(peak, frontier.reduce((n, f) => n + f.state.byteLength, 0) + parent.length * 16);
  }
  return result(true, null);
}

/**
 * Random walks (uniform among enabled steps) or PCT (Burckhardt et al.: random process priorities,
 * the running process demoted at pctDepth - 1 random points; it finds a bug of depth d with
 * probability at least 1/(n k^(d-1)) per run). Seeded: the same seed gives the same runs.
 */
function randomSearch(w: World, opts: CheckOptions): CheckResult {
  const rng = new Rng(opts.seed);
  const buf = new IntVec();
  w.capture(buf);
  const initial = buf.copy();
  let steps = 0;
  while (steps < opts.maxStates) {
    w.restore(initial);
    const choices: number[] = [];
    const priority = Array.from({ length: w.nprocs + 2 }, () => rng.next() + opts.pctDepth);
    const changeAt = Array.from({ length: opts.pctDepth - 1 }, () => rng.below(opts.depth));
    for (let d = 0; d < opts.depth && steps < opts.maxStates; d++) {
      const actions = w.actions();
      const candidates = actions.map((_, i) => i);
      let progressed = false;
      while (candidates.length > 0) {
        let pick: number;
        if (opts.strategy === 'pct') {
          const prio = (i: number) => priority[actions[i].proc < 0 ? w.nprocs : actions[i].proc];
          const best = Math.max(...candidates.map(prio));
          const top = candidates.filter((i) => prio(i) === best);
          pick = top[rng.below(top.length)];
        } else pick = candidates[rng.below(candidates.length)];
        const snapshot = choices.length;
        if (w.run(actions[pick])) {
          choices.length = snapshot;
          choices.push(pick);
          progressed = true;
          const p = actions[pick].proc;
          const ci = changeAt.indexOf(d);
          if (ci >= 0 && p >= 0) priority[p] = ci;
          break;
        }
        candidates.splice(candidates.indexOf(pick), 1);
      }
      if (!progressed) break;
      steps++;
      if (w.violation) return found(w.violation, choices, steps, steps, initial.byteLength);
    }
  }
  return { complete: false, states: steps, transitions: steps, violation: null, elapsedMs: 0, memoryBytes: initial.byteLength };
}
