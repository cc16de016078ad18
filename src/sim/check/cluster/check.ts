// The search over the cluster World (world.ts): breadth-first, so a counterexample is a shortest one;
// its replay token (`lpc1.…`) names the scenario, the mutations and the steps taken.

import { LpError } from '../../../engine/index.js';
import { COORD_DROPPABLE, type CoordDrop } from '../../../cluster/coord.js';
import { ClusterWorld, type ClusterShape, type ClusterState, type ClusterViolation } from './world.js';

export const CLUSTER_MODELS: Record<string, { description: string; shape: ClusterShape }> = {
  'cluster-hotplug': {
    description: 'workers (CPUs of one process-level transition) start and die at any point of enable, reverse and complete',
    shape: { workers: 2, spawns: 1, kills: 1 },
  },
};

export interface ClusterToken {
  scenario: string;
  drop: CoordDrop[];
  shape: ClusterShape;
  choices: number[];
}

export interface ClusterResult {
  states: number;
  transitions: number;
  complete: boolean;
  violation: (ClusterViolation & { choices: number[] }) | null;
  elapsedMs: number;
}

const PREFIX = 'lpc1.';

export function isClusterToken(s: string): boolean {
  return s.startsWith(PREFIX);
}

export function encodeClusterToken(t: ClusterToken): string {
  return PREFIX + Buffer.from(JSON.stringify(t)).toString('base64url');
}

export function decodeClusterToken(s: string): ClusterToken {
  let t: ClusterToken;
  try {
    t = JSON.parse(Buffer.from(s.slice(PREFIX.length), 'base64url').toString('utf8')) as ClusterToken;
  } catch {
    throw new LpError('LP_ERR_USAGE', `not a replay token (it does not decode): copy the whole 'lpc1.…' string a check printed`);
  }
  const okShape = typeof t?.shape === 'object' && t.shape !== null && [t.shape.workers, t.shape.spawns, t.shape.kills].every((n) => Number.isInteger(n) && n >= 0);
  if (!(t.scenario in CLUSTER_MODELS) || !Array.isArray(t.drop) || !t.drop.every((d) => COORD_DROPPABLE.includes(d)) || !okShape || !Array.isArray(t.choices) || !t.choices.every((c) => Number.isInteger(c) && c >= 0))
    throw new LpError('LP_ERR_USAGE', `not a replay token (a field is missing or has the wrong type): copy the whole 'lpc1.…' string a check printed`);
  return t;
}

/** The state without its transient mark: equal keys, equal futures. */
function key(s: ClusterState): string {
  return JSON.stringify({ ...s, completedNow: false });
}

function clone(s: ClusterState): ClusterState {
  const c = structuredClone(s);
  c.completedNow = false;
  return c;
}

/** The invariants of a state reached by a step. */
function judge(world: ClusterWorld, s: ClusterState): ClusterViolation | null {
  return (s.completedNow ? world.completedWithUnswitched(s) : null) ?? world.violation(s, world.steps(s).length === 0);
}

export function clusterCheck(world: ClusterWorld, maxStates: number): ClusterResult {
  const t0 = performance.now();
  const start = world.initial();
  const seen = new Map<string, { parent: string | null; choice: number }>([[key(start), { parent: null, choice: -1 }]]);
  let frontier: ClusterState[] = [start];
  let transitions = 0;
  const path = (k: string): number[] => {
    const out: number[] = [];
    for (let at = seen.get(k)!; at.parent !== null; at = seen.get(at.parent)!) out.push(at.choice);
    return out.reverse();
  };
  while (frontier.length) {
    const next: ClusterState[] = [];
    for (const s of frontier) {
      const sk = key(s);
      const steps = world.steps(s);
      for (let i = 0; i < steps.length; i++) {
        const n = clone(s);
        steps[i].apply(n);
        transitions++;
        const nk = key(n);
        if (seen.has(nk)) continue;
        seen.set(nk, { parent: sk, choice: i });
        const v = judge(world, n);
        if (v) return { states: seen.size, transitions, complete: false, violation: { ...v, choices: path(nk) }, elapsedMs: Math.round(performance.now() - t0) };
        if (seen.size >= maxStates) return { states: seen.size, transitions, complete: false, violation: null, elapsedMs: Math.round(performance.now() - t0) };
        next.push(n);
      }
    }
    frontier = next;
  }
  return { states: seen.size, transitions, complete: true, violation: null, elapsedMs: Math.round(performance.now() - t0) };
}

/** Replays the choices: the numbered steps, and the violation they end in (if any). */
export function clusterReplay(t: ClusterToken): { steps: string[]; violation: ClusterViolation | null } {
  const world = new ClusterWorld(t.shape, t.drop);
  let s = world.initial();
  const steps: string[] = [];
  let violation: ClusterViolation | null = null;
  for (const c of t.choices) {
    const all = world.steps(s);
    if (c >= all.length) throw new LpError('LP_ERR_USAGE', `the token's step ${steps.length + 1} chooses ${c} of ${all.length} steps: not a token of this version`);
    steps.push(`${String(steps.length + 1).padStart(3)}. ${all[c].label}`);
    s = clone(s);
    all[c].apply(s);
    violation = judge(world, s);
  }
  return { steps, violation };
}
