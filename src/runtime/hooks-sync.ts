// Node >= 22.22.3 / 24.11.1 (see hookPathFor): one in-thread `load` hook (module.registerHooks)
// instruments ESM and CJS alike, whether reached by import, require or require(esm).

import { readFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoaderConfig } from './config.js';
import type { Format } from './instrument.js';
import { Loader, type LoadResult } from './loader.js';

// Not in @types/node 20, which this project compiles against.
type NextLoad = (url: string, context?: object) => LoadResult;
type RegisterHooks = (hooks: { load(url: string, context: object, next: NextLoad): LoadResult }) => unknown;

export function installSyncHooks(config: LoaderConfig): void {
  const loader = new Loader(config);
  const registerHooks = (Module as unknown as { registerHooks: RegisterHooks }).registerHooks;
  registerHooks({
    load(url, context, nextLoad) {
      const result = nextLoad(url, context);
      try {
        const { format } = result;
        if (!url.startsWith('file:') || (format != null && format !== 'commonjs' && format !== 'module')) return result;
        const filename = fileURLToPath(url);
        return loader.transformLoaded(result, filename, format ?? jsFormat(filename));
      } catch {
        return result;
      }
    },
  });
}

// Node leaves the format open for files it loads through require (the CJS loader decides later): work
// it out as Node does, from the extension and the nearest package.json "type"; null when there is none
// (Node then detects ESM syntax).
function jsFormat(filename: string): Format | null {
  if (filename.endsWith('.mjs')) return 'module';
  if (filename.endsWith('.cjs')) return 'commonjs';
  const type = packageType(dirname(filename));
  return type === 'module' || type === 'commonjs' ? type : null;
}

const typeOfDir = new Map<string, string | undefined>();

function packageType(dir: string): string | undefined {
  if (typeOfDir.has(dir)) return typeOfDir.get(dir);
  let type: string | undefined;
  try {
    const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: unknown };
    type = typeof json.type === 'string' ? json.type : undefined;
  } catch (e) {
    const parent = dirname(dir);
    type = (e as NodeJS.ErrnoException).code === 'ENOENT' && parent !== dir ? packageType(parent) : undefined;
  }
  typeOfDir.set(dir, type);
  return type;
}
