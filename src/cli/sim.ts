// `livepatch sim ...`: list the simulated-kernel scenarios and run one.

import { parseArgs } from 'node:util';
import { LpError, type Variant } from '../engine/index.js';
import { runScenario } from '../sim/scenario.js';
import { scenarios } from '../sim/scenarios/index.js';

const VARIANTS: readonly Variant[] = ['final', 'v4.12', 'v3'];

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

function usage(msg: string): never {
  throw new LpError('LP_ERR_USAGE', `${msg} (see 'livepatch sim --help')`);
}

export const SIM_HELP = `usage:
  livepatch sim list                      list the scenarios: name, then what it shows
  livepatch sim run <scenario> [options]  run one scenario once and print its log
options for run:
  --seed N        scheduler seed (default 1): the same seed gives the same run
  --variant V     transition code: final (v6.16, default), v4.12, v3 (as posted in the seed)
  --verbose       also print the per-task lines (who blocks and where)
exit status: 0 the run finished with no failed check and no WARN, 1 it did not, 2 usage error`;

export function simMain(argv: string[], io: Io): number {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    io.out(SIM_HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === 'list') {
    if (rest.length) usage(`'sim list' takes no arguments, got '${rest[0]}'`);
    const width = Math.max(...scenarios.all().map((s) => s.name.length));
    for (const s of scenarios.all()) io.out(`${s.name.padEnd(width)}  ${s.description}`);
    return 0;
  }
  if (cmd === 'run') return simRun(rest, io);
  usage(`unknown sim command '${cmd}'`);
}

function simRun(argv: string[], io: Io): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { seed: { type: 'string' }, variant: { type: 'string' }, verbose: { type: 'boolean' } },
    });
  } catch (e) {
    usage((e as Error).message.split('\n')[0].replace(/\. To specify a positional.*/, ''));
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) usage(`'sim run' takes one scenario name, got ${positionals.length}`);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) usage(`--seed must be a non-negative integer, got '${values.seed}'`);
  const variant = (values.variant ?? 'final') as Variant;
  if (!VARIANTS.includes(variant)) usage(`--variant must be one of ${VARIANTS.join(', ')}, got '${values.variant}'`);
  const scenario = scenarios.get(positionals[0]);
  const r = runScenario(scenario, { seed, variant });
  for (const line of values.verbose ? r.log : r.transcript) io.out(line);
  if (r.failures.length === 0) return 0;
  for (const f of r.failures) io.err(`FAILED: ${f}`);
  io.err(`replay: livepatch sim run ${scenario.name} --seed ${seed}${variant === 'final' ? '' : ` --variant ${variant}`}`);
  return 1;
}
