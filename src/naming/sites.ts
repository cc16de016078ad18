// The one naming function: which functions a module has, the qualified name each one gets (the
// kernel's old_name), its position among equal names (old_sympos), its kind and where it is. The
// runtime's instrumenter (src/runtime/instrument.ts) numbers its sites with it at load time and the
// builder (src/builder/) names the functions of the old and the new tree with it, so that a built
// patch names exactly what the running process has. No Node APIs: both hosts call it.
//
// The naming rules are the contract in docs/runtime.md ("Qualified names").

import { Parser, type AnyNode, type Class, type Function as FnNode, type Node, type ObjectExpression, type Pattern, type Program } from 'acorn';
import { base, recursive, type RecursiveVisitors } from 'acorn-walk';

export type Format = 'commonjs' | 'module';

export type BaseKind = 'function' | 'arrow' | 'method' | 'getter' | 'setter' | 'constructor';
export type SiteKind = BaseKind | `${BaseKind}+async` | `${BaseKind}+generator` | `${BaseKind}+async+generator`;

/** The source does not parse (line and 1-based column, as in the site table). */
export class SourceSyntaxError extends SyntaxError {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'InstrumentSyntaxError';
  }
}

/** The CommonJS wrapper's parameters: bound in every CommonJS module. */
const CJS_WRAPPER_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];

export interface NamedSite {
  node: FnNode;
  /** The qualified name (old_name). */
  name: string;
  kind: SiteKind;
  /** Where the site is reported: the method or property definition for members, else the function. */
  at: number;
  /** A constructor of a class with `extends`. */
  derivedCtor: boolean;
  /** Non-arrows only: the body or a nested arrow mentions `arguments`. */
  usesArguments: boolean;
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
  owner: NamedSite | null;
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

/** Parse a module as Node does for its format. Throws SourceSyntaxError. */
export function parseModule(source: string, format: Format): Program {
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
    throw new SourceSyntaxError(`${e.message.replace(/ \(\d+:\d+\)$/, '')} (${loc.line}:${column})`, loc.line, column);
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

/**
 * Every function of the program with its qualified name, in source order of `at` (the site index
 * order of the runtime's site table).
 */
export function nameSites(program: Program, source: string): NamedSite[] {
  const sites: NamedSite[] = [];
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
      const site: NamedSite = {
        node,
        name,
        kind: kindOf(h?.kind ?? (isArrow ? 'arrow' : 'function'), node),
        at: h?.at ?? node.start,
        derivedCtor: h?.derivedCtor ?? false,
        usesArguments: false,
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
  return sites.sort((a, b) => a.at - b.at);
}

/** old_sympos of each name in a list in site order: 1 for the first of a name, 2 for the next, … */
export function symposOf(names: readonly string[]): number[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const sympos = (seen.get(name) ?? 0) + 1;
    seen.set(name, sympos);
    return sympos;
  });
}

export function isLineBreak(ch: number): boolean {
  return ch === 10 || ch === 13 || ch === 0x2028 || ch === 0x2029;
}

/** 1-based [line, column] (UTF-16 units, as in stack traces) of ascending offsets, in one pass. */
export function positions(source: string, offsets: readonly number[]): Array<[line: number, column: number]> {
  let line = 1;
  let lineStart = 0;
  let pos = 0;
  return offsets.map((at) => {
    for (; pos < at; pos++) {
      const ch = source.charCodeAt(pos);
      if (isLineBreak(ch) && !(ch === 13 && source.charCodeAt(pos + 1) === 10)) {
        line++;
        lineStart = pos + 1;
      }
    }
    return [line, at - lineStart + 1];
  });
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

/** Names bound at module top level (declarations, imports, `var`s in blocks; CJS wrapper parameters). */
export function topLevelBindings(program: Program, format: Format): string[] {
  const bindings = format === 'commonjs' ? [...CJS_WRAPPER_PARAMS] : [];
  declaredNames(program.body, true, bindings);
  return [...new Set(bindings)];
}
