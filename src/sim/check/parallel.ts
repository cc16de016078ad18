// Depth-first search on several threads at once: each worker runs dfs() on its own World from the
// same state, and all share one table of visited states (SharedStateTable). A state is explored by
// the worker that claims it first; the others skip it, so the workers divide the space between them
// as they go, and every worker's search ends only once every reachable state has been claimed. The
// verdict is that of the sequential search (a violation is reported by whichever worker reaches one
// first); the counts vary from run to run, with the order in which the workers claim states.

import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { LpError } from '../../engine/index.js';
import { IntVec } from '../../engine/snapshot.js';
import { dfs } from './dfs.js';
import type { CheckOptions, CheckResult } from './options.js';
import { SharedStateTable, type SharedTableBuffers } from './shared-table.js';
import type { World, WorldConfig } from './world.js';

/** What a worker thread is started with. */
export interface WorkerJob {
  id: number;
  config: WorldConfig;
  /** The state to search from, as World.capture() wrote it. */
  state: Int32Array;
  opts: CheckOptions;
  buffers: SharedTableBuffers;
  port: MessagePort;
}

/** What a worker posts back before it leaves the table. */
export type WorkerReport =
  | { result: CheckResult; tableBytes: number; terminals: string[]; terminalClasses: string[]; classes: string[] }
  | { error: string };

/** How long a finished worker's report may take to arrive (it is posted before the worker leaves). */
const REPORT_WAIT_MS = 5000;

export function parallelDfs(w: World, opts: CheckOptions): CheckResult {
  const workers = opts.workers ?? 1;
  const table = SharedStateTable.create(workers);
  const buf = new IntVec();
  w.capture(buf);
  const ports: MessagePort[] = [];
  for (let id = 1; id < workers; id++) {
    const { port1, port2 } = new MessageChannel();
    const job: WorkerJob = { id, config: w.config, state: buf.copy(), opts, buffers: table.buffers, port: port2 };
    // The worker runs without this thread's event loop: it reports through the port and the table.
    new Worker(new URL('./worker.js', import.meta.url), { workerData: job, transferList: [port2] }).unref();
    ports.push(port1);
  }
  let mine: CheckResult;
  try {
    mine = dfs(w, opts, table);
  } finally {
    table.leave();
  }
  table.waitAll();
  const merged: CheckResult = { ...mine, states: table.count(), memoryBytes: mine.memoryBytes - table.bytes, workerTransitions: [mine.transitions] };
  ports.forEach((port, j) => {
    const report = receiveReport(port);
    port.close();
    if ('error' in report) throw new LpError('LP_ERR_INTERNAL', `parallel search: worker ${j + 1} failed: ${report.error}`);
    const r = report.result;
    merged.complete &&= r.complete;
    merged.transitions += r.transitions;
    merged.workerTransitions!.push(r.transitions);
    for (const t of report.terminals) opts.terminals?.add(t);
    for (const c of report.terminalClasses) opts.terminalClasses?.add(c);
    for (const c of report.classes) opts.classes?.add(c);
    merged.violation ??= r.violation;
    merged.memoryBytes += r.memoryBytes - report.tableBytes;
  });
  merged.memoryBytes += table.bytes;
  return merged;
}

function receiveReport(port: MessagePort): WorkerReport {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < REPORT_WAIT_MS; waited++) {
    const m = receiveMessageOnPort(port);
    if (m) return m.message as WorkerReport;
    Atomics.wait(pause, 0, 0, 1);
  }
  return { error: 'no report' };
}

/** The worker thread's side (worker.ts): search, then report. */
export function runJob(job: WorkerJob, table: SharedStateTable, world: World): WorkerReport {
  world.restore(job.state);
  // (The sets arrived as copies: what this worker collects goes back in the report.)
  const result = dfs(world, job.opts, table);
  const o = job.opts;
  return { result, tableBytes: table.bytes, terminals: [...(o.terminals ?? [])], terminalClasses: [...(o.terminalClasses ?? [])], classes: [...(o.classes ?? [])] };
}
