// The async path's ESM half (Node 20, and the 22 / 24 releases hookPathFor keeps off the sync path),
// run by `module.register` in Node's loader thread. CJS is left alone here (it comes with source null,
// and CJS source returned from this hook would run under a different `require`); cjs.ts instruments it
// in the main thread.

import { fileURLToPath } from 'node:url';
import type { LoaderConfig } from './config.js';
import { Loader, type LoadResult } from './loader.js';

export interface HooksData {
  config: LoaderConfig;
}

let loader: Loader | undefined;

export function initialize(data: HooksData): void {
  loader = new Loader(data.config);
}

export async function load(
  url: string,
  context: object,
  nextLoad: (url: string, context?: object) => Promise<LoadResult>,
): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  try {
    if (loader === undefined || result.format !== 'module' || !url.startsWith('file:')) return result;
    return loader.transformLoaded(result, fileURLToPath(url), 'module');
  } catch {
    return result;
  }
}
