// A real HTTP service for the delivery tests, started under livepatch in a TMPDIR of its own (so a
// test sees only its sockets): `lib/work.mjs`'s handle() stamps its version into every response;
// `/park/<id>` parks the request inside handle() and never returns on its own (the blocker), while it
// counts the fake signals it gets (`/signals`, from the runtime's signal listeners); `/release/<id>`
// lets it go. Plus the CLI, run as a user runs it, and a bounded loopback load.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = (p: string): string => fileURLToPath(new URL(`../../src/${p}`, import.meta.url));
export const CLI = dist('cli/main.js');
const REGISTER = dist('runtime/register.js');

export const WORK = `// The one patchable module.
export async function handle(url, park) {
  const version = 'v1';
  if (park) await park();
  return JSON.stringify({ url, version });
}
`;

const SERVER = `import http from 'node:http';
import { onLivepatchSignal } from ${JSON.stringify(new URL(`file://${dist('runtime/index.js')}`).href)};
import { handle } from './lib/work.mjs';

let signals = 0;
const gates = new Map();
const server = http.createServer(async (req, res) => {
  if (req.url === '/signals') return res.end(String(signals));
  if (req.url.startsWith('/parked/')) return res.end(gates.has(req.url.slice(8)) ? 'yes' : 'no');
  if (req.url.startsWith('/release/')) {
    const open = gates.get(req.url.slice(9));
    gates.delete(req.url.slice(9));
    if (open) open();
    return res.end(open ? 'released' : 'none');
  }
  let park = null;
  if (req.url.startsWith('/park/')) {
    // A blocker that ignores the fake signal: it only counts it.
    onLivepatchSignal(() => signals++);
    park = () => new Promise((resolve) => gates.set(req.url.slice(6), resolve));
  }
  res.end(await handle(req.url, park));
});
server.listen(0, '127.0.0.1', () => console.log('READY ' + server.address().port));
`;

export const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** A patch of handle() to `version` for the module source `source`. */
export function workPatch(name: string, version: string, source = WORK): Record<string, unknown> {
  return {
    name,
    objs: [{ name: './lib/work.mjs', sha256: sha256(source), funcs: [{ oldName: 'handle', source: `async function (url, park) { const version = '${version}'; if (park) await park(); return JSON.stringify({ url, version }) }` }] }],
  };
}

export interface App {
  /** The app root (package name 'delivery-fixture'). */
  root: string;
  tmp: string;
  write(path: string, text: string): void;
  /** Remove the TMPDIR (after every process stopped). */
  remove(): void;
}

export function makeApp(): App {
  const tmp = mkdtempSync(join(tmpdir(), 'lp-dlv-'));
  const root = join(tmp, 'app');
  const write = (path: string, text: string): void => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write('package.json', '{ "name": "delivery-fixture", "type": "module" }');
  write('livepatch.config.json', '{ "include": ["lib/**"] }');
  write('server.mjs', SERVER);
  write('lib/work.mjs', WORK);
  return { root, tmp, write, remove: () => rmSync(tmp, { recursive: true, force: true }) };
}

export interface Service {
  pid: number;
  port: number;
  stderr(): string;
  get(path: string): Promise<{ status: number; body: string }>;
  /** The version a fresh request runs. */
  version(): Promise<string>;
  stop(): Promise<void>;
}

function cleanEnv(app: App, env: Record<string, string>): NodeJS.ProcessEnv {
  const { LIVEPATCH_CONFIG: _c, LIVEPATCH_ROOT: _r, LIVEPATCH_CONTROL: _s, LIVEPATCH_TRUST: _t, NODE_OPTIONS: _o, CI: _ci, ...clean } = process.env;
  return { ...clean, TMPDIR: app.tmp, LIVEPATCH_LOG: 'notice', ...env };
}

/** Start the app: `node --import livepatch/register server.mjs`, or through `livepatch run` (`via: 'run'`). */
export async function startService(app: App, opts: { env?: Record<string, string>; via?: 'register' | 'run' } = {}): Promise<Service> {
  const args = opts.via === 'run' ? [CLI, 'run', 'server.mjs'] : ['--import', REGISTER, 'server.mjs'];
  const proc: ChildProcess = spawn(process.execPath, args, { cwd: app.root, env: cleanEnv(app, opts.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const port = await new Promise<number>((ok, fail) => {
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /READY (\d+)/.exec(out);
      if (m) ok(Number(m[1]));
    });
    proc.once('exit', (code) => fail(new Error(`the service exited with ${code}: ${stderr}`)));
  });
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  };
  // With `livepatch run` the service is the CLI's child: the pid with the socket is the grandchild.
  const pid = opts.via === 'run' ? await socketPid(app) : proc.pid!;
  return {
    pid,
    port,
    stderr: () => stderr,
    get,
    version: async () => (JSON.parse((await get('/fresh')).body) as { version: string }).version,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill();
      }),
  };
}

async function socketPid(app: App): Promise<number> {
  const r = await cli(app, ['ps', '--json']);
  const rows = JSON.parse(r.stdout) as Array<{ pid: number }>;
  if (rows.length !== 1) throw new Error(`expected one process, got ${r.stdout}`);
  return rows[0].pid;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it, seeing the app's sockets; async, so the service keeps serving. */
export function cli(app: App, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: app.root, env: cleanEnv(app, env) });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Bounded loopback load: `clients` keep-alive loops until stop(); every response's version counted. */
export function load(svc: Service, clients: number): { stop(): Promise<{ served: number; failed: number; versions: Record<string, number> }> } {
  let running = true;
  let served = 0;
  let failed = 0;
  const versions: Record<string, number> = {};
  const loops = Array.from({ length: clients }, async (_, n) => {
    for (let i = 0; running; i++) {
      try {
        const r = await svc.get(`/load/${n}/${i}`);
        const v = (JSON.parse(r.body) as { version: string }).version;
        if (r.status !== 200) failed++;
        else versions[v] = (versions[v] ?? 0) + 1;
      } catch {
        failed++;
      }
      served++;
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { served, failed, versions };
    },
  };
}

export const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Park a request inside handle(): resolves when it is in (the service counts it as a task). */
export function park(svc: Service, id: string): Promise<{ status: number; body: string }> {
  return svc.get(`/park/${id}`);
}

export function writePatch(app: App, patch: Record<string, unknown>): string {
  const file = join(app.tmp, `${String(patch.name)}.json`);
  writeFileSync(file, JSON.stringify(patch, null, 2));
  return file;
}
