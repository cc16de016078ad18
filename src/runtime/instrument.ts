// Source text → instrumented source + site table + source map: the load-time half of the ABI in
// docs/runtime.md. Every function of the module gets an entry hook (the ftrace call site of a kernel
// function) and async functions and generators also report their activations, because they are the
// only code that can stay on a task's "stack" across a switch point.
//
// Only insertions are made, never on a new line before original code, so every original token keeps
// its line; the inline source map restores the columns. Pure apart from node:crypto for the hash.

import { createHash } from 'node:crypto';
import { Parser, type AnyNode, type Class, type Function as FnNode, type Node, type ObjectExpression, type Pattern, type Program, type Statement } from 'acorn';
import { base, recursive, type RecursiveVisitors } from 'acorn-walk';
import MagicString from 'magic-string';

export type Format = 'commonjs' | 'module';

type BaseKind = 'function' | 'arrow' | 'method' | 'getter' | 'setter' | 'constructor';
export type SiteKind = BaseKind | `${BaseKind}+async` | `${BaseKind}+generator` | `${BaseKind}+async+generator`;

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
export class InstrumentSyntaxError extends SyntaxError {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'InstrumentSyntaxError';
  }
}

const CJS_WRAPPER_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];
const EVAL_HOST = "function __lp$eval(__lp$s) { 'use strict'; return eval(__lp$s) }";

interface Site {
  node: FnNode;
  name: string;
  kind: SiteKind;
  /** Where the site is reported: the method or property definition for members, else the function. */
  at: number;
  derivedCtor: boolean;
  /** Non-arrows only: the body or a nested arrow mentions `arguments`. */
  usesArguments: boolean;
  unpatchable: string;
}

/** What a parent knows about a child function, class or object literal: its name and member kind. */
interface Hint {
  name: string;
  kind?: BaseKind;
  at?: number;
  derivedCtor?: boolean;
}

interface WalkState {
  /** `outer>` chain of the enclosing functions' qualified names. */
  prefix: string;
  /** The nearest non-arrow function: the one an `arguments` reference belongs to. */
  owner: Site | null;
}

/** acorn-walk's callback takes an override type; its typings omit it. */
type Walk = (node: Node, st: WalkState, override?: string) => void;

type Nameable = FnNode | Class | ObjectExpression;

function isNameable(node: Node): node is Nameable {
  const t = node.type;
  return t === 'FunctionExpression' || t === 'ArrowFunctionExpression' || t === 'ClassExpression' || t === 'ObjectExpression';
}

function isFunction(node: Node): node is FnNode {
  return node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression';
}

function parse(source: string, format: Format): Program {
  try {
    return Parser.parse(source, {
      ecmaVersion: 'latest',
      sourceType: format === 'module' ? 'module' : 'script',
      allowReturnOutsideFunction: format === 'commonjs',
      allowHashBang: true,
    });
  } catch (e) {
    const loc = (e as { loc?: { line: number; column: number } }).loc;
    if (!(e instanceof SyntaxError) || !loc) throw e;
    // acorn's own suffix has a 0-based column; ours is 1-based like the site table's.
    const column = loc.column + 1;
    throw new InstrumentSyntaxError(`${e.message.replace(/ \(\d+:\d+\)$/, '')} (${loc.line}:${column})`, loc.line, column);
  }
}

/** A member key as it appears in a qualified name: `m`, `#m`, `0`, or the computed key's text in `[…]`. */
function keyName(key: Node, computed: boolean, source: string): string {
  if (computed) return `[${source.slice(key.start, key.end)}]`;
  const k = key as AnyNode;
  if (k.type === 'Identifier') return k.name;
  if (k.type === 'PrivateIdentifier') return `#${k.name}`;
  if (k.type === 'Literal') return String(k.value);
  return source.slice(key.start, key.end);
}

/** `module.exports.foo`, `X.prototype.m`, `this.cb`; null for targets that are not a plain chain. */
function chainName(node: AnyNode, source: string): string | null {
  if (node.type === 'Identifier') return node.name;
  if (node.type === 'ThisExpression') return 'this';
  if (node.type !== 'MemberExpression' || node.object.type === 'Super') return null;
  const object = chainName(node.object, source);
  return object === null ? null : `${object}.${keyName(node.property, node.computed, source)}`;
}

function kindOf(base: BaseKind, fn: FnNode): SiteKind {
  return `${base}${fn.async ? '+async' : ''}${fn.generator ? '+generator' : ''}` as SiteKind;
}

/** Parameters the entry hook can forward as an array: plain identifiers, optionally a trailing `...rest`. */
function simpleParams(params: Pattern[]): boolean {
  return params.every((p, i) => p.type === 'Identifier' || (p.type === 'RestElement' && p.argument.type === 'Identifier' && i === params.length - 1));
}

export function patternNames(p: Pattern, out: string[]): void {
  switch (p.type) {
    case 'Identifier':
      out.push(p.name);
      break;
    case 'ObjectPattern':
      for (const prop of p.properties) patternNames(prop.type === 'RestElement' ? prop : prop.value, out);
      break;
    case 'ArrayPattern':
      for (const el of p.elements) if (el) patternNames(el, out);
      break;
    case 'RestElement':
      patternNames(p.argument, out);
      break;
    case 'AssignmentPattern':
      patternNames(p.left, out);
      break;
    case 'MemberExpression':
      break;
  }
}

/**
 * Names a statement list binds in its function (or module) scope: `var`s at any block depth and,
 * with `lexical`, the list's own let/const/class/function/import declarations. Function declarations
 * in nested blocks are included too (sloppy mode hoists them).
 */
export function declaredNames(body: readonly AnyNode[], lexical: boolean, out: string[]): void {
  for (const s of body) {
    switch (s.type) {
      case 'VariableDeclaration':
        if (lexical || s.kind === 'var') for (const d of s.declarations) patternNames(d.id, out);
        break;
      case 'FunctionDeclaration':
      case 'ClassDeclaration':
        if (s.id && (lexical || s.type === 'FunctionDeclaration')) out.push(s.id.name);
        break;
      case 'ImportDeclaration':
        for (const sp of s.specifiers) out.push(sp.local.name);
        break;
      case 'ExportNamedDeclaration':
      case 'ExportDefaultDeclaration':
        if (s.declaration) declaredNames([s.declaration as AnyNode], lexical, out);
        break;
      case 'BlockStatement':
      case 'StaticBlock':
        declaredNames(s.body, false, out);
        break;
      case 'IfStatement':
        declaredNames(s.alternate ? [s.consequent, s.alternate] : [s.consequent], false, out);
        break;
      case 'ForStatement':
        declaredNames(s.init?.type === 'VariableDeclaration' ? [s.init, s.body] : [s.body], false, out);
        break;
      case 'ForInStatement':
      case 'ForOfStatement':
        declaredNames(s.left.type === 'VariableDeclaration' ? [s.left, s.body] : [s.body], false, out);
        break;
      case 'WhileStatement':
      case 'DoWhileStatement':
      case 'LabeledStatement':
      case 'WithStatement':
        declaredNames([s.body], false, out);
        break;
      case 'TryStatement':
        declaredNames([s.block, ...(s.handler ? [s.handler.body] : []), ...(s.finalizer ? [s.finalizer] : [])], false, out);
        break;
      case 'SwitchStatement':
        for (const c of s.cases) declaredNames(c.consequent, false, out);
        break;
    }
  }
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
  const program = parse(source, format);
  const sites: Site[] = [];
  const hints = new Map<Node, Hint>();
  const hint = (node: Node | null | undefined, name: string | null) => {
    if (node && name !== null && isNameable(node)) hints.set(node, { name });
  };

  const visitors: RecursiveVisitors<WalkState> = {
    Function(node, st, c) {
      const walk = c as Walk;
      const h = hints.get(node);
      const isArrow = node.type === 'ArrowFunctionExpression';
      const name = st.prefix + (node.id?.name ?? h?.name ?? '<anonymous>');
      const site: Site = {
        node,
        name,
        kind: kindOf(h?.kind ?? (isArrow ? 'arrow' : 'function'), node),
        at: h?.at ?? node.start,
        derivedCtor: h?.derivedCtor ?? false,
        usesArguments: false,
        unpatchable: '',
      };
      sites.push(site);
      const inner: WalkState = { prefix: `${name}>`, owner: isArrow ? st.owner : site };
      for (const p of node.params) walk(p, inner, 'Pattern');
      walk(node.body, inner, node.expression ? 'Expression' : 'Statement');
    },
    Class(node, st, c) {
      const walk = c as Walk;
      const cname = node.id?.name ?? hints.get(node)?.name ?? '<anonymous>';
      if (node.superClass) walk(node.superClass, st, 'Expression');
      for (const m of node.body.body) {
        if (m.type === 'StaticBlock') {
          walk(m, { prefix: `${st.prefix}${cname}>`, owner: null });
          continue;
        }
        if (m.computed) walk(m.key, st, 'Expression');
        const member = `${cname}${m.static ? '' : '.prototype'}.${keyName(m.key, m.computed, source)}`;
        if (m.type === 'MethodDefinition') {
          if (m.kind === 'constructor') {
            hints.set(m.value, { name: `${cname}.constructor`, kind: 'constructor', at: m.start, derivedCtor: node.superClass != null });
          } else {
            const kind = m.kind === 'get' ? 'getter' : m.kind === 'set' ? 'setter' : 'method';
            hints.set(m.value, { name: m.kind === 'method' ? member : `${member}:${m.kind}`, kind, at: m.start });
          }
          walk(m.value, st, 'Expression');
        } else if (m.value) {
          // A field initializer runs as its own method: functions nested in it are named after the field.
          if (isNameable(m.value)) hints.set(m.value, { name: member, at: m.start });
          walk(m.value, isNameable(m.value) ? st : { prefix: `${st.prefix}${member}>`, owner: null }, 'Expression');
        }
      }
    },
    ObjectExpression(node, st, c) {
      const walk = c as Walk;
      const oname = hints.get(node)?.name ?? '<anonymous>';
      for (const p of node.properties) {
        if (p.type === 'SpreadElement') {
          walk(p.argument, st, 'Expression');
          continue;
        }
        if (p.computed) walk(p.key, st, 'Expression');
        const member = `${oname}.${keyName(p.key, p.computed, source)}`;
        if (p.kind !== 'init') hints.set(p.value, { name: `${member}:${p.kind}`, kind: p.kind === 'get' ? 'getter' : 'setter', at: p.start });
        else if (p.method) hints.set(p.value, { name: member, kind: 'method', at: p.start });
        else if (isFunction(p.value)) hints.set(p.value, { name: member, at: p.start });
        else hint(p.value, member);
        walk(p.value, st, 'Expression');
      }
    },
    VariableDeclarator(node, st, c) {
      if (node.id.type === 'Identifier') hint(node.init, node.id.name);
      base.VariableDeclarator!(node, st, c);
    },
    AssignmentExpression(node, st, c) {
      if (node.operator === '=' || node.operator === '||=' || node.operator === '&&=' || node.operator === '??=') hint(node.right, chainName(node.left, source));
      base.AssignmentExpression!(node, st, c);
    },
    AssignmentPattern(node, st, c) {
      if (node.left.type === 'Identifier') hint(node.right, node.left.name);
      base.AssignmentPattern!(node, st, c);
    },
    ExportDefaultDeclaration(node, st, c) {
      const d = node.declaration as Node;
      if ((d.type === 'FunctionDeclaration' || d.type === 'ClassDeclaration') && !(d as FnNode | Class).id) hints.set(d, { name: 'default' });
      else hint(d, 'default');
      base.ExportDefaultDeclaration!(node, st, c);
    },
    Identifier(node, st) {
      if (node.name === 'arguments' && st.owner) st.owner.usesArguments = true;
    },
  };
  recursive(program, { prefix: '', owner: null }, visitors);

  // Sites are numbered in source order; the walk visits a function before its parameters and body,
  // but a stable sort keeps that true whatever order the visitors take members in.
  sites.sort((a, b) => a.at - b.at);
  for (const site of sites) site.unpatchable = unpatchableReason(site, site.node.async || site.node.generator);

  const bindings = format === 'commonjs' ? [...CJS_WRAPPER_PARAMS] : [];
  declaredNames(program.body, true, bindings);
  return { program, sites, bindings: [...new Set(bindings)] };
}

function isLineBreak(ch: number): boolean {
  return ch === 10 || ch === 13 || ch === 0x2028 || ch === 0x2029;
}

/** The table rows, with 1-based lines and columns computed in one pass over the (sorted) sites. */
function rows(source: string, sites: readonly Site[]): SiteRow[] {
  let line = 1;
  let lineStart = 0;
  let pos = 0;
  return sites.map((site) => {
    for (; pos < site.at; pos++) {
      const ch = source.charCodeAt(pos);
      if (isLineBreak(ch) && !(ch === 13 && source.charCodeAt(pos + 1) === 10)) {
        line++;
        lineStart = pos + 1;
      }
    }
    return [site.name, site.kind, line, site.at - lineStart + 1, site.unpatchable];
  });
}

export function siteTable(source: string, format: Format): SiteTable {
  const { sites, bindings } = analyse(source, format);
  return { v: 1, s: rows(source, sites), b: bindings };
}

/** Position right after the directive prologue of a body or program, and whether there is one. */
function afterDirectives(statements: readonly Statement[] | Program['body'], fallback: number): { pos: number; directive: boolean } {
  let pos = fallback;
  let directive = false;
  for (const s of statements) {
    if (s.type !== 'ExpressionStatement' || s.directive === undefined) break;
    pos = s.end;
    directive = true;
  }
  return { pos, directive };
}

/** The `=>` of an arrow: after the last parameter only `)`, `,`, whitespace and comments can precede it. */
function arrowToken(source: string, fn: FnNode): number {
  let p = fn.params.length > 0 ? fn.params[fn.params.length - 1].end : fn.start;
  for (;;) {
    if (source.startsWith('//', p)) {
      while (p < source.length && !isLineBreak(source.charCodeAt(p))) p++;
    } else if (source.startsWith('/*', p)) {
      p = source.indexOf('*/', p + 2) + 2;
    } else if (source.startsWith('=>', p)) {
      return p;
    } else {
      p++;
    }
  }
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

function insertHooks(s: MagicString, source: string, site: Site, i: number): void {
  const fn = site.node;
  const isArrow = fn.type === 'ArrowFunctionExpression';
  const tracked = fn.async || fn.generator;
  const params = fn.params.map((p) => source.slice(p.start, p.end));
  // Sloppy functions may repeat a parameter name: only `arguments` still holds every value.
  const asArray = isArrow || (simpleParams(fn.params) && !site.usesArguments && new Set(params).size === params.length);
  const args = asArray ? `[${params.join(', ')}]` : 'arguments';
  const ret = site.kind.startsWith('constructor') ? 'return;' : fn.generator ? 'return yield* __lp$r;' : 'return __lp$r;';
  const hook = `if (__lp$M?.on) { const __lp$r = __lp$M.r(${i}, ${isArrow ? 'undefined' : 'this'}, ${args}); if (__lp$r !== __lp$M) ${ret} }`;
  const open = tracked ? `${hook} const __lp$t = __lp$M?.a(${i}); try {` : hook;
  const close = tracked ? `} finally { __lp$M?.x(__lp$t, ${i}); }` : '';
  // Openings go on the left of their position and closings on the right, prepended: at a shared
  // position an inner function (instrumented later) closes before its parent does.
  if (fn.body.type === 'BlockStatement') {
    const d = afterDirectives(fn.body.body, fn.body.start + 1);
    s.appendLeft(d.pos, d.directive ? `;${open}` : open);
    if (close) s.prependRight(fn.body.end - 1, close);
  } else {
    // `return (` keeps the expression on return's line even when it starts on the next one.
    s.appendLeft(arrowToken(source, fn) + 2, ` { ${open} return (`);
    s.prependRight(fn.end, `)${close} }`);
  }
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
  sites.forEach((site, i) => {
    if (!site.unpatchable) insertHooks(s, source, site, i);
  });
  const header =
    `var __lp$M = globalThis[Symbol.for('livepatch.runtime')]?.module(` +
    `${JSON.stringify(opts.id)}, ${JSON.stringify(sha256)}, ${JSON.stringify(JSON.stringify(table))}, __lp$eval);`;
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
