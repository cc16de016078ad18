// Test support: load a source text as an instrumented CommonJS module of the given object name, the way
// the loader does (instrument, then Module#_compile), into the process's runtime.

import { createHash } from 'node:crypto';
import { Module } from 'node:module';
import { instrument } from '../../src/runtime/instrument.js';

type ModuleCtor = new (id: string) => { exports: unknown; filename: string; _compile(code: string, filename: string): void };

let counter = 0;

export function sha256(source: string): string {
  return createHash('sha256').update(source).digest('hex');
}

/** Evaluate `source` as module `id` (e.g. './lib/price.js'); returns its exports. */
export function loadModule<T = Record<string, (...a: never[]) => unknown>>(id: string, source: string): T {
  const { code } = instrument(source, { id, format: 'commonjs' });
  const filename = `/virtual/${++counter}/${id.replace(/^\.\//, '')}`;
  const m = new (Module as unknown as ModuleCtor)(filename);
  m.filename = filename;
  m._compile(code, filename);
  return m.exports as T;
}

/**
 * A module of jobs for completion tests and the runtime bench: work() waits in a function no patch
 * changes, slowOp() in one the blocking patches change; both call fmt() after their gate opens.
 */
export const JOBS_SOURCE = [
  'function fmt(x) { return "v1:" + x }',
  'async function work(gate) { await gate; return fmt(1) }',
  'async function slowOp(gate) { await gate; return fmt(2) }',
  'module.exports = { fmt, work, slowOp };',
  '',
].join('\n');

export interface Jobs {
  fmt: (x: number) => string;
  work: (g: Promise<void>) => Promise<string>;
  slowOp: (g: Promise<void>) => Promise<string>;
}
