// Reading a patch file from disk, for every command that takes one (enable, and the builder's and
// delivery's commands): only a regular file, at most MAX_PATCH_FILE bytes, JSON of bounded depth. The
// fields are checked by parsePatchFile() (patchfile.ts), in the process or wherever the patch is used.

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { LpError } from '../engine/index.js';
import { MAX_PATCH_FILE, parseJson } from './limits.js';

function refuse(msg: string): never {
  throw new LpError('LP_ERR_PATCH_FILE', msg);
}

/** The file's bytes, refused with one LP_ERR_PATCH_FILE line unless it is a regular file under the cap. */
function readPatchText(file: string): string {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO nobody writes to must not hang; fstat then refuses it.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    refuse(`cannot read '${file}': ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) refuse(`'${file}' is not a regular file (a patch file is a JSON file, e.g. made by livepatch build)`);
    if (st.size > MAX_PATCH_FILE) refuse(`'${file}' is ${st.size} bytes, more than a patch file may have (${MAX_PATCH_FILE}): is it the right file?`);
    // Read one byte more than the cap: a file that grew since fstat is refused too.
    const buf = Buffer.alloc(MAX_PATCH_FILE + 1);
    let size = 0;
    for (let n; size < buf.length && (n = readSync(fd, buf, size, buf.length - size, null)) > 0; ) size += n;
    if (size > MAX_PATCH_FILE) refuse(`'${file}' grew past ${MAX_PATCH_FILE} bytes while it was read`);
    return buf.toString('utf8', 0, size).replace(/^\uFEFF/, '');
  } catch (e) {
    if (e instanceof LpError) throw e;
    refuse(`cannot read '${file}': ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** The file's JSON object; parsePatchFile() checks its fields and names the one that is wrong. */
export function readPatchFile(file: string): Record<string, unknown> {
  const value = parseJson(readPatchText(file), 'LP_ERR_PATCH_FILE', `'${file}'`);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    refuse(`'${file}': a patch must be an object with name and objs (docs/runtime.md, "Patch files")`);
  return value as Record<string, unknown>;
}
