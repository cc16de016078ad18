// The kernel's selftest modules (tools/testing/selftests/livepatch/test_modules), rebuilt for the
// simulator: the same names, parameters, patched functions, callbacks and printed lines, so that the
// selftests' transcripts can be compared line by line.

import { getPrevState, getState, Shadow, type CallbackObject, type Callbacks, type ModuleState } from '../engine/index.js';
import type { ModuleDef } from './harness.js';
import type { Instr, SimKernel, SimModule } from './kernel.js';

/** Functions every simulated kernel has (the files and syscalls the tests read). */
export function bootVmlinux(sim: SimKernel): void {
  const out = (text: string): Instr => ({ op: 'do', fn: (_s, t) => t.out.push(text) });
  sim.defineCode('vmlinux', 'cmdline_proc_show', [out('BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro')]);
  sim.defineCode('vmlinux', 'meminfo_proc_show', [out('MemTotal:       24576000 kB')]);
  sim.defineCode('vmlinux', '__x64_sys_getpid', [out('getpid')]);
}

const STATE_TEXT: Record<ModuleState, string> = {
  MODULE_STATE_LIVE: '[MODULE_STATE_LIVE] Normal state',
  MODULE_STATE_COMING: '[MODULE_STATE_COMING] Full formed, running module_init',
  MODULE_STATE_GOING: '[MODULE_STATE_GOING] Going away',
  MODULE_STATE_UNFORMED: '[MODULE_STATE_UNFORMED] Setting up',
};

/** callback_info() of the demo modules: `<cb>: vmlinux` or `<cb>: <mod> -> <state>`. */
function callbackInfo(sim: SimKernel, module: string, cb: string, obj: CallbackObject): void {
  sim.printk(obj.moduleState ? `${module}: ${cb}: ${obj.name} -> ${STATE_TEXT[obj.moduleState]}` : `${module}: ${cb}: ${obj.name}`);
}

function demoCallbacks(sim: SimKernel, mod: SimModule): Callbacks {
  return {
    prePatch: (obj) => {
      callbackInfo(sim, mod.name, 'pre_patch_callback', obj);
      return Number(mod.params.pre_patch_ret ?? '0');
    },
    postPatch: (obj) => callbackInfo(sim, mod.name, 'post_patch_callback', obj),
    preUnpatch: (obj) => callbackInfo(sim, mod.name, 'pre_unpatch_callback', obj),
    postUnpatch: (obj) => callbackInfo(sim, mod.name, 'post_unpatch_callback', obj),
  };
}

const code = (sim: SimKernel, mod: string, fn: string): number => sim.lookupSymbol(mod, fn)[0];
const out = (text: string): Instr => ({ op: 'do', fn: (_s, t) => t.out.push(text) });
const bool = (v: string | undefined): boolean => v === 'Y' || v === 'y' || v === '1' || v === 'true';

export const testKlpLivepatch: ModuleDef = {
  name: 'test_klp_livepatch',
  functions: () => [{ name: 'livepatch_cmdline_proc_show', body: [out('test_klp_livepatch: this has been live patched')] }],
  patch: (sim, mod) => ({
    name: mod.name,
    objs: [{ name: 'vmlinux', funcs: [{ oldName: 'cmdline_proc_show', newFunc: code(sim, mod.name, 'livepatch_cmdline_proc_show') }] }],
  }),
};

export const testKlpAtomicReplace: ModuleDef = {
  name: 'test_klp_atomic_replace',
  params: { replace: '0' },
  functions: () => [{ name: 'livepatch_meminfo_proc_show', body: [out('test_klp_atomic_replace: this has been live patched')] }],
  patch: (sim, mod) => ({
    name: mod.name,
    replace: Number(mod.params.replace) !== 0,
    objs: [{ name: 'vmlinux', funcs: [{ oldName: 'meminfo_proc_show', newFunc: code(sim, mod.name, 'livepatch_meminfo_proc_show') }] }],
  }),
};

export const testKlpCallbacksDemo: ModuleDef = {
  name: 'test_klp_callbacks_demo',
  params: { pre_patch_ret: '0' },
  functions: () => [{ name: 'patched_work_func', body: [{ op: 'print', text: 'test_klp_callbacks_demo: patched_work_func' }] }],
  patch: (sim, mod) => {
    const callbacks = demoCallbacks(sim, mod);
    return {
      name: mod.name,
      objs: [
        { name: 'vmlinux', funcs: [], callbacks },
        { name: 'test_klp_callbacks_mod', funcs: [], callbacks },
        {
          name: 'test_klp_callbacks_busy',
          funcs: [{ oldName: 'busymod_work_func', newFunc: code(sim, mod.name, 'patched_work_func') }],
          callbacks,
        },
      ],
    };
  },
};

export const testKlpCallbacksDemo2: ModuleDef = {
  name: 'test_klp_callbacks_demo2',
  params: { replace: '0' },
  patch: (sim, mod) => ({
    name: mod.name,
    replace: Number(mod.params.replace) !== 0,
    objs: [{ name: 'vmlinux', funcs: [], callbacks: demoCallbacks(sim, mod) }],
  }),
};

export const testKlpCallbacksMod: ModuleDef = {
  name: 'test_klp_callbacks_mod',
  init: [{ op: 'print', text: 'test_klp_callbacks_mod: test_klp_callbacks_mod_init' }],
  exit: [{ op: 'print', text: 'test_klp_callbacks_mod: test_klp_callbacks_mod_exit' }],
};

/**
 * A target whose work item sleeps (msleep, not freezable) inside busymod_work_func while
 * block_transition is set: a task the patching transition cannot switch.
 */
export const testKlpCallbacksBusy: ModuleDef = {
  name: 'test_klp_callbacks_busy',
  params: { block_transition: 'N' },
  functions: (_sim, mod) => [
    {
      name: 'busymod_work_func',
      body: [
        { op: 'print', text: 'test_klp_callbacks_busy: busymod_work_func enter' },
        { op: 'do', fn: () => (mod.params.entered = '1') },
        { op: 'jump', to: 5, when: () => !bool(mod.params.block_transition) },
        { op: 'sleep', wake: 'timer' },
        { op: 'jump', to: 2 },
        { op: 'print', text: 'test_klp_callbacks_busy: busymod_work_func exit' },
        { op: 'do', fn: () => (mod.params.finished = '1') },
      ],
    },
  ],
  init: [
    { op: 'print', text: 'test_klp_callbacks_busy: test_klp_callbacks_busy_init' },
    {
      op: 'fork',
      name: 'kworker/busy',
      kthread: true,
      program: [{ op: 'call', obj: 'test_klp_callbacks_busy', fn: 'busymod_work_func' }, { op: 'exit' }],
    },
    { op: 'sleep', wake: 'cond', cond: (sim) => sim.modules.get('test_klp_callbacks_busy')!.params.entered === '1' },
    {
      op: 'sleep',
      wake: 'cond',
      cond: (sim) => {
        const p = sim.modules.get('test_klp_callbacks_busy')!.params;
        return bool(p.block_transition) || p.finished === '1';
      },
    },
  ],
  exit: [
    { op: 'do', fn: (sim) => (sim.modules.get('test_klp_callbacks_busy')!.params.block_transition = 'N') },
    { op: 'sleep', wake: 'cond', cond: (sim) => sim.modules.get('test_klp_callbacks_busy')!.params.finished === '1' },
    { op: 'print', text: 'test_klp_callbacks_busy: test_klp_callbacks_busy_exit' },
  ],
};

export const testKlpModTarget: ModuleDef = {
  name: 'test_klp_mod_target',
  functions: () => [{ name: 'test_klp_mod_target_show', body: [out('test_klp_mod_target: original output')] }],
  init: [{ op: 'print', text: 'test_klp_mod_target: test_klp_mod_target_init' }],
  exit: [{ op: 'print', text: 'test_klp_mod_target: test_klp_mod_target_exit' }],
};

export const testKlpModPatch: ModuleDef = {
  name: 'test_klp_mod_patch',
  functions: () => [{ name: 'livepatch_mod_target_show', body: [out('test_klp_mod_patch: this has been live patched')] }],
  patch: (sim, mod) => ({
    name: mod.name,
    objs: [{ name: 'test_klp_mod_target', funcs: [{ oldName: 'test_klp_mod_target_show', newFunc: code(sim, mod.name, 'livepatch_mod_target_show') }] }],
  }),
};

/**
 * test_klp_syscall: patches getpid; a listed pid that runs the patched version for the first time
 * counts npids down.
 */
export const testKlpSyscall: ModuleDef = {
  name: 'test_klp_syscall',
  params: { klp_pids: '' },
  functions: (_sim, mod) => [
    {
      name: 'lp_sys_getpid',
      body: [
        out('getpid'),
        {
          op: 'do',
          fn: (_s, t) => {
            const pids = mod.params.klp_pids.split(',').filter(Boolean);
            const seen = new Set((mod.params.seen ?? '').split(',').filter(Boolean));
            if (pids.includes(String(t.id)) && !seen.has(String(t.id))) {
              seen.add(String(t.id));
              mod.params.seen = [...seen].join(',');
            }
          },
        },
      ],
    },
  ],
  patch: (sim, mod) => ({
    name: mod.name,
    objs: [{ name: 'vmlinux', funcs: [{ oldName: '__x64_sys_getpid', newFunc: code(sim, mod.name, 'lp_sys_getpid') }] }],
  }),
};

/** /sys/kernel/test_klp_syscall/npids */
export function npids(sim: SimKernel): number {
  const p = sim.modules.get('test_klp_syscall')?.params;
  if (!p) return -1;
  return p.klp_pids.split(',').filter(Boolean).length - (p.seen ?? '').split(',').filter(Boolean).length;
}

/** test_klp_shadow_vars: the whole shadow-variable test runs in module_init, printing pointers as PTR<n>. */
export const testKlpShadowVars: ModuleDef = {
  name: 'test_klp_shadow_vars',
  init: [{ op: 'do', fn: (sim) => shadowVarsTest(sim) }],
};

function shadowVarsTest(sim: SimKernel): void {
  const say = (s: string): void => sim.printk(`test_klp_shadow_vars: ${s}`);
  const ids = new Map<unknown, number>();
  const ptr = (p: unknown): number => {
    if (!ids.has(p)) ids.set(p, ids.size);
    return ids.get(p)!;
  };
  const shadow = new Shadow((level, line) => sim.log(level, line));
  type Sv = { value?: object };
  const ctor = (_obj: unknown, sv: Sv, data: { value: object }): number => {
    sv.value = data.value;
    say(`shadow_ctor: PTR${ptr(sv)} -> PTR${ptr(data.value)}`);
    return 0;
  };
  const dtor = (obj: unknown, sv: Sv): void => say(`shadow_dtor(obj=PTR${ptr(obj)}, shadow_data=PTR${ptr(sv)})`);
  const get = (obj: object, id: number): Sv | null => {
    const sv = shadow.get<Sv>(obj, id);
    say(`klp_shadow_get(obj=PTR${ptr(obj)}, id=0x${id.toString(16)}) = PTR${ptr(sv)}`);
    return sv;
  };
  const alloc = (kind: 'alloc' | 'get_or_alloc', obj: object, id: number, data: { value: object }): Sv | null => {
    const sv = kind === 'alloc' ? shadow.alloc(obj, id, ctor, data) : shadow.getOrAlloc(obj, id, ctor, data);
    say(
      `klp_shadow_${kind}(obj=PTR${ptr(obj)}, id=0x${id.toString(16)}, size=8, gfp_flags=GFP_KERNEL), ctor=PTR${ptr(ctor)}, ctor_data=PTR${ptr(data.value)} = PTR${ptr(sv)}`,
    );
    return sv;
  };
  const expectSv = (sv: Sv | null, field: object): void => {
    if (sv && sv.value === field) say(`  got expected PTR${ptr(sv)} -> PTR${ptr(sv.value)} result`);
  };
  const ID1 = 0x1234;
  const ID2 = 0x1235;
  const objs = [{}, {}, {}];
  const field1 = objs.map(() => ({}));
  const field2 = objs.map(() => ({}));
  ptr(null);
  if (!get(objs[0], ID1)) say('  got expected NULL result');
  const sv1: (Sv | null)[] = [];
  const sv2: (Sv | null)[] = [];
  objs.forEach((obj, i) => {
    ptr(field1[i]);
    sv1[i] = alloc(i % 2 ? 'alloc' : 'get_or_alloc', obj, ID1, { value: field1[i] });
    ptr(field2[i]);
    sv2[i] = alloc('alloc', obj, ID2, { value: field2[i] });
  });
  objs.forEach((obj, i) => {
    const a = get(obj, ID1);
    if (a === sv1[i]) expectSv(a, field1[i]);
    const b = get(obj, ID2);
    if (b === sv2[i]) expectSv(b, field2[i]);
  });
  objs.forEach((obj, i) => {
    const sv = alloc('get_or_alloc', obj, ID1, { value: field1[i] });
    if (sv === sv1[i]) expectSv(sv, field1[i]);
  });
  objs.forEach((obj) => {
    shadow.free(obj, ID1, dtor);
    say(`klp_shadow_free(obj=PTR${ptr(obj)}, id=0x${ID1.toString(16)}, dtor=PTR${ptr(dtor)})`);
    if (!get(obj, ID1)) say('  got expected NULL result');
  });
  objs.forEach((obj, i) => {
    const sv = get(obj, ID2);
    if (sv === sv2[i]) expectSv(sv, field2[i]);
  });
  shadow.freeAll(ID2);
  say(`klp_shadow_free_all(id=0x${ID2.toString(16)}, dtor=PTR${ptr(null)})`);
  objs.forEach((obj) => {
    if (!get(obj, ID2)) say('  got expected NULL result');
  });
}

const CONSOLE_LOGLEVEL_STATE = 1;

/**
 * test_klp_state (version 1) and test_klp_state2/3 (version 2): cumulative patches that change a
 * system setting (console_loglevel) and hand it over through klp_state.
 */
function stateModule(name: string, version: number): ModuleDef {
  return {
    name,
    patch: (sim, mod) => {
      const say = (s: string): void => sim.printk(`${mod.name}: ${s}`);
      const takeOver = version >= 2;
      const prev = (): unknown => (takeOver ? getPrevState(sim.klp, CONSOLE_LOGLEVEL_STATE) : null);
      const own = () => {
        const patch = sim.klp.patches.find((p) => p.name === mod.name);
        return patch ? getState(patch, CONSOLE_LOGLEVEL_STATE) : null;
      };
      const callbacks: Callbacks = {
        prePatch: (obj) => {
          callbackInfo(sim, mod.name, 'pre_patch_callback', obj);
          if (prev()) {
            say('allocate_loglevel_state: space to store console_loglevel already allocated');
            return 0;
          }
          const state = own();
          if (!state) return -22;
          state.data = { loglevel: 0 };
          say('allocate_loglevel_state: allocating space to store console_loglevel');
          return 0;
        },
        postPatch: (obj) => {
          callbackInfo(sim, mod.name, 'post_patch_callback', obj);
          const state = own();
          if (!state) return;
          const before = prev();
          if (before) {
            say('fix_console_loglevel: taking over the console_loglevel change');
            state.data = (before as { data: unknown }).data;
            return;
          }
          say('fix_console_loglevel: fixing console_loglevel');
          (state.data as { loglevel: number }).loglevel = sim.consoleLoglevel;
          sim.consoleLoglevel = 15;
        },
        preUnpatch: (obj) => {
          callbackInfo(sim, mod.name, 'pre_unpatch_callback', obj);
          if (prev()) {
            say('restore_console_loglevel: passing the console_loglevel change back to the old livepatch');
            return;
          }
          say('restore_console_loglevel: restoring console_loglevel');
          const state = own();
          if (state?.data) sim.consoleLoglevel = (state.data as { loglevel: number }).loglevel;
        },
        postUnpatch: (obj) => {
          callbackInfo(sim, mod.name, 'post_unpatch_callback', obj);
          if (prev()) {
            say('free_loglevel_state: keeping space to store console_loglevel');
            return;
          }
          say('free_loglevel_state: freeing space for the stored console_loglevel');
          const state = own();
          if (state) state.data = null;
        },
      };
      return {
        name: mod.name,
        replace: true,
        states: [{ id: CONSOLE_LOGLEVEL_STATE, version }],
        objs: [{ name: 'vmlinux', funcs: [], callbacks }],
      };
    },
  };
}

export const testKlpState = stateModule('test_klp_state', 1);
export const testKlpState2 = stateModule('test_klp_state2', 2);
export const testKlpState3 = stateModule('test_klp_state3', 2);
