// `livepatch build`: the two trees (directories, git revisions, or a diff applied to the old one), built
// when they are TypeScript, read as the runtime reads them, compared module by module
// (compare.ts), and either a patch holding only the changed functions or the refusals that say why
// not, each at its file:line. The output is a function of the inputs alone: the same trees give the
// same bytes (no time, no temporary path, everything in a fixed order).

import { existsSync, rmSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { LpError } from '../engine/errors.js';
import { sha256 } from '../runtime/cache.js';
import { appRootOf, loadConfig, type LoaderConfig } from '../runtime/config.js';
import type { PatchFile } from '../runtime/patchfile.js';
import { positions } from '../naming/sites.js';
import { callsTo, compareModule, type Finding, type FuncPatch, type ModuleDiff } from './compare.js';
import { SourceMaps } from './sourcemap.js';
import { Workspace } from './sources.js';
import { readTree, type TreeModule } from './tree.js';

export interface BuildOptions {
  /** The old side: a directory or a git revision (default with --diff: the app directory). */
  old?: string;
  /** The new side: a directory or a git revision (default: the app directory's working tree). */
  new?: string;
  /** A unified diff applied to the old side makes the new one. */
  diff?: string;
  /** Where relative paths and the app directory are found from. */
  cwd: string;
  name?: string;
  replace?: boolean;
  /** A livepatch.config.json for both trees (default: the old tree's own). */
  config?: string;
  /** The build command for compiled trees (default: tsc -p tsconfig.json when there is one). */
  build?: string;
}

export interface ModuleSummary {
  name: string;
  changed: string[];
  added: string[];
  removed: string[];
}

export interface BuildResult {
  /** The patch file's text; null when the change was refused. */
  text: string | null;
  patch: PatchFile | null;
  modules: ModuleSummary[];
  /** Refusals (code set) and warnings, positions in the sources the user edited. */
  findings: Finding[];
  /** Tree notes that are not about a line: modules added or removed. */
  notes: string[];
}

/** A func of a built patch: where its source starts in the new tree, for stack traces. */
export type BuiltFunc = Pick<FuncPatch, 'oldName' | 'oldSympos' | 'source'> & { origin: { file: string; line: number; column: number } };

export function buildPatch(opts: BuildOptions): BuildResult {
  const appDir = appRootOf(opts.cwd) ?? opts.cwd;
  if (!opts.old && !opts.diff) throw new LpError('LP_ERR_USAGE', 'build needs --old <dir|git-rev> (and --new, or --diff fix.patch); see livepatch build --help');
  const ws = new Workspace();
  try {
    const side = (spec: string, label: string) => {
      const dir = resolve(opts.cwd, spec);
      return existsSync(dir) && statSync(dir).isDirectory() ? ws.copy(dir, label) : ws.revision(appDir, spec, label);
    };
    const oldDir = side(opts.old ?? appDir, 'old');
    const newDir = opts.diff ? ws.applied(oldDir, resolve(opts.cwd, opts.diff), 'new', opts.diff, opts.old ?? appDir) : side(opts.new ?? appDir, 'new');
    ws.build(oldDir, opts.build, 'old');
    ws.build(newDir, opts.build, 'new');
    const configFile = opts.config ? resolve(opts.cwd, opts.config) : undefined;
    const config = (root: string): LoaderConfig => loadConfig(configFile ? { LIVEPATCH_CONFIG: configFile } : {}, root);
    const oldConfig = config(oldDir);
    // The process runs the old tree with its config: the new tree is read with the same selection.
    const newConfig: LoaderConfig = { ...oldConfig, root: config(newDir).root };
    return compareTrees(readTree(oldConfig), readTree(newConfig), new SourceMaps(newConfig.root), new SourceMaps(oldConfig.root), opts);
  } finally {
    rmSync(ws.dir, { recursive: true, force: true });
  }
}

function compareTrees(
  oldTree: Map<string, TreeModule>,
  newTree: Map<string, TreeModule>,
  newMaps: SourceMaps,
  oldMaps: SourceMaps,
  opts: BuildOptions,
): BuildResult {
  const result: BuildResult = { text: null, patch: null, modules: [], findings: [], notes: [] };
  const objs: PatchFile['objs'] = [];
  const diffs = new Map<string, ModuleDiff>();
  const names = [...new Set([...oldTree.keys(), ...newTree.keys()])].sort();
  for (const name of names) {
    const a = oldTree.get(name);
    const b = newTree.get(name);
    if (!a) {
      result.notes.push(`${name}: a new module; a live patch cannot load it (the running code never requires it): not in the patch`);
      continue;
    }
    if (!b) {
      result.notes.push(`${name}: removed in the new tree; its running code stays as it is`);
      continue;
    }
    if (a.source === b.source) continue;
    const diff = compareModule({ file: a.file, source: a.source, format: a.format }, { file: b.file, source: b.source, format: b.format });
    diffs.set(name, diff);
    for (const f of diff.findings) {
      const mapped = (f.old ? oldMaps : newMaps).original(f, f.old ? a.source : b.source);
      result.findings.push({ ...f, ...mapped });
    }
    result.modules.push({ name, changed: [...diff.funcs.map((f) => f.oldName), ...diff.within], added: diff.added, removed: diff.removed });
    if (diff.funcs.length === 0) continue;
    const funcs: BuiltFunc[] = diff.funcs.map((f) => ({
      oldName: f.oldName,
      oldSympos: f.oldSympos,
      source: f.source,
      // Stack traces of the replacement name the compiled file that runs, at the line the source starts.
      origin: { file: b.file, line: f.line, column: f.column },
    }));
    objs.push({ name, sha256: sha256(a.source), funcs });
  }
  result.findings.push(...signatureWarnings(diffs, newTree, newMaps));
  if (result.findings.some((f) => f.code !== null)) return result;
  if (objs.length === 0)
    throw new LpError(
      'LP_ERR_BUILD_NO_CHANGE',
      `no function differs between the old and the new tree (${names.length} modules compared, formatting and comments ignored): there is nothing to patch`,
    );
  const name = opts.name ?? 'livepatch';
  result.patch = { name, ...(opts.replace ? { replace: true } : {}), objs };
  result.text = `${JSON.stringify(result.patch, null, 2)}\n`;
  return result;
}

/**
 * A replaced function whose parameters changed, called from code the patch does not replace (in any
 * module of the new tree): a warning at the function, naming the calls, which keep their old arguments.
 */
function signatureWarnings(diffs: ReadonlyMap<string, ModuleDiff>, tree: ReadonlyMap<string, TreeModule>, maps: SourceMaps): Finding[] {
  const out: Finding[] = [];
  for (const [name, diff] of diffs) {
    for (const sig of diff.signatures) {
      const calls: string[] = [];
      for (const [other, m] of tree) {
        let at: number[];
        try {
          at = callsTo(m, sig.simple, diffs.get(other)?.replaced ?? []);
        } catch {
          continue; // A file that does not parse is refused on its own (or is not this build's business).
        }
        const lines = positions(m.source, at);
        calls.push(...lines.map(([line, column]) => {
          const p = maps.original({ file: m.file, line, column }, m.source);
          return `${p.file}:${p.line}`;
        }));
      }
      if (calls.length === 0) continue;
      const file = tree.get(name)!;
      const at = maps.original({ file: file.file, line: sig.line, column: sig.column }, file.source);
      out.push({
        code: null,
        old: false,
        ...at,
        message: `the parameters of ${sig.name} changed and code the patch does not replace calls it (${calls.join(', ')}): those calls keep passing the old arguments`,
      });
    }
  }
  return out;
}

export function defaultName(output: string | undefined): string | undefined {
  return output === undefined ? undefined : basename(output).replace(/\.json$/, '');
}
