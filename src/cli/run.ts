// `livepatch run app.js [args]`: the app in a child Node with the loader preloaded, as if it had been
// started with `node --import livepatch/register app.js [args]`.

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { isatty } from 'node:tty';
import { LpError } from '../engine/errors.js';

const REGISTER = new URL('../runtime/register.js', import.meta.url).href;

// Forwarded to the child, which a supervisor signals through our pid. SIGUSR1 is not: it is Node's own
// (it starts the inspector).
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];
// From a terminal, Ctrl-C and Ctrl-\ reach the child directly (same process group); sending them again
// would deliver them twice, which apps with a graceful shutdown take as "force quit". We just wait.
const FROM_TERMINAL = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT']);

/** Resolves to the child's exit code, or 128 + the signal number that killed it (as a shell reports it). */
export function run(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    const usage = 'usage: livepatch run <app.js> [args] (node options may precede the script)';
    return Promise.reject(new LpError('LP_ERR_USAGE', usage));
  }
  const child = spawn(process.execPath, ['--import', REGISTER, ...argv], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => {
    if (!(isatty(0) && FROM_TERMINAL.has(signal))) child.kill(signal);
  };
  for (const signal of FORWARDED) process.on(signal, forward);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve(signal === null ? (code ?? 1) : 128 + constants.signals[signal]);
    });
  });
}
