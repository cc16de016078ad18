// The builder's module comparison: each change kind a live patch cannot carry is refused with its code
// at its file:line; what it can carry is exactly the changed functions, formatting and comments aside.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LpErrorCode } from '../../src/engine/errors.js';
import { compareModule, type ModuleDiff } from '../../src/builder/compare.js';
import type { Format } from '../../src/naming/sites.js';

const BASE = `'use strict';
const RATE = 2;
class Cart {
  constructor() { this.items = []; }
  total() { return this.items.length * RATE; }
}
async function checkout(cart) {
  const t = cart.total();
  function fmt(x) { return 'T' + x; }
  return fmt(t);
}
function outer(a) {
  return [1, 2].map((x) => x + a);
}
function* ids() { yield 1; }
module.exports = { Cart, checkout, outer, ids };
`;

function diff(next: string, old = BASE, format: Format = 'commonjs', newFormat: Format = format): ModuleDiff {
  return compareModule({ file: 'lib/a.js', source: old, format }, { file: 'lib/a.js', source: next, format: newFormat });
}

const edit = (from: string, to: string, text = BASE) => {
  assert.ok(text.includes(from), from);
  return text.replace(from, to);
};

function refused(d: ModuleDiff, code: LpErrorCode, line: number): string {
  const f = d.findings.find((x) => x.code === code);
  assert.ok(f, `expected ${code}, got ${JSON.stringify(d.findings)}`);
  assert.equal(f.file, 'lib/a.js');
  assert.equal(f.line, line, f.message);
  return f.message;
}

test('formatting and comments alone change nothing', () => {
  const reformatted = BASE.replace(/;\n/g, '\n').replace(/'T'/, '"T"').replace('class Cart {', '// the cart\nclass Cart { /* inline */');
  const d = diff(reformatted);
  assert.deepEqual([d.funcs, d.findings, d.added, d.removed], [[], [], [], []]);
});

test('only the changed functions, sources as written (multi-line, comments), sympos and new-file positions', () => {
  const next = edit('  total() { return this.items.length * RATE; }', '  total() {\n    // a discount\n    return this.items.length * RATE - 1;\n  }');
  const d = diff(edit("return 'T' + x;", "return 'T:' + x;", next));
  assert.deepEqual(
    d.funcs.map((f) => [f.oldName, f.oldSympos, f.line, f.column]),
    [
      ['Cart.prototype.total', 1, 5, 3],
      ['checkout>fmt', 1, 12, 3],
    ],
  );
  assert.equal(d.funcs[0].source, 'total() {\n    // a discount\n    return this.items.length * RATE - 1;\n  }');
  assert.deepEqual(d.findings, []);
});

test('a nested function that uses its enclosing function\'s locals travels inside it', () => {
  const d = diff(edit('(x) => x + a)', '(x) => x + a + 1)'));
  assert.deepEqual(d.funcs.map((f) => f.oldName), ['outer']);
  assert.deepEqual(d.within, ['outer><anonymous>']);
});

test('a new function only changed code calls ships inside it (kpatch: new function)', () => {
  const next = edit("return 'T' + x;", "return 'T' + tax(x);").replace('function* ids', 'function tax(x) { return x * 2; }\nfunction* ids');
  const d = diff(next);
  assert.deepEqual(d.findings, []);
  assert.deepEqual(d.added, ['tax']);
  assert.equal(d.funcs[0].source, "function fmt(x) { return 'T' + tax(x); \nfunction tax(x) { return x * 2; }\n}");
});

test('a new function that unchanged code calls: LP_ERR_BUILD_NEW_FUNC_CALLER at the call', () => {
  // The old outer() called a global helper that did not exist; the new module declares one.
  const old = edit('x + a)', 'x + a + helper())');
  const d = diff(edit('function* ids', 'function helper() { return 0; }\nfunction* ids', old), old);
  assert.match(refused(d, 'LP_ERR_BUILD_NEW_FUNC_CALLER', 13), /new function 'helper' is used by outer><anonymous>, which did not change/);
});

test('a changed initializer or top-level statement: LP_ERR_BUILD_TOPLEVEL', () => {
  assert.match(refused(diff(edit('const RATE = 2;', 'const RATE = 3;')), 'LP_ERR_BUILD_TOPLEVEL', 2), /the initializer of 'RATE' changed/);
  assert.match(refused(diff(edit('module.exports = { Cart, checkout, outer, ids };', 'module.exports = { Cart, checkout, outer };')), 'LP_ERR_BUILD_TOPLEVEL', 16), /top-level statement changed/);
  assert.match(refused(diff(`${BASE}console.log('loaded');\n`), 'LP_ERR_BUILD_TOPLEVEL', 17), /new top-level statement/);
});

test('a new or removed top-level binding: LP_ERR_BUILD_BINDING', () => {
  assert.match(refused(diff(edit('const RATE = 2;', 'const RATE = 2;\nconst TAX = 1;')), 'LP_ERR_BUILD_BINDING', 3), /new top-level binding 'TAX'/);
  const m = refused(diff(edit('const RATE = 2;\n', '', edit('* RATE', '* 2'))), 'LP_ERR_BUILD_BINDING', 2);
  assert.match(m, /'RATE' was removed.*\(old file\)/);
});

test('a changed class shape (field, method added, extends): LP_ERR_BUILD_CLASS_SHAPE', () => {
  assert.match(refused(diff(edit('class Cart {', 'class Cart {\n  discount = 0;')), 'LP_ERR_BUILD_CLASS_SHAPE', 4), /class Cart: a member was added or removed/);
  assert.match(refused(diff(edit('class Cart {', 'class Cart extends Object {')), 'LP_ERR_BUILD_CLASS_SHAPE', 3), /extends clause changed/);
  assert.match(refused(diff(edit('  total()', '  size() { return 0; }\n  total()')), 'LP_ERR_BUILD_CLASS_SHAPE', 5), /class Cart/);
});

test('a function whose shape changed (async, generator): LP_ERR_BUILD_FUNC_SHAPE', () => {
  assert.match(refused(diff(edit('async function checkout', 'function checkout')), 'LP_ERR_BUILD_FUNC_SHAPE', 7), /checkout changed from async function to function/);
  assert.match(refused(diff(edit('function* ids() { yield 1; }', 'function ids() { return [1]; }')), 'LP_ERR_BUILD_FUNC_SHAPE', 15), /from generator to function/);
});

test('a changed module format: LP_ERR_BUILD_FORMAT', () => {
  const esm = 'export function f() { return 1; }\n';
  refused(diff(esm, BASE, 'commonjs', 'module'), 'LP_ERR_BUILD_FORMAT', 1);
});

test('a syntax error in the new file: LP_ERR_BUILD_SYNTAX at its position', () => {
  assert.match(refused(diff(edit('return fmt(t);', 'return fmt(t;')), 'LP_ERR_BUILD_SYNTAX', 10), /does not parse/);
});

test('a replacement that uses super cannot compile outside its class: LP_ERR_UNPATCHABLE', () => {
  const old = 'class A { m() { return 1; } }\nclass B extends A { m() { return 2; } }\nmodule.exports = { B };\n';
  const d = diff(old.replace('return 2;', 'return super.m() + 2;'), old);
  assert.match(refused(d, 'LP_ERR_UNPATCHABLE', 2), /B.prototype.m: the replacement uses super/);
});

test('a changed signature is noted for the callers warning (build.ts), not refused', () => {
  const old = 'function price(a) { return a; }\nfunction use() { return price(1); }\nmodule.exports = { price, use };\n';
  const d = diff(old.replace('price(a) { return a; }', 'price(a, b = 0) { return a + b; }'), old);
  assert.deepEqual(d.funcs.map((f) => f.oldName), ['price']);
  assert.deepEqual([d.findings, d.signatures], [[], [{ name: 'price', simple: 'price', line: 1, column: 1 }]]);
});

test('ES modules: an exported function is patched; private methods are written as functions', () => {
  const old = 'export class K {\n  #n() { return 1; }\n  get() { return this.#n(); }\n}\nexport async function go() { return 1; }\n';
  const d = diff(old.replace('return 1; }\n  get', 'return 2; }\n  get').replace('go() { return 1; }', 'go() { return 2; }'), old, 'module');
  assert.deepEqual(d.findings, []);
  assert.deepEqual(d.funcs.map((f) => [f.oldName, f.source]), [
    ['K.prototype.#n', 'function () { return 2; }'],
    ['go', 'async function go() { return 2; }'],
  ]);
});
