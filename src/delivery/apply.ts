// `livepatch apply`: kpatch load's flow for one process — enable, follow the transition, fake-signal
// the stragglers after --signal-after, reverse at --timeout and wait for the reverse — with the
// process's requests recorded around it when a transition report is wanted (report.ts).

import { checkPatch } from '../builder/check.js';
import { isLpError, type LpError } from '../engine/errors.js';
import { ControlClient } from '../runtime/control.js';
import type { PatchInfo } from '../runtime/types.js';
import { follow, type DeliveryEvent } from './follow.js';
import { EXIT } from './outcome.js';
import type { RequestRecord } from './requests.js';
import { splitSigned } from './signing.js';

export interface ApplyOptions {
  timeoutS: number;
  signalAfterS?: number;
  /** Record the process's requests from this long before the enable until as long after the end (report). */
  recordMs?: number;
  /** Objects not loaded yet may come later (module coming); otherwise they make the patch a no-op. */
  allowUnloaded: boolean;
}

export interface ApplyResult {
  pid: number;
  exit: number;
  /** The process refused the enable (nothing changed), or could not be reached. */
  error: LpError | null;
  events: DeliveryEvent[];
  requests: RequestRecord[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls the process's `requests` op until stopped: the records of every request that ended meanwhile. */
function recorder(client: ControlClient): { stop(): Promise<RequestRecord[]> } {
  const got: RequestRecord[] = [];
  let since = 0;
  let running = true;
  const poll = async (): Promise<void> => {
    const r = await client.call<{ next: number; records: RequestRecord[] }>('requests', { since });
    since = r.next;
    got.push(...r.records);
  };
  const loop = (async () => {
    while (running) {
      await poll();
      await sleep(250);
    }
    await poll();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return got;
    },
  };
}

export async function applyTo(pid: number, patch: Record<string, unknown>, opts: ApplyOptions, emit: (e: DeliveryEvent) => void): Promise<ApplyResult> {
  const events: DeliveryEvent[] = [];
  const record = (e: DeliveryEvent) => {
    events.push(e);
    emit(e);
  };
  let client: ControlClient | null = null;
  let rec: ReturnType<typeof recorder> | null = null;
  try {
    client = await ControlClient.connect(pid);
    // As `enable` does: a patch that would patch nothing is refused before the process is asked.
    await checkPatch(client, splitSigned(patch).body, opts.allowUnloaded);
    if (opts.recordMs !== undefined) {
      rec = recorder(client);
      await sleep(opts.recordMs);
    }
    const info = await client.call<PatchInfo>('enable', { patch });
    record({ pid, patch: info.name, at: Date.now(), event: 'start', op: 'enable', info });
    const { exit } = await follow(client, { patch: info.name, want: 'enabled', timeoutS: opts.timeoutS, signalAfterS: opts.signalAfterS, reverseAtTimeout: true }, record);
    if (rec && opts.recordMs !== undefined) await sleep(opts.recordMs);
    return { pid, exit, error: null, events, requests: rec ? await rec.stop() : [] };
  } catch (e) {
    if (!isLpError(e)) throw e;
    const requests = rec ? await rec.stop().catch(() => []) : [];
    return { pid, exit: e.code === 'LP_ERR_PATCH_FILE' ? EXIT.usage : EXIT.refused, error: e, events, requests };
  } finally {
    client?.close();
  }
}
