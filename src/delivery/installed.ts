// Installed patches (kpatch install): patch files kept in the app's patch directory,
// `<app root>/.livepatch/patches/`, applied by every process of the app at start-up (startup.ts), in
// stack order. A file is `<position>-<name>.json`; the position (4 digits) is the stack order, so a
// listing sorted by file name is the order they are enabled in. Installing a name again moves it on top.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LpError } from '../engine/errors.js';
import { parsePatchFile } from '../runtime/patchfile.js';
import { splitSigned } from './signing.js';

export const PATCH_DIR = join('.livepatch', 'patches');

export interface InstalledPatch {
  name: string;
  /** 1-based stack position. */
  position: number;
  file: string;
  /** The patch as stored (with its signature, if signed). */
  patch: Record<string, unknown>;
  signed: boolean;
}

const FILE = /^(\d{4})-(.+)\.json$/;

export const patchDir = (root: string): string => join(root, PATCH_DIR);

/** The installed patches of the app at `root`, in stack order. A file that cannot be read is `error`. */
export function installed(root: string): Array<InstalledPatch | { file: string; error: string }> {
  let names: string[];
  try {
    names = readdirSync(patchDir(root));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((f) => FILE.test(f))
    .sort()
    .map((f) => {
      const file = join(patchDir(root), f);
      try {
        const patch = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        const { signature } = splitSigned(patch);
        return { name: FILE.exec(f)![2], position: Number(FILE.exec(f)![1]), file, patch, signed: signature !== null };
      } catch (e) {
        return { file, error: (e as Error).message.split('\n')[0] };
      }
    });
}

/** Store `patch` on top of the app's stack (replacing one of the same name). Returns its file. */
export function install(root: string, patch: Record<string, unknown>): { file: string; replaced: boolean } {
  const { body } = splitSigned(patch);
  const file = parsePatchFile(body);
  if (!/^[\w.@+-]+$/.test(file.name) || file.name.startsWith('.'))
    throw new LpError('LP_ERR_PATCH_FILE', `patch name '${file.name}' cannot be a file name: use letters, digits and . _ - @ +`);
  const dir = patchDir(root);
  mkdirSync(dir, { recursive: true });
  const all = installed(root);
  const old = all.find((p) => 'name' in p && p.name === file.name);
  const top = all.reduce((n, p) => Math.max(n, 'position' in p ? p.position : 0), 0);
  const path = join(dir, `${String(top + 1).padStart(4, '0')}-${file.name}.json`);
  // Written whole, then renamed: a process starting meanwhile reads the old file or the new one.
  writeFileSync(`${path}.tmp`, `${JSON.stringify(patch, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  if (old) rmSync(old.file);
  return { file: path, replaced: old !== undefined };
}

export function uninstall(root: string, name: string): string {
  const found = installed(root).find((p) => 'name' in p && p.name === name);
  if (!found) {
    const names = installed(root).flatMap((p) => ('name' in p ? [p.name] : []));
    throw new LpError('LP_ERR_NOT_INSTALLED', `no patch '${name}' is installed in ${patchDir(root)} (installed: ${names.join(', ') || 'none'})`);
  }
  rmSync(found.file);
  return found.file;
}
