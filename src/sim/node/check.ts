// Searches over the Node-host World: breadth first for safety (every violation found is a shortest
// counterexample), and liveness under weak fairness (../check/liveness.ts). A counterexample is a
// replay token (`lpn1.…`): the World's configuration, the mutation, and the index of the action taken
// at each step.

import { LpError } from '../../engine/index.js';
import { checkLiveness, type LiveWorld, type LivenessResult } from '../check/liveness.js';
import { bfsSearch } from '../check/explore.js';
import { mutation } from './mutations.js';
import { NodeWorld, type NodeAction, type NodeViolation, type NodeWorldConfig } from './world.js';

export type NodeShape = Omit<NodeWorldConfig, 'decisions'>;

export interface NodeCheckResult {
  complete: boolean;
  states: number;
  transitions: number;
  violation: (NodeViolation & { token: string; steps: number }) | null;
  elapsedMs: number;
}

export function nodeWorld(shape: NodeShape): NodeWorld {
  return new NodeWorld({ ...shape, decisions: mutation(shape.mutation ?? '') });
}

/** Breadth-first search of every state reachable; stops at the first violation (a shortest path to it). */
export function checkNode(shape: NodeShape, maxStates = 5_000_000): NodeCheckResult {
  const t0 = performance.now();
  const w = nodeWorld(shape);
  // bfsSearch stops once it stores maxStates + 1: more than the bound, refused.
  const r = bfsSearch(w, (buf, fp) => w.key(buf, fp), maxStates + 1);
  const elapsedMs = Math.round(performance.now() - t0);
  if (r.violation) {
    const { found, choices } = r.violation;
    const violation = { ...found, token: encodeNodeToken(shape, choices), steps: choices.length };
    return { complete: false, states: r.states, transitions: r.transitions, violation, elapsedMs };
  }
  if (!r.complete) throw new LpError('LP_ERR_USAGE', `node check: more than ${maxStates} states; bound the model further`);
  return { complete: true, states: r.states, transitions: r.transitions, violation: null, elapsedMs };
}

/** The Node-host World as liveness sees it: every event source fair, the admin's choices not. */
function liveNode(shape: NodeShape): LiveWorld<NodeAction> & { world: NodeWorld } {
  const w = nodeWorld(shape);
  const acts = Math.max(shape.acts, 1);
  const cls = (a: NodeAction): number =>
    a.kind === 'admin' ? -1 : a.kind === 'micro' ? 0 : a.kind === 'retry' ? 1 : a.kind === 'start' ? 2 + a.slot : 2 + w.maxTasks + a.slot * acts + a.act;
  return {
    world: w,
    actions: () => w.actions(),
    step: (a) => {
      w.run(a);
      return true;
    },
    capture: (out) => w.capture(out),
    restore: (d) => w.restore(d),
    violated: () => (w.violation ? `${w.violation.invariant}: ${w.violation.detail}` : null),
    inTransition: () => w.inTransition(),
    // Microtasks, each task's request and each activation's awaited I/O, the retry timer.
    fairness: cls,
    // A macrotask's event (a resolved I/O, an armed timer, a request) stays pending while microtasks run.
    pendingClasses: () => [...(w.micro.length > 0 ? [0] : []), ...w.macrotasks().map(cls).filter((c) => c >= 0)],
    justice: () => 0,
    justiceMask: 0,
    describe: (a) => w.label(a),
    describePredicate: () => '',
    describeClass: (c) => String(c),
  };
}

export function livenessNode(shape: NodeShape, maxStates = 2_000_000): LivenessResult & { token: string | null } {
  const r = checkLiveness(liveNode(shape), maxStates);
  return { ...r, token: r.lasso ? encodeNodeToken(shape, r.lasso.choices) : null };
}

const PREFIX = 'lpn1.';

function encodeNodeToken(shape: NodeShape, choices: number[]): string {
  return PREFIX + Buffer.from(JSON.stringify({ shape, choices })).toString('base64url');
}

export function decodeNodeToken(s: string): { shape: NodeShape; choices: number[] } {
  if (!s.startsWith(PREFIX)) throw new LpError('LP_ERR_USAGE', `not a Node-host replay token: it must start with ${PREFIX}`);
  try {
    const t = JSON.parse(Buffer.from(s.slice(PREFIX.length), 'base64url').toString('utf8')) as { shape: NodeShape; choices: number[] };
    if (typeof t.shape !== 'object' || !Array.isArray(t.choices)) throw new Error('fields');
    return t;
  } catch {
    throw new LpError('LP_ERR_USAGE', "not a Node-host replay token (it does not decode): copy the whole 'lpn1.…' string a check printed");
  }
}

export interface NodeReplay {
  /** Per step: its label, then what the engine logged. */
  steps: string[][];
  violation: NodeViolation | null;
  world: NodeWorld;
}

/** Rebuild the World and take the recorded choices. */
export function replayNode(token: string): NodeReplay {
  const { shape, choices } = decodeNodeToken(token);
  const w = nodeWorld(shape);
  w.trace = [];
  for (const [n, c] of choices.entries()) {
    const actions = w.actions();
    if (c >= actions.length) throw new LpError('LP_ERR_USAGE', `replay diverged at step ${n + 1}: choice ${c} of ${actions.length} actions`);
    w.run(actions[c]);
    if (w.violation) break;
  }
  return { steps: w.trace, violation: w.violation, world: w };
}
