// Delivery events for people: on a terminal one progress line redrawn in place, elsewhere one line per
// progress event (follow.ts emits one a second at most, or when something changed); the outcome as
// one line, on stderr with its LP_ERR_* code when the target state was not reached. With --json every
// event is one JSON object on its own line instead. These lines are an API (tests match them).

import type { Blocker, DeliveryEvent } from './follow.js';

export interface Sink {
  out(line: string): void;
  err(line: string): void;
  /** stdout is a terminal: progress is redrawn in place with `write`. */
  tty: boolean;
  write(text: string): void;
}

export function ms(n: number): string {
  if (n < 1000) return `${n}ms`;
  if (n < 60_000) return `${(n / 1000).toFixed(1)}s`;
  return `${Math.floor(n / 60_000)}m${String(Math.floor((n % 60_000) / 1000)).padStart(2, '0')}s`;
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** `handle (lib/shop.js:4) inside 2.0s`; `inside <=` when only bounded (see TransitionStatus). */
export const holdText = (b: Blocker): string => `${b.func} (${b.where}) inside ${b.exact ? '' : '<='}${ms(b.insideMs)}`;

/** `GET /slow/a in handle (lib/shop.js:4) inside 2.0s`. */
function blockerText(b: Blocker): string {
  if (b.func === '-') return `${b.task} (not switched yet, nothing of the patch active: it switches at its next chance)`;
  return `${b.task} in ${holdText(b)}`;
}

const SHOWN = 3;

function blockersText(list: Blocker[]): string {
  const shown = list.slice(0, SHOWN).map(blockerText).join(', ');
  return list.length > SHOWN ? `${shown} and ${list.length - SHOWN} more` : shown;
}

function outcomeLine(e: Extract<DeliveryEvent, { event: 'complete' }>, op: 'enable' | 'disable'): { ok: boolean; line: string } {
  const who = `'${e.patch}' (pid ${e.pid})`;
  const held = e.blockers.length ? `; blocked by: ${blockersText(e.blockers)}` : '';
  switch (e.outcome) {
    case 'complete':
      return { ok: true, line: `${who} ${op === 'enable' ? 'applied' : 'removed'}: every task switched` };
    case 'reversed':
      return {
        ok: false,
        line: `LP_ERR_REVERSED: ${who} ${op === 'enable' ? 'was not applied: its transition was reversed by someone else (a concurrent livepatch disable)' : 'is still applied'}; exit ${e.exit}`,
      };
    case 'timeout':
      return { ok: false, line: `LP_ERR_TIMEOUT: ${who} not applied: the transition did not finish in time and was reversed; the process runs its previous code${held}; exit ${e.exit}` };
    case 'pending':
      return { ok: false, line: `LP_ERR_TIMEOUT: ${who}: the transition is not done and goes on in the process (livepatch status shows who holds it; disable reverses it)${held}; exit ${e.exit}` };
    case 'forced':
      return { ok: false, line: `LP_ERR_FORCED: ${who} reached its target only by livepatch force: tasks may still run the code it replaced; exit ${e.exit}` };
    default:
      return { ok: false, line: `LP_ERR_INTERNAL: ${who}: outcome ${e.outcome}` };
  }
}

/** A printer of events; call `done()` after the last to end a redrawn line. */
export function renderer(sink: Sink, opts: { json: boolean; op: 'enable' | 'disable'; onComplete?: (e: Extract<DeliveryEvent, { event: 'complete' }>) => void }): {
  event(e: DeliveryEvent): void;
  done(): void;
} {
  let redrawn = false;
  const line = (text: string, toErr = false) => {
    if (redrawn) sink.write('\r\x1b[K');
    redrawn = false;
    if (toErr) sink.err(text);
    else sink.out(text);
  };
  return {
    event(e) {
      if (opts.json) return sink.out(JSON.stringify(e));
      const who = `pid ${e.pid}: '${e.patch}'`;
      switch (e.event) {
        case 'start':
          return line(`${who} ${opts.op === 'enable' ? 'enabled' : 'disabled'}${e.info.transition ? ', transition started' : ''}`);
        case 'progress': {
          const text = `${who} ${e.targetState} ${ms(e.ageMs)}: ${e.switched}/${plural(e.tasks, 'task')} switched${e.blockers.length ? `; blocked: ${blockersText(e.blockers)}` : ''}`;
          if (!sink.tty) return line(text);
          sink.write(`\r\x1b[K${text}`);
          redrawn = true;
          return;
        }
        case 'signal':
          return line(`${who}: fake signal sent to ${plural(e.tasks.length, 'task')} not switched yet${e.tasks.length ? ` (${e.tasks.join(', ')})` : ''}`);
        case 'reverse':
          return line(
            e.reason === 'timeout'
              ? `${who}: not done in time: reversing the transition; blocked by: ${blockersText(e.blockers) || 'nothing any more'}`
              : `${who}: the transition is being reversed by someone else`,
          );
        case 'complete': {
          const { ok, line: text } = outcomeLine(e, opts.op);
          if (!ok) for (const b of e.blockers) line(`  blocker: ${blockerText(b)}`);
          opts.onComplete?.(e);
          return line(ok ? text : `livepatch: ${text}`, !ok);
        }
      }
    },
    done() {
      if (redrawn) sink.write('\n');
      redrawn = false;
    },
  };
}
