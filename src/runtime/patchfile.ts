// Patch files: what a patch author writes (JSON, or the same shape built in-process). Validated here,
// completely, before anything is compiled or changed: a malformed file is refused with one line that
// names the field. What passes is a fresh copy of the fields' own values: nothing after this reads an
// inherited property, a getter or a field it does not know.

import { LpError } from '../engine/index.js';
import { excerpt, own, parseJson } from './limits.js';

/** A callback or replacement: source text compiled in the target module's scope, or a function. */
export type Code = string | ((...args: never[]) => unknown);

export interface PatchFuncFile {
  oldName: string;
  oldSympos?: number;
  /** The replacement: a function expression, arrow or method definition (see docs/runtime.md). */
  source?: string;
  /** In-process only: the replacement as a function (it sees its own scope, not the module's). */
  fn?: (...args: never[]) => unknown;
  /** Where `source` starts in the fixed tree (livepatch build): stack traces of the replacement point there. */
  origin?: Origin;
}

export interface Origin {
  /** App-relative path, as a stack trace shows it. */
  file: string;
  /** 1-based. */
  line: number;
  column: number;
}

export interface PatchObjectFile {
  /** Object name: `./lib/x.js` for the app's files, `pkg/path.js` for packages. */
  name: string;
  /** Hex sha256 of the module source the patch was made for. */
  sha256: string;
  funcs: PatchFuncFile[];
  callbacks?: { prePatch?: Code; postPatch?: Code; preUnpatch?: Code; postUnpatch?: Code };
}

export interface PatchFile {
  name: string;
  replace?: boolean;
  states?: Array<{ id: number; version: number }>;
  objs: PatchObjectFile[];
}

const CALLBACKS = ['prePatch', 'postPatch', 'preUnpatch', 'postUnpatch'] as const;

function fail(msg: string): never {
  throw new LpError('LP_ERR_PATCH_FILE', msg);
}

function checkKeys(where: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) if (!allowed.includes(key)) fail(`${where}: unknown field '${excerpt(key)}' (allowed: ${allowed.join(', ')})`);
}

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parse (if text) and check a patch file; returns the checked copy. Engine-level rules (name syntax,
 * duplicate funcs, sympos, states) are checked again by buildPatch(); this checks what only the
 * runtime knows about.
 */
export function parsePatchFile(input: unknown): PatchFile {
  const value = typeof input === 'string' ? parseJson(input, 'LP_ERR_PATCH_FILE', 'the patch') : input;
  if (!isObject(value)) fail('a patch must be an object with name and objs');
  checkKeys('patch', value, ['name', 'replace', 'states', 'objs']);
  const name = own(value, 'name');
  if (typeof name !== 'string') fail("patch: 'name' must be a string");
  const where = `patch '${excerpt(name)}'`;
  const replace = own(value, 'replace');
  if (replace !== undefined && typeof replace !== 'boolean') fail(`${where}: 'replace' must be true or false`);
  const states = own(value, 'states');
  if (states !== undefined && !Array.isArray(states)) fail(`${where}: 'states' must be an array of { id, version }`);
  const objs = own(value, 'objs');
  if (!Array.isArray(objs) || objs.length === 0) fail(`${where}: 'objs' must be a non-empty array`);
  const out: PatchFile = { name, objs: objs.map((obj, i) => checkObject(`${where}: objs[${i}]`, obj)) };
  if (replace !== undefined) out.replace = replace;
  if (states !== undefined) out.states = states.map((st, i) => checkState(`${where}: states[${i}]`, st));
  return out;
}

/** The engine checks the values (klp_is_patch_compatible's rules); this keeps only their own numbers. */
function checkState(where: string, st: unknown): { id: number; version: number } {
  if (!isObject(st)) fail(`${where} must be an object { id, version }`);
  checkKeys(where, st, ['id', 'version']);
  return { id: own(st, 'id') as number, version: own(st, 'version') as number };
}

function checkObject(where: string, obj: unknown): PatchObjectFile {
  if (!isObject(obj)) fail(`${where} must be an object`);
  checkKeys(where, obj, ['name', 'sha256', 'funcs', 'callbacks']);
  const name = own(obj, 'name');
  if (typeof name !== 'string' || name === '') fail(`${where}: 'name' must be the object's name, e.g. './lib/x.js'`);
  const at = `${where} ('${excerpt(name)}')`;
  const sha256 = own(obj, 'sha256');
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256))
    fail(`${at}: 'sha256' must be the 64-hex-digit sha256 of the module source (livepatch modules --pid N shows it)`);
  const funcs = own(obj, 'funcs');
  if (!Array.isArray(funcs)) fail(`${at}: 'funcs' must be an array (empty for callbacks only)`);
  const out: PatchObjectFile = { name, sha256, funcs: funcs.map((func, j) => checkFunc(`${at}: funcs[${j}]`, func)) };
  const callbacks = own(obj, 'callbacks');
  if (callbacks !== undefined) {
    if (!isObject(callbacks)) fail(`${at}: 'callbacks' must be an object`);
    checkKeys(`${at}: callbacks`, callbacks, CALLBACKS);
    out.callbacks = {};
    for (const cbName of CALLBACKS) {
      const cb = own(callbacks, cbName);
      if (cb === undefined) continue;
      if (typeof cb !== 'string' && typeof cb !== 'function') fail(`${at}: callbacks.${cbName} must be source text or a function`);
      out.callbacks[cbName] = cb as Code;
    }
  }
  return out;
}

function checkFunc(fw: string, func: unknown): PatchFuncFile {
  if (!isObject(func)) fail(`${fw} must be an object`);
  checkKeys(fw, func, ['oldName', 'oldSympos', 'source', 'fn', 'origin']);
  const oldName = own(func, 'oldName');
  if (typeof oldName !== 'string' || oldName === '') fail(`${fw}: 'oldName' must be the function's qualified name`);
  const named = `${fw} (${excerpt(oldName)})`;
  const oldSympos = own(func, 'oldSympos');
  if (oldSympos !== undefined && (!Number.isInteger(oldSympos) || (oldSympos as number) < 0)) fail(`${named}: 'oldSympos' must be a non-negative integer`);
  const source = own(func, 'source');
  const fn = own(func, 'fn');
  const hasSource = typeof source === 'string';
  const hasFn = typeof fn === 'function';
  if (fn !== undefined && !hasFn) fail(`${named}: 'fn' must be a function (in-process only; a JSON patch gives 'source')`);
  if (hasSource === hasFn) fail(`${named}: give exactly one of 'source' (text) or 'fn' (a function)`);
  const out: PatchFuncFile = { oldName };
  if (oldSympos !== undefined) out.oldSympos = oldSympos as number;
  if (hasSource) out.source = source;
  else out.fn = fn as PatchFuncFile['fn'];
  const origin = own(func, 'origin');
  if (origin !== undefined) out.origin = checkOrigin(named, origin);
  return out;
}

function checkOrigin(named: string, origin: unknown): Origin {
  const bad = (): never => fail(`${named}: 'origin' must be { file, line, column } (a path without control characters, 1-based integers)`);
  if (!isObject(origin)) return bad();
  checkKeys(`${named}: origin`, origin, ['file', 'line', 'column']);
  const file = own(origin, 'file');
  const line = own(origin, 'line');
  const column = own(origin, 'column');
  // The file goes into a `//# sourceURL=` comment: one line, no control characters.
  if (typeof file !== 'string' || file === '' || file.length > 1024 || /[\u0000-\u001f\u007f\u2028\u2029]/.test(file)) bad();
  if (!Number.isSafeInteger(line) || (line as number) < 1 || !Number.isSafeInteger(column) || (column as number) < 1) bad();
  return { file: file as string, line: line as number, column: column as number };
}

export { CALLBACKS };
