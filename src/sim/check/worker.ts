// A worker thread of a parallel search (parallel.ts). Only the table is loaded before the try: a worker
// that fails, even to load the checker, still reports and leaves the table, so no search waits for it.

import { workerData } from 'node:worker_threads';
import type { WorkerJob, WorkerReport } from './parallel.js';
import { SharedStateTable } from './shared-table.js';

const job = workerData as WorkerJob;
const table = new SharedStateTable(job.buffers, job.id);
let report: WorkerReport;
try {
  const [{ World }, { runJob }] = await Promise.all([import('./world.js'), import('./parallel.js')]);
  report = runJob(job, table, new World(job.config));
} catch (e) {
  table.stop();
  report = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
}
job.port.postMessage(report);
table.leave();
