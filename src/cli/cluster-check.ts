// `livepatch sim check cluster-hotplug` and the replay of its `lpc1.…` tokens: the cluster World
// (src/sim/check/cluster/) from the command line, with the options that model has.

import { parseArgs } from 'node:util';
import { LpError } from '../engine/index.js';
import { COORD_DROPPABLE, type CoordDrop } from '../cluster/coord.js';
import { CLUSTER_MODELS, clusterCheck, clusterReplay, decodeClusterToken, encodeClusterToken, type ClusterToken } from '../sim/check/cluster/check.js';
import { ClusterWorld } from '../sim/check/cluster/world.js';
import type { Io } from './sim.js';

function usage(msg: string): never {
  throw new LpError('LP_ERR_USAGE', `${msg} (see 'livepatch sim --help')`);
}

function count(name: string, value: string | undefined, dflt: number, max: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > max) usage(`--${name} must be an integer from 0 to ${max}, got '${value}'`);
  return n;
}

export function isClusterCheck(argv: readonly string[]): boolean {
  return argv.some((a) => Object.hasOwn(CLUSTER_MODELS, a));
}

export function clusterSimCheck(argv: string[], io: Io): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { drop: { type: 'string', multiple: true }, workers: { type: 'string' }, spawns: { type: 'string' }, kills: { type: 'string' }, 'max-states': { type: 'string' }, json: { type: 'boolean' } },
    });
  } catch (e) {
    usage(`${(e as Error).message.split('\n')[0].replace(/\. To specify a positional.*/, '')} (cluster scenarios take --drop, --workers, --spawns, --kills, --max-states, --json)`);
  }
  const { values: v, positionals } = parsed;
  if (positionals.length !== 1) usage(`'sim check' takes one scenario name, got ${positionals.length}`);
  const scenario = positionals[0];
  const base = CLUSTER_MODELS[scenario].shape;
  const drop = ((v.drop as string[] | undefined) ?? []).flatMap((d) => d.split(','));
  for (const d of drop) if (!(COORD_DROPPABLE as readonly string[]).includes(d)) usage(`--drop for ${scenario} must name one of ${COORD_DROPPABLE.join(', ')}, got '${d}'`);
  const shape = {
    workers: count('workers', v.workers as string | undefined, base.workers, 4) || usage('--workers must be at least 1'),
    spawns: count('spawns', v.spawns as string | undefined, base.spawns, 6),
    kills: count('kills', v.kills as string | undefined, base.kills, 6),
  };
  const r = clusterCheck(new ClusterWorld(shape, drop as CoordDrop[]), count('max-states', v['max-states'] as string | undefined, 2_000_000, 50_000_000) || 1);
  const token = (choices: number[]): ClusterToken => ({ scenario, drop: drop as CoordDrop[], shape, choices });
  const violations = r.violation
    ? [{ invariant: r.violation.invariant, detail: r.violation.detail, trace: clusterReplay(token(r.violation.choices)).steps, token: encodeClusterToken(token(r.violation.choices)) }]
    : [];
  if (v.json) {
    io.out(JSON.stringify({ scenario, drop, ...shape, strategy: 'bfs', complete: r.complete, states: r.states, transitions: r.transitions, violations, elapsed_ms: r.elapsedMs }));
  } else {
    io.out(`livepatch sim check ${scenario}${drop.length ? `, without ${drop.join(', ')}` : ''}: ${shape.workers} worker(s), ${shape.spawns} spawn(s), ${shape.kills} kill(s), bfs`);
    for (const x of violations) {
      io.out(`VIOLATION ${x.invariant}: ${x.detail}`);
      for (const line of x.trace) io.out(line);
      io.out(`replay: livepatch sim replay ${x.token}`);
    }
    io.out(`${r.complete ? 'complete' : r.violation ? 'stopped at the violation' : 'incomplete (bound reached)'}: ${r.states} states, ${r.transitions} transitions, ${r.elapsedMs} ms${r.violation ? '' : ', no violation'}`);
  }
  return r.violation ? 1 : 0;
}

export function clusterSimReplay(token: string, json: boolean, io: Io): number {
  const t = decodeClusterToken(token);
  const r = clusterReplay(t);
  if (json) io.out(JSON.stringify({ ...t, choices: undefined, steps: r.steps.length, violation: r.violation, trace: r.steps }));
  else {
    for (const line of r.steps) io.out(line);
    io.out(r.violation ? `VIOLATION ${r.violation.invariant}: ${r.violation.detail}` : `no violation after ${r.steps.length} steps`);
  }
  return r.violation ? 1 : 0;
}
