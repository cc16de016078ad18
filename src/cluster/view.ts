// The process-level views a coordinator serves: `status` and `list` of all its CPUs as one.

import type { PatchInfo, TransitionStatus } from '../runtime/types.js';
import { inTransition, switched, tryComplete, type CoordState } from './coord.js';
import type { CpuReport, CpuStatus, GroupStatus } from './types.js';

/** An online CPU as the coordinator knows it: its label and its last report (none before its first). */
export interface CpuEntry {
  id: string;
  label: string;
  report: CpuReport | undefined;
}

export function groupStatus(s: CoordState, local: TransitionStatus, cpus: readonly CpuEntry[], issuedAt: number, now: number, limit: number): TransitionStatus | GroupStatus {
  // A runtime alone is its own process level: its status stays as it was.
  if (tryComplete(s) && cpus.length <= 1) return local;
  const op = inTransition(s);
  let tasks = local.tasks;
  let pending = local.pending;
  let attempts = local.attempts;
  const blocked = [...local.blocked];
  const rows: CpuStatus[] = [];
  for (const c of cpus) {
    const st = c.report?.status;
    if (st && c.report !== undefined && c.label !== 'main') {
      tasks += st.tasks;
      pending += st.pending;
      attempts = Math.max(attempts, st.attempts);
      for (const b of st.blocked) blocked.push({ ...b, name: `${c.label}: ${b.name}` });
    }
    const row: CpuStatus = {
      cpu: c.label,
      applied: c.report?.applied ?? s.cpus[c.id]?.applied ?? 0,
      ops: s.ops.length,
      patch: st?.patch ?? null,
      pending: st?.pending ?? 0,
      tasks: st?.tasks ?? 0,
      switched: switched(s, c.id),
    };
    if (c.report?.error) row.error = c.report.error;
    rows.push(row);
  }
  blocked.sort((x, y) => y.ageMs - x.ageMs);
  const target = op ? lastTarget(s, op.name) : 'idle';
  return {
    patch: local.patch ?? op?.name ?? null,
    targetState: local.patch ? local.targetState : target,
    ageMs: local.patch ? local.ageMs : op ? Math.max(0, Math.round(now - issuedAt)) : 0,
    tasks,
    pending,
    blocked: blocked.slice(0, limit),
    attempts,
    cpus: rows,
  };
}

/** A force keeps the direction of the transition it ends: the last enable or disable of the patch. */
function lastTarget(s: CoordState, name: string): 'patching' | 'unpatching' {
  for (let i = s.ops.length - 1; i >= 0; i--) {
    const op = s.ops[i];
    if (op.name === name && op.kind !== 'force') return op.kind === 'disable' ? 'unpatching' : 'patching';
  }
  return 'patching';
}

/** The patch the process level is in transition of shows `transition` even where this runtime is done. */
export function groupList(s: CoordState, local: PatchInfo[]): PatchInfo[] {
  tryComplete(s);
  const op = inTransition(s);
  return op ? local.map((p) => (p.name === op.name ? { ...p, transition: true } : p)) : local;
}
