// Liveness under weak fairness, for any World: "every transition completes (or is reversed to
// completion)". The whole reachable graph is built (breadth first, so that every state's shortest path
// from the start is at hand), its states inside a transition are split into strongly connected
// components (Tarjan, iterative), and a component is a counterexample when a run can stay in it forever
// while being fair: for every fairness class (a process, an event source) some state of the component
// has no step of that class enabled or some step inside the component is of that class, and every
// state predicate the fairness asks for ("every activation eventually ends") holds somewhere in it.
// That test is exact for weak fairness: the component is strongly connected, so one cycle through all
// the witnesses exists, and it is printed as a lasso (the path to the component, then the loop).
//
// No partial-order reduction here: its cycle proviso (every cycle has a fully expanded state) keeps
// safety, but under fairness a reduced graph may lack the very cycle that is fair, or keep only unfair
// ones (the ignoring problem at the level of cycles, Peled's C3 is not enough without the stronger
// conditions for next-free LTL under fairness), so the graph searched is the unreduced one and no
// argument about the reduction is needed. Symmetry is off too (fairness names processes).

import { LpError } from '../../engine/index.js';
import { IntVec } from '../../engine/snapshot.js';
import { Fingerprint, fingerprint } from './table.js';

/** What the search needs of a World. */
export interface LiveWorld<A> {
  actions(): A[];
  /** Take a step; false when it is blocked (nothing changed). */
  step(a: A): boolean;
  capture(out: IntVec): void;
  restore(data: Int32Array): void;
  /** A safety violation by the last step (the search stops: liveness is asked of safe graphs). */
  violated(): string | null;
  /** The states liveness asks to leave: a transition under way. */
  inTransition(): boolean;
  /**
   * The fairness class of a step (a process, an event source), or -1 for a step no fairness demands (the
   * admin's choices), asked in the state the step leaves.
   */
  fairness(a: A): number;
  /**
   * The fairness classes whose event is pending here, when that is not "has a step now": an event
   * loop offers only the queued microtask while there is one, yet an armed timer or a resolved I/O
   * stays pending across it. Absent: the classes of the steps that are not blocked.
   */
  pendingClasses?(): number[];
  /** Whether class c is strongly fair (taken if enabled infinitely often), not only weakly (taken if enabled continuously). */
  strong?(c: number): boolean;
  /** The state predicates fairness demands infinitely often (bit i: predicate i holds here). */
  justice(): number;
  /** All predicate bits. */
  readonly justiceMask: number;
  describe(a: A): string;
  describePredicate(bit: number): string;
  describeClass(c: number): string;
}

export interface Lasso {
  /** Labels of the steps from the start to the loop's first state. */
  stem: string[];
  /** Labels of the loop's steps (back to its first state). */
  loop: string[];
  /** Indices among actions() of every step, stem then loop (a replay token's choices). */
  choices: number[];
  /** Where the loop starts in choices. */
  loopAt: number;
}

export interface LivenessResult {
  states: number;
  edges: number;
  /** Components inside a transition with a cycle. */
  components: number;
  lasso: Lasso | null;
  elapsedMs: number;
}

interface Edge {
  to: number;
  index: number;
  cls: number;
}

export function checkLiveness<A>(w: LiveWorld<A>, maxStates: number): LivenessResult {
  const t0 = performance.now();
  const buf = new IntVec();
  const fp = new Fingerprint();
  const ids = new Map<string, number>();
  const states: Int32Array[] = [];
  const edges: Edge[][] = [];
  /** Per state: the fairness classes with a step enabled (sorted), and the predicates that hold. */
  const enabled: number[][] = [];
  const just: number[] = [];
  const trans: boolean[] = [];
  const parent: number[] = [];
  const via: number[] = [];
  const idOf = (): [number, boolean] => {
    w.capture(buf);
    fingerprint(buf.buf, 0, buf.n, fp);
    const k = `${fp.h1}:${fp.h2}`;
    const known = ids.get(k);
    if (known !== undefined) return [known, false];
    const id = states.length;
    ids.set(k, id);
    states.push(buf.copy());
    return [id, true];
  };
  idOf();
  parent.push(-1);
  via.push(-1);
  let edgeCount = 0;
  for (let id = 0; id < states.length; id++) {
    if (states.length > maxStates) throw new LpError('LP_ERR_USAGE', `liveness: more than ${maxStates} states; bound the model further`);
    w.restore(states[id]);
    trans[id] = w.inTransition();
    just[id] = w.justice();
    const acts = w.actions();
    const out: Edge[] = [];
    const cls = new Set<number>();
    for (let index = 0; index < acts.length; index++) {
      w.restore(states[id]);
      // (Its class is the state's before the step: a verb the step ends was under way.)
      const c = w.fairness(acts[index]);
      if (!w.step(acts[index])) continue;
      const bad = w.violated();
      if (bad) throw new Error(`liveness: a safety violation first (${bad}); check safety before liveness`);
      if (c >= 0) cls.add(c);
      const [to, fresh] = idOf();
      if (fresh) {
        parent.push(id);
        via.push(index);
      }
      out.push({ to, index, cls: c });
      edgeCount++;
    }
    edges.push(out);
    if (w.pendingClasses) {
      w.restore(states[id]);
      enabled.push(w.pendingClasses());
    } else enabled.push([...cls]);
  }
  const n = states.length;
  const g: Graph = { edges, enabled, just, strong: (c) => w.strong?.(c) ?? false, mask: w.justiceMask };
  let lasso: Lasso | null = null;
  let components = 0;
  const inside: number[] = [];
  for (let x = 0; x < n; x++) if (trans[x]) inside.push(x);
  // A state with no step left stutters forever (the event loop idles: nothing is queued): a fair
  // loop, since no class has a step enabled there.
  const idle = inside.find((x) => edges[x].length === 0);
  if (idle !== undefined) {
    components++;
    lasso = idleLasso(w, idle, parent, via, states[0]);
  }
  for (const scc of lasso ? [] : sccs(inside, edges)) {
    components++;
    const fair = fairPart(g, scc);
    if (fair) {
      lasso = lassoThrough(w, g, fair, parent, via, states[0]);
      break;
    }
  }
  return { states: n, edges: edgeCount, components, lasso, elapsedMs: Math.round(performance.now() - t0) };
}

interface Graph {
  edges: Edge[][];
  enabled: number[][];
  just: number[];
  strong: (c: number) => boolean;
  mask: number;
}

/** The strongly connected components with a cycle among `nodes` (Tarjan, iterative). */
function sccs(nodes: number[], edges: Edge[][]): number[][] {
  const allowed = new Set(nodes);
  const index = new Map<number, number>();
  const low = new Map<number, number>();
  const onStack = new Set<number>();
  const stack: number[] = [];
  const out: number[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: Array<[number, number]> = [[root, 0]];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const [v, e] = top;
      if (e < edges[v].length) {
        top[1]++;
        const u = edges[v][e].to;
        if (!allowed.has(u)) continue;
        if (!index.has(u)) {
          index.set(u, counter);
          low.set(u, counter++);
          stack.push(u);
          onStack.add(u);
          work.push([u, 0]);
        } else if (onStack.has(u)) low.set(v, Math.min(low.get(v)!, index.get(u)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const p = work[work.length - 1][0];
        low.set(p, Math.min(low.get(p)!, low.get(v)!));
      }
      if (low.get(v) !== index.get(v)) continue;
      const members: number[] = [];
      for (;;) {
        const x = stack.pop()!;
        onStack.delete(x);
        members.push(x);
        if (x === v) break;
      }
      if (members.length > 1 || edges[v].some((ed) => ed.to === v)) out.push(members);
    }
  }
  return out;
}

/**
 * A fair part of a component: weak fairness needs every class enabled throughout it to be taken in
 * it, strong fairness (the classes World.strong() names) every class enabled anywhere in it. A class
 * enabled somewhere but never taken rules out, for strong fairness, the states where it is enabled:
 * the rest splits into smaller components, searched the same way (Emerson and Lei's refinement).
 */
function fairPart(g: Graph, members: number[]): number[] | null {
  const set = new Set(members);
  const taken = new Set<number>();
  for (const x of members) for (const ed of g.edges[x]) if (set.has(ed.to) && ed.cls >= 0) taken.add(ed.cls);
  const classes = new Set<number>();
  for (const x of members) for (const c of g.enabled[x]) classes.add(c);
  const unfairStrong: number[] = [];
  for (const c of classes) {
    if (taken.has(c)) continue;
    if (g.strong(c)) unfairStrong.push(c);
    else if (members.every((x) => g.enabled[x].includes(c))) return null;
  }
  let justice = 0;
  for (const x of members) justice |= g.just[x];
  if ((justice & g.mask) !== g.mask) return null;
  if (unfairStrong.length === 0) return members;
  const rest = members.filter((x) => !unfairStrong.some((c) => g.enabled[x].includes(c)));
  for (const scc of sccs(rest, g.edges)) {
    const fair = fairPart(g, scc);
    if (fair) return fair;
  }
  return null;
}

/** The lasso through a fair component: the path to it, then a loop through a witness of every class and predicate. */
function lassoThrough<A>(w: LiveWorld<A>, g: Graph, members: number[], parent: number[], via: number[], start: Int32Array): Lasso {
  const set = new Set(members);
  const inside = (x: number) => set.has(x);
  const witness: Array<{ at: number; edge: Edge | null }> = [];
  const classes = new Set<number>();
  for (const x of members) for (const k of g.enabled[x]) classes.add(k);
  for (const k of classes) {
    const at = members.find((x) => !g.enabled[x].includes(k));
    if (at !== undefined && !g.strong(k)) {
      witness.push({ at, edge: null });
      continue;
    }
    for (const x of members) {
      const ed = g.edges[x].find((e) => e.cls === k && inside(e.to));
      if (ed) {
        witness.push({ at: x, edge: ed });
        break;
      }
    }
  }
  for (let bit = 0; 1 << bit <= g.mask; bit++) {
    if (!(g.mask & (1 << bit))) continue;
    witness.push({ at: members.find((x) => g.just[x] & (1 << bit))!, edge: null });
  }
  // The loop: from the component's first-reached state through every witness and back.
  const entry = members.reduce((a, b) => (depth(parent, a) <= depth(parent, b) ? a : b));
  const loopIdx: number[] = [];
  let here = entry;
  const walk = (to: number) => {
    for (const ed of pathInside(here, to, g.edges, inside)) loopIdx.push(ed.index);
    here = to;
  };
  for (const wi of witness) {
    walk(wi.at);
    if (wi.edge) {
      loopIdx.push(wi.edge.index);
      here = wi.edge.to;
    }
  }
  walk(entry);
  // A self-loop (the entry's own step back to itself) is the whole loop.
  if (loopIdx.length === 0) loopIdx.push(g.edges[entry].find((e) => e.to === entry)!.index);
  const stemStates: number[] = [];
  for (let x = entry; parent[x] >= 0; x = parent[x]) stemStates.unshift(x);
  const choices = stemStates.map((x) => via[x]);
  return { ...labels(w, start, choices, loopIdx), choices: [...choices, ...loopIdx], loopAt: choices.length };
}

/** A state inside a transition with no step left: the stem to it, and an empty loop (it stutters). */
function idleLasso<A>(w: LiveWorld<A>, at: number, parent: number[], via: number[], start: Int32Array): Lasso {
  const stem: number[] = [];
  for (let x = at; parent[x] >= 0; x = parent[x]) stem.unshift(via[x]);
  return { ...labels(w, start, stem, []), choices: stem, loopAt: stem.length };
}

function depth(parent: number[], x: number): number {
  let d = 0;
  for (let y = x; parent[y] >= 0; y = parent[y]) d++;
  return d;
}

/** The shortest path inside the component from `a` to `b`, as its edges. */
function pathInside(a: number, b: number, edges: Edge[][], inside: (x: number) => boolean): Edge[] {
  if (a === b) return [];
  const prev = new Map<number, [number, Edge | null]>([[a, [-1, null]]]);
  const queue = [a];
  for (let q = 0; q < queue.length; q++) {
    for (const ed of edges[queue[q]]) {
      if (!inside(ed.to) || prev.has(ed.to)) continue;
      prev.set(ed.to, [queue[q], ed]);
      if (ed.to === b) {
        const out: Edge[] = [];
        for (let y = b; y !== a; y = prev.get(y)![0]) out.unshift(prev.get(y)![1]!);
        return out;
      }
      queue.push(ed.to);
    }
  }
  throw new Error('liveness: a component that is not strongly connected');
}

/** Replay the choices from the start state, labelling each step. */
function labels<A>(w: LiveWorld<A>, start: Int32Array, stem: number[], loop: number[]): { stem: string[]; loop: string[] } {
  w.restore(start);
  const take = (c: number) => {
    const a = w.actions()[c];
    const s = w.describe(a);
    w.step(a);
    return s;
  };
  return { stem: stem.map(take), loop: loop.map(take) };
}

/** The lasso as a numbered trace, its loop marked. */
export function formatLasso(l: Lasso): string[] {
  const out: string[] = [];
  const all = [...l.stem, ...l.loop];
  if (l.loop.length === 0) {
    all.forEach((s, i) => out.push(`${String(i + 1).padStart(4)}   ${s}`));
    out.push(`   *  (nothing is left to run after step ${all.length}, with the transition under way: the loop idles forever)`);
    return out;
  }
  all.forEach((s, i) => {
    const mark = i === l.stem.length ? '-> loop starts' : '';
    out.push(`${String(i + 1).padStart(4)}${i >= l.stem.length ? ' *' : '  '} ${s}${mark ? `   ${mark}` : ''}`);
  });
  out.push(`      (steps ${l.stem.length + 1}-${all.length} repeat forever: back to the state after step ${l.stem.length})`);
  return out;
}
