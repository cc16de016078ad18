// Following one transition from outside the process (`livepatch apply`, `enable --wait`, `disable
// --wait`): progress, the fake signal to stragglers at --signal-after, the reverse at --timeout (apply
// only), and the outcome, judged from the patch's state at the end, never assumed. Every step is an
// event (one JSON object each with --json; render.ts prints them for people).

import { isLpError } from '../engine/errors.js';
import type { ControlClient } from '../runtime/control.js';
import type { PatchInfo, TransitionStatus } from '../runtime/types.js';
import { EXIT, type Outcome } from './outcome.js';

/** A task holding the transition back, and where. */
export interface Blocker {
  task: string;
  id: number;
  func: string;
  object: string;
  /** `lib/x.js:12` (app-root relative), or the object name alone for a patch's own code. */
  where: string;
  /** Milliseconds inside the function (`exact` false: at most this, see TransitionStatus). */
  insideMs: number;
  exact: boolean;
}

interface Base {
  pid: number;
  patch: string;
  /** Date.now() when it happened. */
  at: number;
}

export type DeliveryEvent =
  | (Base & { event: 'start'; op: 'enable' | 'disable'; info: PatchInfo })
  | (Base & { event: 'progress'; targetState: TransitionStatus['targetState']; ageMs: number; tasks: number; switched: number; pending: number; attempts: number; blockers: Blocker[] })
  | (Base & { event: 'signal'; tasks: string[] })
  | (Base & { event: 'reverse'; reason: 'timeout' | 'concurrent'; blockers: Blocker[] })
  | (Base & { event: 'complete'; outcome: Outcome; exit: number; info: PatchInfo | null; blockers: Blocker[]; ageMs: number });

export interface FollowOptions {
  patch: string;
  /** What was asked: the patch applied, or gone. */
  want: 'enabled' | 'disabled';
  timeoutS: number;
  signalAfterS?: number;
  /** At the timeout, reverse the transition and wait as long again for the reverse (apply). */
  reverseAtTimeout: boolean;
  pollMs?: number;
}

/** The file:line of a holding activation, as a user finds it in their tree. */
function whereOf(h: TransitionStatus['blocked'][number]['holding'][number]): string {
  const file = h.object.startsWith('./') ? h.object.slice(2) : `node_modules/${h.object}`;
  return h.line === null ? h.object : `${file}:${h.line}`;
}

export function blockersOf(st: TransitionStatus): Blocker[] {
  return st.blocked.flatMap((t) =>
    t.holding.length === 0
      ? [{ task: t.name, id: t.id, func: '-', object: '-', where: '-', insideMs: t.ageMs, exact: false }]
      : t.holding.map((h) => ({ task: t.name, id: t.id, func: h.func, object: h.object, where: whereOf(h), insideMs: h.ageMs, exact: h.exact })),
  );
}

/** forceTransition()'s log line (src/engine/transition.ts). */
const FORCE_LINE = /^livepatch: forcing remaining tasks to the (un)?patched state$/;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Follow `opts.patch`'s transition in the process behind `client` until it ends or the time is up. */
export async function follow(client: ControlClient, opts: FollowOptions, emit: (e: DeliveryEvent) => void): Promise<{ outcome: Outcome; exit: number }> {
  const started = Date.now();
  const base = (): Base => ({ pid: client.pid, patch: opts.patch, at: Date.now() });
  const wantState = opts.want === 'enabled' ? 'patching' : 'unpatching';
  let deadline = started + opts.timeoutS * 1000;
  let signalled = opts.signalAfterS === undefined;
  let reversedByUs = false;
  let reversedByOther = false;
  let blockers: Blocker[] = [];
  /** What held the transition when apply reversed it: what the outcome reports, not the reverse's own stragglers. */
  let held: Blocker[] | null = null;
  let lastKey = '';
  let lastProgress = 0;
  let ageMs = 0;
  // A force is seen in the log only (the engine marks a patch forced only when it cannot be removed):
  // any force between here and the end is of our transition, the only one running meanwhile.
  const logFrom = (await client.call<{ next: number }>('log', { since: Number.MAX_SAFE_INTEGER })).next;
  const forced = async (): Promise<boolean> =>
    (await client.call<{ lines: string[] }>('log', { since: logFrom })).lines.some((l) => FORCE_LINE.test(l)) || (await infoOf(client, opts.patch))?.forced === true;
  const end = (outcome: Outcome, info: PatchInfo | null) => {
    emit({ ...base(), event: 'complete', outcome, exit: EXIT[outcome], info, blockers: held ?? (outcome === 'complete' ? [] : blockers), ageMs });
    return { outcome, exit: EXIT[outcome] };
  };
  for (;;) {
    const st = await client.call<TransitionStatus>('status');
    // Another patch's transition (or none): ours is over.
    if (st.patch !== opts.patch) break;
    ageMs = st.ageMs;
    blockers = blockersOf(st);
    if (st.targetState !== wantState && !reversedByUs && !reversedByOther) {
      reversedByOther = true;
      emit({ ...base(), event: 'reverse', reason: 'concurrent', blockers });
    }
    const now = Date.now();
    // A line when something but the clock moved, and once a second anyway (the blockers' ages).
    const key = JSON.stringify([st.targetState, st.pending, st.tasks, blockers.map((b) => [b.id, b.func])]);
    if (key !== lastKey || now - lastProgress >= 1000) {
      emit({ ...base(), event: 'progress', targetState: st.targetState, ageMs: st.ageMs, tasks: st.tasks, switched: st.tasks - st.pending, pending: st.pending, attempts: st.attempts, blockers });
      lastKey = key;
      lastProgress = now;
    }
    if (!signalled && now - started >= opts.signalAfterS! * 1000) {
      signalled = true;
      emit({ ...base(), event: 'signal', tasks: await client.call<string[]>('signal') });
    }
    if (now >= deadline) {
      if (!opts.reverseAtTimeout || reversedByUs || reversedByOther) return end('pending', await infoOf(client, opts.patch));
      reversedByUs = true;
      held = blockers;
      emit({ ...base(), event: 'reverse', reason: 'timeout', blockers });
      try {
        await client.call<PatchInfo>('disable', { name: opts.patch });
      } catch (e) {
        // It completed between our status and the disable, and the disable unpatches it; any other
        // refusal means it is not ours to reverse any more: judge by the state below.
        if (!isLpError(e) || e.code === 'LP_ERR_NO_PROCESS') throw e;
      }
      deadline = Date.now() + Math.max(opts.timeoutS * 1000, 5000);
    }
    await sleep(opts.pollMs ?? 100);
  }
  const info = await infoOf(client, opts.patch);
  const applied = info !== null && info.enabled && !info.transition;
  if (opts.want === 'enabled') {
    if (applied) return end((await forced()) ? 'forced' : 'complete', info);
    return end(reversedByUs ? 'timeout' : 'reversed', info);
  }
  if (applied) return end('reversed', info);
  return end((await forced()) ? 'forced' : 'complete', info);
}

async function infoOf(client: ControlClient, name: string): Promise<PatchInfo | null> {
  return (await client.call<PatchInfo[]>('list')).find((p) => p.name === name) ?? null;
}
