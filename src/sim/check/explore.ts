// The search strategies over a World: exhaustive stateful DFS (with symmetry reduction and sleep-set
// partial-order reduction), BFS for shortest counterexamples, random walks and PCT for configurations
// too big to exhaust. Every strategy reports a violation as the list of choices that reach it: the
// index of the action taken among World.actions() at each step, replayable exactly.

import { IntVec } from '../../engine/snapshot.js';
import { Rng } from '../scheduler.js';
import { Fingerprint, fingerprint, StackSet, StateTable } from './table.js';
import { ADMIN, GLOBAL, HOTPLUG, NONE, WORKER, type Action, type Violation, type World } from './world.js';

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
   * dfs: collect the fingerprint of every stored state's canonical form (its class under task
   * symmetry): an unreduced search and a symmetry-reduced one must reach the same classes.
   */
  classes?: Set<string>;
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
 * next step (whichever holds klp_mutex: the other cannot act meanwhile) is tried, each of its forms
 * when a walk of the task list picks the task it goes on at; what they touched (World.footprint: the
 * user and idle tasks whose fields they read or wrote, the locks only fork and hotplug wait for, CPU
 * online) names the processes whose steps depend on them. Those steps and the lead's are persistent:
 * every other task's steps touch other fields and commute with them ("task i's steps touch only task
 * i's fields"). Hotplug and the idle task of the CPU it takes down and up come together (hotplug waits
 * for that idle task to leave its loop, and the idle task runs only while its CPU is online).
 * Finding the set takes its first action: a set is returned with the world left just after that
 * action (the search goes on from there), null with the world as it was.
 */
function persistent(w: World, state: Int32Array, at: number, actions: Action[]): Action[] | null {
  const owner = w.klp.mutexOwner;
  if (owner === null) return retryFirst(w, state, at, actions);
  const lead = w.procs.indexOf(owner);
  if (lead !== ADMIN && lead !== WORKER) return null;
  const mine = actions.filter((x) => x.proc === lead);
  if (mine.length === 0) return null;
  let touched = NONE;
  // The first form last, so that the world is left just after it.
  for (let j = mine.length - 1; j >= 0; j--) {
    const t = tryStep(w, mine[j]);
    if (t === GLOBAL) {
      w.restore(state, at);
      return null;
    }
    touched |= t;
    if (j > 0) w.restore(state, at);
  }
  // mine[0], the step the world is left just after, goes first (the admin's hotplug steps come before
  // the kworker's among the actions).
  const rest = actions.filter(
    (x) => x !== mine[0] && (x.proc === lead || (x.proc > WORKER && touched & (1 << x.proc)) || (touched & HOTPLUG && w.isHotplug(x))),
  );
  return [mine[0], ...rest];
}

/**
 * While the kworker waits between retries (klp_mutex free, the work queued, a transition under way):
 * its first step (mutex_lock, then a look at klp_transition_patch) touches no task, no Memory and
 * nothing hotplug reads, and changes none of the invariants' inputs, so alone it is a persistent set,
 * unless the admin could take klp_mutex now too (its verbs are dependent on the kworker's). All the
 * ways the tasks could move before the retry starts are then explored after it, once each.
 */
function retryFirst(w: World, state: Int32Array, at: number, actions: Action[]): Action[] | null {
  if (w.klp.transitionPatch === null || w.procs[WORKER]) return null;
  let start: Action | null = null;
  for (const x of actions) {
    if (x.proc === WORKER) start = x;
    else if (x.proc === ADMIN && !w.isHotplug(x)) return null;
  }
  if (!start) return null;
  if (tryStep(w, start) !== NONE) {
    w.restore(state, at);
    return null;
  }
  return [start];
}

/** Take `a` and say what it touched (World.footprint); GLOBAL, with nothing changed, if it is blocked. */
function tryStep(w: World, a: Action): number {
  return w.run(a) ? w.footprint : GLOBAL;
}

export function check(w: World, opts: CheckOptions): CheckResult {
  const t0 = performance.now();
  const r =
    opts.strategy === 'dfs' ? dfs(w, opts) : opts.strategy === 'bfs' ? bfs(w, opts) : randomSearch(w, opts);
  r.elapsedMs = Math.round(performance.now() - t0);
  return r;
}

/**
 * The states on the DFS stack, back to back in one growing array: a stack frame's state is a slice
 * of it, so pushing a state allocates nothing once the arena has grown to the deepest path.
 */
class Arena {
  data = new Int32Array(1 << 16);
  top = 0;
  peak = 0;

  /** Copy `v` on top; returns its offset. */
  push(v: IntVec): number {
    const at = this.top;
    if (at + v.n > this.data.length) {
      const next = new Int32Array(Math.max(this.data.length * 2, at + v.n));
      next.set(this.data.subarray(0, at));
      this.data = next;
    }
    for (let j = 0; j < v.n; j++) this.data[at + j] = v.buf[j];
    this.top = at + v.n;
    if (this.top > this.peak) this.peak = this.top;
    return at;
  }
}

interface DfsFrame {
  /** Where its state is in the arena. */
  at: number;
  actions: Action[];
  /** All enabled actions (but those mirroring another's), when `actions` is a persistent subset of them. */
  all: Action[] | null;
  /** Every enabled action, in World.actions() order (a replay token names the one taken by its index). */
  enabled: Action[];
  next: number;
  /** The world is already just past actions[0] (taken to find the persistent set). */
  ran: boolean;
  /**
   * This state's fingerprint, to clear its on-stack mark when it is left (not its slot: the table
   * moves entries when it grows).
   */
  h1: number;
  h2: number;
  /** The index (among all enabled actions) of the step that led to the child being explored. */
  taken: number;
}


function dfs(w: World, opts: CheckOptions): CheckResult {
  const table = new StateTable();
  const onStack = new StackSet();
  const buf = new IntVec();
  const arena = new Arena();
  const fp = new Fingerprint();
  const por = opts.por && w.config.memory === 'sc';
  // The key parts of each state on the stack (World.keyParts), by depth: after a step of one task
  // alone only its part is made anew.
  const incremental = opts.symmetry && w.config.memory === 'sc';
  const plen = w.keyParts.length;
  let parts = new Uint32Array(plen * 256);
  let transitions = 0;
  const memoryBytes = () => table.bytes + arena.peak * 4 + parts.byteLength;
  const frame = (h1: number, h2: number, depth: number): DfsFrame => {
    if (incremental) {
      if ((depth + 1) * plen > parts.length) {
        const next = new Uint32Array(parts.length * 2);
        next.set(parts);
        parts = next;
      }
      parts.set(w.keyParts, depth * plen);
    }
    w.capture(buf);
    const at = arena.push(buf);
    const enabled = w.actions();
    const all = incremental ? w.representatives(enabled) : enabled;
    if (all.length === 0 && opts.terminals) {
      fingerprint(buf.buf, 0, buf.n, fp);
      opts.terminals.add(`${fp.h1}:${fp.h2}`);
    }
    if (opts.classes) {
      w.key(buf, fp, true);
      opts.classes.add(`${fp.h1}:${fp.h2}`);
    }
    const reduced = por ? persistent(w, arena.data, at, all) : null;
    return { at, actions: reduced ?? all, all: reduced ? all : null, enabled, next: 0, ran: reduced !== null, h1, h2, taken: -1 };
  };
  w.key(buf, fp, opts.symmetry);
  table.add(fp.h1, fp.h2);
  onStack.add(fp.h1, fp.h2);
  const stack: DfsFrame[] = [frame(fp.h1, fp.h2, 0)];
  // The frame whose state the world is in (a restore is needed only to come back to one).
  let current: DfsFrame | null = stack[0].ran ? null : stack[0];
  while (stack.length > 0) {
    const fr = stack[stack.length - 1];
    if (fr.next >= fr.actions.length) {
      onStack.delete(fr.h1, fr.h2);
      stack.pop();
      arena.top = fr.at;
      continue;
    }
    const a = fr.actions[fr.next++];
    if (fr.ran) fr.ran = false;
    else {
      if (current !== fr) w.restore(arena.data, fr.at);
      current = fr;
      // A blocked step changes nothing.
      if (!w.run(a)) continue;
    }
    current = null;
    transitions++;
    fr.taken = fr.enabled.indexOf(a);
    if (w.violation) return found(w.violation, stack.map((f) => f.taken), table.size, transitions, memoryBytes());
    if (incremental && w.lastLocal >= 0) w.keyAfterLocal(parts, (stack.length - 1) * plen, w.lastLocal, fp);
    else w.key(buf, fp, opts.symmetry);
    if (!table.add(fp.h1, fp.h2)) {
      // Cycle proviso: a reduced expansion must not close a cycle, or the steps it left out could be
      // postponed forever; expand this state fully instead.
      if (fr.all && onStack.has(fp.h1, fp.h2)) {
        const rest = fr.all.filter((x) => !fr.actions.includes(x));
        fr.actions = [...fr.actions, ...rest];
        fr.all = null;
      }
      continue;
    }
    if (table.size >= opts.maxStates)
      return { complete: false, states: table.size, transitions, violation: null, elapsedMs: 0, memoryBytes: memoryBytes() };
    onStack.add(fp.h1, fp.h2);
    const child = frame(fp.h1, fp.h2, stack.length);
    stack.push(child);
    current = child.ran ? null : child;
  }
  return { complete: true, states: table.size, transitions, violation: null, elapsedMs: 0, memoryBytes: memoryBytes() };
}

function found(v: Violation, choices: number[], states: number, transitions: number, memoryBytes: number): CheckResult {
  return { complete: false, states, transitions, violation: { ...v, choices }, elapsedMs: 0, memoryBytes };
}

function bfs(w: World, opts: CheckOptions): CheckResult {
  const table = new StateTable();
  const buf = new IntVec();
  // Per discovered state: its parent's index and the choice that led to it (for the counterexample).
  const parent: number[] = [-1];
  const via: number[] = [-1];
  let frontier: { state: Int32Array; id: number }[] = [];
  let transitions = 0;
  let peak = 0;
  const fp = new Fingerprint();
  w.key(buf, fp, opts.symmetry);
  table.add(fp.h1, fp.h2);
  w.capture(buf);
  frontier.push({ state: buf.copy(), id: 0 });
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
        w.key(buf, fp, opts.symmetry);
        if (!table.add(fp.h1, fp.h2)) continue;
        parent.push(node.id);
        via.push(index);
        if (table.size >= opts.maxStates)
          return { complete: false, states: table.size, transitions, violation: null, elapsedMs: 0, memoryBytes: table.bytes + peak };
        w.capture(buf);
        next.push({ state: buf.copy(), id: parent.length - 1 });
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
