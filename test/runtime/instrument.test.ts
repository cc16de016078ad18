// The instrumenter against the ABI of docs/runtime.md: names and kinds of every function form, the
// same behaviour with and without the runtime, the redirect and activation paths with a stand-in
// runtime, unchanged line numbers, source maps, and a 9 MB real file.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { compileFunction } from 'node:vm';
import { instrument, InstrumentSyntaxError, siteTable, type Format, type SiteRow } from '../../src/runtime/instrument.js';

const RUNTIME = Symbol.for('livepatch.runtime');
const require = createRequire(import.meta.url);

/** Runs CJS source the way Node's loader does (a function of the five wrapper parameters). */
function runCjs(code: string): any {
  const module = { exports: {} as Record<string, any> };
  compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'])(module.exports, require, module, 'x.js', '.');
  return module.exports;
}

let imports = 0;

/** Imports ESM source as a new module instance each time (a data: URL is cached like any other). */
function importEsm(code: string): Promise<Record<string, any>> {
  return import(`data:text/javascript,${encodeURIComponent(`${code}\n// ${++imports}`)}`);
}

function cjs(source: string): string {
  return instrument(source, { id: './lib/x.js', format: 'commonjs' }).code;
}

/** [name, sympos, kind, unpatchable] per site: sympos is the 1-based index among equal names. */
function named(source: string, format: Format = 'commonjs'): Array<[string, number, string, string]> {
  const seen = new Map<string, number>();
  return siteTable(source, format).s.map(([name, kind, , , why]: SiteRow) => {
    const sympos = (seen.get(name) ?? 0) + 1;
    seen.set(name, sympos);
    return [name, sympos, kind, why];
  });
}

interface StandIn {
  on: boolean;
  id: string;
  sites: { s: SiteRow[]; b: string[] };
  evalHost: (source: string) => unknown;
  replacements: Map<number, (...args: unknown[]) => unknown>;
  log: unknown[];
  /** Entry hooks run (the log keeps them only when asked: typescript.js makes millions of calls). */
  hooks: number;
  d(i: number): ((...args: unknown[]) => unknown) | 0;
  a(i: number): number;
  x(token: number, i: number): void;
}

/** A minimal runtime for the ABI only (the real one is registry.ts): redirects the sites in `replacements`. */
function withRuntime<T>(body: (modules: StandIn[]) => T, log = true): T {
  const modules: StandIn[] = [];
  const cells = new Set<string>();
  let token = 0;
  (globalThis as any)[RUNTIME] = {
    module(id: string, _sha: string, sites: string, evalHost: (s: string) => unknown, cell: string): StandIn {
      // Every hook asks `d` (1 in each site's entry of the hook cell).
      cells.add(cell);
      (globalThis as any)[cell] = JSON.parse(sites).s.map(() => 1);
      const m: StandIn = {
        on: true,
        id,
        sites: JSON.parse(sites),
        evalHost,
        replacements: new Map(),
        log: [],
        hooks: 0,
        d(i) {
          this.hooks++;
          if (log) this.log.push(['d', i]);
          return this.replacements.get(i) ?? 0;
        },
        a(i) {
          if (log) this.log.push(['a', i, token + 1]);
          token++;
          return token;
        },
        x(t, i) {
          if (log) this.log.push(['x', i, t]);
        },
      };
      modules.push(m);
      return m;
    },
  };
  const done = () => {
    delete (globalThis as any)[RUNTIME];
    for (const cell of cells) delete (globalThis as any)[cell];
  };
  try {
    const result = body(modules);
    if (result instanceof Promise) return result.finally(done) as T;
    done();
    return result;
  } catch (e) {
    done();
    throw e;
  }
}

const siteIndex = (m: StandIn, name: string) => m.sites.s.findIndex(([n]) => n === name);

test('qualified names, sympos and kinds of every function form', () => {
  const src = `
function dup() {}
function outer() { function inner() {} class K { m() {} } return () => {} }
const v = function () {}, a = () => 0, named = function own() {};
let lazy; lazy = async () => {};
class C extends Base {
  constructor() { super() }
  m() {} static s() {} #p() {} static #sp() {}
  get x() { return 1 } set x(v) {} static get y() { return 2 }
  async am() {} *gm() {} async *agm() {}
  ['comp' + 1]() {} 'str key'() {} 42() {}
  f = () => this; static sf = function () {}; plain = 1; calls = go(() => 1);
  static { function inStatic() {} }
}
class Base { constructor(a) { this.a = a } }
const E = class { m() {} };
const obj = { m() {}, k: function () {}, arrow: () => 1, get g() { return 1 }, set g(v) {}, inner: { deep() {} }, [sym]() {} };
module.exports.foo = function () {};
exports.bar = () => {};
X.prototype.m = function* () {};
this.cb = function () {};
go(function () {}, () => {});
(function () {})();
function dup() {}
function withDefault(f = function () {}) {}
module.exports = { exported() {} };
`;
  assert.deepEqual(named(src), [
    ['dup', 1, 'function', ''],
    ['outer', 1, 'function', ''],
    ['outer>inner', 1, 'function', ''],
    ['outer>K.prototype.m', 1, 'method', ''],
    ['outer><anonymous>', 1, 'arrow', ''],
    ['v', 1, 'function', ''],
    ['a', 1, 'arrow', ''],
    ['own', 1, 'function', ''],
    ['lazy', 1, 'arrow+async', ''],
    ['C.constructor', 1, 'constructor', 'derived-class constructor: `this` is not bound before super()'],
    ['C.prototype.m', 1, 'method', ''],
    ['C.s', 1, 'method', ''],
    ['C.prototype.#p', 1, 'method', ''],
    ['C.#sp', 1, 'method', ''],
    ['C.prototype.x:get', 1, 'getter', ''],
    ['C.prototype.x:set', 1, 'setter', ''],
    ['C.y:get', 1, 'getter', ''],
    ['C.prototype.am', 1, 'method+async', ''],
    ['C.prototype.gm', 1, 'method+generator', ''],
    ['C.prototype.agm', 1, 'method+async+generator', ''],
    ["C.prototype.['comp' + 1]", 1, 'method', ''],
    ['C.prototype.str key', 1, 'method', ''],
    ['C.prototype.42', 1, 'method', ''],
    ['C.prototype.f', 1, 'arrow', ''],
    ['C.sf', 1, 'function', ''],
    ['C.prototype.calls><anonymous>', 1, 'arrow', ''],
    ['C>inStatic', 1, 'function', ''],
    ['Base.constructor', 1, 'constructor', ''],
    ['E.prototype.m', 1, 'method', ''],
    ['obj.m', 1, 'method', ''],
    ['obj.k', 1, 'function', ''],
    ['obj.arrow', 1, 'arrow', ''],
    ['obj.g:get', 1, 'getter', ''],
    ['obj.g:set', 1, 'setter', ''],
    ['obj.inner.deep', 1, 'method', ''],
    ['obj.[sym]', 1, 'method', ''],
    ['module.exports.foo', 1, 'function', ''],
    ['exports.bar', 1, 'arrow', ''],
    ['X.prototype.m', 1, 'function+generator', ''],
    ['this.cb', 1, 'function', ''],
    ['<anonymous>', 1, 'function', ''],
    ['<anonymous>', 2, 'arrow', ''],
    ['<anonymous>', 3, 'function', ''],
    ['dup', 2, 'function', ''],
    ['withDefault', 1, 'function', ''],
    ['withDefault>f', 1, 'function', ''],
    ['module.exports.exported', 1, 'method', ''],
  ]);
});

test('ESM names, module bindings, lines and columns', () => {
  const src = `import fs, { readFile as rf } from 'node:fs';
import * as path from 'node:path';
export default function () {}
export const x = () => 1;
export class K { static m() {} }
if (a) { var hoisted = 1 }
let { d, e: [f, ...g] } = obj;
  async function* gen() {}`;
  const t = siteTable(src, 'module');
  assert.deepEqual(
    t.s.map(([n, k, l, c]) => [n, k, l, c]),
    [
      ['default', 'function', 3, 16],
      ['x', 'arrow', 4, 18],
      ['K.m', 'method', 5, 18],
      ['gen', 'function+async+generator', 8, 3],
    ],
  );
  assert.deepEqual(t.b.sort(), ['K', 'd', 'f', 'fs', 'g', 'gen', 'hoisted', 'path', 'rf', 'x'].sort());
  assert.deepEqual(siteTable('var q; function f() { var inner }', 'commonjs').b, ['exports', 'require', 'module', '__filename', '__dirname', 'q', 'f']);
  // Columns count UTF-16 units on the site's own line, whatever the line terminator.
  assert.deepEqual(
    siteTable('"é😀";\r\n\u2028 function f() {}\r  const g = () => 1', 'commonjs').s.map(([, , l, c]) => [l, c]),
    [[3, 2], [4, 13]],
  );
});

test('sites the entry hook cannot enter say why', () => {
  const why = (src: string) => siteTable(src, 'commonjs').s.map((r) => r[4]);
  assert.match(why('const f = (a = 1) => a')[0], /arrow function with default/);
  assert.match(why('const f = ({ a }) => a')[0], /destructured/);
  assert.equal(why('const f = (a, ...r) => a')[0], '');
  assert.equal(why('function f(a = 1, { b }) {}')[0], '', 'non-arrows forward `arguments`');
  assert.match(why('function f(a) { return a; function a() {} }')[0], /shadows the parameter/);
  assert.equal(why('function f(a) { arguments; return a; function a() {} }')[0], '', '`arguments` is forwarded instead');
  assert.match(why('async function f() { var g; function g() {} }')[0], /declared twice/);
  assert.match(why('function* f() { function g() {} function g() {} }')[0], /declared twice/);
  assert.equal(why('function f() { var g; function g() {} }')[0], '', 'only tracked bodies are wrapped in a block');
});

const FIXTURE = `'use strict';
let counter = 0;
function plain(a, b) { counter++; return [typeof this, a, b, arguments.length]; }
function spread(a, ...rest) { return [a, rest]; }
function usesArgs() { return Array.prototype.slice.call(arguments); }
function defaults(a, b = a + 1, ...rest) { return [a, b, rest, arguments.length]; }
function destr({ x }, [y]) { return x + y; }
function Ctor(a) { if (!new.target) return 'called'; this.a = a; }
const arrow = (a, ...r) => [a, r];
const exprArrow = x => ({ x });
const broken = x =>
  x + 1;
const nested = a => b => c => a + b + c;
const commented = (a, b /* => */) /* => */ => /* ( */ a + b;
const asyncNoParams = async /* => */ () => 'anp';
function arrowArgs() { return (() => arguments[0])(); }
function* gen(n) { const got = yield n; return got * 2; }
async function* agen() { yield 1; yield 2; return 3; }
async function rejects() { throw new Error('no'); }
async function awaits(x) { await null; return x + 1; }
const asyncArrow = async (x) => x * 3;
const asyncExprObj = async x => ({ x });
class Base {
  constructor(v) { this.v = v; }
  get dbl() { return this.v * 2; } set dbl(x) { this.v = x / 2; }
  static make(v) { return new this(v); }
  #secret() { return this.v; } reveal() { return this.#secret(); }
  *[Symbol.iterator]() { yield this.v; }
}
class Derived extends Base {
  constructor(v) { super(v + 1); this.w = new.target.name; }
  field = () => this.v;
  static sfield = function () { return this === Derived; };
  static { this.init = true; }
}
const obj = { m() { return this === obj; }, get g() { return 42; }, set s(v) { this._s = v; }, async am() { return 'am'; }, *gm() { yield 'gm'; } };
function labels() { outer: for (;;) { for (;;) { break outer; } } return 'ok'; }
function tmpl(x) { return \`<\${(() => x)()}|\${\`\${(y => y)(x)}\`}>\`; }
function declShadow(a) { return typeof a; function a() {} }
function hoisted() { return inner(); function inner() { return 'hoisted'; } }
async function asyncHoist() { return inner(); function inner() { return 'h'; } }
async function asyncClash() { var f = 1; function f() {} return typeof f; }
function sloppyThis() { return this; }
function thrower() { throw new Error('thrown'); }
const all = { plain, spread, usesArgs, defaults, destr, Ctor, arrow, exprArrow, broken, nested, commented, asyncNoParams, arrowArgs, gen, agen, rejects, awaits, asyncArrow, asyncExprObj, Base, Derived, obj, labels, tmpl, declShadow, hoisted, asyncHoist, asyncClash, sloppyThis, thrower };
module.exports = { ...all, count: () => counter, all };
return;
module.exports = null;
`;

/** What the fixture does, as text: the two module instances' classes are different objects. */
async function probe(m: Record<string, any>): Promise<string> {
  const out: unknown[] = [];
  const settle = async (p: Promise<unknown>) => p.then((v) => ['ok', v], (e: Error) => ['err', e.message]);
  out.push(m.plain(1, 2, 3), m.plain.call('s', 1), m.spread(1, 2, 3), m.usesArgs(1, 2), m.defaults(1), m.defaults(1, 2, 3, 4), m.destr({ x: 1 }, [2]));
  out.push(m.Ctor(1), new m.Ctor(2), m.arrow(1, 2, 3), m.exprArrow(1), m.broken(1), m.nested(1)(2)(3), m.commented(1, 2), await m.asyncNoParams(), m.arrowArgs(7), m.count());
  const g = m.gen(5);
  out.push(g.next(), g.next(10), g.next());
  const items = [];
  for await (const x of m.agen()) items.push(x);
  const ag = m.agen();
  out.push(items, await ag.next(), await ag.return(9), await ag.next());
  out.push(await settle(m.rejects()), await settle(m.awaits(1)), await m.asyncArrow(2), await m.asyncExprObj(3));
  const b = m.Base.make(4);
  b.dbl = 10;
  out.push(b.v, b.dbl, b.reveal(), [...b], Object.keys(b));
  const d = new m.Derived(1);
  out.push(d.v, d.w, d.field(), m.Derived.sfield(), m.Derived.init, d instanceof m.Base);
  m.obj.s = 5;
  out.push(m.obj.m(), m.obj.g, m.obj._s, await m.obj.am(), [...m.obj.gm()]);
  out.push(m.labels(), m.tmpl('t'), m.declShadow(1), m.hoisted(), await m.asyncHoist(), await m.asyncClash(), m.sloppyThis());
  out.push(Object.entries(m.all).map(([k, f]: [string, any]) => [k, f.length, f.name]));
  return inspect(out, { depth: Infinity });
}

test('the instrumented module behaves exactly as the original without a runtime', async () => {
  const { code } = instrument(FIXTURE, { id: './lib/x.js', format: 'commonjs' });
  assert.deepEqual(await probe(runCjs(code)), await probe(runCjs(FIXTURE)));
  // 'use strict' stayed the directive prologue of the module: sloppy `this` would be globalThis.
  const { sloppyThis } = runCjs(code);
  assert.equal(sloppyThis(), undefined);
  const fnDirective = 'module.exports = function (a) { "use strict"\n  return this }; function g() { return this }';
  assert.equal(runCjs(cjs(fnDirective))(), undefined);
  assert.equal(runCjs(cjs(fnDirective)).length, 1);
});

test('the instrumented module behaves exactly as the original with a runtime that redirects nothing', async () => {
  const { code } = instrument(FIXTURE, { id: './lib/x.js', format: 'commonjs' });
  const expected = await probe(runCjs(FIXTURE));
  const modules: StandIn[] = [];
  await withRuntime(async (ms) => {
    assert.deepEqual(await probe(runCjs(code)), expected);
    modules.push(...ms);
  });
  const [m] = modules;
  assert.equal(m.id, './lib/x.js');
  const calls = (name: string) => m.log.filter((e: any) => e[0] === 'd' && e[1] === siteIndex(m, name));
  // Every activation of a tracked function ends, also on throw and on an early return().
  const opened = m.log.filter((e: any) => e[0] === 'a').map((e: any) => `${e[1]}:${e[2]}`);
  const closed = m.log.filter((e: any) => e[0] === 'x').map((e: any) => `${e[1]}:${e[2]}`);
  assert.ok(opened.length >= 10);
  assert.deepEqual(closed.sort(), opened.sort());
  for (const name of ['plain', 'gen', 'agen', 'rejects', 'asyncArrow', 'Base.constructor', 'Base.prototype.dbl:get']) {
    assert.ok(calls(name).length > 0, `${name} has an entry hook`);
  }
  for (const name of ['Derived.constructor', 'declShadow', 'asyncClash']) assert.equal(calls(name).length, 0, `${name} has none`);
});

test('sloppy duplicate parameter names are forwarded as `arguments`', () => {
  const code = cjs('module.exports = function dup(a, a) { return a }');
  withRuntime((modules) => {
    const dup = runCjs(code);
    assert.equal(dup(1, 2), 2);
    modules[0].replacements.set(0, function (this: unknown) {
      return [...arguments];
    });
    assert.deepEqual(dup(1, 2), [1, 2]);
  });
});

test('redirects: the replacement runs with the caller\'s this and arguments, in the module\'s scope', async () => {
  const { code } = instrument(FIXTURE, { id: './lib/x.js', format: 'commonjs' });
  await withRuntime(async (modules) => {
    const exp = runCjs(code);
    const m = modules[0];
    const patch = (name: string, source: string) => m.replacements.set(siteIndex(m, name), m.evalHost(`(${source})`) as (...args: unknown[]) => unknown);
    // Named parameters are forwarded as they are, `arguments` when the body needs it or params are not plain.
    const forwarded = 'function () { return Array.from(arguments) }';
    for (const name of ['spread', 'defaults', 'destr', 'usesArgs', 'arrowArgs']) patch(name, forwarded);
    assert.deepEqual(exp.spread(1, 2, 3), [1, 2, 3]);
    assert.deepEqual(exp.defaults(1), [1]);
    assert.deepEqual(exp.destr({ x: 1 }, [2]), [{ x: 1 }, [2]]);
    assert.deepEqual(exp.usesArgs(1, 2), [1, 2]);
    assert.deepEqual(exp.arrowArgs(7), [7], '`arguments` in a nested arrow is the function\'s');
    // The eval host sees the module's private `let counter`.
    patch('plain', 'function (a, b) { counter += 100; return ["v2", typeof this, a, b, arguments.length] }');
    assert.deepEqual(exp.plain.call(7, 1, 2), ['v2', 'number', 1, 2, 2]);
    assert.equal(exp.count(), 100);
    patch('nested', '(a) => (b) => 0');
    assert.equal(exp.nested(1)(2), 0, 'the outer arrow is redirected, its old inner closure is not made');
    patch('gen', 'function* (n) { yield n + 1; return "v2" }');
    assert.deepEqual([...exp.gen(1)], [2]);
    const g = exp.gen(1);
    g.next();
    assert.deepEqual(g.next(), { value: 'v2', done: true });
    patch('agen', 'async function* () { yield "a2" }');
    const items = [];
    for await (const x of exp.agen()) items.push(x);
    assert.deepEqual(items, ['a2']);
    patch('awaits', 'async function (x) { return x * 10 }');
    assert.equal(await exp.awaits(2), 20);
    patch('asyncExprObj', 'async (x) => ({ y: x })');
    assert.deepEqual(await exp.asyncExprObj(1), { y: 1 });
    patch('Base.constructor', 'function (v) { this.v = -v }');
    assert.equal(new exp.Base(3).v, -3);
    assert.equal(new exp.Derived(3).v, -4, 'the base constructor runs the replacement under super()');
    patch('Base.prototype.dbl:get', 'function () { return "got" }');
    assert.equal(exp.Base.make(1).dbl, 'got');
    patch('obj.m', 'function () { return this }');
    assert.equal(exp.obj.m(), exp.obj);
    patch('Ctor', 'function (a) { return new.target ? undefined : "v2" }');
    assert.equal(exp.Ctor(), 'v2');
    patch('tmpl', '(x) => x');
    assert.equal(exp.tmpl('t'), 't');
    // Identity, name and length of the original function object are kept.
    assert.equal(exp.plain.name, 'plain');
    assert.equal(exp.plain.length, 2);
  });
});

test('ESM: header after the directive, strict eval host in module scope', async () => {
  const src = `"use strict"
const secret = 41;
export const get = () => secret;
export const self = this;
await null;`;
  const orig = await importEsm(src);
  const { code } = instrument(src, { id: './m.mjs', format: 'module' });
  assert.match(code, /^"use strict";var __lp\$M = /);
  const plain = await importEsm(code);
  assert.deepEqual([plain.get(), plain.self], [orig.get(), orig.self]);
  await withRuntime(async (modules) => {
    const inst = await importEsm(code);
    const m = modules[0];
    assert.equal(m.evalHost('secret + 1'), 42);
    m.replacements.set(siteIndex(m, 'get'), m.evalHost('() => secret * 2') as (...args: unknown[]) => unknown);
    assert.equal(inst.get(), 82);
    assert.equal(m.evalHost('(function () { return this })()'), undefined, 'the eval host is strict');
  });
});

test('edge texts: hashbang, BOM, trailing line comment, non-ASCII, top-level return, existing source map', () => {
  const cases: Array<[string, (code: string) => void]> = [
    ['#!/usr/bin/env node\nmodule.exports = () => "hb"', (code) => assert.match(code, /^#!\/usr\/bin\/env node\nvar __lp\$M/)],
    ['#!/usr/bin/env node', (code) => assert.match(code, /^#!\/usr\/bin\/env node\nvar __lp\$M/)],
    ['\uFEFFmodule.exports = () => "bom"', (code) => assert.equal(code.charCodeAt(0), 0xfeff)],
    ['module.exports = () => "c" // no newline at the end', () => {}],
    ['const s = "héllo€😀"; module.exports = () => s + "ü"', () => {}],
    ['module.exports = () => "ret"; return; function unreachable() {}', () => {}],
    ['module.exports = () => "map"\n//# sourceMappingURL=x.js.map', (code) => assert.equal(code.match(/sourceMappingURL/g)?.length, 1)],
  ];
  for (const [src, check] of cases) {
    const code = cjs(src);
    check(code);
    // A hashbang is only valid at the start of a script, not in the body compileFunction builds.
    if (!src.startsWith('#!')) assert.equal(runCjs(code)(), runCjs(src)(), src);
  }
});

/** Each original line, with the inserted text deleted, is the instrumented line: a subsequence check. */
function assertLinesKept(original: string, code: string): void {
  const split = (s: string) => s.split(/\r\n|[\n\r\u2028\u2029]/);
  const a = split(original);
  const b = split(code);
  assert.ok(b.length >= a.length);
  for (let i = 0; i < a.length; i++) {
    let j = 0;
    for (const ch of b[i]) if (j < a[i].length && ch === a[i][j]) j++;
    assert.equal(j, a[i].length, `line ${i + 1} changed:\n${a[i]}\n${b[i]}`);
  }
}

test('every original line keeps its number', () => {
  assertLinesKept(FIXTURE, cjs(FIXTURE));
});

test('a file that does not parse throws a SyntaxError with its position', () => {
  assert.throws(
    () => cjs('const a = 1;\nfunction (\n'),
    (e: unknown) => e instanceof InstrumentSyntaxError && e instanceof SyntaxError && e.line === 2 && e.column === 10 && e.message === 'Unexpected token (2:10)',
  );
  assert.throws(() => instrument('export const a = 1', { id: 'x', format: 'commonjs' }), SyntaxError);
  assert.throws(() => instrument('return 1', { id: 'x', format: 'module' }), SyntaxError);
});

test('the inline source map maps a thrown error back to its original line and column', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lp-instrument-'));
  try {
    const src = "'use strict';\nfunction f(a) { return a.b.c; }\nmodule.exports = () => f({});\n";
    const [, line2, line3] = src.split('\n');
    const code = instrument(src, { id: './thrower.cjs', format: 'commonjs' }).code;
    writeFileSync(join(dir, 'thrower.cjs'), code);
    const script = `process.setSourceMapsEnabled(true); try { require(${JSON.stringify(join(dir, 'thrower.cjs'))})() } catch (e) { console.log(e.stack) }`;
    const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    // The throw and the call that led to it, both on lines where text was inserted before them.
    assert.match(out.stdout, new RegExp(`thrower\\.cjs:2:${line2.indexOf('.c') + 2}\\b`), out.stdout + out.stderr);
    assert.match(out.stdout, new RegExp(`thrower\\.cjs:3:${line3.indexOf('f({')  + 1}\\b`), out.stdout + out.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('acorn.mjs (ESM) instrumented parses a file to the same AST as the original', async () => {
  const file = require.resolve('acorn').replace(/acorn\.js$/, 'acorn.mjs');
  const src = readFileSync(file, 'utf8');
  const { code, table } = instrument(src, { id: 'acorn/dist/acorn.mjs', format: 'module' });
  assert.ok(table.s.length > 300, `${table.s.length} sites`);
  const parseWith = async (text: string) => JSON.stringify((await importEsm(text)).parse(src, { ecmaVersion: 'latest', sourceType: 'module', locations: true }));
  assert.equal(await parseWith(code), await parseWith(src));
});

test('typescript.js (9 MB, CJS) instrumented: same line structure, sane sites, compiles a program to identical output', () => {
  const file = require.resolve('typescript');
  const src = readFileSync(file, 'utf8');
  let t = performance.now();
  const lap = (what: string) => { console.log(`# ${what}: ${Math.round(performance.now() - t)} ms`); t = performance.now(); };
  const { code, table } = instrument(src, { id: 'typescript/lib/typescript.js', format: 'commonjs' });
  lap('instrument');
  assert.ok(table.s.length > 20000 && table.s.length < 30000, `${table.s.length} sites`);
  assert.ok(table.s.filter((r) => r[4]).length < table.s.length / 100, 'almost everything is patchable');
  assert.ok(table.s.every(([name, kind, line, column]) => name && kind && line >= 1 && column >= 1));
  assertLinesKept(src, code);
  lap('lines');
  const load = (text: string) => {
    const m = new Module(file);
    m.filename = file;
    m.paths = (Module as any)._nodeModulePaths(file);
    (m as any)._compile(text, file);
    return m.exports;
  };
  const compile = (ts: any) => {
    const files: Record<string, string> = {
      'a.ts': 'export class P<T> { constructor(private v: T) {} get(): T { return this.v } }\nexport async function* g(n: number) { for (let i = 0; i < n; i++) yield new P(i).get() }\nconst bad: string = 1;\n',
    };
    const out: Record<string, string> = {};
    const host = ts.createCompilerHost({});
    host.getSourceFile = (name: string, lang: unknown) => (name in files ? ts.createSourceFile(name, files[name], lang) : undefined);
    host.writeFile = (name: string, text: string) => (out[name] = text);
    // Without the default lib (parsing it would dominate the test) the checker reports the missing
    // global types too: more diagnostics to compare.
    const program = ts.createProgram(['a.ts'], { target: ts.ScriptTarget.ES2017, noLib: true, declaration: true, strict: true }, host);
    program.emit();
    const diags = ts.getPreEmitDiagnostics(program).map((d: any) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    return { out, diags, transpiled: ts.transpileModule('let x: number = <any>1; enum E { A }', {}).outputText };
  };
  const expected = compile(load(src));
  lap('original');
  assert.ok(expected.diags.length > 0 && Object.keys(expected.out).length === 2, JSON.stringify(expected));
  assert.deepEqual(compile(load(code)), expected);
  lap('instrumented');
  const modules = withRuntime((ms) => {
    assert.deepEqual(compile(load(code)), expected);
    return ms;
  }, false);
  lap('instrumented, runtime on');
  assert.ok(modules[0].hooks > 10000, 'the entry hooks ran');
});
