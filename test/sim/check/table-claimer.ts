// A thread of parallel.test.ts's shared-table race: claims fingerprints [from, from + n) of
// claimStream(), polling between claims as a search does, closes every state it claimed, and
// reports how many it claimed.

import { workerData, type MessagePort } from 'node:worker_threads';
import { SharedStateTable, type SharedTableBuffers } from '../../../src/sim/check/shared-table.js';

/** Fingerprint k of the stream: distinct k give distinct (h1, h2), some with h1 = 0 (the slot marker). */
export function claimStream(k: number): [number, number] {
  return [k % 7 === 0 ? 0 : Math.imul(k, 0x9e3779b1) >>> 0, (k * 2654435761) % 2 ** 32 >>> 0];
}

/** Claim, then close what was claimed; returns the number claimed. */
export function claimAll(t: SharedStateTable, from: number, n: number): number {
  const mine: number[] = [];
  for (let k = from; k < from + n; k++) {
    if (t.add(...claimStream(k))) mine.push(k);
    t.poll();
  }
  for (const k of mine) t.close(...claimStream(k));
  return mine.length;
}

if (workerData?.claimer) {
  const job = workerData as { buffers: SharedTableBuffers; id: number; from: number; n: number; port: MessagePort };
  const t = new SharedStateTable(job.buffers, job.id);
  job.port.postMessage(claimAll(t, job.from, job.n));
  t.leave();
}
