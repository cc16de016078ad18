// Shadow variables (kernel API shape) and system states.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getPrevState, getState, Shadow } from '../../src/engine/index.js';
import { TestHost } from './host.js';

test('shadow: get, alloc with ctor, getOrAlloc without ctor on existing, free with dtor, freeAll', () => {
  const lines: string[] = [];
  const shadow = new Shadow((_level, line) => lines.push(line));
  const a = {};
  const b = {};
  const ctorCalls: unknown[] = [];
  const ctor = (obj: unknown, data: { v?: number }, ctorData: number) => {
    ctorCalls.push(obj);
    data.v = ctorData;
    return 0;
  };
  assert.equal(shadow.get(a, 0x1234), null);
  const sa = shadow.getOrAlloc(a, 0x1234, ctor, 1);
  assert.deepEqual(sa, { v: 1 });
  assert.equal(shadow.get(a, 0x1234), sa);
  assert.equal(shadow.getOrAlloc(a, 0x1234, ctor, 2), sa);
  assert.equal(ctorCalls.length, 1);
  assert.equal(shadow.alloc(a, 0x1234, ctor, 3), null, 'duplicate');
  assert.match(lines[0], /Duplicate shadow variable/);
  shadow.alloc(b, 0x1234, ctor, 4);
  shadow.alloc(a, 0x1235);
  shadow.alloc(7, 0x1235); // primitive keys work too
  const dtorCalls: [unknown, unknown][] = [];
  shadow.free(a, 0x1234, (obj, data) => void dtorCalls.push([obj, data]));
  assert.deepEqual(dtorCalls, [[a, sa]]);
  assert.equal(shadow.get(a, 0x1234), null);
  assert.ok(shadow.get(b, 0x1234));
  const freed: unknown[] = [];
  shadow.freeAll(0x1235, (obj) => void freed.push(obj));
  assert.deepEqual(new Set(freed), new Set([a, 7]));
  assert.equal(shadow.get(a, 0x1235), null);
  assert.equal(shadow.get(7, 0x1235), null);
});

test('shadow: a failing ctor leaves nothing behind', () => {
  const lines: string[] = [];
  const shadow = new Shadow((_level, line) => lines.push(line));
  const obj = {};
  assert.equal(shadow.alloc(obj, 1, () => -12), null);
  assert.equal(shadow.get(obj, 1), null);
  assert.match(lines[0], /Failed to construct shadow variable .*\(-12\)/);
});

test('states: getState, and getPrevState sees the patches before the one in transition', () => {
  const h = new TestHost();
  const seen: unknown[] = [];
  h.enable({ name: 's1', replace: true, states: [{ id: 1, version: 1 }], objs: [{ funcs: [] }] });
  getState(h.klp.patches[0], 1)!.data = 'loglevel';
  assert.equal(getState(h.klp.patches[0], 2), null);
  h.enable({
    name: 's2',
    replace: true,
    states: [{ id: 1, version: 2 }],
    objs: [{ funcs: [], callbacks: { prePatch: () => (seen.push(getPrevState(h.klp, 1)?.data, getPrevState(h.klp, 2)), 0) } }],
  });
  assert.deepEqual(seen, ['loglevel', null]);
  assert.deepEqual(h.klp.warnings, []);
  // Outside a transition there is no "previous": the kernel WARNs.
  assert.equal(getPrevState(h.klp, 1), null);
  assert.deepEqual(h.klp.warnings, ['getPrevState: called outside a transition']);
});
