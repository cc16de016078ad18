// node:cluster workers as CPUs of the primary's process-level transition (docs/cluster.md). The primary
// (started with livepatch; its workers inherit `--import livepatch/register` through execArgv) keeps
// the log in a file of its socket directory, which a worker applies in register.ts before it runs
// user code (a worker forked or restarted mid-transition comes up patched); from then on the primary
// sends each worker the ops it lacks and reads its report over the worker's control socket
// (the `group` op). A worker's exit takes its CPU offline.

import cluster, { type Worker } from 'node:cluster';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LpError } from '../engine/index.js';
import { ControlClient, socketDir } from '../runtime/control.js';
import type { Runtime } from '../runtime/livepatch.js';
import type { GroupOp } from './coord.js';
import { RuntimeCpu } from './cpu.js';
import type { ThreadCoordinator } from './threads.js';
import type { CpuReport } from './types.js';

/** How often the primary asks a worker in transition (or behind the log) for its report. */
const POLL_MS = 50;
/** How long a forked worker may take to open its control socket. */
const CONNECT_MS = 20_000;

function logPath(primaryPid: number): string {
  return join(socketDir(), `cluster-${primaryPid}.json`);
}

/** The primary's side: every worker it forks is a CPU of its coordinator. */
export function coordinateWorkers(rt: Runtime, co: ThreadCoordinator): void {
  const path = logPath(process.pid);
  co.links.push(() => {
    // Written before any worker hears of the op: a worker forked from now on reads it at start-up.
    try {
      writeFileSync(`${path}.tmp`, JSON.stringify({ ops: co.s.ops }), { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    } catch (e) {
      rt.log('warn', `livepatch: cannot write the cluster's log (${(e as Error).message}): workers forked from now on start without its patches`);
    }
  });
  process.once('exit', () => rmSync(path, { force: true }));
  cluster.on('fork', (w: Worker) => {
    const id = `worker ${w.id}`;
    co.join(id, `${id} (pid ${w.process.pid})`, 0);
    let gone = false;
    w.once('exit', () => {
      gone = true;
      co.leave(id);
    });
    void follow(co, id, w.process.pid!, () => gone);
  });
}

/** Connect to the worker's socket, then keep it at the log's end and its report fresh until it exits. */
async function follow(co: ThreadCoordinator, id: string, pid: number, gone: () => boolean): Promise<void> {
  const until = Date.now() + CONNECT_MS;
  let client: ControlClient | null = null;
  while (!client && !gone() && Date.now() < until) {
    client = await ControlClient.connect(pid).catch(() => null);
    if (!client) await sleep(10);
  }
  if (!client) return;
  try {
    let applied = 0;
    while (!gone()) {
      const r = await client.call<CpuReport>('group', { ops: { list: co.s.ops.slice(applied) } });
      applied = r.applied;
      co.reportFrom(id, r);
      await sleep(r.transition || applied < co.s.ops.length ? POLL_MS : POLL_MS * 4);
    }
  } catch {
    // The worker went away mid-call: its exit takes it offline.
  } finally {
    client.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

let workerCpu: RuntimeCpu | null = null;

/** A cluster worker coming online: the primary's log, applied before user code runs. */
export function workerComesUp(rt: Runtime): void {
  if (!cluster.isWorker) return;
  let ops: GroupOp[] = [];
  try {
    ops = (JSON.parse(readFileSync(logPath(process.ppid), 'utf8')) as { ops: GroupOp[] }).ops;
  } catch {
    // No log: the primary has logged no op yet (or does not run livepatch).
  }
  workerCpu = new RuntimeCpu(rt);
  workerCpu.replayed(ops.length, ops);
}

/** The pid of this worker's livepatch primary, or null (`ps` shows the worker beneath it). */
export function clusterPrimary(): number | null {
  return workerCpu ? process.ppid : null;
}

/** The control socket's `group` op: ops from the primary (each applied once), then the report. */
export function groupOp(ops: unknown): CpuReport {
  if (!workerCpu) throw new LpError('LP_ERR_BAD_MESSAGE', `'group': process ${process.pid} is not a cluster worker of a livepatch primary`);
  const list = (ops as { list?: unknown }).list;
  if (!Array.isArray(list)) throw new LpError('LP_ERR_BAD_MESSAGE', "'group': ops must be { list: [op, …] }");
  workerCpu.received(list as GroupOp[]);
  return workerCpu.report();
}
