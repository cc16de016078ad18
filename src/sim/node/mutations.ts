// Plausible bugs in the runtime's decision code (src/runtime/decisions.ts), each a one-line change a
// reviewer could miss. The Node-host checker must catch each with a short counterexample, and a unit
// test replays that counterexample against a real Runtime made with the same decisions
// (test/sim/node/replay.test.ts).

import { runToEnd, updatePatchStateProc } from '../../engine/index.js';
import { addr, Var } from '../../engine/memory.js';
import { CPU, DECISIONS, type Decisions } from '../../runtime/decisions.js';

const MUTATIONS: Readonly<Record<string, { description: string; decisions: Decisions }>> = {
  'kick-early': {
    description: 'the last-activation test fires while one activation is still open (the kick comes before the count has dropped to 0)',
    decisions: {
      ...DECISIONS,
      exitActivation(active, code) {
        const n = active.get(code);
        if (n === undefined) return false;
        // The bug: "the count drops to at most one" taken for "no activation is left".
        if (n > 2) {
          active.set(code, n - 1);
          return false;
        }
        active.delete(code);
        return true;
      },
    },
  },
  'memo-in-transition': {
    description: 'the handler answer is memoized while a transition runs too',
    decisions: { ...DECISIONS, answerMemoizable: () => true },
  },
  'child-state-only': {
    description: 'a child task copies its parent\'s patch state but not its pending flag',
    decisions: {
      ...DECISIONS,
      startChild(klp, parent, child) {
        klp.mem.store(CPU, addr(Var.PatchState, child), klp.mem.load(CPU, addr(Var.PatchState, parent)));
        runToEnd(klp, updatePatchStateProc(CPU, child));
      },
    },
  },
  'no-kick': {
    description: 'a pending task whose last activation ended is never kicked (only the retry switches it)',
    decisions: { ...DECISIONS, kickWanted: () => false },
  },
};

/** The decisions of a mutation by name ('' for the runtime's own). */
export function mutation(name: string): Decisions {
  if (name === '') return DECISIONS;
  const m = MUTATIONS[name];
  if (!m) throw new Error(`no mutation '${name}'; known: ${Object.keys(MUTATIONS).join(', ')}`);
  return m.decisions;
}
