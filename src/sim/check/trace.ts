// Counterexamples: the replay token (everything needed to rebuild the world and the choices made) and
// the numbered trace a replay prints.

import { LpError, type Variant } from '../../engine/index.js';
import { IntVec } from '../../engine/snapshot.js';
import { model, type ModelShape } from './models.js';
import { World, type MemoryModel, type StepRecord, type Violation } from './world.js';

export interface Token {
  scenario: string;
  variant: Variant;
  memory: MemoryModel;
  drop: string[];
  tasks: number;
  cpus: number;
  /** Syscalls per task, when the check bounded them (absent: the scenario's own). */
  rounds?: number;
  choices: number[];
}

const PREFIX = 'lp1.';

export function encodeToken(t: Token): string {
  return PREFIX + Buffer.from(JSON.stringify(t)).toString('base64url');
}

export function decodeToken(s: string): Token {
  const bad = (why: string): never => {
    throw new LpError('LP_ERR_USAGE', `not a replay token (${why}): copy the whole 'lp1.…' string a check printed`);
  };
  if (!s.startsWith(PREFIX)) bad('it must start with lp1.');
  let t: Token;
  try {
    t = JSON.parse(Buffer.from(s.slice(PREFIX.length), 'base64url').toString('utf8')) as Token;
  } catch {
    return bad('it does not decode');
  }
  if (
    typeof t !== 'object' ||
    t === null ||
    typeof t.scenario !== 'string' ||
    !['final', 'v4.12', 'v3'].includes(t.variant) ||
    !['sc', 'relaxed'].includes(t.memory) ||
    !Array.isArray(t.drop) ||
    !Number.isInteger(t.tasks) ||
    !Number.isInteger(t.cpus) ||
    (t.rounds !== undefined && !Number.isInteger(t.rounds)) ||
    !Array.isArray(t.choices) ||
    !t.choices.every((c) => Number.isInteger(c) && c >= 0)
  )
    bad('a field is missing or has the wrong type');
  return t;
}

export function worldFor(t: Omit<Token, 'choices'>): World {
  const shape: ModelShape = { ...model(t.scenario).shape, tasks: t.tasks, cpus: t.cpus, ...(t.rounds === undefined ? {} : { rounds: t.rounds }) };
  return new World({ ...shape, variant: t.variant, memory: t.memory, drop: t.drop });
}

export interface Replay {
  steps: StepRecord[];
  violation: Violation | null;
  /** The state after each step, as captured: the checker's determinism check compares these. */
  states: number[][];
}

/** Rebuild the world and take the recorded choices, recording every step. */
export function replay(t: Token): Replay {
  const w = worldFor(t);
  w.trace = [];
  const states: number[][] = [];
  const buf = new IntVec();
  for (const [n, c] of t.choices.entries()) {
    const actions = w.actions();
    if (c >= actions.length) throw new LpError('LP_ERR_USAGE', `replay diverged at step ${n + 1}: choice ${c} of ${actions.length} actions`);
    if (!w.run(actions[c])) throw new LpError('LP_ERR_USAGE', `replay diverged at step ${n + 1}: '${w.label(actions[c])}' is blocked`);
    w.capture(buf);
    states.push(Array.from(buf.view()));
    if (w.violation) break;
  }
  return { steps: w.trace, violation: w.violation, states };
}

/** One row per step: number, CPU, who, what, then the shared variables read and written. */
export function formatTrace(steps: StepRecord[]): string[] {
  const out: string[] = [];
  steps.forEach((s, i) => {
    out.push(`${String(i + 1).padStart(4)}  cpu${s.cpu}  ${s.actor.padEnd(8)} ${s.what}`);
    for (const a of s.accesses) out.push(`${' '.repeat(21)}${a}`);
  });
  return out;
}
