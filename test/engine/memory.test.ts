// The packed capture a checker stores states in: four cells to a word, signed bytes, the symmetry
// key's hidden task cells, and the round trip back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addr, KINDS, ScMemory, Var } from '../../src/engine/memory.js';
import { IntVec } from '../../src/engine/snapshot.js';

test('captureInto / restorePacked: every cell back, negative ones included, at any length', () => {
  for (const used of [1, 2, 3, 4, 5, 63, 64, 65, 130]) {
    const m = new ScMemory();
    for (let a = 0; a < used; a++) m.store(0, a, ((a * 37) % 256) - 128);
    const out = new IntVec();
    out.push(99);
    m.captureInto(out);
    assert.equal(out.n, 1 + 1 + Math.ceil(used / 4), `${used} cells`);
    // Into a memory that held more, so that restoring must also clear.
    const back = new ScMemory();
    for (let a = 0; a < 200; a++) back.store(0, a, 5);
    assert.equal(back.restorePacked(out.buf, 1), out.n);
    assert.deepEqual(Array.from(back.snapshot()), Array.from(m.snapshot()), `${used} cells`);
    for (let a = used; a < 200; a++) assert.equal(back.load(0, a), 0);
  }
});

test('captureInto: the hidden tasks\' patch_state and pending are written as 0, nothing else is', () => {
  const m = new ScMemory();
  for (let t = 0; t < 4; t++) for (let kind = 0; kind < KINDS; kind++) m.store(0, addr(kind, t), -1 - kind);
  const out = new IntVec();
  m.captureInto(out, 3);
  const back = new ScMemory();
  back.restorePacked(out.buf, 0);
  for (let t = 0; t < 4; t++) {
    for (let kind = 0; kind < KINDS; kind++) {
      const hidden = t < 3 && (kind === Var.PatchState || kind === Var.Pending);
      assert.equal(back.load(0, addr(kind, t)), hidden ? 0 : -1 - kind, `task ${t} kind ${kind}`);
    }
  }
});

test('captureInto: a cell beyond a signed byte is refused, naming the cell', () => {
  const m = new ScMemory();
  m.store(0, 6, 128);
  assert.throws(() => m.captureInto(new IntVec()), /cell 6 holds 128/);
  m.store(0, 6, -129);
  assert.throws(() => m.captureInto(new IntVec()), /cell 6 holds -129/);
});
