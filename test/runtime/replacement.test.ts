// Replacement sources (docs/runtime.md "Patch files"): every accepted form compiles to the function it
// names, and every refusal has its stable code and says why.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLpError, type LpErrorCode } from '../../src/engine/index.js';
import { parseReplacement } from '../../src/runtime/replacement.js';

const BINDINGS = ['RATE', 'calls', 'helper', 'require'];

/** What a strict direct eval in module scope does with `expr` (here the module's bindings are locals). */
function compile(expr: string): any {
  const RATE = 5;
  const helper = (x: unknown) => [x];
  void [RATE, helper];
  return eval(`"use strict"; ${expr}`);
}

function refused(source: string, code: LpErrorCode): string {
  try {
    parseReplacement(source, BINDINGS);
  } catch (e) {
    assert.ok(isLpError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
  assert.fail(`accepted: ${source}`);
}

test('every accepted form: kind, async, generator, free names, and the function its expression makes', async () => {
  const cases: Array<[string, string, boolean, boolean, string[]]> = [
    ['function (x) { calls += 10; return x * RATE + 1 }', 'function', false, false, ['calls', 'RATE']],
    ['async function named(x) { return named.name + await x }', 'function', true, false, []],
    ['function* (n) { yield n }', 'function', false, true, []],
    ['(x) => x * RATE', 'arrow', false, false, ['RATE']],
    ['async x => helper(x)', 'arrow', true, false, ['helper']],
    ['total() { return this.n * RATE }', 'method', false, false, ['RATE']],
    ['async *items() { yield* helper(this) }', 'method', true, true, ['helper']],
    ['iterate() { return [][Symbol.iterator]() }', 'method', false, false, ['Symbol']],
    ["'quoted key'(a, b) { return a + b }", 'method', false, false, []],
    ['get x() { return this._x * 2 }', 'getter', false, false, []],
    ['set x(v) { this._x = v }', 'setter', false, false, []],
    ['constructor(a) { this.a = a } // trailing comment', 'constructor', false, false, []],
  ];
  for (const [source, kind, isAsync, generator, free] of cases) {
    const r = parseReplacement(source, BINDINGS);
    assert.deepEqual([r.kind, r.async, r.generator, r.freeNames.sort()], [kind, isAsync, generator, free.sort()], source);
    assert.equal(typeof compile(r.expr), 'function', source);
  }
  const call = (source: string, thisArg: unknown, ...args: unknown[]) => compile(parseReplacement(source, BINDINGS).expr).apply(thisArg, args);
  assert.equal(call('total() { return this.n * RATE }', { n: 2 }), 10);
  assert.equal(call('get x() { return this._x * 2 }', { _x: 4 }), 8);
  const target: { _x?: number } = {};
  call('set x(v) { this._x = v }', target, 3);
  assert.equal(target._x, 3);
  const made: { a?: number } = {};
  call('constructor(a) { this.a = a }', made, 1);
  assert.equal(made.a, 1);
  assert.equal(Object.prototype.toString.call(call('async *items() { yield* helper(this) }', 'me')), '[object AsyncGenerator]');
  assert.equal(await call('async function named(x) { return named.name + await x }', null, '!'), 'named!');
  assert.equal(compile(parseReplacement('total() {}', []).expr).name, 'total');
  assert.equal(compile(parseReplacement('(a, b, ...c) => 0', []).expr).length, 2);
});

test('scopes: parameters, locals, catch and loop bindings, inner classes and typeof checks are not free names', () => {
  const src =
    'function f(a, { b, c = a }, ...r) { const d = 1; let e; var g; try {} catch ({ message }) { message } ' +
    'for (const i of r) i; for (let j = 0; j < 1; j++) j; switch (a) { case 1: let s = 1; s } ' +
    "class K { m() { return K } } label: { break label } return [a, b, c, d, e, f, g, typeof maybeGlobal, arguments, this, new.target, r.length, ({ k: 1 }).k] }";
  assert.deepEqual(parseReplacement(src, []).freeNames, []);
  assert.deepEqual(parseReplacement('() => arguments', []).freeNames, ['arguments'], '`arguments` is always allowed');
  assert.deepEqual(parseReplacement('() => { globalThis.x = Math.max(undefined, NaN, require) }', BINDINGS).freeNames.sort(), ['Math', 'NaN', 'globalThis', 'require', 'undefined']);
  assert.deepEqual(parseReplacement('function () { { function inner() {} } return inner }', []).freeNames, [], 'sloppy-style block functions resolve');
});

test('refusals: syntax, not one function, super, #private, unresolved names', () => {
  assert.match(refused('function (x) {\n  return x +;\n}', 'LP_ERR_PATCH_SYNTAX'), /does not parse: 2:13: Unexpected token/);
  assert.match(refused('total() { return 1 ', 'LP_ERR_PATCH_SYNTAX'), /does not parse: 1:20: Unexpected token/);
  assert.match(refused('function () { with (x) {} }', 'LP_ERR_PATCH_SYNTAX'), /strict mode/);
  assert.match(refused('function a() {} function b() {}', 'LP_ERR_PATCH_SYNTAX'), /not a list of statements/);
  assert.match(refused('function a() {}); evil(); (function () {}', 'LP_ERR_PATCH_SYNTAX'), /not a list of statements/);
  assert.match(refused('1 + 2', 'LP_ERR_PATCH_SYNTAX'), /not a BinaryExpression/);
  assert.match(refused('class { m() {} }', 'LP_ERR_PATCH_SYNTAX'), /not a ClassExpression/);
  assert.match(refused('a() {}, b() {}', 'LP_ERR_PATCH_SYNTAX'), /not 2 definitions/);
  assert.match(refused('[Symbol.iterator]() {}', 'LP_ERR_PATCH_SYNTAX'), /computed key \[Symbol\.iterator\], which would run at enable/);
  assert.match(refused('function () {}, function () {}', 'LP_ERR_PATCH_SYNTAX'), /not 2 expressions/);
  assert.match(refused('m() { return super.m() }', 'LP_ERR_UNPATCHABLE'), /super.*Base\.prototype\.m\.call/);
  assert.match(refused('function () { return () => super.x }', 'LP_ERR_UNPATCHABLE'), /super/);
  assert.match(refused('function () { return this.#secret }', 'LP_ERR_UNPATCHABLE'), /private name #secret \(1:27\)/);
  assert.match(refused('has(o) { return #p in o }', 'LP_ERR_UNPATCHABLE'), /#p/);
  assert.match(refused('function (x) { return missing(x) + RATE + other }', 'LP_ERR_UNRESOLVED'), /: missing, other;/);
  assert.match(refused('x => { undeclared = x }', 'LP_ERR_UNRESOLVED'), /undeclared/);
  assert.match(refused('function () { const { a = late } = {}; return a }', 'LP_ERR_UNRESOLVED'), /late/);
});
