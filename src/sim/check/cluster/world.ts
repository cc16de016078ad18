// The cluster World (docs/cluster.md, docs/model-checking.md "cluster-hotplug"): the process-level
// transition of src/cluster/ with worker CPUs coming up and going down at any point of enable, reverse
// and complete. The coordinator's decisions and a CPU's log are src/cluster/coord.ts itself; this file
// holds only what the real hosts (threads.ts) do around them: the channels, a CPU's runtime, the
// admin's script.
//
// In the engine's terms a worker is a CPU of the process-level transition and its runtime's own
// transition is that CPU's tasks: here one task, which switches when the CPU's own transition ends.

import {
  CpuLog,
  issue,
  newCoordState,
  offline,
  online,
  refusedBy,
  report,
  switched,
  tryComplete,
  type CoordDrop,
  type CoordState,
  type GroupOp,
  type GroupOpKind,
} from '../../../cluster/coord.js';

/** A message a worker receives (from the coordinator, in order) or sends (to it, in order). */
type ToCpu = { t: 'op'; op: GroupOp } | { t: 'replay'; seq: number; ops: GroupOp[] };
type ToCoord = { t: 'hello'; id: string } | { t: 'report'; id: string; applied: number; transition: boolean };

interface Slot {
  st: 'down' | 'booting' | 'up';
  /** This life's CPU id (slot.life): a respawned worker is a new CPU. */
  id: string;
  life: number;
  inbox: ToCpu[];
  /** Ops broadcast before the replay came (threads.ts: `early`). */
  early: GroupOp[];
  log: { applied: number; held: GroupOp[] };
  /** The CPU's runtime: the version its target is, the version its one task runs, its transition. */
  target: number;
  task: number;
  transition: boolean;
}

export interface ClusterShape {
  /** Worker slots; slot 0 is up (online at op 0) when the world starts. */
  workers: number;
  /** Spawns (a worker started, or restarted after it died), in all. */
  spawns: number;
  /** Kills (a worker dies, at any point), in all. */
  kills: number;
}

/** The admin's script: patch, reverse (or unpatch), patch again; each op as soon as it is admitted. */
const SCRIPT: ReadonlyArray<GroupOpKind> = ['enable', 'disable', 'enable'];
const PATCH = 'p';

export interface ClusterState {
  coord: CoordState;
  slots: Slot[];
  /** Per slot life, what it sent that the coordinator has not read yet (messages outlive a dead sender). */
  outbox: Record<string, ToCoord[]>;
  /** Exits the coordinator has not seen yet (the Worker 'exit' event: another channel than the messages). */
  exits: string[];
  script: number;
  spawns: number;
  kills: number;
  /** The last step completed the process-level transition (the search checks it there, then clears it). */
  completedNow: boolean;
}

export interface ClusterViolation {
  invariant: string;
  detail: string;
}

export interface ClusterStep {
  label: string;
  apply(s: ClusterState): void;
}

export class ClusterWorld {
  constructor(
    readonly shape: ClusterShape,
    readonly drop: readonly CoordDrop[],
  ) {}

  initial(): ClusterState {
    const s: ClusterState = { coord: newCoordState(this.drop), slots: [], outbox: {}, exits: [], script: 0, spawns: 0, kills: 0, completedNow: false };
    for (let i = 0; i < this.shape.workers; i++)
      s.slots.push({ st: 'down', id: `${i}.0`, life: 0, inbox: [], early: [], log: { applied: 0, held: [] }, target: 0, task: 0, transition: false });
    startLife(s, 0);
    return s;
  }

  /** The process-level version: what the log's last op asks for. */
  version(s: ClusterState): number {
    return s.coord.ops.length && s.coord.ops[s.coord.ops.length - 1].kind === 'enable' ? 1 : 0;
  }

  steps(s: ClusterState): ClusterStep[] {
    const out: ClusterStep[] = [];
    const kind = SCRIPT[s.script];
    if (kind !== undefined && !refusedBy(s.coord, kind, PATCH))
      out.push({
        label: `admin: ${kind} '${PATCH}' (op ${s.coord.ops.length + 1})`,
        apply: (x) => {
          const op = issue(x.coord, SCRIPT[x.script], PATCH);
          x.script++;
          // The broadcast reaches every subscribed worker, the booting ones included.
          for (const slot of x.slots) if (slot.st !== 'down') slot.inbox.push({ t: 'op', op });
          settle(x);
        },
      });
    for (const id of Object.keys(s.outbox))
      if (s.outbox[id].length)
        out.push({ label: `coordinator: reads ${describe(s.outbox[id][0])} of cpu ${id}`, apply: (x) => this.coordinatorReads(x, id) });
    s.exits.forEach((id, i) =>
      out.push({
        label: `coordinator: sees cpu ${id} exit`,
        apply: (x) => {
          x.exits.splice(i, 1);
          offline(x.coord, id);
          settle(x);
        },
      }),
    );
    s.slots.forEach((slot, i) => {
      if (slot.st === 'down' && s.spawns < this.shape.spawns)
        out.push({
          label: `worker ${i}: starts (cpu ${i}.${slot.life + 1}), says hello`,
          apply: (x) => {
            x.spawns++;
            x.slots[i].life++;
            startLife(x, i);
          },
        });
      if (slot.st !== 'down' && s.kills < this.shape.kills)
        out.push({
          label: `worker ${i}: dies (cpu ${slot.id})`,
          apply: (x) => {
            x.kills++;
            const sl = x.slots[i];
            sl.st = 'down';
            sl.inbox = [];
            x.exits.push(sl.id);
          },
        });
      if (slot.st !== 'down' && slot.inbox.length)
        out.push({ label: `worker ${i}: receives ${describeIn(slot.inbox[0])}`, apply: (x) => this.workerReceives(x, i) });
      if (slot.st === 'up' && slot.transition)
        out.push({
          label: `worker ${i}: its task switches, its own transition completes`,
          apply: (x) => {
            const sl = x.slots[i];
            sl.task = sl.target;
            sl.transition = false;
            send(x, sl);
          },
        });
    });
    return out;
  }

  private coordinatorReads(s: ClusterState, id: string): void {
    const m = s.outbox[id].shift()!;
    if (s.outbox[id].length === 0) delete s.outbox[id];
    if (m.t === 'hello') {
      const r = online(s.coord, id, 0);
      // The answer reaches the worker only if this life of it is still there to read it.
      const slot = s.slots.find((x) => x.id === id && x.st !== 'down');
      if (r && slot) slot.inbox.push({ t: 'replay', seq: r.seq, ops: r.ops });
    } else report(s.coord, id, m.applied, m.transition);
    settle(s);
  }

  private workerReceives(s: ClusterState, i: number): void {
    const sl = s.slots[i];
    const m = sl.inbox.shift()!;
    const log = restoreLog(sl.log);
    if (sl.st === 'booting') {
      if (m.t === 'op') {
        sl.early.push(m.op);
        return;
      }
      // No user code has run: no task holds old code, each verb's transition completes at once.
      for (const op of [...log.replayed(m.seq, m.ops), ...log.take(sl.early)]) runVerb(sl, op, true);
      sl.early = [];
      sl.st = 'up';
    } else if (m.t === 'op') for (const op of log.take([m.op])) runVerb(sl, op, false);
    saveLog(sl, log);
    send(s, sl);
  }

  /** The invariants after every step; `stuck`: no step is enabled. */
  violation(s: ClusterState, stuck: boolean): ClusterViolation | null {
    const v = this.version(s);
    if (s.coord.completed === s.coord.ops.length && s.coord.ops.length > 0)
      for (const sl of s.slots)
        if (sl.st === 'up' && (sl.transition || sl.task !== v))
          return {
            invariant: 'complete-version',
            detail: `the process-level transition is complete at version ${v}, but live cpu ${sl.id} runs version ${sl.task}${sl.transition ? ' (its own transition still running)' : ''}`,
          };
    if (stuck && s.coord.completed !== s.coord.ops.length) {
      const dead = Object.keys(s.coord.cpus).filter((id) => !s.slots.some((x) => x.id === id && x.st !== 'down'));
      return {
        invariant: 'stall',
        detail: dead.length
          ? `nothing can happen and the transition is not complete: cpu ${dead.join(', ')} exited but still holds it`
          : `nothing can happen and the transition is not complete (${Object.keys(s.coord.cpus).filter((id) => !switched(s.coord, id)).join(', ')} unswitched)`,
      };
    }
    return null;
  }

  /** Checked as the coordinator completes: no live worker unswitched (ground truth, not its reports). */
  completedWithUnswitched(s: ClusterState): ClusterViolation | null {
    const v = this.version(s);
    for (const sl of s.slots)
      if (sl.st === 'up' && (sl.transition || sl.task !== v || sl.log.applied !== s.coord.ops.length))
        return { invariant: 'complete-unswitched', detail: `the coordinator completed op ${s.coord.ops.length} with live cpu ${sl.id} not switched (its task on version ${sl.task})` };
    return null;
  }
}

function startLife(s: ClusterState, i: number): void {
  const sl = s.slots[i];
  sl.id = `${i}.${sl.life}`;
  sl.st = 'booting';
  sl.inbox = [];
  sl.early = [];
  sl.log = { applied: 0, held: [] };
  sl.target = 0;
  sl.task = 0;
  sl.transition = false;
  // Subscribed before the hello (threads.ts): every op logged after the answer reaches it.
  (s.outbox[sl.id] ??= []).push({ t: 'hello', id: sl.id });
}

function send(s: ClusterState, sl: Slot): void {
  (s.outbox[sl.id] ??= []).push({ t: 'report', id: sl.id, applied: sl.log.applied, transition: sl.transition });
}

/** The process-level completion, with the moment recorded for the invariant checked there. */
function settle(s: ClusterState): void {
  const was = s.coord.completed;
  tryComplete(s.coord);
  if (s.coord.completed !== was) s.completedNow = true;
}

/** The runtime's verb: the engine's transition of one task, abstracted to its target and its end. */
function runVerb(sl: Slot, op: GroupOp, boot: boolean): void {
  if (op.kind === 'force') {
    if (sl.transition) sl.task = sl.target;
    sl.transition = false;
    return;
  }
  sl.target = op.kind === 'enable' ? 1 : 0;
  if (boot) sl.task = sl.target;
  sl.transition = sl.task !== sl.target;
}

function restoreLog(l: Slot['log']): CpuLog {
  const log = new CpuLog();
  log.applied = l.applied;
  log.take(l.held);
  return log;
}

function saveLog(sl: Slot, log: CpuLog): void {
  sl.log = { applied: log.applied, held: log.heldOps() };
}

function describe(m: ToCoord): string {
  return m.t === 'hello' ? 'the hello' : `a report (op ${m.applied}${m.transition ? ', in transition' : ', idle'})`;
}

function describeIn(m: ToCpu): string {
  return m.t === 'op' ? `op ${m.op.seq} (${m.op.kind})` : `the replay (at op ${m.seq}: ${m.ops.length ? m.ops.map((o) => o.seq).join(', ') : 'nothing'})`;
}
