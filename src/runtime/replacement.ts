// A replacement's source text (docs/runtime.md "Patch files") → an expression the module's strict eval
// host turns into the new function. Everything a patch author can get wrong is refused here with a
// stable code, before anything is compiled: a syntax error, a source that is not exactly one function,
// a method with a computed key (evaluated with the literal: code run at enable), `super` or `#private`
// (which do not compile outside their class), and free names the module's scope cannot resolve: kpatch
// refuses a patch module with unresolved relocations the same way.

import { Parser, getLineInfo, type AnyNode, type Expression, type Function as FnNode, type FunctionExpression, type Node, type Property } from 'acorn';
import { base, recursive, type RecursiveVisitors } from 'acorn-walk';
import { LpError } from '../engine/errors.js';
import { bodySplice, tracking } from './body.js';
import { declaredNames, patternNames } from '../naming/sites.js';
import { excerpt } from './limits.js';

export interface ParsedReplacement {
  /** Evaluates to the function in a strict direct eval. */
  expr: string;
  kind: 'function' | 'arrow' | 'method' | 'getter' | 'setter' | 'constructor';
  async: boolean;
  generator: boolean;
  /** Free identifiers of the source, resolved or not (for the record). */
  freeNames: string[];
  /**
   * For an async function (not a generator): `expr` with the activation tracking of code `code` in its
   * body (the instrumenter's, body.ts), so that a call of it counts on the task's stack without a
   * wrapper around it. Columns after the insertion on the body's first line shift.
   */
  tracked: ((code: number) => string) | null;
}

/** Parsed under the strictness the eval host compiles it with. */
const STRICT = '"use strict";';
const AS_EXPRESSION = { open: `${STRICT}(`, close: '\n)' };
const AS_METHOD = { open: `${STRICT}({ `, close: '\n})' };

type Attempt = { node: Expression; text: string } | { error: SyntaxError & { pos: number }; text: string };

function attempt(source: string, wrap: { open: string; close: string }): Attempt {
  const text = wrap.open + source + wrap.close;
  try {
    const program = Parser.parse(text, { ecmaVersion: 'latest', sourceType: 'script', allowSuperOutsideMethod: true });
    const stmt = program.body[1];
    // More than the wrapper's one statement: the source closed the wrapper itself.
    if (program.body.length !== 2 || stmt.type !== 'ExpressionStatement') throw notOneFunction('a list of statements');
    return { node: stmt.expression, text };
  } catch (e) {
    if (!(e instanceof SyntaxError) || typeof (e as { pos?: unknown }).pos !== 'number') throw e;
    return { error: e as SyntaxError & { pos: number }, text };
  }
}

function syntaxError(source: string, a: Extract<Attempt, { error: unknown }>, open: string): LpError {
  const at = Math.max(0, Math.min(source.length, a.error.pos - open.length));
  const { line, column } = getLineInfo(source, at);
  const said = a.error.message.replace(/ \(\d+:\d+\)$/, '');
  // Outside a class acorn stops at the first private name (`this.#x`, `#x in o`): that is the reason.
  const priv = /^#[\p{ID_Continue}$]+/u.exec(source.slice(at));
  if (priv) {
    return new LpError(
      'LP_ERR_UNPATCHABLE',
      `the replacement uses the private name ${priv[0]} (${line}:${column + 1}), which only compiles inside its class; ` +
        'patch it with code that reaches the state through public members, or patch the methods that use it',
    );
  }
  return new LpError('LP_ERR_PATCH_SYNTAX', `the replacement does not parse: ${line}:${column + 1}: ${said}`);
}

const notOneFunction = (what: string) =>
  new LpError('LP_ERR_PATCH_SYNTAX', `the replacement must be one function expression, arrow or method definition, not ${what}`);

interface Parsed {
  expr: string;
  /** The wrapped text `fn`'s positions are in. */
  text: string;
  /** Where `text`'s position p is in `expr`: p + shift. */
  shift: number;
  kind: ParsedReplacement['kind'];
  fn: FnNode;
  /** What free names are looked for in: the function, and for a method also its computed key. */
  scope: Node;
}

/** The method-definition form: `total() {…}`, `get x() {…}`, `constructor(a) {…}`, … */
function fromMethod(obj: AnyNode, text: string): Parsed {
  if (obj.type !== 'ObjectExpression') throw notOneFunction(`a ${obj.type}`);
  if (obj.properties.length !== 1) throw notOneFunction(`${obj.properties.length} definitions`);
  const p = obj.properties[0] as Property;
  if (p.type !== 'Property' || !(p.method || p.kind !== 'init')) throw notOneFunction('a property');
  // A computed key is an expression evaluated when the literal is: patch code running at enable.
  if (p.computed) {
    throw new LpError(
      'LP_ERR_PATCH_SYNTAX',
      `the replacement's method has a computed key [${excerpt(text.slice(p.key.start, p.key.end), 40)}], which would run at enable: ` +
        "give it a plain name (e.g. m() { … }); oldName says which function it replaces",
    );
  }
  const fn = p.value as FunctionExpression;
  const key = p.key as AnyNode;
  const named = (key.type === 'Identifier' && key.name === 'constructor') || (key.type === 'Literal' && key.value === 'constructor');
  const isCtor = p.method && !p.computed && named && !fn.async && !fn.generator;
  if (isCtor) return { expr: `(function ${text.slice(fn.start, fn.end)}\n)`, text, shift: '(function '.length - fn.start, kind: 'constructor', fn, scope: fn };
  // Taken from the literal by its one own key, whatever spelling the key has.
  const part = p.kind === 'init' ? 'value' : p.kind;
  const body = text.slice(obj.start, obj.end);
  const head = `((__lp$o) => Object.getOwnPropertyDescriptor(__lp$o, Reflect.ownKeys(__lp$o)[0]).${part})(`;
  return {
    expr: `${head}${body})`,
    text,
    shift: head.length - obj.start,
    kind: p.kind === 'get' ? 'getter' : p.kind === 'set' ? 'setter' : 'method',
    fn,
    scope: obj,
  };
}

/** A lexical scope: the names it binds, and the scope around it. */
type Scope = { names: Set<string>; parent: Scope | null };

function scopeOf(parent: Scope | null, fill: (out: string[]) => void): Scope {
  const out: string[] = [];
  fill(out);
  return { names: new Set(out), parent };
}

function resolves(scope: Scope | null, name: string): boolean {
  for (let s = scope; s; s = s.parent) if (s.names.has(name)) return true;
  return false;
}

/** Names the code uses but does not declare, and whether it uses `super`. */
function freeNamesOf(root: Node): { free: string[]; usesSuper: boolean } {
  const free = new Set<string>();
  let usesSuper = false;
  const use = (name: string, scope: Scope) => {
    if (!resolves(scope, name)) free.add(name);
  };
  const visitors: RecursiveVisitors<Scope> = {
    Function(node, st, c) {
      const scope = scopeOf(st, (out) => {
        for (const p of node.params) patternNames(p, out);
        if (node.type !== 'ArrowFunctionExpression') out.push('arguments');
        if (node.type === 'FunctionExpression' && node.id) out.push(node.id.name);
        if (node.body.type === 'BlockStatement') declaredNames(node.body.body, true, out);
      });
      base.Function!(node, scope, c);
    },
    BlockStatement(node, st, c) {
      base.BlockStatement!(node, scopeOf(st, (out) => declaredNames(node.body, true, out)), c);
    },
    StaticBlock(node, st, c) {
      base.StaticBlock!(node, scopeOf(st, (out) => declaredNames(node.body, true, out)), c);
    },
    SwitchStatement(node, st, c) {
      base.SwitchStatement!(node, scopeOf(st, (out) => declaredNames(node.cases.flatMap((k) => k.consequent), true, out)), c);
    },
    ForStatement(node, st, c) {
      base.ForStatement!(node, scopeOf(st, (out) => node.init?.type === 'VariableDeclaration' && declaredNames([node.init], true, out)), c);
    },
    ForInStatement(node, st, c) {
      base.ForInStatement!(node, scopeOf(st, (out) => node.left.type === 'VariableDeclaration' && declaredNames([node.left], true, out)), c);
    },
    ForOfStatement(node, st, c) {
      base.ForOfStatement!(node, scopeOf(st, (out) => node.left.type === 'VariableDeclaration' && declaredNames([node.left], true, out)), c);
    },
    CatchClause(node, st, c) {
      base.CatchClause!(node, scopeOf(st, (out) => node.param && patternNames(node.param, out)), c);
    },
    Class(node, st, c) {
      base.Class!(node, scopeOf(st, (out) => node.id && out.push(node.id.name)), c);
    },
    UnaryExpression(node, st, c) {
      // `typeof maybeMissing` is how code asks whether a global exists: not a reference that must resolve.
      if (node.operator !== 'typeof' || node.argument.type !== 'Identifier') c(node.argument, st);
    },
    Identifier(node, st) {
      use(node.name, st);
    },
    Pattern(node, st, c) {
      // Declared names resolve to their own scope; assigned ones must resolve like any reference.
      if (node.type === 'Identifier') use(node.name, st);
      else base.Pattern!(node, st, c);
    },
    Super() {
      usesSuper = true;
    },
  };
  recursive(root, { names: new Set<string>(), parent: null }, visitors);
  return { free: [...free], usesSuper };
}

/**
 * Parse and check a replacement or callback source. Nothing of it runs: evaluating what it returns
 * only creates the function (a function, an arrow, or a one-method literal with a plain key). Free
 * names are checked against `moduleBindings`, or not at all when the module is not loaded yet (null).
 */
export function parseReplacement(source: string, moduleBindings: readonly string[] | null): ParsedReplacement {
  const asExpr = attempt(source, AS_EXPRESSION);
  let parsed: Parsed;
  if ('node' in asExpr) {
    const node = asExpr.node as AnyNode;
    if (node.type !== 'FunctionExpression' && node.type !== 'ArrowFunctionExpression') {
      const count = node.type === 'SequenceExpression' ? `${node.expressions.length} expressions` : `a ${node.type}`;
      throw notOneFunction(count);
    }
    parsed = { expr: `(${source}\n)`, text: asExpr.text, shift: -STRICT.length, kind: node.type === 'ArrowFunctionExpression' ? 'arrow' : 'function', fn: node, scope: node };
  } else {
    const asMethod = attempt(source, AS_METHOD);
    if ('error' in asMethod) {
      if (isScript(source)) throw notOneFunction('a list of statements');
      // Report the reading that got further: that is the one the author meant.
      const methodFurther = asMethod.error.pos - AS_METHOD.open.length > asExpr.error.pos - AS_EXPRESSION.open.length;
      throw methodFurther ? syntaxError(source, asMethod, AS_METHOD.open) : syntaxError(source, asExpr, AS_EXPRESSION.open);
    }
    parsed = fromMethod(asMethod.node as AnyNode, asMethod.text);
  }
  const { free, usesSuper } = freeNamesOf(parsed.scope);
  if (usesSuper) {
    throw new LpError(
      'LP_ERR_UNPATCHABLE',
      'the replacement uses super, which only compiles inside its class; call the parent explicitly instead, e.g. Base.prototype.m.call(this, …)',
    );
  }
  const bound = new Set(moduleBindings);
  const unresolved = moduleBindings === null ? [] : free.filter((n) => !bound.has(n) && !(n in globalThis) && n !== 'arguments');
  if (unresolved.length > 0) {
    throw new LpError(
      'LP_ERR_UNRESOLVED',
      `the replacement uses names the module's scope does not have: ${unresolved.join(', ')}; ` +
        "it sees only the module's top-level bindings and the globals, not the locals of the original's enclosing functions",
    );
  }
  return { expr: parsed.expr, kind: parsed.kind, async: parsed.fn.async, generator: parsed.fn.generator, freeNames: free, tracked: trackedExpr(parsed) };
}

/** `expr` with the activation tracking of code `code` in the body (an async function's, not a generator's). */
function trackedExpr({ expr, fn, shift, text }: Parsed): ParsedReplacement['tracked'] {
  if (!fn.async || fn.generator) return null;
  return (code) => {
    const { prologue, epilogue } = tracking('ra', 'rx', code);
    const b = bodySplice(text, fn, prologue, epilogue);
    const open = b.open + shift;
    const close = b.close + shift;
    return expr.slice(0, open) + b.openText + expr.slice(open, close) + b.closeText + expr.slice(close);
  };
}

/** Whether the source is a valid list of statements (then the complaint is "not one function"). */
function isScript(source: string): boolean {
  try {
    Parser.parse(source, { ecmaVersion: 'latest', sourceType: 'script' });
    return true;
  } catch {
    return false;
  }
}
