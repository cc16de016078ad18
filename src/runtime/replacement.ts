// Interim version (the lead's), to be replaced by the instrumenter helper's acorn-based one with the
// same signature (docs/runtime.md "Patch files").

import { Parser } from 'acorn';
import { LpError } from '../engine/index.js';

export interface ParsedReplacement {
  expr: string;
  kind: 'function' | 'arrow' | 'method' | 'getter' | 'setter' | 'constructor';
  async: boolean;
  generator: boolean;
  freeNames: string[];
}

export function parseReplacement(source: string, _moduleBindings: readonly string[]): ParsedReplacement {
  const asExpr = `(${source}\n)`;
  try {
    const node = Parser.parseExpressionAt(asExpr, 0, { ecmaVersion: 'latest' }) as unknown as { type: string; async: boolean; generator: boolean; expression?: { type: string } };
    const kind = node.type === 'ArrowFunctionExpression' ? 'arrow' : 'function';
    if (node.type !== 'FunctionExpression' && node.type !== 'ArrowFunctionExpression') throw new LpError('LP_ERR_PATCH_SYNTAX', 'the source is not a function');
    return { expr: asExpr, kind, async: node.async, generator: node.generator, freeNames: [] };
  } catch (e) {
    if (e instanceof LpError) throw e;
    throw new LpError('LP_ERR_PATCH_SYNTAX', (e as Error).message);
  }
}
