// Running a scenario: build the simulated machine, run its scripted tasks to the end under a scheduler,
// and report the transcript, the scenario's own check failures and the engine's warnings.

import { LpError, patchState, pending, type Variant } from '../engine/index.js';
import { SimKernel, type Instr, type SimOptions, type SimTask } from './kernel.js';
import { bootVmlinux } from './modules.js';
import { RandomScheduler, RecordingScheduler, ReplayScheduler, type Scheduler } from './scheduler.js';

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly cpus?: number;
  /** CPUs online at boot (default: all). */
  readonly online?: number[];
  readonly reliableStack?: boolean;
  /** Create the machine's tasks; returns the scripted ones the run waits for (the admin, usually). */
  setup(sim: SimKernel): SimTask[];
  /** Placeholders the golden transcript uses for run-dependent text (the syscall test's pid list). */
  goldenVars?(sim: SimKernel): Record<string, string>;
}

export interface RunResult {
  scenario: string;
  seed: number;
  transcript: string[];
  /** Every log line, with the per-task lines the transcript leaves out. */
  log: string[];
  /** The scenario's checks that failed, then every WARN the engine hit, then leftover state. */
  failures: string[];
  warnings: string[];
  steps: number;
  /** The choices made, to replay the run exactly. */
  choices: number[];
  goldenVars: Record<string, string>;
}

export interface RunOptions {
  seed?: number;
  variant?: Variant;
  /** Replay these choices instead of drawing from the seed. */
  replay?: readonly number[];
  maxSteps?: number;
}

/** Build a scenario's machine under a scheduler (exposed for tests that inspect the live kernel). */
export function boot(scenario: Scenario, scheduler: Scheduler, opts: RunOptions = {}): { sim: SimKernel; actors: SimTask[] } {
  const simOpts: SimOptions = {
    cpus: scenario.cpus ?? 2,
    online: scenario.online,
    variant: opts.variant,
    reliableStack: scenario.reliableStack,
    maxSteps: opts.maxSteps,
  };
  const sim = new SimKernel(scheduler, simOpts);
  bootVmlinux(sim);
  return { sim, actors: scenario.setup(sim) };
}

export function runScenario(scenario: Scenario, opts: RunOptions = {}): RunResult {
  const seed = opts.seed ?? 1;
  const recorder = new RecordingScheduler(opts.replay ? new ReplayScheduler(opts.replay) : new RandomScheduler(seed));
  const { sim, actors } = boot(scenario, recorder, opts);
  const failures: string[] = [];
  try {
    sim.run(actors);
  } catch (e) {
    failures.push(e instanceof Error ? e.message : String(e));
  }
  failures.push(...sim.failures, ...sim.klp.warnings.map((w) => `WARN: ${w}`));
  if (failures.length === 0) failures.push(...leftovers(sim));
  return {
    scenario: scenario.name,
    seed,
    transcript: sim.transcript(),
    log: sim.fullLog(),
    failures,
    warnings: [...sim.klp.warnings],
    steps: sim.steps,
    choices: recorder.choices,
    goldenVars: scenario.goldenVars?.(sim) ?? {},
  };
}

/** I3: with no transition running, every task is IDLE with its flag clear. */
function leftovers(sim: SimKernel): string[] {
  if (sim.klp.transitionPatch) return [];
  const out: string[] = [];
  for (const t of sim.tasks) {
    if (t.status === 'dead') continue;
    if (patchState(sim.klp, t.id) !== -1) out.push(`${t.name}: patch_state ${patchState(sim.klp, t.id)} outside a transition`);
    if (pending(sim.klp, t.id)) out.push(`${t.name}: TIF_PATCH_PENDING set outside a transition`);
  }
  return out;
}

/** A scenario's admin: one user task running the script, then exiting. */
export function admin(sim: SimKernel, script: Instr[]): SimTask {
  return sim.spawn('admin', script);
}

export class ScenarioRegistry {
  private readonly byName = new Map<string, Scenario>();

  add(s: Scenario): void {
    if (this.byName.has(s.name)) throw new Error(`duplicate scenario ${s.name}`);
    this.byName.set(s.name, s);
  }

  get(name: string): Scenario {
    const s = this.byName.get(name);
    if (!s)
      throw new LpError('LP_ERR_NO_SUCH_SCENARIO', `no scenario named '${name}': run 'livepatch sim list' to see them`);
    return s;
  }

  all(): Scenario[] {
    return [...this.byName.values()];
  }
}
