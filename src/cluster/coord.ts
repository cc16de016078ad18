// The process-level transition over several runtimes (docs/cluster.md), as decisions over plain data:
// no Node APIs, so that the real coordinators (threads.ts over a BroadcastChannel, group.ts over the
// workers' control sockets) and the model checker's cluster World (src/sim/check/cluster/) run the
// very same code.
//
// In the engine's terms each runtime (a worker thread, a cluster worker) is a CPU of the process-level
// transition, and its runtime's own transition is that CPU's tasks. The admin verbs form a log of
// operations (`GroupOp`, numbered from 1); a CPU coming online is brought up to the log's end before
// it runs user code (the replay: a CPU coming online during a transition takes the patch state
// before it schedules a task), every CPU applies the log in order, and the process-level transition
// is complete only when every online CPU has applied the whole log and its own transition is over.

export type GroupOpKind = 'enable' | 'disable' | 'force';

/** One admin verb of the log. `patch` is the patch file an enable carries (JSON-safe). */
export interface GroupOp {
  seq: number;
  kind: GroupOpKind;
  name: string;
  patch?: unknown;
  /**
   * A disable that reverses an atomic replace still in transition: the enables of the patches it was
   * replacing. A CPU that has completed the replace has freed them (klp_free_replaced_patches), so its
   * reverse is to take them back, atomically (docs/cluster.md).
   */
  restore?: GroupOp[];
}

/** The mutation switches of the model checker: the coordination with one of its steps left out. */
export type CoordDrop = 'replay-new-worker' | 'tombstone';
export const COORD_DROPPABLE: readonly CoordDrop[] = ['replay-new-worker', 'tombstone'];

/** What the coordinator knows of one online CPU: its last report. */
export interface CpuView {
  /** The seq of the last op it has applied (0: none). */
  applied: number;
  /** Its own runtime has a transition in progress. */
  transition: boolean;
}

export interface CoordState {
  /** The log; ops[i].seq === i + 1. */
  ops: GroupOp[];
  /** Online CPUs by id. Invariant: a key is never in `gone`. */
  cpus: Record<string, CpuView>;
  /**
   * CPUs that went offline. Their messages may still arrive after the exit was seen (a report or a
   * hello on another channel than the exit notice): an id here is never taken online again, else a
   * dead CPU would hold the transition forever.
   */
  gone: string[];
  /** The seq the process-level transition was last seen complete at (ops.length: complete now). */
  completed: number;
  drop: CoordDrop[];
}

export function newCoordState(drop: readonly CoordDrop[] = []): CoordState {
  return { ops: [], cpus: {}, gone: [], completed: 0, drop: [...drop] };
}

/**
 * The op in transition that refuses `kind` of `name` now, or null when it may be issued: a second
 * transition waits for the first, as klp_enable_patch() refuses one (-EBUSY); the patch in transition
 * may be disabled (reversed) or forced.
 */
export function refusedBy(s: CoordState, kind: GroupOpKind, name: string): GroupOp | null {
  const op = inTransition(s);
  return op && (kind === 'enable' || op.name !== name) ? op : null;
}

/** Append an admin verb to the log; every online CPU must now apply it. */
export function issue(s: CoordState, kind: GroupOpKind, name: string, patch?: unknown): GroupOp {
  const op: GroupOp = patch === undefined ? { seq: s.ops.length + 1, kind, name } : { seq: s.ops.length + 1, kind, name, patch };
  const restore = kind === 'disable' ? restoreOf(s, name) : null;
  if (restore) op.restore = restore;
  s.ops.push(op);
  return op;
}

/** When disabling `name` reverses an atomic replace in transition: the enables it was replacing. */
export function restoreOf(s: CoordState, name: string): GroupOp[] | null {
  const moving = inTransition(s);
  return moving?.kind === 'enable' && moving.name === name && isReplace(moving.patch) ? enabledAt(s.ops, moving.seq - 1) : null;
}

function isReplace(patch: unknown): boolean {
  const file = typeof patch === 'string' ? (JSON.parse(patch) as unknown) : patch;
  return typeof file === 'object' && file !== null && (file as { replace?: unknown }).replace === true;
}

/** The enables in effect after the first `n` ops of the log, in stack order. */
function enabledAt(ops: readonly GroupOp[], n: number): GroupOp[] {
  let on: GroupOp[] = [];
  for (const op of ops.slice(0, n)) {
    if (op.kind === 'enable') on = isReplace(op.patch) ? [op] : [...on, op];
    else if (op.kind === 'disable') on = op.restore ?? on.filter((e) => e.name !== op.name);
  }
  return on;
}

/**
 * A CPU comes online having applied the log up to `have`: the ops it must apply before it runs user
 * code, and the seq it is then at. Null when the CPU is already gone (its hello outlived it).
 */
export function online(s: CoordState, id: string, have: number): { seq: number; ops: GroupOp[] } | null {
  if (s.gone.includes(id) && !s.drop.includes('tombstone')) return null;
  s.cpus[id] = { applied: have, transition: false };
  const seq = s.ops.length;
  return { seq, ops: s.drop.includes('replay-new-worker') ? [] : s.ops.slice(have) };
}

/** A CPU's report of where it is. Ignored from a CPU that is not online (gone, or not yet up). */
export function report(s: CoordState, id: string, applied: number, transition: boolean): void {
  const cpu = s.cpus[id];
  if (!cpu) return;
  cpu.applied = applied;
  cpu.transition = transition;
}

/** A CPU went offline (exited): it no longer holds the transition. */
export function offline(s: CoordState, id: string): void {
  delete s.cpus[id];
  if (!s.gone.includes(id)) s.gone.push(id);
}

/** The online CPUs that have not finished the log: what holds the process-level transition. */
export function unswitched(s: CoordState): string[] {
  return Object.keys(s.cpus).filter((id) => !switched(s, id));
}

export function switched(s: CoordState, id: string): boolean {
  const cpu = s.cpus[id];
  return cpu !== undefined && cpu.applied === s.ops.length && !cpu.transition;
}

/**
 * klp_try_complete_transition() of the process level: true when every online CPU is done; records the
 * completion (`completed`).
 */
export function tryComplete(s: CoordState): boolean {
  if (s.completed === s.ops.length) return true;
  if (unswitched(s).length) return false;
  s.completed = s.ops.length;
  return true;
}

/** The patch the process-level transition is about (the last op's) while it is not complete. */
export function inTransition(s: CoordState): GroupOp | null {
  return s.completed === s.ops.length ? null : s.ops[s.ops.length - 1];
}

/**
 * A CPU's side of the log: ops may arrive twice (the replay and the broadcast overlap) or early (a
 * broadcast before the replay that precedes it); `take` hands them out once each, in seq order.
 */
export class CpuLog {
  applied = 0;
  private readonly held = new Map<number, GroupOp>();

  /** The replay answered: the CPU is at `seq` once `ops` are applied. */
  replayed(seq: number, ops: readonly GroupOp[]): GroupOp[] {
    const out = this.take(ops);
    // With the replay left out (the model's mutation) the CPU still learns where the log is.
    if (this.applied < seq) this.applied = seq;
    for (const k of this.held.keys()) if (k <= this.applied) this.held.delete(k);
    return out.concat(this.take([]));
  }

  /** Ops received early, not yet due (a gap before them). */
  heldOps(): GroupOp[] {
    return [...this.held.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Ops received; returns those now due, in order. */
  take(ops: readonly GroupOp[]): GroupOp[] {
    for (const op of ops) if (op.seq > this.applied) this.held.set(op.seq, op);
    const out: GroupOp[] = [];
    for (let op = this.held.get(this.applied + 1); op; op = this.held.get(this.applied + 1)) {
      this.held.delete(op.seq);
      this.applied = op.seq;
      out.push(op);
    }
    return out;
  }
}
