// Exhaustive stateful depth-first search over a World: symmetry reduction (World.key), and
// partial-order reduction by persistent sets with the cycle proviso. The visited states are a
// Visited: this search's own, or a table shared with searches on other threads (parallel.ts).

import { IntVec } from '../../engine/snapshot.js';
import type { CheckOptions, CheckResult } from './options.js';
import { Fingerprint, fingerprint, type Visited } from './table.js';
import { ADMIN, GLOBAL, HOTPLUG, NONE, WORKER, type Action, type World } from './world.js';

/**
 * A persistent set at the current state, or null to expand everything. The admin's or the kworker's
 * next step (whichever holds klp_mutex: the other cannot act meanwhile; inside a verb it has one, a
 * walk of the task list going on at the task World.walkPicks() chose) is tried; what it touched
 * (World.footprint: the user and idle tasks whose fields it read or wrote, the locks only fork and
 * hotplug wait for, CPU online) names the processes whose steps depend on it. Those steps and the
 * lead's are persistent: every other task's steps touch other fields and commute with them ("task
 * i's steps touch only task i's fields"). Hotplug and the idle task of the CPU it takes down and up
 * come together (hotplug waits for that idle task to leave its loop, and the idle task runs only while
 * its CPU is online). Finding the set takes its first action: a set is returned with the world left
 * just after that action (the search goes on from there), null with the world as it was.
 */
function persistent(w: World, state: Int32Array, at: number, actions: Action[]): Action[] | null {
  const owner = w.klp.mutexOwner;
  if (owner === null) return retryFirst(w, state, at, actions);
  const lead = w.procs.indexOf(owner);
  if (lead !== ADMIN && lead !== WORKER) return null;
  const first = actions.find((x) => x.proc === lead);
  if (!first) return null;
  const touched = tryStep(w, first);
  if (touched === GLOBAL) {
    w.restore(state, at);
    return null;
  }
  // The step the world is left just after goes first (the admin's hotplug steps come before the
  // kworker's among the actions).
  const set = [first];
  for (const x of actions) if (x.proc > WORKER ? touched & (1 << x.proc) : touched & HOTPLUG && w.isHotplug(x)) set.push(x);
  return set;
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

/**
 * The whole path to a violation, from the root state (at 0 in `state`) and the choices taken at each
 * stored state: with the quiet steps merged into them (World.mergeQuiet) each on its own, so that a
 * replay takes every step of the path.
 */
function path(w: World, state: Int32Array, choices: number[]): number[] {
  const out: number[] = [];
  w.restore(state, 0);
  w.mergeLog = out;
  for (const c of choices) {
    out.push(c);
    w.run(w.actions()[c]);
  }
  w.mergeLog = null;
  return out;
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
    this.data.set(v.buf.subarray(0, v.n), at);
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

/**
 * Depth-first search from the world's current state. `visited` is this search's own, or shared with
 * searches on other threads: those start at the same state and divide the space between them by what
 * each claims first.
 */
export function dfs(w: World, opts: CheckOptions, visited: Visited): CheckResult {
  const por = opts.por && w.config.memory === 'sc';
  const merging = w.mergeQuiet;
  // Quiet lead steps are merged only where the reduction would take them alone anyway.
  w.mergeQuiet = por;
  const fallbacks = w.quietFallbacks;
  try {
    const r = search(w, opts, visited, por);
    r.quietFallbacks = w.quietFallbacks - fallbacks;
    return r;
  } finally {
    w.mergeQuiet = merging;
  }
}

function search(w: World, opts: CheckOptions, visited: Visited, por: boolean): CheckResult {
  const buf = new IntVec();
  const arena = new Arena();
  const fp = new Fingerprint();
  // The key parts of each state on the stack (World.keyParts), by depth: after a step of one task
  // alone only its part is made anew.
  const incremental = opts.symmetry && w.config.memory === 'sc';
  const plen = w.keyParts.length;
  let parts = new Uint32Array(plen * 256);
  let transitions = 0;
  const memoryBytes = () => visited.bytes + arena.peak * 4 + parts.byteLength;
  const stopped = (violation: CheckResult['violation'] = null): CheckResult => ({
    complete: false,
    states: visited.size,
    transitions,
    violation,
    elapsedMs: 0,
    memoryBytes: memoryBytes(),
  });
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
    if (opts.classes || (all.length === 0 && opts.terminalClasses)) {
      w.key(buf, fp, true);
      opts.classes?.add(`${fp.h1}:${fp.h2}`);
      if (all.length === 0) opts.terminalClasses?.add(`${fp.h1}:${fp.h2}`);
    }
    const reduced = por ? persistent(w, arena.data, at, all) : null;
    return { at, actions: reduced ?? all, all: reduced ? all : null, enabled, next: 0, ran: reduced !== null, h1, h2, taken: -1 };
  };
  const expandAll = (fr: DfsFrame): void => {
    const rest = fr.all!.filter((x) => !fr.actions.includes(x));
    fr.actions = [...fr.actions, ...rest];
    fr.all = null;
  };
  w.key(buf, fp, opts.symmetry);
  // Searching in parallel every worker starts here, whoever claimed it first.
  visited.add(fp.h1, fp.h2);
  const stack: DfsFrame[] = [frame(fp.h1, fp.h2, 0)];
  // The frame whose state the world is in (a restore is needed only to come back to one).
  let current: DfsFrame | null = stack[0].ran ? null : stack[0];
  while (stack.length > 0) {
    if (!visited.poll()) return stopped();
    const fr = stack[stack.length - 1];
    if (fr.next >= fr.actions.length) {
      if (!visited.close(fr.h1, fr.h2)) {
        // A cycle closed back to this state: expand it fully (the cycle proviso, below).
        if (fr.all) expandAll(fr);
        continue;
      }
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
    if (w.violation) {
      visited.stop();
      return stopped({ ...w.violation, choices: path(w, arena.data, stack.map((f) => f.taken)) });
    }
    if (incremental && w.lastLocal >= 0) w.keyAfterLocal(parts, (stack.length - 1) * plen, w.lastLocal, fp);
    else if (incremental && !w.lastByTask) w.keyAfterOther(buf, parts, (stack.length - 1) * plen, fp);
    else w.key(buf, fp, opts.symmetry);
    if (!visited.add(fp.h1, fp.h2)) {
      // Cycle proviso: every cycle of reduced expansions needs a state on it expanded fully, or the
      // steps they all leave out could be postponed forever. A step back to an open state closes
      // a cycle through it: that state is expanded fully before it is finished (the destination,
      // not this state: many cycles close back to the same state, one full expansion serves them
      // all). Every cycle of the explored graph has such a step back (a depth-first search finds
      // one on every cycle). Searching in parallel, a state another worker has not finished counts
      // as open, and that worker expands it: of the states on a cycle, the first one finished saw
      // its successor on the cycle open (unclaimed, it would have been pushed and finished first;
      // finished, it would have been finished first).
      if (fr.all) visited.expandFully(fp.h1, fp.h2);
      continue;
    }
    if (visited.size >= opts.maxStates) {
      visited.stop();
      return stopped();
    }
    const child = frame(fp.h1, fp.h2, stack.length);
    stack.push(child);
    current = child.ran ? null : child;
  }
  return { complete: true, states: visited.size, transitions, violation: null, elapsedMs: 0, memoryBytes: memoryBytes() };
}
