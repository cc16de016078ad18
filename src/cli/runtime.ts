// `livepatch ps | status | list | enable | disable | force | modules | functions | log | hash`: the
// commands that talk to a running process over its control socket (src/runtime/control.ts).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isLpError, LpError, type LpErrorCode } from '../engine/index.js';
import { checkPatch, didYouMean } from '../builder/check.js';
import { ControlClient, listSockets, type PingInfo } from '../runtime/control.js';
import { readPatchFile } from '../runtime/read-patch.js';
import type { FunctionInfo, ModuleInfo, PatchInfo, TransitionStatus } from '../runtime/types.js';
import { blockersOf, follow } from '../delivery/follow.js';
import { splitSigned } from '../delivery/signing.js';
import { holdText, ms, renderer, type Sink } from '../delivery/render.js';
import type { Io } from './sim.js';

export const RUNTIME_HELP = `usage (a running process; --pid may be left out when only one process has a control socket):
  livepatch ps [--json]                          processes with a control socket: pid, node, livepatch, hooks
  livepatch status [--pid N] [--limit N]         the transition: every task not switched yet and what holds it
  livepatch list [--pid N]                       the patches, their state and objects
  livepatch enable [--pid N] <patch.json> [--wait [--timeout S]] [--allow-unloaded]
                                                 apply a patch file; --wait until every task has switched;
                                                 refused (LP_ERR_NOOP) when it names an object not loaded
                                                 (unless --allow-unloaded) or a function the object lacks
  livepatch disable [--pid N] <name> [--wait [--timeout S]]
                                                 unpatch (or reverse the transition in progress)
  livepatch force [--pid N] <name>               mark every task switched (unsafe: old code may still run)
  livepatch modules [--pid N]                    the instrumented modules: object name, functions, sha256
  livepatch functions [--pid N] <module>         a module's functions: qualified name, sympos, line, patchable
  livepatch log [--pid N] [--follow]             the runtime's log lines
  livepatch hash <file>...                       sha256 of a module's source, for a patch's 'sha256'
every process command takes --json (print the result as JSON) and, instead of --pid, --app NAME (the
process whose app root's package.json is named NAME; livepatch ps shows them); --timeout S defaults to 60
exit status: 0 done, 1 failed (refused by the process, no process, timeout), 2 usage error or bad patch file`;

/** Errors in what the user typed or wrote: exit 2, like every other usage error of the CLI. */
const INPUT_ERRORS: ReadonlySet<LpErrorCode> = new Set(['LP_ERR_USAGE', 'LP_ERR_PATCH_FILE']);

export type Options = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;
export type Values = Record<string, string | boolean | number | undefined>;
/** Options whose value is a count: checked before anything is sent, so a typo never follows an enable. */
const COUNTS = ['limit', 'timeout', 'signal-after'];

export interface Context {
  io: Io;
  values: Values;
  positionals: string[];
}

interface ProcessContext extends Context {
  client: ControlClient;
}

/** A process command also takes --pid and --json and runs with a connected client. */
export type Command = {
  /** Positional arguments: names for messages; a trailing '...' takes one or more. */
  args: string[];
  options: Options;
} & ({ process: true; run(c: ProcessContext): Promise<number> } | { process: false; run(c: Context): Promise<number> });

const WAIT: Options = { wait: { type: 'boolean' }, timeout: { type: 'string' } };

const COMMANDS: Record<string, Command> = {
  ps: { args: [], options: { json: { type: 'boolean' } }, process: false, run: ps },
  status: {
    args: [],
    options: { limit: { type: 'string' } },
    process: true,
    run: async ({ io, values, client }) => show(io, values, await client.call<TransitionStatus>('status', { limit: values.limit }), formatStatus),
  },
  list: { args: [], options: {}, process: true, run: async ({ io, values, client }) => show(io, values, await client.call<PatchInfo[]>('list'), formatPatches) },
  enable: {
    args: ['patch.json'],
    options: { ...WAIT, 'allow-unloaded': { type: 'boolean' } },
    process: true,
    run: async (c) => {
      const patch = readPatchFile(c.positionals[0]);
      // A patch that would patch nothing is refused here, before the process is asked (LP_ERR_NOOP).
      await checkPatch(c.client, splitSigned(patch).body, c.values['allow-unloaded'] === true);
      const info = await c.client.call<PatchInfo>('enable', { patch });
      return finish(c, info, 'enable');
    },
  },
  disable: { args: ['name'], options: WAIT, process: true, run: async (c) => finish(c, await c.client.call<PatchInfo>('disable', { name: c.positionals[0] }), 'disable') },
  force: {
    args: ['name'],
    options: {},
    process: true,
    run: async ({ io, values, positionals, client }) => show(io, values, await client.call<PatchInfo>('force', { name: positionals[0] }), formatPatch),
  },
  modules: { args: [], options: {}, process: true, run: async ({ io, values, client }) => show(io, values, await client.call<ModuleInfo[]>('modules'), formatModules) },
  functions: {
    args: ['module'],
    options: {},
    process: true,
    run: async ({ io, values, positionals, client }) => show(io, values, await client.call<FunctionInfo[]>('functions', { module: positionals[0] }), formatFunctions),
  },
  log: { args: [], options: { follow: { type: 'boolean' } }, process: true, run: log },
  hash: { args: ['file...'], options: {}, process: false, run: hash },
};

export const RUNTIME_COMMANDS: readonly string[] = Object.keys(COMMANDS);

export function usage(msg: string): never {
  throw new LpError('LP_ERR_USAGE', `${msg} (see 'livepatch --help')`);
}

/** Run one of RUNTIME_COMMANDS; prints its output and errors (one line each), returns the exit status. */
export const runtimeCommand = (cmd: string, argv: string[], io: Io): Promise<number> => runCommand(COMMANDS, RUNTIME_HELP, cmd, argv, io);

/** Run `cmd` of a command table (this file's, src/cli/delivery.ts's). */
export async function runCommand(commands: Record<string, Command>, help: string, cmd: string, argv: string[], io: Io): Promise<number> {
  let client: ControlClient | null = null;
  try {
    const command = Object.hasOwn(commands, cmd) ? commands[cmd] : usage(`unknown command '${cmd}'`);
    if (argv.includes('--help') || argv.includes('-h')) {
      io.out(help);
      return 0;
    }
    const { values, positionals } = parse(cmd, command, argv);
    if (!command.process) return await command.run({ io, values, positionals });
    client = await ControlClient.connect(await pickProcess(cmd, values));
    return await command.run({ io, values, positionals, client });
  } catch (e) {
    if (!isLpError(e)) throw e;
    io.err(`livepatch: ${e.code}: ${e.message}`);
    return INPUT_ERRORS.has(e.code) ? 2 : 1;
  } finally {
    client?.close();
  }
}

function parse(cmd: string, command: Command, argv: string[]): { values: Values; positionals: string[] } {
  const options: Options = command.process ? { ...command.options, pid: { type: 'string' }, app: { type: 'string' }, json: { type: 'boolean' } } : command.options;
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options, strict: true });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0].replace(/\. To specify a positional.*/, '');
    const flag = /^Unknown option '--([^']+)'/.exec(msg)?.[1];
    const near = flag === undefined ? [] : didYouMean(flag, Object.keys(options));
    usage(`${cmd}: ${msg}${near.length ? ` (did you mean ${near.map((n) => `--${n}`).join(' or ')}?)` : ''}`);
  }
  const { values, positionals } = parsed;
  const many = command.args.at(-1)?.endsWith('...');
  const want = command.args.map((a) => `<${a}>`).join(' ');
  if (many ? positionals.length === 0 : positionals.length !== command.args.length)
    usage(`${cmd} takes ${command.args.length ? want : 'no arguments'}, got ${positionals.length ? positionals.map((p) => `'${p}'`).join(' ') : 'none'}`);
  if ('wait' in options && values.timeout !== undefined && !values.wait) usage(`${cmd}: --timeout goes with --wait`);
  // No option is `multiple`, so no value is an array.
  const out = values as Values;
  for (const key of COUNTS) if (typeof out[key] === 'string') out[key] = count(`--${key}`, out[key] as string);
  return { values: out, positionals };
}

export function count(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) usage(`${flag} must be a non-negative integer, got '${text}'`);
  return n;
}

export function pickPid(flag: string | undefined): number {
  if (flag !== undefined) {
    const pid = count('--pid', flag);
    if (pid === 0) usage('--pid must be a process id, got 0');
    return pid;
  }
  const pids = listSockets();
  if (pids.length === 1) return pids[0];
  if (pids.length === 0) throw new LpError('LP_ERR_NO_PROCESS', 'no process has a livepatch control socket (start it with node --import livepatch/register)');
  usage(`${pids.length} processes have a control socket (${pids.join(', ')}): give --pid N or --app NAME (livepatch ps shows them)`);
}

/** The one process a command talks to: --app NAME's, else pickPid's. */
async function pickProcess(cmd: string, values: Values): Promise<number> {
  if (values.app === undefined) return pickPid(values.pid as string | undefined);
  if (values.pid !== undefined) usage(`${cmd}: give --pid or --app, not both`);
  const pids = await pidsOfApp(values.app as string);
  if (pids.length === 1) return pids[0];
  usage(`${cmd}: app '${String(values.app)}' runs in ${pids.length} processes (${pids.join(', ')}): give --pid (livepatch apply --app reaches them all)`);
}

export function show<T>(io: Io, values: Values, result: T, format: (r: T) => string[]): number {
  // One line of JSON: scripts read it with JSON.parse, and `log --follow --json` is newline-delimited.
  for (const line of values.json ? [JSON.stringify(result)] : format(result)) io.out(line);
  return 0;
}

/** enable / disable: print the patch, and with --wait follow the transition to its end (src/delivery/follow.ts). */
async function finish({ io, values, client }: ProcessContext, info: PatchInfo, op: 'enable' | 'disable'): Promise<number> {
  if (!values.wait) return show(io, values, info, formatPatch);
  const r = renderer(sinkOf(io), {
    json: values.json === true,
    op,
    // Without --json the end is the patch as `list` shows it, then (when not reached) the error line.
    onComplete: (e) => void (!values.json && e.info && formatPatch(e.info).forEach((l) => io.out(l))),
  });
  const { exit } = await follow(
    client,
    { patch: info.name, want: op === 'enable' ? 'enabled' : 'disabled', timeoutS: (values.timeout as number | undefined) ?? 60, reverseAtTimeout: false },
    (e) => r.event(e),
  );
  r.done();
  return exit;
}

/** The CLI's output, with the terminal's redraw when stdout is one. */
export function sinkOf(io: Io): Sink {
  return { ...io, tty: process.stdout.isTTY === true, write: (t) => process.stdout.write(t) };
}

/** One process as `ps` shows it: its ping, its app's package name, patches and transition. */
export interface ProcessRow extends PingInfo {
  /** The `name` of the app root's package.json (null when it has none). */
  app: string | null;
  patches: PatchInfo[];
  transition: TransitionStatus;
}

type PsRow = ProcessRow | { pid: number; error: { code: string; message: string } };

/** The package name of an app root: what `--app NAME` matches. */
function appName(root: string | null): string | null {
  if (root === null) return null;
  try {
    const name = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name?: unknown }).name;
    return typeof name === 'string' ? name : null;
  } catch {
    return null;
  }
}

/** Every process with a control socket, described; one that does not answer is an error row. */
/** A cluster is one entry: its primary, then its workers beneath it (their transition is the primary's). */
function clustered(all: PsRow[]): Array<{ row: PsRow; under: boolean }> {
  const primaryOf = (r: PsRow): number | null => ('primary' in r ? r.primary : null);
  const listed = new Set(all.map((r) => r.pid));
  const out: Array<{ row: PsRow; under: boolean }> = [];
  for (const r of all) {
    const p = primaryOf(r);
    if (p !== null && listed.has(p)) continue;
    out.push({ row: r, under: false });
    for (const w of all) if (primaryOf(w) === r.pid) out.push({ row: w, under: true });
  }
  return out;
}

export async function processes(): Promise<PsRow[]> {
  return Promise.all(
    listSockets().map(async (pid): Promise<PsRow> => {
      let client: ControlClient | null = null;
      try {
        client = await ControlClient.connect(pid);
        const ping = await client.call<PingInfo>('ping');
        const [patches, transition] = await Promise.all([client.call<PatchInfo[]>('list'), client.call<TransitionStatus>('status', { limit: 0 })]);
        return { ...ping, app: appName(ping.root), patches, transition };
      } catch (e) {
        if (!isLpError(e)) throw e;
        return { pid, error: { code: e.code, message: e.message } };
      } finally {
        client?.close();
      }
    }),
  );
}

/** The pids of the processes whose app is `name` (`--app NAME`); LP_ERR_NO_PROCESS when none is. */
export async function pidsOfApp(name: string): Promise<number[]> {
  const rows = await processes();
  const pids = rows.flatMap((r) => ('app' in r && r.app === name ? [r.pid] : []));
  if (pids.length) return pids;
  const apps = [...new Set(rows.flatMap((r) => ('app' in r && r.app !== null ? [r.app] : [])))];
  throw new LpError('LP_ERR_NO_PROCESS', `no process runs app '${name}' (apps running: ${apps.join(', ') || 'none'}; livepatch ps shows them)`);
}

async function ps({ io, values }: Context): Promise<number> {
  return show(io, values, await processes(), (all) =>
    all.length === 0 ? ['no process has a livepatch control socket'] : table(
      ['PID', 'NODE', 'HOOKS', 'APP', 'ROOT', 'PATCHES', 'TRANSITION', 'COMMAND'],
      clustered(all).map(({ row: r, under }) =>
        'error' in r ? [String(r.pid), `${r.error.code}: ${r.error.message}`] : [
          under ? `  └ ${r.pid}` : String(r.pid),
          r.node,
          r.hooks,
          r.app ?? '-',
          r.root ?? '-',
          r.patches.map((p) => `${p.name}${p.enabled ? '' : '(disabled)'}`).join(',') || '-',
          r.transition.patch === null ? '-' : `${r.transition.patch} ${r.transition.targetState} ${r.transition.tasks - r.transition.pending}/${r.transition.tasks}`,
          // A process of an older livepatch may not say its command line.
          (r.argv as string[] | undefined)?.join(' ') ?? '-',
        ],
      ),
    ),
  );
}

async function log({ io, values, client }: ProcessContext): Promise<number> {
  let since = 0;
  for (let first = true; ; first = false) {
    let got: { next: number; lines: string[]; more?: boolean };
    try {
      got = await client.call('log', { since });
    } catch (e) {
      // The process exiting ends a follow normally.
      if (!first && isLpError(e) && e.code === 'LP_ERR_NO_PROCESS') return 0;
      throw e;
    }
    if (first || got.lines.length) show(io, values, got, (r) => r.lines);
    since = got.next;
    // A reply carries a bounded share of the lines: the rest comes at once, without the follow's pause.
    if (got.more) continue;
    if (!values.follow) return 0;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function hash({ io, positionals }: Context): Promise<number> {
  for (const file of positionals) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      usage(`cannot read '${file}': ${(e as Error).message}`);
    }
    // The loader hashes the source text it instruments, which never has the byte-order mark.
    io.out(`${createHash('sha256').update(text.replace(/^\uFEFF/, ''), 'utf8').digest('hex')}  ${file}`);
  }
  return 0;
}

// ---- human output ----

/** Columns padded to the widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '));
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

function describe(st: TransitionStatus): string {
  return `'${st.patch}' ${st.targetState}, started ${ms(st.ageMs)} ago, ${st.pending} of ${plural(st.tasks, 'task')} not switched, ${plural(st.attempts, 'failed attempt')}`;
}

function formatStatus(st: TransitionStatus): string[] {
  if (st.patch === null) return [`idle: no transition in progress (${plural(st.tasks, 'task')})`];
  return [
    `transition: ${describe(st)}`,
    ...table(
      ['TASK', 'ID', 'TASK AGE', 'STATE', 'HOLDING (time inside the function)'],
      st.blocked.map((t) => [
        t.name,
        String(t.id),
        ms(t.ageMs),
        t.patchState === 1 ? 'patched' : 'unpatched',
        blockersOf({ ...st, blocked: [t] })
          .filter((b) => b.func !== '-')
          .map(holdText)
          .join(', ') || '-',
      ]),
    ),
  ];
}

function formatPatches(list: PatchInfo[]): string[] {
  if (list.length === 0) return ['no patches'];
  return table(
    ['NAME', 'STATE', 'ORDER', 'OBJECTS'],
    list.map((p) => [
      p.name,
      [p.enabled ? 'enabled' : 'disabled', p.transition && 'transition', p.replace && 'replace', p.forced && 'forced'].filter(Boolean).join(','),
      String(p.stackOrder),
      [
        ...p.objects.filter((o) => !p.pendingObjects.includes(o.name)).map((o) => `${o.name} (${o.patched ? 'patched' : 'unpatched'}, ${plural(o.funcs.length, 'func')})`),
        ...p.pendingObjects.map((o) => `${o} (not loaded)`),
      ].join(', ') || '-',
    ]),
  );
}

const formatPatch = (p: PatchInfo): string[] => formatPatches([p]);

function formatModules(list: ModuleInfo[]): string[] {
  if (list.length === 0) return ['no instrumented modules'];
  return table(
    ['MODULE', 'FUNCS', 'PATCHED', 'SHA256'],
    list.map((m) => [m.name, String(m.functions), String(m.patched), m.sha256]),
  );
}

function formatFunctions(list: FunctionInfo[]): string[] {
  return table(
    ['NAME', 'SYMPOS', 'KIND', 'LINE', 'PATCHABLE'],
    list.map((f) => [f.name, String(f.sympos), f.kind, `${f.line}:${f.column}`, f.unpatchable ? `no: ${f.unpatchable}` : 'yes']),
  );
}
