// Where code goes inside a function's body, and the activation tracking put there: one answer for the
// instrumenter (an original function's hook and tracking) and the replacement compiler (an async
// replacement's own tracking), so that both insert the same text at the same kind of place.

import type { Function as FnNode, Program, Statement } from 'acorn';
import { isLineBreak } from '../naming/sites.js';

/** Position right after the directive prologue of a body or program, and whether there is one. */
export function afterDirectives(statements: readonly Statement[] | Program['body'], fallback: number): { pos: number; directive: boolean } {
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

/**
 * Where a prologue and an epilogue go in `fn` (a node of `source`), and the text to insert at each: in
 * a block body after the `{` and its directive prologue, and before the `}`; an expression body becomes
 * `=> { PROLOGUE return (EXPR) EPILOGUE }` (`return (` keeps an expression that starts on the next
 * line from being cut off by ASI).
 */
export function bodySplice(source: string, fn: FnNode, prologue: string, epilogue: string): { open: number; openText: string; close: number; closeText: string } {
  if (fn.body.type === 'BlockStatement') {
    const d = afterDirectives(fn.body.body, fn.body.start + 1);
    return { open: d.pos, openText: d.directive ? `;${prologue}` : prologue, close: fn.body.end - 1, closeText: epilogue };
  }
  return { open: arrowToken(source, fn) + 2, openText: ` { ${prologue} return (`, close: fn.end, closeText: `)${epilogue} }` };
}

/**
 * The activation tracking of an async function or generator: `enter(arg)` of the module's object
 * `__lp$M` opens the activation in the current task, `exit` closes it however the body ends.
 */
export function tracking(enter: 'a' | 'ra', exit: 'x' | 'rx', arg: number): { prologue: string; epilogue: string } {
  return { prologue: `const __lp$t = __lp$M?.${enter}(${arg}); try {`, epilogue: `} finally { __lp$M?.${exit}(__lp$t, ${arg}); }` };
}
