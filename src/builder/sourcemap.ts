// Compiled trees (TypeScript) are compared as the JavaScript that runs; what the builder says about a
// position it says about the source the user edited, through the compiled file's source map (a
// `.map` file or an inline data URL, as tsc writes them). node:module's SourceMap reads it.

import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Place {
  file: string;
  line: number;
  column: number;
}

/** Maps a tree's compiled positions back to its sources; a file without a map maps to itself. */
export class SourceMaps {
  private readonly maps = new Map<string, SourceMap | null>();

  constructor(private readonly root: string) {}

  /** `place` (tree-relative file, 1-based line and column) in the source the user edited. */
  original(place: Place, source: string): Place {
    const map = this.mapOf(place.file, source);
    if (!map) return place;
    const entry = map.findEntry(place.line - 1, place.column - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
    if (entry.originalSource === undefined || entry.originalLine === undefined) return place;
    const abs = entry.originalSource.startsWith('file:')
      ? fileURLToPath(entry.originalSource)
      : resolve(dirname(join(this.root, place.file)), entry.originalSource);
    return { file: relative(this.root, abs).split(sep).join('/'), line: entry.originalLine + 1, column: (entry.originalColumn ?? 0) + 1 };
  }

  private mapOf(file: string, source: string): SourceMap | null {
    if (!this.maps.has(file)) this.maps.set(file, load(join(this.root, file), source));
    return this.maps.get(file)!;
  }
}

function load(path: string, source: string): SourceMap | null {
  const m = /\/\/[#@] sourceMappingURL=(\S+)\s*$/.exec(source);
  if (!m) return null;
  try {
    const url = m[1];
    const inline = /^data:application\/json(?:;charset=[\w-]+)?;base64,(.*)$/.exec(url);
    const text = inline ? Buffer.from(inline[1], 'base64').toString('utf8') : readIfThere(resolve(dirname(path), decodeURIComponent(url)));
    return text === null ? null : new SourceMap(JSON.parse(text) as ConstructorParameters<typeof SourceMap>[0]);
  } catch {
    // A broken map only costs the mapping: positions stay the compiled file's.
    return null;
  }
}

function readIfThere(path: string): string | null {
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
}
