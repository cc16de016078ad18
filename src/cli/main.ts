#!/usr/bin/env node
// The livepatch command line. Every error is one line with a stable code; usage errors exit 2.

import { isLpError } from '../engine/index.js';
import { simMain, type Io } from './sim.js';

const HELP = `usage: livepatch <command>
  sim list | run | check | replay   the simulated SMP kernel and its model checker (livepatch sim --help)`;

export function main(argv: string[], io: Io): number {
  try {
    const [cmd, ...rest] = argv;
    if (cmd === 'sim') return simMain(rest, io);
    if (cmd === undefined || cmd === '--help' || cmd === '-h') {
      io.out(HELP);
      return cmd === undefined ? 2 : 0;
    }
    io.err(`livepatch: LP_ERR_USAGE: unknown command '${cmd}' (see 'livepatch --help')`);
    return 2;
  } catch (e) {
    if (!isLpError(e)) throw e;
    io.err(`livepatch: ${e.code}: ${e.message}`);
    return 2;
  }
}

const io: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };
process.exitCode = main(process.argv.slice(2), io);
