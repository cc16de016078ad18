// What `livepatch sim check <scenario>` explores: for each checkable scenario, the model form of its
// story (the same transition code, on the checker's World) with its default size.

import { LpError } from '../../engine/index.js';
import { barrierModels } from './barrier-models.js';
import type { WorldConfig } from './world.js';

export type ModelShape = Omit<WorldConfig, 'variant' | 'memory' | 'drop'>;

const base: ModelShape = {
  tasks: 2,
  cpus: 1,
  hotplug: 'none',
  reverses: 0,
  fork: false,
  force: false,
  sleepInPatched: true,
  freezableSleep: false,
  moduleLoad: false,
  lean: false,
  rounds: 0,
  prepatched: false,
  disables: 0,
};

export const MODELS: Record<string, { description: string; shape: ModelShape }> = {
  'seed-reverse': {
    description: 'enable, then a reverse at any point of the transition (the seed race)',
    shape: { ...base, reverses: 1 },
  },
  'seed-hotplug': {
    description: 'a CPU comes online and goes offline again at any point (idle tasks of possible CPUs)',
    shape: { ...base, tasks: 1, cpus: 2, hotplug: 'both' },
  },
  'seed-fork': {
    description: 'a task forks at any point of the transition (klp_copy_process)',
    shape: { ...base, fork: true },
  },
  'seed-kthread-force': {
    description: 'a transition forced at any point (unsafe by design: tasks it switched are exempt from I1/I5)',
    shape: { ...base, force: true },
  },
  'seed-force-disable': {
    description: 'the applied patch is disabled and the transition forced at any point (I8: the forced patch stays pinned)',
    shape: { ...base, prepatched: true, disables: 1, force: true },
  },
  'seed-immediate': {
    description: "v3's immediate patch (removed upstream in 2018) enabled while a task is inside f: check with --variant v3",
    shape: { ...base, tasks: 1, immediate: true },
  },
  'seed-sched': {
    description: 'tasks also sleep freezably, switching themselves in the scheduler hook (v6.16), with a reverse',
    shape: { ...base, freezableSleep: true, reverses: 1 },
  },
  'module-coming': {
    description: 'a module the patch targets loads at any point of the transition',
    shape: { ...base, tasks: 1, moduleLoad: true, reverses: 1 },
  },
  'seed-barriers': {
    description: 'the patch is applied, then disabled at any point while a task on another CPU calls f and g (for --memory relaxed)',
    shape: { ...base, tasks: 1, cpus: 2, sleepInPatched: false, rounds: 1, prepatched: true, disables: 1 },
  },
  full: {
    description: 'reverse, fork and a hot-plugged CPU in one run',
    shape: { ...base, tasks: 3, cpus: 2, hotplug: 'both', reverses: 1, fork: true, lean: true },
  },
  bench: {
    description: 'the protocol the SPIN comparison models: tasks at the barrier or asleep in f, one reverse',
    shape: { ...base, tasks: 3, reverses: 1, lean: true },
  },
  ...barrierModels(base),
};

export function model(name: string): { description: string; shape: ModelShape } {
  const m = MODELS[name];
  if (!m)
    throw new LpError(
      'LP_ERR_NO_SUCH_SCENARIO',
      `scenario '${name}' has no model to check; checkable: ${Object.keys(MODELS).join(', ')}`,
    );
  return m;
}
