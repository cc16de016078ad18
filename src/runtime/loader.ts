// The one load-time transform every hook shares (the sync path's load hook; the async path's ESM hook
// in the loader thread and its `_compile` patch): is the file patchable, is it cached, instrument it.
// Nothing here may break loading: a module that cannot be instrumented runs unchanged, with one
// warning line.

import { readFileSync, writeSync } from 'node:fs';
import { InstrumentCache, cacheKey, sha256 } from './cache.js';
import { selectorFor, type LoaderConfig, type Selector } from './config.js';
import { instrument, type Format } from './instrument.js';

/** What a `load` hook's nextLoad returns (the types are not in @types/node 20). */
export interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | Uint8Array | null;
}

/**
 * The hooks a Node version gets. `module.registerHooks` (in-thread, sync, sees require(esm) too) exists
 * from 22.15 / 23.5, but until 22.22.3 / 24.11.1 any load hook sends CJS that ESM imports through a shim
 * whose `require` has no `cache` and throws on require(esm) (measured on 22.15.0, 22.22.2, 24.11.0;
 * 25.1 per import-in-the-middle; 23 is end of life). Those versions take the async path, which works
 * there too.
 */
export function hookPathFor(nodeVersion: string): 'sync' | 'async' {
  const [major, minor, patch] = nodeVersion.split('.').map(Number);
  const v = (major * 1000 + minor) * 1000 + patch;
  const sync =
    major >= 26 ||
    (major === 25 && v >= 25_001_000) ||
    (major === 24 && v >= 24_011_001) ||
    (major === 22 && v >= 22_022_003);
  return sync ? 'sync' : 'async';
}

export const hookPath = hookPathFor(process.versions.node);

// Part of every cache key, so that a changed instrumenter (or naming) never serves output of the old one.
const INSTRUMENTER_VERSION = sha256(['./instrument.js', '../naming/sites.js'].map((f) => readFileSync(new URL(f, import.meta.url), 'utf8')).join('\0'));

export class Loader {
  private readonly select: Selector;
  private readonly cache: InstrumentCache;
  private readonly warned = new Set<string>();

  constructor(config: LoaderConfig) {
    this.select = selectorFor(config);
    this.cache = new InstrumentCache(config.cacheDir);
  }

  /**
   * The source to run for `filename`: instrumented, or `source` itself. `format` null: Node has not
   * decided (a .js file without a package "type"), it is CommonJS unless it has ESM syntax.
   */
  transform(source: string, filename: string, format: Format | null): string {
    const id = this.select(filename);
    return id === null ? source : this.instrumented(id, source, format);
  }

  /** A load hook's result with its source instrumented, or `result` itself. */
  transformLoaded<R extends LoadResult>(result: R, filename: string, format: Format | null): R {
    const id = this.select(filename);
    if (id === null || result.source == null) return result;
    const source = typeof result.source === 'string' ? result.source : new TextDecoder().decode(result.source);
    const code = this.instrumented(id, source, format);
    return code === source ? result : { ...result, source: code };
  }

  private instrumented(id: string, source: string, format: Format | null): string {
    // An undecided file is tried as CommonJS, then as ESM: Node detects ESM syntax in what we return.
    const formats: Format[] = format === null ? ['commonjs', 'module'] : [format];
    const key = (f: Format) => cacheKey(source, id, f, INSTRUMENTER_VERSION);
    for (const f of formats) {
      const cached = this.cache.get(key(f));
      if (cached !== undefined) return cached;
    }
    const errors: string[] = [];
    for (const f of formats) {
      try {
        const { code } = instrument(source, { id, format: f });
        this.cache.set(key(f), code);
        return code;
      } catch (e) {
        const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0];
        errors.push(format === null ? `as ${f}: ${reason}` : reason);
      }
    }
    this.warn(id, errors.join('; '));
    return source;
  }

  private warn(id: string, reason: string): void {
    if (this.warned.has(id)) return;
    this.warned.add(id);
    // writeSync: on the async path this runs in the loader thread, whose process.stderr is an async
    // pipe to the main thread that may not be flushed before the process exits.
    writeSync(2, `livepatch: warning: ${id}: not instrumented: ${reason}\n`);
  }
}
