// The process side of delivery, run by register.ts before the app's first module: the app root this
// process names objects from (for `livepatch ps`), the signing policy (LIVEPATCH_TRUST, read once:
// what the process was started with), and the installed patches, enabled now so that each object
// is patched as its module comes (the runtime's module coming), before any of the app's code runs.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isLpError, LpError } from '../engine/errors.js';
import type { Runtime } from '../runtime/livepatch.js';
import { installed } from './installed.js';
import { loadTrust, verifiedPatch, type Trust } from './signing.js';

let root: string | null = null;

export const appRoot = (): string | null => root;

let trust: Trust | null | undefined;
let trustError: LpError | null = null;

/** The process's trusted keys (null: signing not enforced), read from LIVEPATCH_TRUST on first use. */
function processTrust(): Trust | null {
  if (trust === undefined) {
    const path = process.env.LIVEPATCH_TRUST;
    try {
      trust = path ? loadTrust(path) : null;
    } catch (e) {
      // Fail closed: a trust setting that cannot be read trusts no key at all.
      trustError = e as LpError;
      trust = { source: path!, keys: new Map() };
    }
  }
  return trust;
}

/** What the control socket's `enable` passes to the runtime: the patch checked against the trust policy. */
export function acceptPatch(patch: Record<string, unknown>): Record<string, unknown> {
  const t = processTrust();
  if (trustError) throw trustError;
  return verifiedPatch(patch, t);
}

/**
 * The file of an object, from its name: `./lib/x.js` in the app, `pkg/file.js` in node_modules. The
 * sha256 of what is on disk tells a redeployed module (the fix is in the code now) from the one the
 * patch was made for, before the module loads.
 */
function sha256OnDisk(appRootDir: string, object: string): string | null {
  const file = object.startsWith('./') ? join(appRootDir, object.slice(2)) : join(appRootDir, 'node_modules', object);
  try {
    return createHash('sha256').update(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''), 'utf8').digest('hex');
  } catch {
    return null;
  }
}

/** The first object of `patch` whose file on disk is not the code the patch was made for (a missing file is not). */
export function changedObject(appRootDir: string, patch: Record<string, unknown>): { name?: unknown } | undefined {
  const objs = Array.isArray(patch.objs) ? (patch.objs as Array<{ name?: unknown; sha256?: unknown }>) : [];
  return objs.find((o) => typeof o.name === 'string' && (sha256OnDisk(appRootDir, o.name) ?? o.sha256) !== o.sha256);
}

/** Record the app root; enable the installed patches in stack order. Never throws: one log line per problem. */
export function startDelivery(rt: Runtime, appRootDir: string): void {
  root = appRootDir;
  let list;
  try {
    list = installed(appRootDir);
  } catch (e) {
    rt.log('err', `livepatch: installed patches not read: ${(e as Error).message}`);
    return;
  }
  for (const entry of list) {
    if (!('name' in entry)) {
      rt.log('err', `livepatch: installed patch ${entry.file} skipped: ${entry.error}`);
      continue;
    }
    try {
      const body = acceptPatch(entry.patch);
      const changed = changedObject(appRootDir, body);
      if (changed) {
        rt.log('notice', `livepatch: installed patch '${entry.name}' skipped: ${String(changed.name)} is not the code it was made for (redeployed with the fix?); livepatch uninstall ${entry.name} removes it`);
        continue;
      }
      rt.asRuntime(() => rt.enable(body));
      rt.log('notice', `livepatch: installed patch '${entry.name}' enabled`);
    } catch (e) {
      rt.log('err', `livepatch: installed patch '${entry.name}' not enabled: ${isLpError(e) ? e.toString() : String(e)}`);
    }
  }
}
