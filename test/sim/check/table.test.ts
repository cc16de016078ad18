// The checker's fingerprint tables against V8's Set: the visited-state table and the DFS stack set
// (with deletion by moving later entries of a probe run back).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StackSet, StateTable } from '../../../src/sim/check/table.js';

/** A seeded stream of 32-bit values, with few distinct low bits so that probe runs collide. */
function values(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x & 0xff00000f;
  };
}

test('StateTable: add says whether a fingerprint is new, across growth', () => {
  const t = new StateTable(4);
  const seen = new Set<string>();
  const next = values(7);
  for (let n = 0; n < 50_000; n++) {
    const h1 = next();
    const h2 = n % 3 === 0 ? 0 : next();
    const key = `${h1 >>> 0}:${h2 === 0 && h1 === 0 ? 1 : h2 >>> 0}`;
    assert.equal(t.add(h1, h2), !seen.has(key), key);
    seen.add(key);
  }
  assert.equal(t.size, seen.size);
});

test('StackSet: has / add / delete agree with a Set under LIFO and arbitrary deletion', () => {
  const s = new StackSet();
  const model = new Map<string, [number, number]>();
  const next = values(11);
  const stack: [number, number][] = [];
  for (let n = 0; n < 200_000; n++) {
    const r = next() & 7;
    if (r < 4 || stack.length === 0) {
      const h: [number, number] = [next(), next()];
      const key = `${h[0]}:${h[1]}`;
      if (model.has(key)) continue;
      s.add(h[0], h[1]);
      model.set(key, h);
      stack.push(h);
    } else {
      // Mostly the top (the DFS pops it), sometimes any entry.
      const at = r === 7 ? next() % stack.length : stack.length - 1;
      const [h] = stack.splice(at, 1);
      s.delete(h[0], h[1]);
      model.delete(`${h[0]}:${h[1]}`);
    }
    if (n % 97 === 0) {
      for (const [h1, h2] of model.values()) assert.ok(s.has(h1, h2));
      const probe = [next(), next()];
      assert.equal(s.has(probe[0], probe[1]), model.has(`${probe[0]}:${probe[1]}`));
    }
  }
});
