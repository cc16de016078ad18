// What "the same code" means to the builder: two nodes are equal when their acorn ASTs are, positions,
// raw literal text and comments left out (comments are not in the AST). kpatch-build compares the
// sections of the two object files after normalizing what only the build changed (line-number
// constants in WARN() and friends, the sections' own names); here formatting is that noise.

import type { AnyNode, Function as FnNode, Node } from 'acorn';

const SKIP = new Set(['start', 'end', 'loc', 'range', 'raw']);

/** A node's shape, or a stand-in that print() writes instead of the node (null: print it). */
export type Stand = (node: AnyNode) => string | null;

export function print(value: unknown, stand: Stand): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map((v) => print(v, stand)).join(',')}]`;
  const node = value as Record<string, unknown>;
  if (typeof node.type === 'string') {
    const s = stand(node as unknown as AnyNode);
    if (s !== null) return s;
  }
  let out = '{';
  for (const key of Object.keys(node)) {
    // A regular expression literal's value is a RegExp object; its `regex` field says all of it.
    if (SKIP.has(key) || (key === 'value' && node.regex)) continue;
    out += `${key}:${print(node[key], stand)},`;
  }
  return `${out}}`;
}

export function isFunctionNode(node: Node): node is FnNode {
  return node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression';
}

/** Every function is a stand-in: what top-level code and class shapes are compared by. */
export const functionsOut: Stand = (node) => (isFunctionNode(node) ? `F(${node.id?.name ?? ''})` : null);

/** A function's own code: the functions nested in it are compared on their own. */
export function ownCode(fn: FnNode): string {
  return print(fn, (node) => (node !== fn && isFunctionNode(node) ? `F(${node.id?.name ?? ''})` : null));
}

/** The parameter list alone: a change here is a changed signature. */
export function signature(fn: FnNode): string {
  return print(fn.params, functionsOut);
}
