// A real Node.js process serving the control socket, for the control-socket and CLI tests. Its one
// instrumented module is written by hand to the ABI of docs/runtime.md, so that these tests need no
// loader: `price` is a plain function, `hold` an async one that stays active in its task as long as asked.
//
// The child reads commands on stdin: `hold <ms>` starts a task `job:hold` that runs hold(ms), `price <n>`
// prints price(n). It prints `ready` once its socket is listening.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const MODULE = './lib/price.js';
export const SOURCE = `export function price(n) { return n * 2; }
export async function hold(ms) { await new Promise((r) => setTimeout(r, ms)); return 'held'; }
`;
export const SHA256 = createHash('sha256').update(SOURCE, 'utf8').digest('hex');

const SITES = JSON.stringify({
  v: 1,
  s: [
    ['price', 'function', 1, 7, ''],
    ['hold', 'function+async', 2, 7, ''],
  ],
  b: ['price', 'hold'],
});

/** SOURCE as instrument() makes it: same lines, entry hooks, activation tracking of the async function. */
const INSTRUMENTED = `var __lp$M = globalThis[Symbol.for('livepatch.runtime')]?.module(${JSON.stringify(MODULE)}, ${JSON.stringify(SHA256)}, ${JSON.stringify(SITES)}, __lp$eval);export function price(n) { if (__lp$M?.on) { const __lp$r = __lp$M.r(0, this, [n]); if (__lp$r !== __lp$M) return __lp$r; } return n * 2; }
export async function hold(ms) { if (__lp$M?.on) { const __lp$r = __lp$M.r(1, this, [ms]); if (__lp$r !== __lp$M) return __lp$r; } const __lp$t = __lp$M?.a(1); try { await new Promise((r) => setTimeout(r, ms)); return 'held'; } finally { __lp$M?.x(__lp$t, 1); } }
function __lp$eval(__lp$s) { 'use strict'; return eval(__lp$s) }
`;

const url = (p: string) => new URL(`../../src/runtime/${p}`, import.meta.url).href;

const MAIN = `
import { installRuntime } from ${JSON.stringify(url('livepatch.js'))};
import { runTask } from ${JSON.stringify(url('index.js'))};
import { startControl } from ${JSON.stringify(url('control.js'))};
import { createInterface } from 'node:readline';
const rt = installRuntime();
const app = await import('data:text/javascript,' + encodeURIComponent(${JSON.stringify(INSTRUMENTED)}));
startControl(rt);
// The socket is unref'd: this keeps the process alive until stdin closes.
const keep = setInterval(() => {}, 1 << 30);
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'hold') void runTask('job:hold', () => app.hold(Number(arg)));
  if (cmd === 'price') console.log(String(app.price(Number(arg))));
}).on('close', () => clearInterval(keep));
console.log('ready');
`;

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
  stop(): Promise<void>;
}

/** A fresh TMPDIR, so that a test sees only its own processes' sockets. */
export function freshTmp(): string {
  return mkdtempSync(join(tmpdir(), 'lp-ctl-'));
}

export async function startChild(tmp = freshTmp(), env: Record<string, string> = {}): Promise<Child> {
  // LIVEPATCH_CONTROL=0: the child starts its socket itself, once, after its module has loaded.
  const proc = spawn(process.execPath, ['--input-type=module', '-e', MAIN], {
    env: { ...process.env, TMPDIR: tmp, LIVEPATCH_CONTROL: '0', LIVEPATCH_LOG: 'off', ...env },
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
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.stdin.end();
      }),
  };
}
