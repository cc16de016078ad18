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
  /** The fairness class of a step (a process, an event source), or -1 for a step no fairness demands (the admin's choices). */
  fairness(a: A): number;
  /**
   * The fairness classes whose event is pending here, when that is not "has a step now": an event
   * loop offers only the queued microtask while there is one, yet an armed timer or a resolved I/O
   * stays pending across it. Absent: the classes of the steps that are not blocked.
   */
  pendingClasses?(): number[];
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
      if (!w.step(acts[index])) continue;
      const bad = w.violated();
      if (bad) throw new Error(`liveness: a safety violation first (${bad}); check safety before liveness`);
      const c = w.fairness(acts[index]);
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
  // Tarjan over the states inside a transition.
  const n = states.length;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const comp = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  let counter = 0;
  let ncomp = 0;
  let lasso: Lasso | null = null;
  let components = 0;
  for (let root = 0; root < n && !lasso; root++) {
    if (!trans[root] || index[root] >= 0) continue;
    const work: Array<[number, number]> = [[root, 0]];
    index[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;
    while (work.length > 0 && !lasso) {
      const top = work[work.length - 1];
      const [v, e] = top;
      if (e < edges[v].length) {
        top[1]++;
        const u = edges[v][e].to;
        if (!trans[u]) continue;
        if (index[u] < 0) {
          index[u] = low[u] = counter++;
          stack.push(u);
          onStack[u] = 1;
          work.push([u, 0]);
        } else if (onStack[u]) low[v] = Math.min(low[v], index[u]);
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const p = work[work.length - 1][0];
        low[p] = Math.min(low[p], low[v]);
      }
      if (low[v] !== index[v]) continue;
      const members: number[] = [];
      for (;;) {
        const x = stack.pop()!;
        onStack[x] = 0;
        comp[x] = ncomp;
        members.push(x);
        if (x === v) break;
      }
      const c = ncomp++;
      // A state with no step left stutters forever (the event loop idles: nothing is queued): a fair
      // loop, since no class has a step enabled and (the World says) every predicate holds there.
      if (edges[v].length === 0) {
        components++;
        lasso = idleLasso(w, v, parent, via, states[0]);
        continue;
      }
      const cyclic = members.length > 1 || edges[v].some((ed) => ed.to === v);
      if (!cyclic) continue;
      components++;
      lasso = fairLasso(w, members, c, comp, edges, enabled, just, parent, via, states[0]);
    }
  }
  return { states: n, edges: edgeCount, components, lasso, elapsedMs: Math.round(performance.now() - t0) };
}

/** The component's fair lasso if it has one: for every class and predicate fairness asks for, a witness. */
function fairLasso<A>(
  w: LiveWorld<A>,
  members: number[],
  c: number,
  comp: Int32Array,
  edges: Edge[][],
  enabled: number[][],
  just: number[],
  parent: number[],
  via: number[],
  start: Int32Array,
): Lasso | null {
  const inside = (x: number) => comp[x] === c;
  const classes = new Set<number>();
  for (const x of members) for (const k of enabled[x]) classes.add(k);
  // Witness of a class: a member where it is disabled, or an edge inside taking it.
  const witness: Array<{ at: number; edge: Edge | null }> = [];
  for (const k of classes) {
    let found: { at: number; edge: Edge | null } | null = null;
    for (const x of members) {
      if (!enabled[x].includes(k)) {
        found = { at: x, edge: null };
        break;
      }
      const ed = edges[x].find((e) => e.cls === k && inside(e.to));
      if (ed) {
        found = { at: x, edge: ed };
        break;
      }
    }
    if (!found) return null;
    witness.push(found);
  }
  for (let bit = 0; (1 << bit) <= w.justiceMask; bit++) {
    if (!(w.justiceMask & (1 << bit))) continue;
    const at = members.find((x) => just[x] & (1 << bit));
    if (at === undefined) return null;
    witness.push({ at, edge: null });
  }
  // The loop: from the component's first-reached state through every witness and back.
  const entry = members.reduce((a, b) => (depth(parent, a) <= depth(parent, b) ? a : b));
  const loopIdx: number[] = [];
  const loopFrom: number[] = [];
  let here = entry;
  const walk = (to: number) => {
    for (const [from, ed] of pathInside(here, to, edges, inside)) {
      loopIdx.push(ed.index);
      loopFrom.push(from);
    }
    here = to;
  };
  for (const wi of witness) {
    walk(wi.at);
    if (wi.edge) {
      loopIdx.push(wi.edge.index);
      loopFrom.push(here);
      here = wi.edge.to;
    }
  }
  walk(entry);
  if (loopIdx.length === 0) {
    // A self-loop (the entry's own step back to itself) is the whole loop.
    const self = edges[entry].find((e) => e.to === entry)!;
    loopIdx.push(self.index);
    loopFrom.push(entry);
  }
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

/** The shortest path inside the component from `a` to `b`, as (state, edge) pairs. */
function pathInside(a: number, b: number, edges: Edge[][], inside: (x: number) => boolean): Array<[number, Edge]> {
  if (a === b) return [];
  const prev = new Map<number, [number, Edge]>();
  const queue = [a];
  prev.set(a, [-1, null as unknown as Edge]);
  for (let q = 0; q < queue.length; q++) {
    const x = queue[q];
    for (const ed of edges[x]) {
      if (!inside(ed.to) || prev.has(ed.to)) continue;
      prev.set(ed.to, [x, ed]);
      if (ed.to === b) {
        const out: Array<[number, Edge]> = [];
        for (let y = b; y !== a; y = prev.get(y)![0]) out.unshift([prev.get(y)![0], prev.get(y)![1]]);
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
