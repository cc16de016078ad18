// Patch files: what a patch author writes (JSON, or the same shape built in-process). Validated here,
// completely, before anything is compiled or changed: a malformed file is refused with one line that
// names the field.

import { LpError } from '../engine/index.js';

/** A callback or replacement: source text compiled in the target module's scope, or a function. */
export type Code = string | ((...args: never[]) => unknown);

export interface PatchFuncFile {
  oldName: string;
  oldSympos?: number;
  /** The replacement: a function expression, arrow or method definition (see docs/runtime.md). */
  source?: string;
  /** In-process only: the replacement as a function (it sees its own scope, not the module's). */
  fn?: (...args: never[]) => unknown;
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
  for (const key of Object.keys(value)) if (!allowed.includes(key)) fail(`${where}: unknown field '${key}' (allowed: ${allowed.join(', ')})`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parse (if text) and check a patch file. Engine-level rules (name syntax, duplicate funcs, sympos,
 * states) are checked again by buildPatch(); this checks what only the runtime knows about.
 */
export function parsePatchFile(input: unknown): PatchFile {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (e) {
      fail(`not JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(value)) fail('a patch must be an object with name and objs');
  checkKeys('patch', value, ['name', 'replace', 'states', 'objs']);
  if (typeof value.name !== 'string') fail("patch: 'name' must be a string");
  const where = `patch '${value.name}'`;
  if (value.replace !== undefined && typeof value.replace !== 'boolean') fail(`${where}: 'replace' must be true or false`);
  if (value.states !== undefined && !Array.isArray(value.states)) fail(`${where}: 'states' must be an array of { id, version }`);
  if (!Array.isArray(value.objs) || value.objs.length === 0) fail(`${where}: 'objs' must be a non-empty array`);
  value.objs.forEach((obj, i) => checkObject(`${where}: objs[${i}]`, obj));
  return value as unknown as PatchFile;
}

function checkObject(where: string, obj: unknown): void {
  if (!isObject(obj)) fail(`${where} must be an object`);
  checkKeys(where, obj, ['name', 'sha256', 'funcs', 'callbacks']);
  if (typeof obj.name !== 'string' || obj.name === '') fail(`${where}: 'name' must be the object's name, e.g. './lib/x.js'`);
  const at = `${where} ('${obj.name}')`;
  if (typeof obj.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(obj.sha256))
    fail(`${at}: 'sha256' must be the 64-hex-digit sha256 of the module source (livepatch modules --pid N shows it)`);
  if (!Array.isArray(obj.funcs)) fail(`${at}: 'funcs' must be an array (empty for callbacks only)`);
  obj.funcs.forEach((func, j) => {
    const fw = `${at}: funcs[${j}]`;
    if (!isObject(func)) fail(`${fw} must be an object`);
    checkKeys(fw, func, ['oldName', 'oldSympos', 'source', 'fn']);
    if (typeof func.oldName !== 'string' || func.oldName === '') fail(`${fw}: 'oldName' must be the function's qualified name`);
    if (func.oldSympos !== undefined && (!Number.isInteger(func.oldSympos) || (func.oldSympos as number) < 0))
      fail(`${fw} (${func.oldName}): 'oldSympos' must be a non-negative integer`);
    const hasSource = typeof func.source === 'string';
    const hasFn = typeof func.fn === 'function';
    if (func.fn !== undefined && !hasFn) fail(`${fw} (${func.oldName}): 'fn' must be a function (in-process only; a JSON patch gives 'source')`);
    if (hasSource === hasFn) fail(`${fw} (${func.oldName}): give exactly one of 'source' (text) or 'fn' (a function)`);
  });
  if (obj.callbacks !== undefined) {
    if (!isObject(obj.callbacks)) fail(`${at}: 'callbacks' must be an object`);
    checkKeys(`${at}: callbacks`, obj.callbacks, CALLBACKS);
    for (const name of CALLBACKS) {
      const cb = obj.callbacks[name];
      if (cb !== undefined && typeof cb !== 'string' && typeof cb !== 'function') fail(`${at}: callbacks.${name} must be source text or a function`);
    }
  }
}

export { CALLBACKS };
