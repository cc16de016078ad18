// The seed thread's points, each as a scenario run under the final code: a reverse in the middle of a
// transition, CPU hotplug during a transition, fork during a transition, and a kthread that never
// reaches a switch point (stall, fake signals, force).
//
// Tasks here call two patched functions in one syscall and check they ran the same version (I1,
// per-task consistency), so any scheduling that mixes versions fails the scenario.

import { patchState, TRANSITION_PATCHED } from '../../engine/index.js';
import {
  check,
  cpuOnline,
  disableLp,
  echoEnabled,
  force,
  insmod,
  loadLp,
  rmmod,
  rmmodBusy,
  waitTransition,
  waitTransitionDone,
  type ModuleDef,
} from '../harness.js';
import type { Instr, SimKernel, SimTask } from '../kernel.js';
import { admin, type Scenario } from '../scenario.js';

const mark = (text: string): Instr => ({ op: 'do', fn: (_s, t) => t.out.push(text) });
const released = (sim: SimKernel): boolean => sim.vars.release === true;

/** The functions the demo patch changes: a blocking read, two fast calls, a loop that never sleeps. */
function demoVmlinux(sim: SimKernel): void {
  sim.defineCode('vmlinux', 'demo_read', [mark('read:orig'), { op: 'sleep', wake: 'cond', cond: released, interruptible: true }]);
  sim.defineCode('vmlinux', 'demo_fast_a', [mark('a:orig'), { op: 'call', obj: 'vmlinux', fn: 'demo_fast_b' }]);
  sim.defineCode('vmlinux', 'demo_fast_b', [mark('b:orig')]);
  sim.defineCode('vmlinux', 'demo_spin', [mark('spin:orig'), { op: 'jump', to: 1 }]);
}

const klpDemo: ModuleDef = {
  name: 'klp_demo',
  functions: () => [
    { name: 'new_demo_read', body: [mark('read:new'), { op: 'sleep', wake: 'cond', cond: released, interruptible: true }] },
    { name: 'new_demo_fast_a', body: [mark('a:new'), { op: 'call', obj: 'vmlinux', fn: 'demo_fast_b' }] },
    { name: 'new_demo_fast_b', body: [mark('b:new')] },
    { name: 'new_demo_spin', body: [mark('spin:new'), { op: 'do', fn: () => undefined }, { op: 'jump', to: 1 }] },
  ],
  patch: (sim, mod) => ({
    name: mod.name,
    objs: [
      {
        name: 'vmlinux',
        funcs: ['demo_read', 'demo_fast_a', 'demo_fast_b', 'demo_spin'].map((oldName) => ({
          oldName,
          newFunc: sim.lookupSymbol(mod.name, `new_${oldName}`)[0],
        })),
      },
    ],
  }),
};

/**
 * A syscall in which patched demo_fast_a calls patched demo_fast_b. While demo_fast_a is on the stack
 * the task cannot pass a safe point, so both must run the same version (I1). The version seen is kept
 * for the scenario's later checks.
 */
function consistentSyscall(): Instr[] {
  return [
    { op: 'do', fn: (_s, t) => (t.out = []) },
    { op: 'call', obj: 'vmlinux', fn: 'demo_fast_a' },
    {
      op: 'do',
      fn: (sim, t) => {
        const [a, b] = t.out.map((s) => s.split(':')[1]);
        if (a !== b) sim.fail(`I1: ${t.name} ran demo_fast_a ${a} and, called from it, demo_fast_b ${b}`);
        t.vars.last = a;
      },
    },
    { op: 'user' },
  ];
}

/** A task looping on the two-function syscall until the scenario says stop. */
function worker(sim: SimKernel, name: string): SimTask {
  return sim.spawn(name, [...consistentSyscall(), { op: 'jump', to: 0, when: (s) => !s.vars.stop }]);
}

/** A task blocked in demo_read (inside a function being patched) until the scenario releases it. */
function reader(sim: SimKernel): SimTask {
  return sim.spawn('reader', [{ op: 'call', obj: 'vmlinux', fn: 'demo_read' }, { op: 'user' }]);
}

const sleepingInRead = (t: SimTask): Instr => ({
  op: 'wait',
  until: () => t.status === 'sleeping',
  what: 'the reader to sleep in demo_read',
});

const stopAll = (tasks: SimTask[]): Instr[] => [
  { op: 'do', fn: (s) => (s.vars.stop = true) },
  { op: 'wait', until: () => tasks.every((t) => t.status === 'dead'), what: 'the workers to exit' },
];

const allRan = (tasks: SimTask[], version: string): Instr =>
  check(`every worker ran the ${version} version last`, () => tasks.every((t) => t.vars.last === version));

export const seedScenarios: Scenario[] = [
  {
    name: 'seed-reverse',
    description: 'seed: disable in the middle of a patching transition; switched tasks switch back',
    cpus: 2,
    setup: (sim) => {
      demoVmlinux(sim);
      const r = reader(sim);
      const workers = [worker(sim, 'worker0'), worker(sim, 'worker1'), worker(sim, 'worker2')];
      return [
        admin(sim, [
          sleepingInRead(r),
          ...insmod(klpDemo),
          waitTransition('klp_demo'),
          {
            op: 'wait',
            until: (s) => workers.some((t) => patchState(s.klp, t.id) === TRANSITION_PATCHED && t.vars.last === 'new'),
            what: 'a worker to switch and run the new code',
          },
          check('the reader blocks the transition', (s) => s.klp.transitionPatch?.name === 'klp_demo'),
          ...echoEnabled('klp_demo', 0),
          { op: 'wait', until: (s) => s.klp.patches.length === 0, what: 'the reversed patch to be freed' },
          { op: 'wait', until: () => workers.every((t) => t.vars.last === 'orig'), what: 'every worker to run the original again' },
          ...stopAll(workers),
          allRan(workers, 'orig'),
          { op: 'do', fn: (s) => (s.vars.release = true) },
          ...rmmod('klp_demo'),
        ]),
      ];
    },
  },
  {
    name: 'seed-hotplug',
    description: 'seed: a CPU goes offline and another comes online during a transition (idle tasks of possible CPUs)',
    cpus: 4,
    online: [0, 1, 2],
    setup: (sim) => {
      demoVmlinux(sim);
      const r = reader(sim);
      const workers = [worker(sim, 'worker0'), worker(sim, 'worker1')];
      return [
        admin(sim, [
          sleepingInRead(r),
          ...insmod(klpDemo),
          waitTransition('klp_demo'),
          ...cpuOnline(2, false),
          ...cpuOnline(3, true),
          { op: 'do', fn: (s) => (s.vars.release = true) },
          waitTransitionDone('klp_demo'),
          check('the idle tasks of all possible CPUs are back to IDLE', (s) => [0, 1, 2, 3].every((c) => patchState(s.klp, s.idleTask(c)) === -1)),
          { op: 'wait', until: () => workers.every((t) => t.vars.last === 'new'), what: 'every worker to run the new code' },
          ...cpuOnline(3, false),
          ...cpuOnline(2, true),
          ...disableLp('klp_demo'),
          ...stopAll(workers),
          allRan(workers, 'orig'),
          ...rmmod('klp_demo'),
        ]),
      ];
    },
  },
  {
    name: 'seed-fork',
    description: 'seed: tasks fork during a transition; children inherit state and pending flag (klp_copy_process)',
    cpus: 2,
    setup: (sim) => {
      demoVmlinux(sim);
      const r = reader(sim);
      const forker = sim.spawn('forker', [
        ...consistentSyscall(),
        { op: 'fork', name: 'child', program: [...consistentSyscall(), ...consistentSyscall()] },
        { op: 'do', fn: (s) => (s.vars.forks = ((s.vars.forks as number) ?? 0) + (s.klp.transitionPatch ? 1 : 0)) },
        { op: 'jump', to: 0, when: (s) => !s.vars.stop },
      ]);
      return [
        admin(sim, [
          sleepingInRead(r),
          ...insmod(klpDemo),
          waitTransition('klp_demo'),
          { op: 'wait', until: (s) => ((s.vars.forks as number) ?? 0) >= 3, what: 'three forks during the transition' },
          { op: 'do', fn: (s) => (s.vars.release = true) },
          waitTransitionDone('klp_demo'),
          ...disableLp('klp_demo'),
          ...stopAll([forker]),
          { op: 'wait', until: (s) => s.tasks.every((t) => t.name !== 'child' || t.status === 'dead'), what: 'the children to exit' },
          ...rmmod('klp_demo'),
        ]),
      ];
    },
  },
  {
    name: 'seed-kthread-force',
    description: 'seed: a kthread never reaches a switch point: the transition stalls, signals go out, force (patch forced)',
    cpus: 2,
    setup: (sim) => {
      demoVmlinux(sim);
      return [
        admin(sim, [
          ...loadLp(klpDemo),
          { op: 'fork', name: 'vhost', kthread: true, program: [{ op: 'call', obj: 'vmlinux', fn: 'demo_spin' }] },
          { op: 'wait', until: (s) => s.taskNamed('vhost').out.includes('spin:new'), what: 'the kthread to spin in the new code' },
          ...echoEnabled('klp_demo', 0),
          { op: 'wait', until: (s) => s.klp.signalsCnt > 15, what: 'the fake signals after 15 attempts' },
          check('still in transition', (s) => s.klp.transitionPatch?.name === 'klp_demo'),
          ...force('klp_demo'),
          // The next retry may already have completed and freed it: then only its held module shows it.
          check('the patch is marked forced', (s) => {
            const patch = s.klp.patches.find((p) => p.name === 'klp_demo');
            return patch ? patch.forced : s.klp.moduleHeld.has('klp_demo');
          }),
          { op: 'wait', until: (s) => s.klp.patches.length === 0, what: 'the forced transition to complete' },
          ...rmmodBusy('klp_demo'),
        ]),
      ];
    },
  },
  {
    name: 'sim-unreliable-stack',
    description: 'a task whose stack cannot be walked reliably blocks the transition until it returns to user mode',
    cpus: 2,
    setup: (sim) => {
      demoVmlinux(sim);
      sim.defineCode('vmlinux', 'unwind_me', [{ op: 'sleep', wake: 'cond', cond: released }]);
      const odd = sim.spawn('odd', [
        { op: 'do', fn: (_s, t) => (t.vars.unreliableStack = true) },
        { op: 'call', obj: 'vmlinux', fn: 'unwind_me' },
        { op: 'user' },
      ]);
      return [
        admin(sim, [
          { op: 'wait', until: () => odd.status === 'sleeping', what: 'the task to sleep' },
          ...insmod(klpDemo),
          waitTransition('klp_demo'),
          { op: 'wait', until: (s) => s.klp.signalsCnt > 2, what: 'a few retries' },
          check('the task with the unreliable stack holds the transition', (s) => s.klp.transitionPatch?.name === 'klp_demo'),
          { op: 'do', fn: (s) => (s.vars.release = true) },
          waitTransitionDone('klp_demo'),
          check('it switched at its return to user mode', () => odd.status === 'dead' || odd.frames.length === 1),
          ...disableLp('klp_demo'),
          ...rmmod('klp_demo'),
        ]),
      ];
    },
  },
];
