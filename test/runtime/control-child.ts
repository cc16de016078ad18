// A real app under `node --import register.js`, for the control-socket and CLI tests: its one patchable
// module has `price`, a plain function, and `hold`, an async one that stays active in its task as long
// as asked. Its control socket is the one installRuntime() starts.
//
// The app reads commands on stdin: `hold <ms>` starts a task `job:hold` that runs hold(ms), `price <n>`
// prints price(n), `call <n>` prints `call <JSON of price(n)>` or `call threw`, `canary` prints and
// empties what patch code recorded in globalThis.canary. With APP_HTTP=1 it also serves HTTP on a loopback port (each response is price(1)),
// and prints `http <port>` before `ready`; with APP_SIGTERM=1 it has a SIGTERM handler of its own that
// only prints `app: SIGTERM handled`. It prints `ready` once it runs (the socket listens before
// the app's first line).

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { ControlClient } from '../../src/runtime/control.js';

export const MODULE = './lib/price.js';
export const SOURCE = `export function price(n) {
  return n * 2;
}

export async function hold(ms) {
  await new Promise((r) => setTimeout(r, ms));
  return 'held';
}
`;
export const SHA256 = createHash('sha256').update(SOURCE, 'utf8').digest('hex');

const dist = (p: string) => new URL(`../../src/runtime/${p}`, import.meta.url);

const MAIN = `import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { runTask } from ${JSON.stringify(dist('index.js').href)};
import { hold, price } from './lib/price.js';

if (process.env.APP_SIGTERM === '1') process.on('SIGTERM', () => console.log('app: SIGTERM handled'));
if (process.env.APP_HTTP === '1') {
  const server = createServer((_req, res) => res.end(String(price(1))));
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  server.unref();
  console.log('http ' + server.address().port);
}

// Patch sources of the fuzz tests record here that they ran: \`typeof\` of their first parameter.
globalThis.canary = [];
// The control socket is unref'd: this keeps the app alive until stdin closes.
const keep = setInterval(() => {}, 1 << 30);
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const [cmd, arg] = line.split(' ');
    if (cmd === 'hold') void runTask('job:hold', () => hold(Number(arg)));
    if (cmd === 'price') console.log(String(price(Number(arg))));
    if (cmd === 'call') {
      try {
        console.log('call ' + JSON.stringify(price(Number(arg))));
      } catch {
        console.log('call threw');
      }
    }
    if (cmd === 'canary') console.log('canary ' + JSON.stringify(globalThis.canary.splice(0)));
  })
  .on('close', () => clearInterval(keep));
console.log('ready');
`;

const APP: Record<string, string> = {
  'package.json': '{ "type": "module" }',
  'livepatch.config.json': '{ "include": ["lib/**"] }',
  'main.js': MAIN,
  'lib/price.js': SOURCE,
};

export interface Child {
  proc: ChildProcessWithoutNullStreams;
  pid: number;
  /** TMPDIR of the child: its socket is in `<tmp>/livepatch-<uid>/`. */
  tmp: string;
  /** Lines the child printed on stdout, as they come. */
  lines: string[];
  /** All it wrote to stderr so far. */
  stderr(): string;
  send(line: string): void;
  /** Send a command and resolve with the first line after it that starts with `prefix`. */
  ask(line: string, prefix: string): Promise<string>;
  stop(): Promise<void>;
}

const made: string[] = [];

/** A fresh TMPDIR, so that a test sees only its own processes' sockets. */
export function freshTmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lp-ctl-'));
  made.push(dir);
  return dir;
}

/** Remove every TMPDIR freshTmp() made (after the children using them have stopped). */
export function removeTmps(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export async function startChild(tmp = freshTmp(), env: Record<string, string> = {}): Promise<Child> {
  const root = mkdtempSync(join(tmp, 'app-'));
  for (const [path, text] of Object.entries(APP)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const { LIVEPATCH_CONFIG: _c, LIVEPATCH_ROOT: _r, LIVEPATCH_CONTROL: _s, NODE_OPTIONS: _o, ...clean } = process.env;
  const proc = spawn(process.execPath, ['--import', dist('register.js').pathname, 'main.js'], {
    cwd: root,
    env: { ...clean, TMPDIR: tmp, LIVEPATCH_LOG: 'off', ...env },
  });
  const lines: string[] = [];
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      lines.push(line);
      if (line === 'ready') resolve();
    });
    proc.once('exit', (code) => reject(new Error(`child exited with ${code}: ${stderr}`)));
  });
  return {
    proc,
    pid: proc.pid!,
    tmp,
    lines,
    stderr: () => stderr,
    send: (line) => proc.stdin.write(`${line}\n`),
    ask: async (line, prefix) => {
      const from = lines.length;
      proc.stdin.write(`${line}\n`);
      for (;;) {
        const found = lines.slice(from).find((l) => l.startsWith(prefix));
        if (found !== undefined) return found;
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`child exited (${proc.exitCode ?? proc.signalCode}): ${stderr}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.stdin.end();
      }),
  };
}

/** Resident set of a process, in bytes (Linux's /proc). */
export function rss(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

/**
 * One child for the whole test file, started before its first test and stopped after its last, with
 * this process's TMPDIR pointed at the child's (socketPath() and listSockets() follow it) and a
 * connected client.
 */
export function childForFile(env: Record<string, string> = {}): { readonly child: Child; readonly client: ControlClient } {
  const at: { child?: Child; client?: ControlClient } = {};
  before(async () => {
    at.child = await startChild(freshTmp(), env);
    process.env.TMPDIR = at.child.tmp;
    at.client = await ControlClient.connect(at.child.pid);
  });
  after(async () => {
    at.client?.close();
    await at.child?.stop();
    removeTmps();
  });
  return {
    get child() {
      return at.child!;
    },
    get client() {
      return at.client!;
    },
  };
}
