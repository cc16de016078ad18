// Compiling a replacement (or a callback) inside the target module's scope: the module's strict eval
// host evaluates it, so it reaches the module's private bindings, as kpatch's relocations reach a
// module's statics. Everything that can be refused is refused here, before any engine state changes.

import { LpError } from '../engine/index.js';
import type { SiteRow } from './instrument.js';
import type { Origin } from './patchfile.js';
import type { ModuleRecord } from './registry.js';
import { parseReplacement, type ParsedReplacement } from './replacement.js';

export interface Compiled {
  fn: (...args: unknown[]) => unknown;
  async: boolean;
  generator: boolean;
  /** Its body counts its own activations (an async replacement compiled with its code id). */
  tracks: boolean;
}

type AnyFn = (...args: unknown[]) => unknown;

export function shapeOf(fn: AnyFn): { async: boolean; generator: boolean } {
  const tag = Object.prototype.toString.call(fn);
  return { async: tag === '[object AsyncFunction]' || tag === '[object AsyncGeneratorFunction]', generator: tag.endsWith('GeneratorFunction]') };
}

/**
 * Check `source` statically (replacement.ts), in `rec`'s scope when its module is loaded, else without
 * the free-name check; `what` names it in errors (`'p': ./x.js: price`).
 */
export function checkSource(rec: ModuleRecord | null, source: string, what: string): ParsedReplacement {
  try {
    return parseReplacement(source, rec ? rec.table.b : null);
  } catch (e) {
    if (e instanceof LpError) throw new LpError(e.code, `${what}: ${e.message}`, e.errno);
    throw e;
  }
}

/**
 * Compile `source` in `rec`'s scope, after checkSource(). With an `origin` the code is compiled at
 * that line (and, on its first line, that column) under that file name, so that its stack frames read
 * `at checkout (lib/pricing.js:12:5)`: the position in the fixed source, not in an eval. With `code`
 * (the replacement's code id) an async function tracks its own activations, as an instrumented one
 * does, unless the tracking does not compile in it (a body that declares a name twice with a function
 * among them: legal at a body's top, not in the `try` block); then the runtime wraps it.
 */
export function compileIn(rec: ModuleRecord, source: string, what: string, origin?: Origin, code?: number): Compiled {
  const parsed = checkSource(rec, source, what);
  const evaluate = (expr: string): unknown =>
    // Function sources are wrapped in one `(`: the padding puts their first character at origin.column.
    rec.evalHost(origin ? `${'\n'.repeat(origin.line - 1)}${' '.repeat(Math.max(0, origin.column - 2))}${expr}\n//# sourceURL=${origin.file}` : expr);
  let fn: unknown;
  let tracks = false;
  if (code !== undefined && parsed.tracked) {
    try {
      fn = evaluate(parsed.tracked(code));
      tracks = true;
    } catch {
      // Reported below, by the source as written, if it does not compile either.
    }
  }
  try {
    if (!tracks) fn = evaluate(parsed.expr);
  } catch (e) {
    throw new LpError('LP_ERR_PATCH_SYNTAX', `${what}: does not compile in '${rec.name}': ${(e as Error).message}`);
  }
  if (typeof fn !== 'function') throw new LpError('LP_ERR_PATCH_SYNTAX', `${what}: the source is not a function`);
  return { fn: fn as AnyFn, async: parsed.async, generator: parsed.generator, tracks };
}

/** An in-process replacement given as a function. */
export function compiledFromFunction(fn: AnyFn): Compiled {
  return { fn, ...shapeOf(fn), tracks: false };
}

/** Refuse a site without an entry hook (instrument() says why it has none). */
export function checkPatchable(site: SiteRow, what: string): void {
  const [name, , line, column, unpatchable] = site;
  if (unpatchable) throw new LpError('LP_ERR_UNPATCHABLE', `${what}: ${name} (line ${line}:${column}) cannot be patched: ${unpatchable}`);
}

/**
 * Refuse a replacement the original's entry hook cannot hand over to: a generator's hook delegates
 * with `yield*`, so generator-ness (and, for generators, async-ness) must match.
 */
export function checkCompatible(site: SiteRow, c: Compiled, what: string): void {
  const [name, kind] = site;
  const generator = kind.includes('generator');
  const async = kind.includes('async');
  if (generator !== c.generator || (generator && async !== c.async)) {
    const want = generator ? `${async ? 'an async ' : 'a '}generator` : 'not a generator';
    throw new LpError('LP_ERR_UNPATCHABLE', `${what}: ${name} is a ${kind}: its replacement must be ${want}`);
  }
}
