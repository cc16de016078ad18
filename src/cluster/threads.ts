// Worker threads as CPUs of the process-level transition (docs/cluster.md). The main thread's runtime
// coordinates; every thread started with livepatch (its own runtime, modules and tasks) is a CPU that
// comes online in register.ts, before the thread runs user code, by a synchronous hello on a
// BroadcastChannel answered with the replay of the log.
//
// Messages on the channel (structured clones):
//   CPU → coordinator: { t: 'hello', id, have }, { t: 'report', id, ...CpuReport }
//   coordinator → CPUs: { t: 'op', op } (to all), { t: 'replay', to, seq, ops } (to the one coming online)

import cluster from 'node:cluster';
import { BroadcastChannel, isMainThread, receiveMessageOnPort, threadId, type Worker } from 'node:worker_threads';
import { LpError } from '../engine/index.js';
import type { Runtime } from '../runtime/livepatch.js';
import type { PatchInfo, TransitionStatus } from '../runtime/types.js';
import { inTransition, issue, newCoordState, offline, online, refusedBy, report, restoreOf, tryComplete, unswitched, type GroupOp, type GroupOpKind } from './coord.js';
import { applyOp, RuntimeCpu } from './cpu.js';
import { coordinateWorkers, workerComesUp } from './processes.js';
import type { CpuReport, RuntimeGroup } from './types.js';
import { groupList, groupStatus, type CpuEntry } from './view.js';

const CHANNEL = 'livepatch:threads';
/** Set by the coordinating main thread; a thread's copy of the environment says it may say hello. */
const ENV = 'LIVEPATCH_THREADS';
/** How long a thread coming online waits for the main thread's replay before it runs unpatched. */
const HELLO_TIMEOUT_MS = 10_000;
/** While its own transition runs, a CPU reports this often (its tasks switch between verbs). */
const REPORT_MS = 200;
const MAIN = 'main';

type Message =
  | { t: 'hello'; id: string; have: number }
  | ({ t: 'report'; id: string } & CpuReport)
  | { t: 'op'; op: GroupOp }
  | { t: 'replay'; to: string; seq: number; ops: GroupOp[] };

/** The main thread's coordinator of the threads. */
export class ThreadCoordinator implements RuntimeGroup {
  readonly s = newCoordState();
  private readonly reports = new Map<string, CpuReport>();
  /** CPUs that are not threads (processes.ts: cluster workers) by id: their labels. */
  private readonly labels = new Map<string, string>();
  /** Called with each op logged, before the threads hear of it (processes.ts writes the log file). */
  readonly links: Array<(op: GroupOp) => void> = [];
  private readonly channel = new BroadcastChannel(CHANNEL);
  private issuedAt = 0;
  /** A verb of the main thread's own part of an op (runLocal): not an op of its own. */
  private applying = false;

  constructor(private readonly rt: Runtime) {
    online(this.s, MAIN, 0);
    this.channel.onmessage = (e) => this.receive((e as { data: Message }).data);
    // The channel must never keep the process alive.
    this.channel.unref();
    // Every Worker this thread creates: its exit takes its CPU offline, wherever it was.
    process.on('worker', (w: Worker) => {
      const id = String(w.threadId);
      w.once('exit', () => {
        this.rt.log('debug', `livepatch: thread ${id} offline`);
        this.leave(id);
      });
    });
    rt.verbWatchers.push(() => this.mainReport());
    process.env[ENV] = String(process.pid);
  }

  admit(kind: GroupOpKind, name: string): void {
    const op = refusedBy(this.s, kind, name);
    if (this.applying || !op) return;
    throw new LpError(
      'LP_ERR_BUSY',
      `cannot ${kind} '${name}': patch '${op.name}' is in transition in ${this.holders()}; wait for it, reverse it or force it`,
    );
  }

  runLocal(kind: GroupOpKind, name: string): boolean {
    const here = this.rt.klp.transitionPatch?.name === name;
    // A force of what is in transition nowhere is the engine's to refuse.
    if (kind === 'force') return here || inTransition(this.s)?.name !== name;
    const restore = kind === 'disable' && !here ? restoreOf(this.s, name) : null;
    if (!restore) return true;
    // The main thread is a CPU like the others: it reverses as applyOp() has them reverse.
    this.applying = true;
    try {
      applyOp(this.rt, { seq: 0, kind, name, restore });
    } finally {
      this.applying = false;
    }
    return false;
  }

  issued(kind: GroupOpKind, name: string, patch?: unknown): void {
    if (this.applying) return;
    let op: GroupOp;
    try {
      op = issue(this.s, kind, name, patch === undefined ? undefined : structuredClone(patch));
    } catch {
      // A patch of functions (the in-process API's `fn`) cannot cross to another thread.
      this.rt.log('warn', `livepatch: '${name}' holds functions, not sources: applied to the main thread only`);
      return;
    }
    this.issuedAt = performance.now();
    for (const link of this.links) link(op);
    this.channel.postMessage({ t: 'op', op } satisfies Message);
    this.mainReport();
  }

  status(local: TransitionStatus, limit: number): TransitionStatus {
    return groupStatus(this.s, local, this.entries(), this.issuedAt, performance.now(), limit);
  }

  list(local: PatchInfo[]): PatchInfo[] {
    return groupList(this.s, local);
  }

  idle(): boolean {
    return tryComplete(this.s);
  }

  private entries(): CpuEntry[] {
    return Object.keys(this.s.cpus).map((id) => ({ id, label: this.label(id), report: this.reports.get(id) }));
  }

  private label(id: string): string {
    return id === MAIN ? MAIN : (this.labels.get(id) ?? `thread ${id}`);
  }

  private holders(): string {
    return unswitched(this.s).map((id) => this.label(id)).join(', ');
  }

  /** A CPU of another kind (a cluster worker) comes online: it must apply the log from `have` on. */
  join(id: string, label: string, have: number): void {
    this.labels.set(id, label);
    online(this.s, id, have);
    this.settle();
  }

  reportFrom(id: string, r: CpuReport): void {
    if (!(id in this.s.cpus)) return;
    this.reports.set(id, r);
    report(this.s, id, r.applied, r.transition);
    this.settle();
  }

  leave(id: string): void {
    offline(this.s, id);
    this.reports.delete(id);
    this.labels.delete(id);
    this.settle();
  }

  private mainReport(): void {
    // The main thread runs every verb before it is logged: it has applied the whole log.
    const r: CpuReport = { applied: this.s.ops.length, transition: this.rt.klp.transitionPatch !== null, status: this.rt.localStatus(0) };
    this.reports.set(MAIN, r);
    report(this.s, MAIN, r.applied, r.transition);
    this.settle();
  }

  private receive(m: Message): void {
    if (m.t === 'hello') {
      const replay = online(this.s, m.id, m.have);
      this.rt.log('debug', `livepatch: thread ${m.id} ${replay ? `online at op ${replay.seq}` : 'said hello after it exited'}`);
      if (replay) this.channel.postMessage({ t: 'replay', to: m.id, ...replay } satisfies Message);
    } else if (m.t === 'report') {
      const { t: _t, id, ...r } = m;
      this.reportFrom(id, r);
      return;
    }
    this.settle();
  }

  private settle(): void {
    const was = this.s.completed;
    // A main thread alone logs nothing more than its own transition did.
    if (tryComplete(this.s) && was !== this.s.completed && Object.keys(this.s.cpus).length > 1) {
      const op = this.s.ops[this.s.ops.length - 1];
      this.rt.log('notice', `livepatch: '${op.name}': ${op.kind} complete in all ${Object.keys(this.s.cpus).length} CPUs`);
    }
  }
}

/**
 * A worker thread coming online: hello, then wait (blocking this thread, which has not run user code
 * yet) for the replay, apply it, and follow the coordinator's ops from then on.
 */
function threadCpu(rt: Runtime): void {
  const cpu = new RuntimeCpu(rt);
  const id = String(threadId);
  const channel = new BroadcastChannel(CHANNEL);
  const send = (): void => channel.postMessage({ t: 'report', id, ...cpu.report() } satisfies Message);
  let early: GroupOp[] = [];
  // Subscribed before the hello: every op logged after the coordinator answers arrives here.
  channel.postMessage({ t: 'hello', id, have: 0 } satisfies Message);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + HELLO_TIMEOUT_MS;
  let answered = false;
  while (!answered && Date.now() < until) {
    const got = receiveMessageOnPort(channel as unknown as Parameters<typeof receiveMessageOnPort>[0]);
    if (!got) {
      Atomics.wait(nap, 0, 0, 2);
      continue;
    }
    const m = got.message as Message;
    if (m.t === 'op') early.push(m.op);
    else if (m.t === 'replay' && m.to === id) {
      cpu.replayed(m.seq, m.ops);
      answered = true;
    }
  }
  if (!answered) rt.log('warn', `livepatch: thread ${id}: the main thread did not answer in ${HELLO_TIMEOUT_MS} ms; this thread starts without its patches`);
  cpu.received(early);
  early = [];
  let timer: NodeJS.Timeout | null = null;
  const tick = (): void => {
    send();
    if (rt.klp.transitionPatch && !timer) {
      timer = setInterval(() => {
        send();
        if (!rt.klp.transitionPatch && timer) {
          clearInterval(timer);
          timer = null;
        }
      }, REPORT_MS);
      timer.unref();
    }
  };
  rt.verbWatchers.push(tick);
  channel.onmessage = (e) => {
    const m = (e as { data: Message }).data;
    if (m.t === 'op') cpu.received([m.op]);
  };
  channel.unref();
  tick();
}

/** The thread's part: the main thread coordinates (when asked to), a worker thread comes online. */
export function startThreads(rt: Runtime): RuntimeGroup | null {
  if (isMainThread) {
    workerComesUp(rt);
    const co = new ThreadCoordinator(rt);
    if (cluster.isPrimary) coordinateWorkers(rt, co);
    return co;
  }
  if (process.env[ENV] === String(process.pid)) threadCpu(rt);
  return null;
}
