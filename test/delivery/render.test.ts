// How apply's events read on a terminal (one progress line redrawn in place, the outcome on a line of
// its own) and elsewhere (a line per progress event); the exit codes each outcome maps to.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Blocker, DeliveryEvent } from '../../src/delivery/follow.js';
import { EXIT } from '../../src/delivery/outcome.js';
import { renderer } from '../../src/delivery/render.js';

const blocker: Blocker = { task: 'GET /park/a', id: 3, func: 'handle', object: './lib/work.mjs', where: 'lib/work.mjs:2', insideMs: 2100, exact: false };
const at = 0;
const progress = (ageMs: number): DeliveryEvent => ({ pid: 7, patch: 'fix', at, event: 'progress', targetState: 'patching', ageMs, tasks: 5, switched: 4, pending: 1, attempts: 1, blockers: [blocker] });
const events: DeliveryEvent[] = [
  progress(5),
  progress(1000),
  { pid: 7, patch: 'fix', at, event: 'signal', tasks: ['GET /park/a'] },
  { pid: 7, patch: 'fix', at, event: 'reverse', reason: 'timeout', blockers: [blocker] },
  { pid: 7, patch: 'fix', at, event: 'complete', outcome: 'timeout', exit: EXIT.timeout, info: null, blockers: [blocker], ageMs: 3000 },
];

function play(tty: boolean): string {
  let text = '';
  const r = renderer({ tty, out: (l) => (text += `${l}\n`), err: (l) => (text += `ERR ${l}\n`), write: (t) => (text += t) }, { json: false, op: 'enable' });
  for (const e of events) r.event(e);
  r.done();
  return text;
}

const P1 = "pid 7: 'fix' patching 5ms: 4/5 tasks switched; blocked: GET /park/a in handle (lib/work.mjs:2) inside <=2.1s";
const P2 = "pid 7: 'fix' patching 1.0s: 4/5 tasks switched; blocked: GET /park/a in handle (lib/work.mjs:2) inside <=2.1s";
const REST = [
  "pid 7: 'fix': fake signal sent to 1 task not switched yet (GET /park/a)",
  "pid 7: 'fix': not done in time: reversing the transition; blocked by: GET /park/a in handle (lib/work.mjs:2) inside <=2.1s",
  '  blocker: GET /park/a in handle (lib/work.mjs:2) inside <=2.1s',
  "ERR livepatch: LP_ERR_TIMEOUT: 'fix' (pid 7) not applied: the transition did not finish in time and was reversed; the process runs its previous code; blocked by: GET /park/a in handle (lib/work.mjs:2) inside <=2.1s; exit 4",
].join('\n');

test('not a terminal: one line per progress event, then the signal, the reverse, the blockers, the error line', () => {
  assert.equal(play(false), `${P1}\n${P2}\n${REST}\n`);
});

test('a terminal: the progress line is redrawn in place and cleared before the next line', () => {
  assert.equal(play(true), `\r\x1b[K${P1}\r\x1b[K${P2}\r\x1b[K${REST}\n`);
});

test('every outcome has its own exit status; 0 only for complete', () => {
  assert.deepEqual(EXIT, { complete: 0, refused: 1, usage: 2, reversed: 3, timeout: 4, pending: 5, forced: 6 });
  assert.equal(new Set(Object.values(EXIT)).size, Object.keys(EXIT).length);
});
