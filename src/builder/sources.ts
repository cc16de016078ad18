// Where the two trees come from: a directory, a git revision, or the old tree with a unified diff
// applied; each is laid out in a private temporary directory (kpatch-build builds the original and
// the patched kernel in its own cache too), so that building it (TypeScript) never touches the
// user's files. node_modules is linked, not copied: the trees share the installed packages.

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { LpError } from '../engine/errors.js';

function fail(message: string): never {
  throw new LpError('LP_ERR_BUILD_SOURCE', message);
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

export class Workspace {
  readonly dir = mkdtempSync(join(tmpdir(), 'livepatch-build-'));

  /** A copy of the app directory `dir` (without .git; node_modules linked). */
  copy(dir: string, label: string): string {
    const to = join(this.dir, label);
    cpSync(dir, to, { recursive: true, filter: (src) => !['.git', 'node_modules'].includes(basename(src)) || src === dir });
    linkModules(dir, to);
    return to;
  }

  /**
   * The app directory at git revision `rev`: `appDir`'s place in its repository, taken from the
   * revision's tree (git archive), with the working tree's node_modules linked.
   */
  revision(appDir: string, rev: string, label: string): string {
    const git = (args: string[]) => spawnSync('git', ['-C', appDir, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const top = git(['rev-parse', '--show-toplevel']);
    if (top.status !== 0) fail(`'${rev}' is not a directory, and ${appDir} is in no git repository to take it as a revision from`);
    const commit = git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
    if (commit.status !== 0) fail(`'${rev}' is neither a directory nor a git revision of ${top.stdout.trim()} (git rev-parse found no commit)`);
    const prefix = git(['rev-parse', '--show-prefix']).stdout.trim();
    const root = join(this.dir, label);
    mkdirSync(root);
    const tar = spawnSync('git', ['-C', top.stdout.trim(), 'archive', '--format=tar', commit.stdout.trim()], { maxBuffer: 1 << 30 });
    if (tar.status !== 0) fail(`git archive ${rev}: ${firstLine(String(tar.stderr))}`);
    const x = spawnSync('tar', ['-x', '-C', root], { input: tar.stdout });
    if (x.status !== 0) fail(`unpacking ${rev}: ${firstLine(String(x.stderr))}`);
    const app = join(root, prefix);
    if (!existsSync(app)) fail(`revision ${rev} has no ${prefix || '.'} (the app directory)`);
    linkModules(appDir, app);
    return app;
  }

  /**
   * A copy of `dir` with the unified diff `file` applied (paths relative to the app root, `-p1`);
   * `patch` and `old` name them in messages.
   */
  applied(dir: string, file: string, label: string, patch: string, old: string): string {
    if (!existsSync(file) || !statSync(file).isFile()) fail(`--diff: cannot read '${patch}'`);
    const to = this.copy(dir, label);
    const r = spawnSync('patch', ['-p1', '--batch', '--forward', '--silent', '-d', to, '-i', file], { encoding: 'utf8' });
    if (r.status !== 0) {
      const said = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim());
      const why = said.find((l) => /can't find file|FAILED|malformed|garbage|Reversed/i.test(l)) ?? said.filter(Boolean).at(-1) ?? '';
      fail(`--diff ${patch} does not apply to ${old}: ${why} (paths must be relative to the app root with a/ b/ prefixes, as 'git diff --relative' writes them)`);
    }
    return to;
  }

  /** Run the tree's build (the project's tsc when it has a tsconfig.json, or `command`); `side` names it. */
  build(dir: string, command: string | undefined, side: string): void {
    const tsconfig = existsSync(join(dir, 'tsconfig.json'));
    if (command === undefined && !tsconfig) return;
    const cmd = command ?? `${JSON.stringify(tscOf(dir))} -p tsconfig.json`;
    try {
      execFileSync('/bin/sh', ['-c', cmd], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    } catch (e) {
      const r = e as { stdout?: string; stderr?: string };
      fail(`the build (${cmd}) failed in the ${side} tree: ${firstLine(r.stdout || r.stderr || String(e))}`);
    }
  }
}

/** The project's own TypeScript compiler: node_modules/.bin/tsc of the tree, else the one on PATH. */
function tscOf(dir: string): string {
  const local = join(dir, 'node_modules', '.bin', 'tsc');
  if (existsSync(local)) return local;
  if (spawnSync('tsc', ['--version']).status === 0) return 'tsc';
  fail(`the tree has a tsconfig.json but no TypeScript compiler (node_modules/.bin/tsc or tsc on PATH): install typescript, or give --build "<command>"`);
}

function linkModules(from: string, to: string): void {
  const modules = join(from, 'node_modules');
  if (existsSync(modules) && !existsSync(join(to, 'node_modules'))) symlinkSync(resolve(modules), join(to, 'node_modules'), 'dir');
}
