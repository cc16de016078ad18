// One module, old against new, the way kpatch-build's create-diff-object compares one object file:
// correlate the functions by name (the runtime's qualified name and sympos, from src/naming/sites.ts),
// mark each one SAME, CHANGED or NEW, and refuse what a live patch cannot carry: code that only ran
// when the module loaded (top-level statements, initializers: kpatch's "data section changed"),
// bindings the running module does not have, class shapes, changed function shapes and a changed
// module format. A new function that only changed code calls ships with the patch (kpatch's new
// function case); one that unchanged code calls is refused, since that caller would keep its old code.

import type { AnyNode, Function as FnNode, Node, Program } from 'acorn';
import { full } from 'acorn-walk';
import { isLpError, type LpErrorCode } from '../engine/errors.js';
import { declaredNames, nameSites, parseModule, positions, SourceSyntaxError, symposOf, topLevelBindings, type Format, type NamedSite } from '../naming/sites.js';
import { siteTable } from '../runtime/instrument.js';
import { parseReplacement } from '../runtime/replacement.js';
import { functionsOut, isFunctionNode, ownCode, print, signature } from './fingerprint.js';

export interface ModuleSource {
  /** Tree-relative POSIX path, for messages. */
  file: string;
  source: string;
  format: Format;
}

/** A refusal (code) or a warning (code null), at a line of the new file unless `old` says so. */
export interface Finding {
  code: LpErrorCode | null;
  file: string;
  /** The position is in the old file (something was removed). */
  old: boolean;
  line: number;
  column: number;
  message: string;
}

export interface FuncPatch {
  oldName: string;
  oldSympos: number;
  /** The new function's source as it is in the new file (plus the new functions it calls, at its end). */
  source: string;
  /** Where `source` starts in the new file (1-based). */
  line: number;
  column: number;
}

export interface ModuleDiff {
  /** The functions the patch replaces, in the new file's order. */
  funcs: FuncPatch[];
  /** Changed functions carried inside a changed function that encloses them. */
  within: string[];
  /** New functions (shipped inside the changed functions that call them, or nested in one). */
  added: string[];
  removed: string[];
  findings: Finding[];
  /** Replaced functions whose parameter list changed (simple name and position): their callers get a warning. */
  signatures: Array<{ name: string; simple: string; line: number; column: number }>;
  /** Offsets [start, end) of the replaced functions in the new source: calls inside them changed with them. */
  replaced: Array<[number, number]>;
}

interface Side {
  src: ModuleSource;
  program: Program;
  sites: NamedSite[];
  sympos: number[];
  /** Innermost enclosing site of each site, or -1. */
  parent: number[];
  bindings: string[];
}

const key = (name: string, sympos: number) => `${name}\u0000${sympos}`;

function read(src: ModuleSource): Side {
  const program = parseModule(src.source, src.format);
  const sites = nameSites(program, src.source);
  const order = sites.map((_, i) => i).sort((a, b) => sites[a].node.start - sites[b].node.start);
  const parent = sites.map(() => -1);
  const open: number[] = [];
  for (const i of order) {
    while (open.length && sites[open[open.length - 1]].node.end <= sites[i].node.start) open.pop();
    parent[i] = open.length ? open[open.length - 1] : -1;
    open.push(i);
  }
  return { src, program, sites, sympos: symposOf(sites.map((s) => s.name)), parent, bindings: topLevelBindings(program, src.format) };
}

class Findings {
  readonly list: Finding[] = [];
  constructor(private readonly side: Side) {}

  add(code: LpErrorCode | null, at: number, message: string, side: Side = this.side): void {
    const [[line, column]] = positions(side.src.source, [at]);
    const old = side !== this.side;
    this.list.push({ code, file: side.src.file, old, line, column, message: old ? `${message} (old file)` : message });
  }
}

export function compareModule(oldSrc: ModuleSource, newSrc: ModuleSource): ModuleDiff {
  const diff: ModuleDiff = { funcs: [], within: [], added: [], removed: [], findings: [], signatures: [], replaced: [] };
  if (oldSrc.format !== newSrc.format) {
    diff.findings.push({
      code: 'LP_ERR_BUILD_FORMAT',
      file: newSrc.file,
      old: false,
      line: 1,
      column: 1,
      message: `the module format changed (${oldSrc.format} → ${newSrc.format}): a loaded module keeps its format; restart the service to change it`,
    });
    return diff;
  }
  let old: Side, next: Side;
  try {
    old = read(oldSrc);
    next = read(newSrc);
  } catch (e) {
    if (!(e instanceof SourceSyntaxError)) throw e;
    const old = (() => {
      try {
        parseModule(oldSrc.source, oldSrc.format);
        return false;
      } catch {
        return true;
      }
    })();
    const file = old ? oldSrc.file : newSrc.file;
    diff.findings.push({ code: 'LP_ERR_BUILD_SYNTAX', file, old, line: e.line, column: e.column, message: `does not parse: ${e.message}${old ? ' (old file)' : ''}` });
    return diff;
  }
  const found = new Findings(next);
  const oldBindings = new Set(old.bindings);
  const newBindings = new Set(next.bindings);
  const newFunctions = newFunctionDecls(next.program).filter((f) => !oldBindings.has(f.id!.name));
  const removedFunctions = newFunctionDecls(old.program).filter((f) => !newBindings.has(f.id!.name));
  compareTopLevel(old, next, found, new Set(newFunctions), new Set(removedFunctions));

  // Correlate the functions by (name, sympos): what the runtime resolves a patch's oldName/oldSympos to.
  const oldByKey = new Map(old.sites.map((s, i) => [key(s.name, old.sympos[i]), i]));
  const newKeys = new Set(next.sites.map((s, i) => key(s.name, next.sympos[i])));
  const match = next.sites.map((s, i) => oldByKey.get(key(s.name, next.sympos[i])) ?? -1);
  const changed = new Set<number>();
  match.forEach((o, i) => {
    if (o < 0) return;
    const a = old.sites[o].node;
    const b = next.sites[i].node;
    if (ownCode(a) === ownCode(b)) return;
    if (a.async !== b.async || a.generator !== b.generator) {
      found.add(
        'LP_ERR_BUILD_FUNC_SHAPE',
        next.sites[i].at,
        `${next.sites[i].name} changed from ${shape(a)} to ${shape(b)}: callers of a live function keep treating its result the old way; keep the shape, or add a new function and change its callers`,
      );
      return;
    }
    changed.add(i);
  });

  const oldUnpatchable = siteTable(oldSrc.source, oldSrc.format).s.map((row) => row[4]);
  const newFnNames = new Map(newFunctions.map((f) => [f.id!.name, f]));
  // The change's roots: a changed function inside another changed one travels with it, and so does one
  // the runtime cannot replace on its own (no entry hook, or it uses its enclosing function's locals).
  for (let moved = true; moved; ) {
    moved = false;
    for (const i of [...changed]) {
      const up = nearestChanged(next, changed, i);
      if (up >= 0) continue;
      const why = replaceable(old, next, match[i], i, oldUnpatchable, newFnNames);
      if (why === null) continue;
      const p = next.parent[i];
      if (p >= 0 && match[p] >= 0) {
        changed.add(p);
        moved = true;
      } else if (p < 0) {
        found.add(why.code, next.sites[i].at, `${next.sites[i].name}: ${why.message}`);
        changed.delete(i);
      }
    }
  }
  const roots = [...changed].filter((i) => nearestChanged(next, changed, i) < 0).sort((a, b) => a - b);
  for (const i of changed) if (!roots.includes(i)) diff.within.push(next.sites[i].name);

  // New functions: the ones only changed code (or other shipped new functions) calls ship inside it.
  const inRoot = (pos: number) => roots.some((r) => next.sites[r].node.start <= pos && pos < next.sites[r].node.end);
  const inNew = (pos: number) => newFunctions.some((f) => f.start <= pos && pos < f.end);
  for (const fn of newFunctions) {
    const name = fn.id!.name;
    for (const ref of references(next.program, name)) {
      if (ref.start === fn.id!.start || inRoot(ref.start) || inNew(ref.start)) continue;
      const caller = enclosing(next, ref.start);
      found.add(
        'LP_ERR_BUILD_NEW_FUNC_CALLER',
        ref.start,
        `new function '${name}' is used by ${caller < 0 ? 'top-level code' : `${next.sites[caller].name}, which did not change`}: the running code would never call it; change the caller too`,
      );
    }
  }
  next.sites.forEach((s, i) => {
    if (match[i] < 0) diff.added.push(s.name);
  });
  old.sites.forEach((s, i) => {
    if (!newKeys.has(key(s.name, old.sympos[i]))) diff.removed.push(s.name);
  });

  for (const i of roots) {
    const site = next.sites[i];
    const text = sourceOf(next, site, shippedFor(site.node, newFunctions));
    const [[line, column]] = positions(newSrc.source, [site.at]);
    diff.funcs.push({ oldName: site.name, oldSympos: next.sympos[i], source: text, line, column });
    diff.replaced.push([site.node.start, site.node.end]);
    if (signature(old.sites[match[i]].node) !== signature(site.node)) diff.signatures.push({ name: site.name, simple: simpleName(site.name), line, column });
  }
  diff.added = [...new Set(diff.added)];
  diff.findings = found.list;
  return diff;
}

function shape(fn: FnNode): string {
  return `${fn.async ? 'async ' : ''}${fn.generator ? 'generator' : 'function'}`;
}

function newFunctionDecls(program: Program): FnNode[] {
  const out: FnNode[] = [];
  for (const s of program.body) {
    const d = s.type === 'ExportNamedDeclaration' || s.type === 'ExportDefaultDeclaration' ? (s.declaration as AnyNode | null) : s;
    if (d?.type === 'FunctionDeclaration' && d.id) out.push(d);
  }
  return out;
}

/** The nearest enclosing changed site of site i, or -1. */
function nearestChanged(side: Side, changed: ReadonlySet<number>, i: number): number {
  for (let p = side.parent[i]; p >= 0; p = side.parent[p]) if (changed.has(p)) return p;
  return -1;
}

/** The innermost site whose function contains pos, or -1. */
function enclosing(side: Side, pos: number): number {
  let best = -1;
  side.sites.forEach((s, i) => {
    if (s.node.start <= pos && pos < s.node.end && (best < 0 || s.node.start >= side.sites[best].node.start)) best = i;
  });
  return best;
}

/**
 * Why site i cannot be replaced on its own (null: it can): the old site has no entry hook, or the new
 * source does not compile in the module's scope (it uses its enclosing function's locals, super, …).
 */
function replaceable(
  old: Side,
  next: Side,
  o: number,
  i: number,
  oldUnpatchable: readonly string[],
  newFns: ReadonlyMap<string, FnNode>,
): { code: LpErrorCode; message: string } | null {
  if (oldUnpatchable[o]) return { code: 'LP_ERR_UNPATCHABLE', message: `the running function cannot be patched: ${oldUnpatchable[o]}` };
  const site = next.sites[i];
  try {
    parseReplacement(sourceOf(next, site, shippedFor(site.node, [...newFns.values()])), old.bindings);
    return null;
  } catch (e) {
    if (!isLpError(e)) throw e;
    return { code: e.code, message: e.message };
  }
}

/** The new functions a function's code uses, directly or through other new functions, in source order. */
function shippedFor(fn: FnNode, newFns: readonly FnNode[]): FnNode[] {
  const need = new Set<FnNode>();
  const visit = (node: Node) => {
    for (const f of newFns) {
      if (need.has(f) || f === node) continue;
      if (references(node, f.id!.name).length > 0) {
        need.add(f);
        visit(f);
      }
    }
  };
  visit(fn);
  return newFns.filter((f) => need.has(f));
}

function references(root: Node, name: string): Node[] {
  const out: Node[] = [];
  full(root, (node) => {
    if (node.type === 'Identifier' && (node as AnyNode & { name: string }).name === name) out.push(node);
  });
  return out;
}

/** `send` of `res.send`, `Cart.prototype.total:get` → `total`, `outer>inner` → `inner`. */
export function simpleName(name: string): string {
  const last = name.slice(name.lastIndexOf('>') + 1).replace(/:(get|set)$/, '');
  return last.slice(last.lastIndexOf('.') + 1);
}

/** Offsets of the calls of `name` (`name(…)`, `x.name(…)`) outside the ranges `skip`. */
export function callsTo(src: ModuleSource, name: string, skip: ReadonlyArray<[number, number]>): number[] {
  const out: number[] = [];
  full(parseModule(src.source, src.format), (node) => {
    const n = node as AnyNode;
    if (n.type !== 'CallExpression') return;
    const c = n.callee;
    const hit = (c.type === 'Identifier' && c.name === name) || (c.type === 'MemberExpression' && !c.computed && c.property.type === 'Identifier' && c.property.name === name);
    if (hit && !skip.some(([a, b]) => a <= n.start && n.start < b)) out.push(n.start);
  });
  return out;
}

/**
 * The replacement source of a site, as the patch file takes it (docs/runtime.md "Patch files"): the
 * method definition for methods, accessors and constructors (without `static`), else the function
 * itself; new functions it uses are declared at the end of its body (hoisted, so every line of the
 * original keeps its place).
 */
function sourceOf(side: Side, site: NamedSite, ship: readonly FnNode[]): string {
  const src = side.src.source;
  const fn = site.node;
  const member = /^(method|getter|setter|constructor)/.test(site.kind);
  let start = member ? site.at : fn.start;
  let head = '';
  if (member) {
    const text = src.slice(start, fn.start);
    const stat = /^static\b\s*/.exec(text);
    if (stat) start += stat[0].length;
    // A private name only compiles inside its class: the method becomes a plain function of its code.
    if (/^(async\s+|\*\s*|get\s+|set\s+)*#/.test(src.slice(start, fn.start))) {
      head = `${fn.async ? 'async ' : ''}function${fn.generator ? '*' : ''} `;
      start = fn.start;
    }
  }
  if (ship.length === 0) return head + src.slice(start, fn.end);
  const decls = ship.map((f) => src.slice(f.start, f.end)).join('\n');
  if (fn.body.type === 'BlockStatement') return `${head}${src.slice(start, fn.body.end - 1)}\n${decls}\n}`;
  return `${head}${src.slice(start, fn.body.start)}{ return (${src.slice(fn.body.start, fn.body.end)});\n${decls}\n}`;
}

// ---- top level ----

interface Stmt {
  node: AnyNode;
  print: string;
}

function statements(side: Side): Stmt[] {
  return side.program.body.map((node) => ({ node: node as AnyNode, print: print(node, functionsOut) }));
}

/** Longest common subsequence of two statement lists: the pairs of equal statements, in order. */
function commonPairs(a: Stmt[], b: Stmt[]): Array<[number, number]> {
  const n = a.length;
  const m = b.length;
  const len: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) len[i][j] = a[i].print === b[j].print ? len[i + 1][j + 1] + 1 : Math.max(len[i + 1][j], len[i][j + 1]);
  const out: Array<[number, number]> = [];
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (a[i].print === b[j].print) out.push([i++, j++]);
    else if (len[i + 1][j] >= len[i][j + 1]) i++;
    else j++;
  }
  return out;
}

function compareTopLevel(old: Side, next: Side, found: Findings, newFns: ReadonlySet<FnNode>, removedFns: ReadonlySet<FnNode>): void {
  const a = statements(old);
  const b = statements(next);
  const pairs = commonPairs(a, b);
  let i = 0;
  let j = 0;
  for (const [pi, pj] of [...pairs, [a.length, b.length] as [number, number]]) {
    const gone = a.slice(i, pi).filter((s) => !removedFns.has(declOf(s.node) as FnNode));
    const come = b.slice(j, pj).filter((s) => !newFns.has(declOf(s.node) as FnNode));
    hunk(old, next, gone, come, found, b[pj]?.node.start ?? next.src.source.length);
    i = pi + 1;
    j = pj + 1;
  }
}

function declOf(node: AnyNode): AnyNode {
  return (node.type === 'ExportNamedDeclaration' || node.type === 'ExportDefaultDeclaration') && node.declaration ? (node.declaration as AnyNode) : node;
}

function boundBy(node: AnyNode): string[] {
  const out: string[] = [];
  declaredNames([node], true, out);
  return out;
}

function classOf(node: AnyNode): { name: string; cls: AnyNode } | null {
  const d = declOf(node);
  if (d.type === 'ClassDeclaration') return { name: d.id?.name ?? 'default', cls: d };
  if (d.type === 'VariableDeclaration' && d.declarations.length === 1 && d.declarations[0].init?.type === 'ClassExpression' && d.declarations[0].id.type === 'Identifier')
    return { name: d.declarations[0].id.name, cls: d.declarations[0].init };
  return null;
}

/** One run of statements that differ: pair them up in order and say what each difference is. */
function hunk(old: Side, next: Side, gone: Stmt[], come: Stmt[], found: Findings, after: number): void {
  const n = Math.max(gone.length, come.length);
  const oldNames = new Set(old.bindings);
  const newNames = new Set(next.bindings);
  for (let k = 0; k < n; k++) {
    const was = gone[k]?.node;
    const now = come[k]?.node;
    const wasNames = was ? boundBy(was) : [];
    const nowNames = now ? boundBy(now) : [];
    const added = nowNames.filter((x) => !oldNames.has(x));
    const removed = wasNames.filter((x) => !newNames.has(x));
    if (now && added.length) {
      const d = declOf(now);
      const holdsFunction = d.type === 'VariableDeclaration' && d.declarations.some((x) => x.init && isFunctionNode(x.init));
      const fnNote = holdsFunction ? ' (a new function ships with the patch only as a function declaration)' : '';
      found.add('LP_ERR_BUILD_BINDING', now.start, `new top-level binding ${added.map((x) => `'${x}'`).join(', ')}: the running module has no such variable for the patch to use${fnNote}`);
    }
    if (removed.length) {
      found.add('LP_ERR_BUILD_BINDING', was!.start, `top-level binding ${removed.map((x) => `'${x}'`).join(', ')} was removed: unchanged code of the running module may still use it; keep it`, old);
    }
    if (added.length || removed.length) continue;
    if (was && now) {
      const c1 = classOf(was);
      const c2 = classOf(now);
      if (c1 && c2 && c1.name === c2.name) {
        classShape(c1.cls, c2.cls, c2.name, found);
        continue;
      }
      const d = declOf(now);
      const what = d.type === 'VariableDeclaration' ? `the initializer of ${nowNames.map((x) => `'${x}'`).join(', ')} changed` : 'a top-level statement changed';
      found.add('LP_ERR_BUILD_TOPLEVEL', now.start, `${what}: it ran once when the module loaded, a live patch cannot run it again; keep it, or move the change into a function`);
    } else if (now) {
      found.add('LP_ERR_BUILD_TOPLEVEL', now.start, 'a new top-level statement: it would run only when the module loads; a live patch replaces functions');
    } else {
      const [[line]] = positions(old.src.source, [was!.start]);
      found.add('LP_ERR_BUILD_TOPLEVEL', after, `the top-level statement at line ${line} of the old file was removed: it already ran in the live process; keep it`);
    }
  }
}

function classShape(a: AnyNode, b: AnyNode, name: string, found: Findings): void {
  const ca = a as AnyNode & { superClass: Node | null; body: { body: AnyNode[] } };
  const cb = b as AnyNode & { superClass: Node | null; body: { body: AnyNode[] } };
  const why = (() => {
    if (print(ca.superClass, functionsOut) !== print(cb.superClass, functionsOut)) return { at: cb.superClass?.start ?? cb.start, what: 'its extends clause changed' };
    const ma = ca.body.body.map((m) => print(m, functionsOut));
    const mb = cb.body.body.map((m) => print(m, functionsOut));
    const k = mb.findIndex((m, x) => m !== ma[x]);
    if (k < 0) return { at: cb.start, what: ma.length > mb.length ? 'a member was removed' : 'its declaration changed' };
    const m = cb.body.body[k];
    const member = isFunctionNode((m as { value?: Node }).value ?? m) ? 'a method was added, removed or moved' : 'a field or static block changed';
    return { at: m.start, what: ma.length === mb.length ? member : 'a member was added or removed' };
  })();
  found.add('LP_ERR_BUILD_CLASS_SHAPE', why.at, `class ${name}: ${why.what}; live instances and the class object keep their shape: patch its methods only`);
}
