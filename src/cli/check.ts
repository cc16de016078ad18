// `livepatch sim check` and `livepatch sim replay`: the model checker from the command line.

import { parseArgs } from 'node:util';
import { LpError, type Variant } from '../engine/index.js';
import { check, type Strategy } from '../sim/check/explore.js';
import { model } from '../sim/check/models.js';
import { decodeToken, encodeToken, formatTrace, replay, worldFor, type Token } from '../sim/check/trace.js';
import type { MemoryModel } from '../sim/check/world.js';
import { isClusterToken } from '../sim/check/cluster/check.js';
import { clusterSimCheck, clusterSimReplay, isClusterCheck } from './cluster-check.js';
import type { Io } from './sim.js';

const VARIANTS: readonly Variant[] = ['final', 'v4.12', 'v3'];
const STRATEGIES: readonly Strategy[] = ['dfs', 'bfs', 'random', 'pct'];
const MEMORIES: readonly MemoryModel[] = ['sc', 'relaxed'];
/** Every barrier and synchronize the engine lets a checker drop (Klp.drop). */
export const DROPPABLE = [
  'wmb-init',
  'wmb-enable',
  'release-push',
  'wmb-disable',
  'wmb-reverse',
  'rmb-handler',
  'rmb-handler-stack',
  'rmb-sched',
  'sync-reverse',
  'sync-complete-patch',
  'sync-complete-unpatch',
] as const;

function usage(msg: string): never {
  throw new LpError('LP_ERR_USAGE', `${msg} (see 'livepatch sim --help')`);
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (!allowed.includes(value as T)) usage(`--${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

function count(name: string, value: string | undefined, dflt: number, min: number, max: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) usage(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
  return n;
}

type Options = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

function parse<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options, strict: true });
  } catch (e) {
    usage((e as Error).message.split('\n')[0].replace(/\. To specify a positional.*/, ''));
  }
}

export function simCheck(argv: string[], io: Io): number {
  if (isClusterCheck(argv)) return clusterSimCheck(argv, io);
  const { values: v, positionals } = parse(argv, {
    variant: { type: 'string' },
    strategy: { type: 'string' },
    tasks: { type: 'string' },
    cpus: { type: 'string' },
    rounds: { type: 'string' },
    seed: { type: 'string' },
    'max-states': { type: 'string' },
    memory: { type: 'string' },
    drop: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    'no-symmetry': { type: 'boolean' },
    'no-por': { type: 'boolean' },
    workers: { type: 'string' },
  });
  if (positionals.length !== 1) usage(`'sim check' takes one scenario name, got ${positionals.length}`);
  const scenario = positionals[0];
  const shape = model(scenario).shape;
  const drop = ((v.drop as string[] | undefined) ?? []).flatMap((d) => d.split(','));
  for (const d of drop) if (!(DROPPABLE as readonly string[]).includes(d)) usage(`--drop must name one of ${DROPPABLE.join(', ')}, got '${d}'`);
  const token: Omit<Token, 'choices'> = {
    scenario,
    variant: oneOf('variant', v.variant as string | undefined, VARIANTS, 'final'),
    memory: oneOf('memory', v.memory as string | undefined, MEMORIES, 'sc'),
    drop,
    tasks: count('tasks', v.tasks as string | undefined, shape.tasks, 1, 12),
    cpus: count('cpus', v.cpus as string | undefined, shape.cpus, 1, 8),
    ...(v.rounds === undefined ? {} : { rounds: count('rounds', v.rounds as string, shape.rounds, 0, 100) }),
  };
  const strategy = oneOf('strategy', v.strategy as string | undefined, STRATEGIES, 'dfs');
  const workers = count('workers', v.workers as string | undefined, 1, 1, 64);
  const r = check(worldFor(token), {
    strategy,
    maxStates: count('max-states', v['max-states'] as string | undefined, 5_000_000, 1, 2_000_000_000),
    seed: count('seed', v.seed as string | undefined, 1, 0, 2 ** 31 - 1),
    symmetry: !v['no-symmetry'],
    por: !v['no-por'],
    depth: 400,
    pctDepth: 3,
    workers,
  });
  const violations = r.violation
    ? [
        {
          invariant: r.violation.invariant,
          detail: r.violation.detail,
          trace: formatTrace(replay({ ...token, choices: r.violation.choices }).steps),
          token: encodeToken({ ...token, choices: r.violation.choices }),
        },
      ]
    : [];
  if (v.json) {
    io.out(
      JSON.stringify({
        scenario,
        variant: token.variant,
        memory: token.memory,
        drop,
        tasks: token.tasks,
        cpus: token.cpus,
        strategy,
        workers,
        complete: r.complete,
        states: r.states,
        transitions: r.transitions,
        violations,
        elapsed_ms: r.elapsedMs,
        ...(r.workerTransitions ? { worker_transitions: r.workerTransitions } : {}),
        ...(r.quietFallbacks ? { quiet_fallbacks: r.quietFallbacks } : {}),
      }),
    );
  } else {
    io.out(
      `livepatch sim check ${scenario}: variant ${token.variant}, memory ${token.memory}${drop.length ? `, without ${drop.join(', ')}` : ''}, ${token.tasks} task(s), ${token.cpus} CPU(s), ${strategy}${workers > 1 ? ` on ${workers} threads` : ''}`,
    );
    for (const x of violations) {
      io.out(`VIOLATION ${x.invariant}: ${x.detail}`);
      for (const line of x.trace) io.out(line);
      io.out(`replay: livepatch sim replay ${x.token}`);
    }
    const what = strategy === 'dfs' || strategy === 'bfs' ? 'states' : 'steps';
    io.out(
      `${r.complete ? 'complete' : r.violation ? 'stopped at the violation' : 'incomplete (bound reached)'}: ${r.states} ${what}, ${r.transitions} transitions, ${r.elapsedMs} ms${r.violation ? '' : ', no violation'}`,
    );
    if (r.quietFallbacks) io.out(`${r.quietFallbacks} quiet lead step(s) were not quiet and were taken on their own`);
  }
  return r.violation ? 1 : 0;
}

export function simReplay(argv: string[], io: Io): number {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
  if (positionals.length !== 1) usage(`'sim replay' takes one token, got ${positionals.length}`);
  if (isClusterToken(positionals[0])) return clusterSimReplay(positionals[0], Boolean(values.json), io);
  const token = decodeToken(positionals[0]);
  const r = replay(token);
  const trace = formatTrace(r.steps);
  if (values.json) io.out(JSON.stringify({ ...token, choices: undefined, steps: r.steps.length, violation: r.violation, trace }));
  else {
    for (const line of trace) io.out(line);
    io.out(r.violation ? `VIOLATION ${r.violation.invariant}: ${r.violation.detail}` : `no violation after ${r.steps.length} steps`);
  }
  return r.violation ? 1 : 0;
}
