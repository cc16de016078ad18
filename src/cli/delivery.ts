// `livepatch apply | install | uninstall | installed | keygen | sign`: the CLI of src/delivery/.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LpError } from '../engine/errors.js';
import { applyTo } from '../delivery/apply.js';
import { install, installed, patchDir, uninstall } from '../delivery/installed.js';
import { EXIT } from '../delivery/outcome.js';
import { renderer } from '../delivery/render.js';
import { writeReport } from '../delivery/report.js';
import { generateKeys, signPatch, splitSigned } from '../delivery/signing.js';
import { changedObject } from '../delivery/startup.js';
import { loadConfig } from '../runtime/config.js';
import { readPatchFile as readPatch } from '../runtime/read-patch.js';
import { pickPid, pidsOfApp, runCommand, show, sinkOf, table, usage, type Command, type Context } from './runtime.js';
import type { Io } from './sim.js';

export const DELIVERY_HELP = `usage (delivering patches):
  livepatch apply <patch.json> [--pid N | --app NAME] [--timeout S] [--signal-after S] [--json] [--report out.html]
                [--allow-unloaded]
                                                 enable, follow the transition (live progress), fake-signal the
                                                 tasks not switched after --signal-after S (default 15), reverse
                                                 at --timeout S (default 60) and wait for the reverse; --app
                                                 picks every process of the app (package name of its root)
  livepatch install <patch.json> [--app DIR]     store the patch in the app's .livepatch/patches/: every process
                                                 of the app started from now on comes up with it applied
  livepatch uninstall <name> [--app DIR]         remove an installed patch (processes started later go without)
  livepatch installed [--app DIR] [--json]       the installed patches, in stack order
  livepatch keygen [--out NAME]                  an ed25519 key pair: NAME.key (private, mode 0600) and NAME.pub
  livepatch sign <patch.json> --key NAME.key [--out FILE]
                                                 sign a patch (in place unless --out); processes started with
                                                 LIVEPATCH_TRUST=<NAME.pub or a directory of .pub> accept only those
exit status of apply, enable --wait, disable --wait: 0 the target state was reached; 1 refused by the process
  (nothing changed) or no process; 2 usage error or bad patch file; 3 reversed by someone else; 4 timed out and
  reversed (the process runs its previous code); 5 timed out, the transition still running; 6 reached only by force`;

const APP_DIR = { app: { type: 'string' } } as const;

/** The app root of `--app DIR` (default: here), named as the runtime names it (config.ts). */
const rootOf = (values: Context['values']): string => loadConfig(process.env, resolve((values.app as string | undefined) ?? '.')).root;

async function apply({ io, values, positionals }: Context): Promise<number> {
  if (values.pid !== undefined && values.app !== undefined) usage('apply: give --pid or --app, not both');
  const patch = readPatch(positionals[0]);
  const pids = values.app !== undefined ? await pidsOfApp(values.app as string) : [pickPid(values.pid as string | undefined)];
  const report = values.report as string | undefined;
  const r = renderer(sinkOf(io), { json: values.json === true, op: 'enable' });
  const results = await Promise.all(
    pids.map((pid) =>
      applyTo(
        pid,
        patch,
        { timeoutS: (values.timeout as number | undefined) ?? 60, signalAfterS: (values['signal-after'] as number | undefined) ?? 15, recordMs: report ? 1000 : undefined, allowUnloaded: values['allow-unloaded'] === true },
        (e) => r.event(e),
      ),
    ),
  );
  r.done();
  for (const res of results) {
    if (!res.error) continue;
    if (values.json) io.out(JSON.stringify({ event: 'complete', pid: res.pid, at: Date.now(), outcome: 'refused', exit: res.exit, error: { code: res.error.code, message: res.error.message } }));
    io.err(`livepatch: ${res.error.code}: pid ${res.pid}: ${res.error.message}`);
  }
  if (report) io.out(`report: ${writeReport(resolve(report), String(patch.name), results)}`);
  return results.find((x) => x.exit !== EXIT.complete)?.exit ?? EXIT.complete;
}

async function installCmd({ io, values, positionals }: Context): Promise<number> {
  const root = rootOf(values);
  const patch = readPatch(positionals[0]);
  const { file, replaced } = install(root, patch);
  const changed = changedObject(root, splitSigned(patch).body);
  if (changed) io.err(`livepatch: warning: ${String(changed.name)} in ${root} is not the code '${String(patch.name)}' was made for: processes will skip it (is --app the right directory?)`);
  io.out(`${replaced ? 'reinstalled' : 'installed'} ${file}: processes of ${root} started from now on apply it (livepatch apply patches the running ones)`);
  return 0;
}

async function uninstallCmd({ io, values, positionals }: Context): Promise<number> {
  io.out(`uninstalled ${uninstall(rootOf(values), positionals[0])}: processes started from now on go without it (livepatch disable unpatches the running ones)`);
  return 0;
}

async function installedCmd({ io, values }: Context): Promise<number> {
  const root = rootOf(values);
  const all = installed(root);
  return show(io, values, all.map((p) => ('name' in p ? { name: p.name, position: p.position, file: p.file, signed: p.signed } : p)), (rows) =>
    rows.length === 0 ? [`no patches installed in ${patchDir(root)}`] : table(
      ['ORDER', 'NAME', 'SIGNED', 'FILE'],
      rows.map((p) => ('name' in p ? [String(p.position), p.name, p.signed ? 'yes' : 'no', p.file] : ['-', `unreadable: ${p.error}`, '-', p.file])),
    ),
  );
}

async function keygen({ io, values }: Context): Promise<number> {
  const base = resolve((values.out as string | undefined) ?? 'livepatch');
  for (const f of [`${base}.key`, `${base}.pub`]) if (existsSync(f)) usage(`keygen: ${f} exists; give another --out NAME`);
  const keys = generateKeys();
  writeFileSync(`${base}.key`, keys.privatePem, { mode: 0o600, flag: 'wx' });
  writeFileSync(`${base}.pub`, keys.publicPem, { flag: 'wx' });
  io.out(`key ${keys.keyId}: private ${base}.key (keep it secret), public ${base}.pub (give it to processes as LIVEPATCH_TRUST)`);
  return 0;
}

async function sign({ io, values, positionals }: Context): Promise<number> {
  const keyFile = values.key as string | undefined;
  if (keyFile === undefined) usage('sign: --key NAME.key is required (make one with livepatch keygen)');
  let pem: string;
  try {
    pem = readFileSync(keyFile, 'utf8');
  } catch (e) {
    throw new LpError('LP_ERR_USAGE', `sign: cannot read '${keyFile}': ${(e as Error).message}`);
  }
  const signed = signPatch(readPatch(positionals[0]), pem);
  const out = (values.out as string | undefined) ?? positionals[0];
  writeFileSync(out, `${JSON.stringify(signed, null, 2)}\n`);
  io.out(`signed '${String(signed.name)}' with key ${(signed.signature as { keyId: string }).keyId}: ${out}`);
  return 0;
}

const COMMANDS: Record<string, Command> = {
  apply: {
    args: ['patch.json'],
    options: { pid: { type: 'string' }, app: { type: 'string' }, timeout: { type: 'string' }, 'signal-after': { type: 'string' }, json: { type: 'boolean' }, report: { type: 'string' }, 'allow-unloaded': { type: 'boolean' } },
    process: false,
    run: apply,
  },
  install: { args: ['patch.json'], options: APP_DIR, process: false, run: installCmd },
  uninstall: { args: ['name'], options: APP_DIR, process: false, run: uninstallCmd },
  installed: { args: [], options: { ...APP_DIR, json: { type: 'boolean' } }, process: false, run: installedCmd },
  keygen: { args: [], options: { out: { type: 'string' } }, process: false, run: keygen },
  sign: { args: ['patch.json'], options: { key: { type: 'string' }, out: { type: 'string' } }, process: false, run: sign },
};

export const DELIVERY_COMMANDS: readonly string[] = Object.keys(COMMANDS);

export const deliveryCommand = (cmd: string, argv: string[], io: Io): Promise<number> => runCommand(COMMANDS, DELIVERY_HELP, cmd, argv, io);
