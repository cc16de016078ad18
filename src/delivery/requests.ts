// The requests a process served, for the transition report (report.ts): recorded in the process only
// while someone polls the control socket's `requests` op, from the runtime's task-end channel.

import { subscribe, unsubscribe } from 'node:diagnostics_channel';

/** [started, ended] (Date.now() ms), the task's patch state at its end (1 patched, 0 unpatched, -1 idle), the patch in transition then. */
export type RequestRecord = [started: number, ended: number, patchState: number, patch: string | null];

const CHANNEL = 'livepatch:task-end';
/** Records kept at most (a reader that polls once a second at 100 k requests/s loses none). */
const KEEP = 200_000;
/** Recording stops when no one has asked for this long. */
const IDLE_MS = 10_000;

let records: RequestRecord[] = [];
/** Cursor of records[0]. */
let first = 0;
let stopTimer: NodeJS.Timeout | null = null;

function onTaskEnd(msg: unknown): void {
  const m = msg as { started: number; ended: number; patchState: number; patch: string | null };
  records.push([m.started, m.ended, m.patchState, m.patch]);
  if (records.length > KEEP) {
    const drop = records.length - KEEP;
    records = records.slice(drop);
    first += drop;
  }
}

function stop(): void {
  unsubscribe(CHANNEL, onTaskEnd);
  stopTimer = null;
  first += records.length;
  records = [];
}

/** Records after cursor `since` (0: all kept); the first call starts recording. */
export function requestsSince(since = 0): { next: number; records: RequestRecord[] } {
  if (stopTimer) clearTimeout(stopTimer);
  else subscribe(CHANNEL, onTaskEnd);
  stopTimer = setTimeout(stop, IDLE_MS);
  stopTimer.unref();
  const out = records.slice(Math.max(0, since - first));
  return { next: first + records.length, records: out };
}
