// Source text → instrumented source + site table + source map: the load-time half of the ABI in
// docs/runtime.md. Every function of the module gets an entry hook (the ftrace call site of a kernel
// function) and async functions and generators also report their activations, because they are the
// only code that can stay on a task's "stack" across a switch point.
//
// Only insertions are made, never on a new line before original code, so every original token keeps
// its line; the inline source map restores the columns. Pure apart from node:crypto for the hash.

import { createHash } from 'node:crypto';
import { type Pattern, type Program } from 'acorn';
import MagicString from 'magic-string';
import { afterDirectives, bodySplice, tracking } from './body.js';
import {
  declaredNames,
  isLineBreak,
  nameSites,
  parseModule,
  patternNames,
  positions,
  SourceSyntaxError,
  topLevelBindings,
  type Format,
  type NamedSite,
  type SiteKind,
} from '../naming/sites.js';

export type { Format, SiteKind };

/** [qualified name, kind, line (1-based), column (1-based, UTF-16 units), '' or why not patchable] */
export type SiteRow = [name: string, kind: SiteKind, line: number, column: number, unpatchable: string];

export interface SiteTable {
  v: 1;
  /** One per function, in source order of the function's start; the index is the site index. */
  s: SiteRow[];
  /** Names bound at module top level (declarations, imports, CJS wrapper parameters). */
  b: string[];
}

/** The source does not parse: the loader then loads it unchanged (fail open). */
export const InstrumentSyntaxError = SourceSyntaxError;

const EVAL_HOST = "function __lp$eval(__lp$s) { 'use strict'; return eval(__lp$s) }";

/** A named function (src/naming/sites.ts) and whether the entry hook can go into it. */
interface Site extends NamedSite {
  unpatchable: string;
}

/** Parameters the entry hook can forward as an array: plain identifiers, optionally a trailing `...rest`. */
function simpleParams(params: Pattern[]): boolean {
  return params.every((p, i) => p.type === 'Identifier' || (p.type === 'RestElement' && p.argument.type === 'Identifier' && i === params.length - 1));
}

/**
 * Why the entry hook cannot go into this function, or ''. Besides the contract's cases (derived
 * constructors, arrows with non-simple parameters), two body shapes break the inserted code: a
 * top-level function declaration that shadows a forwarded parameter (the hook would forward the
 * function), and, for tracked functions, one that the `try { … }` block would turn into a duplicate
 * lexical declaration.
 */
function unpatchableReason(site: Site, tracked: boolean): string {
  const fn = site.node;
  if (site.derivedCtor) return 'derived-class constructor: `this` is not bound before super()';
  const simple = simpleParams(fn.params);
  if (fn.type === 'ArrowFunctionExpression' && !simple) return 'arrow function with default, destructured or non-trailing rest parameters';
  if (fn.body.type !== 'BlockStatement') return '';
  const fnDecls = fn.body.body.flatMap((s) => (s.type === 'FunctionDeclaration' ? [s.id.name] : []));
  if (fnDecls.length === 0) return '';
  if (simple && !site.usesArguments) {
    const params: string[] = [];
    for (const p of fn.params) patternNames(p, params);
    const shadow = fnDecls.find((n) => params.includes(n));
    if (shadow) return `function declaration '${shadow}' shadows the parameter of that name`;
  }
  if (tracked) {
    const vars: string[] = [];
    declaredNames(fn.body.body, false, vars);
    const clash = fnDecls.find((n) => vars.filter((v) => v === n).length > 1);
    if (clash) return `'${clash}' is declared twice at the top of the body, which the activation tracking block cannot hold`;
  }
  return '';
}

interface Analysis {
  program: Program;
  sites: Site[];
  bindings: string[];
}

function analyse(source: string, format: Format): Analysis {
  const program = parseModule(source, format);
  const sites: Site[] = nameSites(program, source).map((named) => ({ ...named, unpatchable: '' }));
  for (const site of sites) site.unpatchable = unpatchableReason(site, site.node.async || site.node.generator);
  return { program, sites, bindings: topLevelBindings(program, format) };
}

/** The table rows: the sites with their 1-based lines and columns. */
function rows(source: string, sites: readonly Site[]): SiteRow[] {
  const at = positions(source, sites.map((site) => site.at));
  return sites.map((site, i) => [site.name, site.kind, at[i][0], at[i][1], site.unpatchable]);
}

export function siteTable(source: string, format: Format): SiteTable {
  const { sites, bindings } = analyse(source, format);
  return { v: 1, s: rows(source, sites), b: bindings };
}

/** Where the module header goes: after the directive prologue, else after a hashbang line or BOM. */
function headerPosition(source: string, program: Program): { pos: number; text: (header: string) => string } {
  const d = afterDirectives(program.body, 0);
  if (d.directive) return { pos: d.pos, text: (h) => `;${h}` };
  if (source.startsWith('#!')) {
    let p = 2;
    while (p < source.length && !isLineBreak(source.charCodeAt(p))) p++;
    if (p === source.length) return { pos: p, text: (h) => `\n${h}` };
    return { pos: p + (source.startsWith('\r\n', p) ? 2 : 1), text: (h) => h };
  }
  return { pos: source.charCodeAt(0) === 0xfeff ? 1 : 0, text: (h) => h };
}

/**
 * The global property the entry hooks of object `id` read (its "hook cell"): `__lp$` and 8 hex
 * digits of the id's sha256. Instances of one object (or, rarely, of two whose digits collide) share
 * it; the runtime then never settles its entries (livepatch.ts cellEntries).
 */
export function hookCell(id: string): string {
  return `__lp$${createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 8)}`;
}

function insertHooks(s: MagicString, source: string, site: Site, i: number, cell: string): void {
  const fn = site.node;
  const isArrow = fn.type === 'ArrowFunctionExpression';
  const tracked = fn.async || fn.generator;
  const params = fn.params.map((p) => source.slice(p.start, p.end));
  // Sloppy functions may repeat a parameter name: only `arguments` still holds every value.
  const asArray = isArrow || (simpleParams(fn.params) && !site.usesArguments && new Set(params).size === params.length);
  const self = isArrow ? 'undefined' : 'this';
  const call = asArray ? `__lp$f.call(${[self, ...params].join(', ')})` : `__lp$f.apply(${self}, arguments)`;
  const run = site.kind.startsWith('constructor') ? `{ ${call}; return; }` : fn.generator ? `return yield* ${call};` : `return ${call};`;
  // The cell is a global property, so that optimized code folds it to a constant (see docs/runtime.md).
  const hook = `{ let __lp$f = globalThis.${cell}?.[${i}]; if (__lp$f === 1) __lp$f = __lp$M?.d(${i}); if (__lp$f) ${run} }`;
  const track = tracked ? tracking('a', 'x', i) : null;
  const b = bodySplice(source, fn, track ? `${hook} ${track.prologue}` : hook, track?.epilogue ?? '');
  // Openings go on the left of their position and closings on the right, prepended: at a shared
  // position an inner function (instrumented later) closes before its parent does.
  s.appendLeft(b.open, b.openText);
  if (b.closeText) s.prependRight(b.close, b.closeText);
}

/**
 * Whether the source ends with its own source map comment (then it is kept: its lines still match
 * exactly). Only at the end: code that emits maps (typescript.js) has the text in string literals.
 */
function hasSourceMap(source: string): boolean {
  return /(?:\/\/[#@][ \t]+sourceMappingURL=[^\s'"`]+|\/\*[#@][ \t]+sourceMappingURL=[^*]+\*\/)\s*$/.test(source);
}

export function instrument(source: string, opts: { id: string; format: Format }): { code: string; table: SiteTable; sha256: string } {
  const { program, sites, bindings } = analyse(source, opts.format);
  const table: SiteTable = { v: 1, s: rows(source, sites), b: bindings };
  const sha256 = createHash('sha256').update(source, 'utf8').digest('hex');
  const s = new MagicString(source);
  const cell = hookCell(opts.id);
  sites.forEach((site, i) => {
    if (!site.unpatchable) insertHooks(s, source, site, i, cell);
  });
  const header =
    `var __lp$M = globalThis[Symbol.for('livepatch.runtime')]?.module(` +
    `${JSON.stringify(opts.id)}, ${JSON.stringify(sha256)}, ${JSON.stringify(JSON.stringify(table))}, __lp$eval, ${JSON.stringify(cell)});`;
  const h = headerPosition(source, program);
  s.appendLeft(h.pos, h.text(header));
  s.append(`\n${EVAL_HOST}`);
  if (!hasSourceMap(source)) {
    // Word-boundary resolution: exact columns wherever V8 reports a position, at a third of the size
    // and time of per-character mappings (a map is looked up at the nearest preceding mapping).
    const map = s.generateMap({ hires: 'boundary', source: opts.id.slice(opts.id.lastIndexOf('/') + 1) });
    s.append(`\n//# sourceMappingURL=${map.toUrl()}`);
  }
  return { code: s.toString(), table, sha256 };
}
