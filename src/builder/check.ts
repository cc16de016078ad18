// A patch checked against a running process before it is enabled (`livepatch build --check`, and
// `livepatch enable` itself): every object it names is loaded (or allowed to come later), every
// function exists there, every sha256 matches. A patch that would match nothing is the silent no-op
// kpatch users never see (kpatch-build's patch module fails to load when a symbol does not resolve):
// it is refused with the names that did not match and what the process does have.

import { LpError } from '../engine/errors.js';
import type { ControlClient } from '../runtime/control.js';
import { parsePatchFile } from '../runtime/patchfile.js';
import type { FunctionInfo, ModuleInfo } from '../runtime/types.js';
import { simpleName } from './compare.js';

export interface CheckReport {
  /** What matched: `./lib/x.js: f, g`. */
  matched: string[];
  /** Objects not loaded that were allowed to come later. */
  later: string[];
}

/** Up to three of `candidates` that `wrong` was probably meant as, best first. */
export function didYouMean(wrong: string, candidates: readonly string[], simple: (s: string) => string = (s) => s): string[] {
  const norm = (s: string) => s.replace(/^\.\//, '').toLowerCase();
  const score = (c: string): number => {
    if (norm(c) === norm(wrong)) return 0;
    if (simple(c) === simple(wrong)) return 1;
    if (norm(c).endsWith(norm(wrong)) || norm(wrong).endsWith(norm(c))) return 2;
    const d = distance(norm(c), norm(wrong));
    return d <= Math.max(2, Math.floor(wrong.length / 4)) ? 3 + d : Infinity;
  };
  return candidates
    .map((c) => ({ c, s: score(c) }))
    .filter((x) => x.s < Infinity)
    .sort((a, b) => a.s - b.s || (a.c < b.c ? -1 : 1))
    .slice(0, 3)
    .map((x) => x.c);
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

const mean = (list: string[]) => (list.length ? ` (did you mean ${list.map((x) => `'${x}'`).join(' or ')}?)` : '');

/**
 * Check `patch` against the process behind `client`. Throws LP_ERR_NOOP naming every object or
 * function that matches nothing, LP_ERR_SHA_MISMATCH for an object built from other code.
 */
export async function checkPatch(client: ControlClient, input: unknown, allowUnloaded: boolean): Promise<CheckReport> {
  // A malformed file is the process's own validator's to refuse (LP_ERR_PATCH_FILE), same words.
  const patch = parsePatchFile(input);
  const modules = await client.call<ModuleInfo[]>('modules');
  const loaded = new Map(modules.map((m) => [m.name, m]));
  const problems: string[] = [];
  const report: CheckReport = { matched: [], later: [] };
  for (const obj of patch.objs) {
    const name = obj.name;
    const mod = loaded.get(name);
    if (!mod) {
      if (allowUnloaded) report.later.push(name);
      else
        problems.push(
          `object '${name}' is not loaded in process ${client.pid}${mean(didYouMean(name, [...loaded.keys()]))}` +
            ' (a module the process loads later: --allow-unloaded)',
        );
      continue;
    }
    if (mod.sha256 !== obj.sha256)
      throw new LpError(
        'LP_ERR_SHA_MISMATCH',
        `object '${name}' in process ${client.pid} is not the code the patch was made for (sha256 ${mod.sha256.slice(0, 12)}…, the patch expects ${obj.sha256.slice(0, 12)}…): build the patch with --old at the running version`,
      );
    const funcs = await client.call<FunctionInfo[]>('functions', { module: name });
    const names = [...new Set(funcs.map((f) => f.name))];
    const found: string[] = [];
    for (const f of obj.funcs) {
      const fname = f.oldName;
      const sympos = Math.max(f.oldSympos ?? 0, 1);
      if (funcs.some((x) => x.name === fname && x.sympos === sympos)) found.push(fname);
      else if (names.includes(fname)) problems.push(`'${name}' has no ${fname} at sympos ${sympos} (it has ${funcs.filter((x) => x.name === fname).length})`);
      else problems.push(`'${name}' has no function '${fname}'${mean(didYouMean(fname, names, simpleName))} (livepatch functions ${name} lists them)`);
    }
    if (found.length || obj.funcs.length === 0) report.matched.push(`${name}: ${found.join(', ') || '(callbacks only)'}`);
  }
  if (problems.length)
    throw new LpError(
      'LP_ERR_NOOP',
      `patch '${patch.name}' would not patch what it names: ${problems.join('; ')}`,
    );
  if (report.matched.length === 0 && report.later.length === 0) throw new LpError('LP_ERR_NOOP', `patch '${patch.name}' names no function`);
  return report;
}
