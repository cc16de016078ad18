// `livepatch sim ...`: list the simulated-kernel scenarios and run one.

import { parseArgs } from 'node:util';
import { LpError, type Variant } from '../engine/index.js';
import { runScenario } from '../sim/scenario.js';
import { scenarios } from '../sim/scenarios/index.js';
import { MODELS } from '../sim/check/models.js';
import { CLUSTER_MODELS } from '../sim/check/cluster/check.js';
import { COORD_DROPPABLE } from '../cluster/coord.js';
import { DROPPABLE, simCheck, simReplay } from './check.js';

const VARIANTS: readonly Variant[] = ['final', 'v4.12', 'v3'];

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

function usage(msg: string): never {
  throw new LpError('LP_ERR_USAGE', `${msg} (see 'livepatch sim --help')`);
}

export const SIM_HELP = `usage:
  livepatch sim list                        list the scenarios: name, then what it shows
  livepatch sim run <scenario> [options]    run one scenario once and print its log
  livepatch sim check <scenario> [options]  explore every interleaving of the scenario's model
  livepatch sim replay <token>              replay a counterexample step by step
options for run:
  --seed N        scheduler seed (default 1): the same seed gives the same run
  --variant V     transition code: final (v6.16, default), v4.12, v3 (as posted in the seed)
  --verbose       also print the per-task lines (who blocks and where)
options for check:
  --strategy S    dfs (exhaustive, default), bfs (shortest counterexample), random, pct
  --variant V     final, v4.12, v3          --memory M   sc (default) or relaxed (store buffers)
  --tasks N --cpus N --rounds N             the model's size; syscalls per task (0: unbounded)
  --drop X        leave out a barrier or synchronize (repeatable): ${DROPPABLE.join(', ')}
  --seed N        for random and pct        --max-states N   bound (states, or steps for random/pct)
  --json          one JSON object           --no-symmetry --no-por   turn reductions off
  --workers N     dfs on N threads sharing one state table (default 1; counts then vary run to run)
checkable scenarios: ${[...Object.keys(MODELS), ...Object.keys(CLUSTER_MODELS)].join(', ')}
  (cluster-hotplug takes --drop ${COORD_DROPPABLE.join(' | ')}, --workers, --spawns, --kills)
exit status: 0 no violation (or the run passed), 1 a violation (or a failed run), 2 usage or input error`;

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
  if (cmd === 'check') return simCheck(rest, io);
  if (cmd === 'replay') return simReplay(rest, io);
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
