#!/usr/bin/env node
// The livepatch command line. Every error is one line with a stable code; usage errors exit 2.

import { isLpError } from '../engine/index.js';
import { didYouMean } from '../builder/check.js';
import { DELIVERY_COMMANDS, DELIVERY_HELP, deliveryCommand } from './delivery.js';
import { build, BUILD_HELP } from './build.js';
import { demo } from './demo.js';
import { run } from './run.js';
import { RUNTIME_COMMANDS, RUNTIME_HELP, runtimeCommand } from './runtime.js';
import { simMain, type Io } from './sim.js';

const HELP = `usage: livepatch <command>
  demo                              a live HTTP service patched, reversed and replaced under load
  run <app.js> [args]               run a Node app with livepatch loaded (= node --import livepatch/register)
  sim list | run | check | replay   the simulated SMP kernel and its model checker (livepatch sim --help)
  build                             make a patch from the fixed source, or check one (livepatch build --help)
${RUNTIME_HELP}
${BUILD_HELP}
${DELIVERY_HELP}`;

function usageError(io: Io, e: unknown): number {
  if (!isLpError(e)) throw e;
  io.err(`livepatch: ${e.code}: ${e.message}`);
  return 2;
}

/** The exit code: synchronous for the simulator's commands, a promise for those that talk to processes. */
export function main(argv: string[], io: Io): number | Promise<number> {
  try {
    const [cmd, ...rest] = argv;
    if (cmd === 'sim') return simMain(rest, io);
    if (cmd === 'demo')
      return demo(io).catch((e: unknown) => {
        io.err(`livepatch: demo failed: ${isLpError(e) ? e.toString() : (e as Error).message}`);
        return 1;
      });
    if (cmd === 'run') return run(rest).catch((e: unknown) => usageError(io, e));
    if (cmd === 'build') return build(rest, io);
    if (cmd !== undefined && RUNTIME_COMMANDS.includes(cmd)) return runtimeCommand(cmd, rest, io);
    if (cmd !== undefined && DELIVERY_COMMANDS.includes(cmd)) return deliveryCommand(cmd, rest, io);
    if (cmd === undefined || cmd === '--help' || cmd === '-h') {
      io.out(HELP);
      return cmd === undefined ? 2 : 0;
    }
    const near = didYouMean(cmd, ['sim', 'demo', 'run', 'build', ...RUNTIME_COMMANDS, ...DELIVERY_COMMANDS]);
    io.err(`livepatch: LP_ERR_USAGE: unknown command '${cmd}'${near.length ? ` (did you mean ${near.map((n) => `'${n}'`).join(' or ')}?)` : ''} (see 'livepatch --help')`);
    return 2;
  } catch (e) {
    return usageError(io, e);
  }
}

// The reader of our output went away (`livepatch log --follow | head`): stop quietly, as a filter does,
// with the status earned so far; any other write error is a real one.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}
const io: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };
void Promise.resolve(main(process.argv.slice(2), io)).then((code) => {
  process.exitCode = code;
});
