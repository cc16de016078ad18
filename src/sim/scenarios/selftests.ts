// The kernel's livepatch selftests (tools/testing/selftests/livepatch/test-*.sh), one scenario per
// test case. Each scenario's transcript is compared line by line with test/sim/golden/<name>.txt.

import { patchState } from '../../engine/index.js';
import {
  check,
  checkRights,
  checkValue,
  disableLp,
  echoEnabled,
  expectRead,
  grepLivePatched,
  insmod,
  KLP_DIR,
  loadLp,
  log,
  rmmod,
  setParam,
  waitTransition,
} from '../harness.js';
import type { Instr, SimKernel } from '../kernel.js';
import {
  npids,
  testKlpAtomicReplace,
  testKlpCallbacksBusy,
  testKlpCallbacksDemo,
  testKlpCallbacksDemo2,
  testKlpCallbacksMod,
  testKlpLivepatch,
  testKlpModPatch,
  testKlpModTarget,
  testKlpShadowVars,
  testKlpState,
  testKlpState2,
  testKlpState3,
  testKlpSyscall,
} from '../modules.js';
import { admin, type Scenario } from '../scenario.js';

const LP = testKlpLivepatch.name;
const AR = testKlpAtomicReplace.name;
const DEMO = testKlpCallbacksDemo.name;
const DEMO2 = testKlpCallbacksDemo2.name;
const MOD = testKlpCallbacksMod.name;
const BUSY = testKlpCallbacksBusy.name;

/** A selftest: an admin script on a small machine with a few idle user tasks and a kthread around. */
function selftest(name: string, description: string, script: Instr[]): Scenario {
  return {
    name,
    description,
    cpus: 2,
    setup: (sim) => {
      bystanders(sim);
      return [admin(sim, script)];
    },
  };
}

/** Tasks that exist on any machine: a shell sleeping in read(), a kthread waiting for work. */
function bystanders(sim: SimKernel): void {
  sim.defineCode('vmlinux', 'n_tty_read', [{ op: 'sleep', wake: 'timer', interruptible: true }]);
  sim.defineCode('vmlinux', 'kthread_wait', [{ op: 'sleep', wake: 'timer', freezable: true }]);
  sim.spawn('bash', [{ op: 'call', obj: 'vmlinux', fn: 'n_tty_read' }, { op: 'user' }, { op: 'jump', to: 0 }]);
  sim.spawn('khungtaskd', [{ op: 'call', obj: 'vmlinux', fn: 'kthread_wait' }, { op: 'switchPoint' }, { op: 'jump', to: 0 }], 'kthread');
}

const CMDLINE_ORIG = 'BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro';

export const selftests: Scenario[] = [
  // ---- test-livepatch.sh ----
  selftest('livepatch-basic-function-patching', 'test-livepatch.sh: basic function patching', [
    ...loadLp(testKlpLivepatch),
    ...expectRead('vmlinux', 'cmdline_proc_show', 'test_klp_livepatch: this has been live patched'),
    ...disableLp(LP),
    ...rmmod(LP),
    ...expectRead('vmlinux', 'cmdline_proc_show', CMDLINE_ORIG),
  ]),
  selftest('livepatch-multiple-livepatches', 'test-livepatch.sh: multiple livepatches', [
    ...loadLp(testKlpLivepatch),
    ...grepLivePatched('cmdline_proc_show'),
    ...grepLivePatched('meminfo_proc_show'),
    ...loadLp(testKlpAtomicReplace, 'replace=0'),
    ...grepLivePatched('cmdline_proc_show'),
    ...grepLivePatched('meminfo_proc_show'),
    ...disableLp(AR),
    ...rmmod(AR),
    ...grepLivePatched('cmdline_proc_show'),
    ...grepLivePatched('meminfo_proc_show'),
    ...disableLp(LP),
    ...rmmod(LP),
    ...grepLivePatched('cmdline_proc_show'),
    ...grepLivePatched('meminfo_proc_show'),
  ]),
  selftest('livepatch-atomic-replace-livepatch', 'test-livepatch.sh: atomic replace livepatch (replaced patches run no callbacks)', [
    ...loadLp(testKlpLivepatch),
    ...grepLivePatched('cmdline_proc_show'),
    ...grepLivePatched('meminfo_proc_show'),
    ...loadLp(testKlpSyscall),
    ...loadLp(testKlpCallbacksDemo),
    check('3 patches in /sys/kernel/livepatch', (sim) => sim.klp.patches.length === 3),
    ...loadLp(testKlpAtomicReplace, 'replace=1'),
    ...grepLivePatched('cmdline_proc_show'),
    ...grepLivePatched('meminfo_proc_show'),
    check('only the replace patch left', (sim) => sim.klp.patches.length === 1 && sim.klp.patches[0].name === AR),
    ...rmmod(DEMO),
    ...rmmod(testKlpSyscall.name),
    ...rmmod(LP),
    ...grepLivePatched('cmdline_proc_show'),
    ...grepLivePatched('meminfo_proc_show'),
    ...disableLp(AR),
    ...rmmod(AR),
    ...grepLivePatched('cmdline_proc_show'),
    ...grepLivePatched('meminfo_proc_show'),
  ]),
  selftest('livepatch-module-function-patching', 'test-livepatch.sh: module function patching', [
    ...insmod(testKlpModTarget),
    ...loadLp(testKlpModPatch),
    ...expectRead('test_klp_mod_target', 'test_klp_mod_target_show', 'test_klp_mod_patch: this has been live patched'),
    ...disableLp(testKlpModPatch.name),
    ...rmmod(testKlpModPatch.name),
    ...expectRead('test_klp_mod_target', 'test_klp_mod_target_show', 'test_klp_mod_target: original output'),
    ...rmmod(testKlpModTarget.name),
  ]),
  selftest('livepatch-module-function-patching-livepatch-first', 'test-livepatch.sh: module function patching (livepatch first)', [
    ...loadLp(testKlpModPatch),
    ...insmod(testKlpModTarget),
    ...expectRead('test_klp_mod_target', 'test_klp_mod_target_show', 'test_klp_mod_patch: this has been live patched'),
    ...disableLp(testKlpModPatch.name),
    ...rmmod(testKlpModPatch.name),
    ...expectRead('test_klp_mod_target', 'test_klp_mod_target_show', 'test_klp_mod_target: original output'),
    ...rmmod(testKlpModTarget.name),
  ]),

  // ---- test-callbacks.sh ----
  selftest('callbacks-target-module-before-livepatch', 'test-callbacks.sh: target module before livepatch', [
    ...insmod(testKlpCallbacksMod),
    ...loadLp(testKlpCallbacksDemo),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
    ...rmmod(MOD),
  ]),
  selftest('callbacks-module-coming-notifier', 'test-callbacks.sh: module_coming notifier', [
    ...loadLp(testKlpCallbacksDemo),
    ...insmod(testKlpCallbacksMod),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
    ...rmmod(MOD),
  ]),
  selftest('callbacks-module-going-notifier', 'test-callbacks.sh: module_going notifier', [
    ...insmod(testKlpCallbacksMod),
    ...loadLp(testKlpCallbacksDemo),
    ...rmmod(MOD),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
  ]),
  selftest('callbacks-module-coming-and-going-notifiers', 'test-callbacks.sh: module_coming and module_going notifiers', [
    ...loadLp(testKlpCallbacksDemo),
    ...insmod(testKlpCallbacksMod),
    ...rmmod(MOD),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
  ]),
  selftest('callbacks-target-module-not-present', 'test-callbacks.sh: target module not present', [
    ...loadLp(testKlpCallbacksDemo),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
  ]),
  selftest('callbacks-pre-patch-callback-enodev', 'test-callbacks.sh: pre-patch callback -ENODEV (enable is cancelled)', [
    ...insmod(testKlpCallbacksMod),
    ...insmod(testKlpCallbacksDemo, 'pre_patch_ret=-19'),
    check('the failing patch is not installed', (sim) => sim.klp.patches.length === 0 && !sim.modules.has(DEMO)),
    ...rmmod(MOD),
  ]),
  selftest('callbacks-module-coming-pre-patch-callback-enodev', 'test-callbacks.sh: module_coming + pre-patch callback -ENODEV (module refused)', [
    ...loadLp(testKlpCallbacksDemo),
    ...setParam(DEMO, 'pre_patch_ret', '-19'),
    ...insmod(testKlpCallbacksMod),
    check('the refused module is not loaded', (sim) => !sim.modules.has(MOD)),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
  ]),
  selftest('callbacks-multiple-target-modules', 'test-callbacks.sh: multiple target modules', [
    ...insmod(testKlpCallbacksBusy, 'block_transition=N'),
    ...loadLp(testKlpCallbacksDemo),
    ...insmod(testKlpCallbacksMod),
    ...rmmod(MOD),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
    ...rmmod(BUSY),
  ]),
  selftest('callbacks-busy-target-module', 'test-callbacks.sh: busy target module (stalled transition, then reversed)', [
    ...insmod(testKlpCallbacksBusy, 'block_transition=Y'),
    ...insmod(testKlpCallbacksDemo),
    waitTransition(DEMO),
    ...insmod(testKlpCallbacksMod),
    check('the demo patch is still in transition', (sim) => sim.klp.transitionPatch?.name === DEMO),
    ...rmmod(MOD),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
    ...rmmod(BUSY),
  ]),
  selftest('callbacks-multiple-livepatches', 'test-callbacks.sh: multiple livepatches', [
    ...loadLp(testKlpCallbacksDemo),
    ...loadLp(testKlpCallbacksDemo2),
    ...disableLp(DEMO2),
    ...disableLp(DEMO),
    ...rmmod(DEMO2),
    ...rmmod(DEMO),
  ]),
  selftest('callbacks-atomic-replace', 'test-callbacks.sh: atomic replace (the replaced patch runs no callbacks)', [
    ...loadLp(testKlpCallbacksDemo),
    ...loadLp(testKlpCallbacksDemo2, 'replace=1'),
    ...disableLp(DEMO2),
    ...rmmod(DEMO2),
    ...rmmod(DEMO),
  ]),

  // ---- test-shadow-vars.sh ----
  selftest('shadow-basic-shadow-variable-api', 'test-shadow-vars.sh: basic shadow variable API', [
    ...insmod(testKlpShadowVars),
    ...rmmod(testKlpShadowVars.name),
  ]),

  // ---- test-state.sh ----
  selftest('state-system-state-modification', 'test-state.sh: system state modification', [
    ...loadLp(testKlpState),
    check('console_loglevel changed', (sim) => sim.consoleLoglevel === 15),
    ...disableLp(testKlpState.name),
    check('console_loglevel restored', (sim) => sim.consoleLoglevel === 7),
    ...rmmod(testKlpState.name),
  ]),
  selftest('state-taking-over-system-state-modification', 'test-state.sh: taking over system state modification', [
    ...loadLp(testKlpState),
    ...loadLp(testKlpState2),
    ...rmmod(testKlpState.name),
    ...disableLp(testKlpState2.name),
    check('console_loglevel restored', (sim) => sim.consoleLoglevel === 7),
    ...rmmod(testKlpState2.name),
  ]),
  selftest('state-compatible-cumulative-livepatches', 'test-state.sh: compatible cumulative livepatches', [
    ...loadLp(testKlpState2),
    ...loadLp(testKlpState3),
    ...rmmod(testKlpState2.name),
    ...loadLp(testKlpState2),
    ...disableLp(testKlpState2.name),
    ...rmmod(testKlpState2.name),
    ...rmmod(testKlpState3.name),
  ]),
  selftest('state-incompatible-cumulative-livepatches', 'test-state.sh: incompatible cumulative livepatches', [
    ...loadLp(testKlpState2),
    ...insmod(testKlpState),
    check('the incompatible patch was refused', (sim) => !sim.modules.has(testKlpState.name) && sim.klp.patches.length === 1),
    ...disableLp(testKlpState2.name),
    ...rmmod(testKlpState2.name),
  ]),

  // ---- test-sysfs.sh ----
  selftest('sysfs-basic-attributes', 'test-sysfs.sh: sysfs test (enabled, force, replace, stack_order, transition, patched)', [
    ...loadLp(testKlpLivepatch),
    checkRights(`${KLP_DIR}/${LP}`, 'drwxr-xr-x'),
    checkRights(`${KLP_DIR}/${LP}/enabled`, '-rw-r--r--'),
    checkValue(`${KLP_DIR}/${LP}/enabled`, '1'),
    checkRights(`${KLP_DIR}/${LP}/force`, '--w-------'),
    checkRights(`${KLP_DIR}/${LP}/replace`, '-r--r--r--'),
    checkRights(`${KLP_DIR}/${LP}/stack_order`, '-r--r--r--'),
    checkValue(`${KLP_DIR}/${LP}/stack_order`, '1'),
    checkRights(`${KLP_DIR}/${LP}/transition`, '-r--r--r--'),
    checkValue(`${KLP_DIR}/${LP}/transition`, '0'),
    checkRights(`${KLP_DIR}/${LP}/vmlinux/patched`, '-r--r--r--'),
    checkValue(`${KLP_DIR}/${LP}/vmlinux/patched`, '1'),
    ...disableLp(LP),
    ...rmmod(LP),
  ]),
  selftest('sysfs-object-patched', 'test-sysfs.sh: sysfs test object/patched', [
    ...loadLp(testKlpCallbacksDemo),
    checkValue(`${KLP_DIR}/${DEMO}/${MOD}/patched`, '0'),
    ...insmod(testKlpCallbacksMod),
    checkValue(`${KLP_DIR}/${DEMO}/${MOD}/patched`, '1'),
    ...rmmod(MOD),
    checkValue(`${KLP_DIR}/${DEMO}/${MOD}/patched`, '0'),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
  ]),
  selftest('sysfs-replace-enabled', 'test-sysfs.sh: sysfs test replace enabled', [
    ...loadLp(testKlpAtomicReplace, 'replace=1'),
    checkRights(`${KLP_DIR}/${AR}/replace`, '-r--r--r--'),
    checkValue(`${KLP_DIR}/${AR}/replace`, '1'),
    ...disableLp(AR),
    ...rmmod(AR),
  ]),
  selftest('sysfs-replace-disabled', 'test-sysfs.sh: sysfs test replace disabled', [
    ...loadLp(testKlpAtomicReplace, 'replace=0'),
    checkRights(`${KLP_DIR}/${AR}/replace`, '-r--r--r--'),
    checkValue(`${KLP_DIR}/${AR}/replace`, '0'),
    ...disableLp(AR),
    ...rmmod(AR),
  ]),
  selftest('sysfs-stack-order-value', 'test-sysfs.sh: sysfs test stack_order value', [
    ...loadLp(testKlpAtomicReplace),
    checkValue(`${KLP_DIR}/${AR}/stack_order`, '1'),
    ...loadLp(testKlpCallbacksDemo),
    checkValue(`${KLP_DIR}/${DEMO}/stack_order`, '2'),
    ...loadLp(testKlpSyscall),
    checkValue(`${KLP_DIR}/test_klp_syscall/stack_order`, '3'),
    ...disableLp(DEMO),
    ...rmmod(DEMO),
    checkValue(`${KLP_DIR}/${AR}/stack_order`, '1'),
    checkValue(`${KLP_DIR}/test_klp_syscall/stack_order`, '2'),
    ...disableLp(testKlpSyscall.name),
    ...rmmod(testKlpSyscall.name),
    ...disableLp(AR),
    ...rmmod(AR),
  ]),

  // ---- test-syscall.sh ----
  {
    name: 'syscall-patch-getpid-hammered',
    description: 'test-syscall.sh: patch getpid syscall while being heavily hammered (every task switches)',
    cpus: 4,
    setup: (sim) => {
      bystanders(sim);
      const hammers = Array.from({ length: 4 }, (_, i) =>
        sim.spawn(`test_klp-call_getpid/${i}`, [
          { op: 'call', obj: 'vmlinux', fn: '__x64_sys_getpid' },
          { op: 'user' },
          { op: 'jump', to: 0, when: (s) => !s.vars.killed },
        ]),
      );
      const pids = hammers.map((t) => t.id).join(',');
      return [
        admin(sim, [
          ...loadLp(testKlpSyscall, `klp_pids=${pids}`),
          { op: 'wait', until: (s) => npids(s) === 0, what: 'npids to reach 0' },
          log((s) => `test_klp_syscall: Remaining not livepatched processes: ${npids(s)}`),
          check('every hammering task is patched', (s) => hammers.every((t) => patchState(s.klp, t.id) === -1)),
          { op: 'do', fn: (s) => (s.vars.killed = true) },
          { op: 'wait', until: () => hammers.every((t) => t.status === 'dead'), what: 'the hammering tasks to exit' },
          ...echoEnabled(testKlpSyscall.name, 0),
          { op: 'wait', until: (s) => s.klp.patches.length === 0, what: 'test_klp_syscall to disappear' },
          ...rmmod(testKlpSyscall.name),
        ]),
      ];
    },
    goldenVars: (sim) => ({
      pid_list: sim.tasks
        .filter((t) => t.name.startsWith('test_klp-call_getpid/'))
        .map((t) => t.id)
        .join(','),
    }),
  },
];

