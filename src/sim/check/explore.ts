// The search strategies over a World: exhaustive stateful DFS (with symmetry reduction and sleep-set
// partial-order reduction), BFS for shortest counterexamples, random walks and PCT for configurations
// too big to exhaust. Every strategy reports a violation as the list of choices that reach it: the
// index of the action taken among World.actions() at each step, replayable exactly.

import { Rng } from '../scheduler.js';
import { fingerprint, StateTable } from './table.js';
import { ADMIN, GLOBAL, WORKER, type Action, type Violation, type World } from './world.js';

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
}

/**
 * A persistent set at the current state, or null to expand everything. The admin's or the kworker's
 * next step (whichever holds klp_mutex: the other cannot act meanwhile) is tried; if it touched only
 * one user task's fields (and read globals that only the admin and kworker write), then that step
 * and that task's own steps are persistent: every other task's steps and the idle tasks' steps touch
 * other fields and commute with them ("task i's steps touch only task i's fields").
 */
function persistent(w: World, state: Int32Array, actions: Action[]): Action[] | null {
  const owner = w.klp.mutexOwner;
  const lead = owner === null ? -1 : w.procs.indexOf(owner);
  if (lead !== ADMIN && lead !== WORKER) return null;
  // The admin's CPU hotplug needs no klp_mutex: with one still to come, nothing is independent.
  if (w.downLeft > 0 || w.upLeft > 0) return null;
  const a = actions.find((x) => x.proc === lead && x.choice === 0);
  if (!a) return null;
  if (!w.run(a)) return null;
  const t = w.footprint;
  w.restore(state);
  if (t === GLOBAL) return null;
  const taskProc = 2 + w.config.cpus + t;
  return actions.filter((x) => x === a || (t >= 0 && x.proc === taskProc));
}

export function check(w: World, opts: CheckOptions): CheckResult {
  const t0 = performance.now();
  const r =
    opts.strategy === 'dfs' ? dfs(w, opts) : opts.strategy === 'bfs' ? bfs(w, opts) : randomSearch(w, opts);
  r.elapsedMs = Math.round(performance.now() - t0);
  return r;
}

/** The state's fingerprint, up to task symmetry when asked. */
function key(w: World, buf: number[], symmetry: boolean): { h1: number; h2: number } {
  if (symmetry) w.canonical(buf);
  else w.capture(buf);
  const [h1, h2] = fingerprint(buf);
  return { h1, h2 };
}

interface DfsFrame {
  state: Int32Array;
  actions: Action[];
  /** All enabled actions, when `actions` is a persistent subset of them. */
  all: Action[] | null;
  next: number;
  /** The key of this state, to clear its on-stack mark when it is left. */
  slot: number;
  /** The index (among all enabled actions) of the step that led to the child being explored. */
  taken: number;
}

const ON_STACK = 1;

function dfs(w: World, opts: CheckOptions): CheckResult {
  const table = new StateTable();
  const buf: number[] = [];
  const por = opts.por && w.config.memory === 'sc';
  let transitions = 0;
  let peak = 0;
  const frame = (slot: number): DfsFrame => {
    w.capture(buf);
    const state = Int32Array.from(buf);
    const all = w.actions();
    if (all.length === 0 && opts.terminals) {
      const [h1, h2] = fingerprint(buf);
      opts.terminals.add(`${h1}:${h2}`);
    }
    const reduced = por ? persistent(w, state, all) : null;
    return { state, actions: reduced ?? all, all: reduced ? all : null, next: 0, slot, taken: -1 };
  };
  const root = key(w, buf, opts.symmetry);
  const stack: DfsFrame[] = [frame(-table.insert(root.h1, root.h2, ON_STACK) - 1)];
  while (stack.length > 0) {
    const fr = stack[stack.length - 1];
    if (fr.next >= fr.actions.length) {
      table.set(fr.slot, 0);
      stack.pop();
      continue;
    }
    const a = fr.actions[fr.next++];
    w.restore(fr.state);
    if (!w.run(a)) continue;
    transitions++;
    fr.taken = (fr.all ?? fr.actions).indexOf(a);
    if (w.violation) return found(w.violation, stack.map((f) => f.taken), table.size, transitions, table.bytes + peak);
    const k = key(w, buf, opts.symmetry);
    const slot = table.insert(k.h1, k.h2, ON_STACK);
    if (slot >= 0) {
      // Cycle proviso: a reduced expansion must not close a cycle, or the steps it left out could be
      // postponed forever; expand this state fully instead.
      if (fr.all && table.get(slot) & ON_STACK) {
        const rest = fr.all.filter((x) => !fr.actions.includes(x));
        fr.actions = [...fr.actions, ...rest];
        fr.all = null;
      }
      continue;
    }
    if (table.size >= opts.maxStates)
      return { complete: false, states: table.size, transitions, violation: null, elapsedMs: 0, memoryBytes: table.bytes + peak };
    const child = frame(-slot - 1);
    stack.push(child);
    peak = Math.max(peak, stack.length * child.state.byteLength);
  }
  return { complete: true, states: table.size, transitions, violation: null, elapsedMs: 0, memoryBytes: table.bytes + peak };
}

function found(v: Violation, choices: number[], states: number, transitions: number, memoryBytes: number): CheckResult {
  return { complete: false, states, transitions, violation: { ...v, choices }, elapsedMs: 0, memoryBytes };
}

function bfs(w: World, opts: CheckOptions): CheckResult {
  const table = new StateTable();
  const buf: number[] = [];
  // Per discovered state: its parent's index and the choice that led to it (for the counterexample).
  const parent: number[] = [-1];
  const via: number[] = [-1];
  let frontier: { state: Int32Array; id: number }[] = [];
  let transitions = 0;
  let peak = 0;
  const root = key(w, buf, opts.symmetry);
  table.insert(root.h1, root.h2, 0);
  w.capture(buf);
  frontier.push({ state: Int32Array.from(buf), id: 0 });
  const path = (id: number, last: number): number[] => {
    const out = [last];
    for (let i = id; parent[i] >= 0; i = parent[i]) out.push(via[i]);
    return out.reverse();
  };
  while (frontier.length > 0) {
    const next: typeof frontier = [];
    for (const node of frontier) {
      w.restore(node.state);
      const actions = w.actions();
      for (let index = 0; index < actions.length; index++) {
        w.restore(node.state);
        if (!w.run(actions[index])) continue;
        transitions++;
        if (w.violation) return found(w.violation, path(node.id, index), table.size, transitions, table.bytes + peak);
        const k = key(w, buf, opts.symmetry);
        if (table.insert(k.h1, k.h2, 0) >= 0) continue;
        parent.push(node.id);
        via.push(index);
        if (table.size >= opts.maxStates)
          return { complete: false, states: table.size, transitions, violation: null, elapsedMs: 0, memoryBytes: table.bytes + peak };
        w.capture(buf);
        next.push({ state: Int32Array.from(buf), id: parent.length - 1 });
      }
    }
    frontier = next;
    peak = Math.max(peak, frontier.reduce((n, f) => n + f.state.byteLength, 0) + parent.length * 16);
  }
  return { complete: true, states: table.size, transitions, violation: null, elapsedMs: 0, memoryBytes: table.bytes + peak };
}

/**
 * Random walks (uniform among enabled steps) or PCT (Burckhardt et al.: random process priorities,
 * the running process demoted at pctDepth - 1 random points; it finds a bug of depth d with
 * probability at least 1/(n k^(d-1)) per run). Seeded: the same seed gives the same runs.
 */
function randomSearch(w: World, opts: CheckOptions): CheckResult {
  const rng = new Rng(opts.seed);
  const buf: number[] = [];
  w.capture(buf);
  const initial = Int32Array.from(buf);
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
      if (w.violation) return found(w.violation, choices, steps, steps, buf.length * 4);
    }
  }
  return { complete: false, states: steps, transitions: steps, violation: null, elapsedMs: 0, memoryBytes: buf.length * 4 };
}
