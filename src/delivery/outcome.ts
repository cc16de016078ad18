// How a delivery ended, and the exit status each outcome gets: a deploy script can trust the status
// alone (0 only when the patch reached the state that was asked for). Documented in the README.

export type Outcome = 'complete' | 'refused' | 'usage' | 'reversed' | 'timeout' | 'pending' | 'forced';

export const EXIT: Readonly<Record<Outcome, number>> = {
  /** The target state was reached: every task switched. */
  complete: 0,
  /** The process refused the request (its LP_ERR_* code) or could not be reached: nothing changed. */
  refused: 1,
  /** A usage error or a patch file that cannot be read: nothing was sent. */
  usage: 2,
  /** Someone else (a concurrent `livepatch disable`) reversed the transition: the patch is not applied. */
  reversed: 3,
  /** `apply` reversed the transition at --timeout and the reverse finished: the process runs the old code. */
  timeout: 4,
  /** The transition (or apply's reverse of it) was still running when the time ran out. */
  pending: 5,
  /** The target state was reached by `livepatch force`: tasks may still run the old code. */
  forced: 6,
};
