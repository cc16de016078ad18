// `livepatch build`: make a patch from the fixed source (src/builder), or check one against a running
// process (--check). Exit 0: the patch was written (or checks out); 1: refused (each reason on its
// own line, file:line: CODE: why); 2: usage.

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isLpError, LpError } from '../engine/index.js';
import { buildPatch, defaultName, type BuildResult } from '../builder/build.js';
import { checkPatch } from '../builder/check.js';
import { ControlClient } from '../runtime/control.js';
import { readPatchFile } from '../runtime/read-patch.js';
import { pickPid } from './runtime.js';
import type { Io } from './sim.js';

export const BUILD_HELP = `usage:
  livepatch build --old <dir|git-rev> [--new <dir|git-rev>] [-o patch.json] [--name N] [--replace]
                  [--config livepatch.config.json] [--build "command"]
      compare the old tree with the new one (default: the working tree of the app directory) and write
      a patch holding the changed functions (stdout without -o)
  livepatch build --diff fix.patch [--old <dir|git-rev>] [...]   the new tree is the old one with the diff applied
  livepatch build --check <patch.json> [--pid N] [--allow-unloaded]   verify a patch against a running process`;

const OPTIONS = {
  old: { type: 'string' },
  new: { type: 'string' },
  diff: { type: 'string' },
  output: { type: 'string', short: 'o' },
  name: { type: 'string' },
  replace: { type: 'boolean' },
  config: { type: 'string' },
  build: { type: 'string' },
  check: { type: 'string' },
  pid: { type: 'string' },
  'allow-unloaded': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function usage(msg: string): never {
  throw new LpError('LP_ERR_USAGE', `build: ${msg} (see 'livepatch build --help')`);
}

export async function build(argv: string[], io: Io): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
    } catch (e) {
      usage((e as Error).message.split('\n')[0]);
    }
    const v = parsed.values;
    if (v.help) {
      io.out(BUILD_HELP);
      return 0;
    }
    if (v.check !== undefined) return await check(v.check, v.pid, v['allow-unloaded'] ?? false, io);
    if (v.pid !== undefined || v['allow-unloaded']) usage('--pid and --allow-unloaded go with --check');
    if (v.old === undefined && v.diff === undefined) usage('give --old <dir|git-rev> (and --new), or --diff fix.patch');
    if (v.diff !== undefined && v.new !== undefined) usage('--diff makes the new tree: give --new or --diff, not both');
    const result = buildPatch({
      old: v.old,
      new: v.new,
      diff: v.diff,
      cwd: process.cwd(),
      name: v.name ?? defaultName(v.output),
      replace: v.replace ?? false,
      config: v.config,
      build: v.build,
    });
    return report(result, v.output, io);
  } catch (e) {
    if (!isLpError(e)) throw e;
    io.err(`livepatch: ${e.code}: ${e.message}`);
    return e.code === 'LP_ERR_USAGE' ? 2 : 1;
  }
}

function report(r: BuildResult, output: string | undefined, io: Io): number {
  // With the patch on stdout, everything else goes to stderr.
  const say = output === undefined ? io.err : io.out;
  for (const m of r.modules) {
    const part = (what: string, list: string[]) => `${list.length} ${what}${list.length ? ` (${list.join(', ')})` : ''}`;
    say(`${m.name}: ${part('changed', m.changed)}, ${part('added', m.added)}, ${part('removed', m.removed)}`);
  }
  for (const note of r.notes) say(`note: ${note}`);
  for (const f of r.findings) if (f.code === null) io.err(`${f.file}:${f.line}:${f.column}: warning: ${f.message}`);
  const refusals = r.findings.filter((f) => f.code !== null);
  for (const f of refusals) io.err(`${f.file}:${f.line}:${f.column}: ${f.code}: ${f.message}`);
  if (r.text === null) {
    io.err(`livepatch: LP_ERR_BUILD_REFUSED: ${refusals.length} change${refusals.length === 1 ? '' : 's'} a live patch cannot carry (above); no patch written`);
    return 1;
  }
  if (output === undefined) {
    io.out(r.text.trimEnd());
  } else {
    writeFileSync(output, r.text);
    const funcs = r.patch!.objs.reduce((n, o) => n + o.funcs.length, 0);
    say(`wrote ${output}: patch '${r.patch!.name}', ${funcs} function${funcs === 1 ? '' : 's'} in ${r.patch!.objs.length} object${r.patch!.objs.length === 1 ? '' : 's'}`);
  }
  return 0;
}

async function check(file: string, pid: string | undefined, allowUnloaded: boolean, io: Io): Promise<number> {
  const patch = readPatchFile(file);
  const client = await ControlClient.connect(pickPid(pid));
  try {
    const r = await checkPatch(client, patch, allowUnloaded);
    for (const m of r.matched) io.out(`ok: ${m}`);
    for (const o of r.later) io.out(`later: ${o} (not loaded yet: patched when it loads)`);
    return 0;
  } finally {
    client.close();
  }
}
