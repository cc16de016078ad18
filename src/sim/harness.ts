// The selftest harness (functions.sh) as program builders for the simulated admin task: insmod and
// rmmod with the kernel's waits, sysfs reads and writes, checks. Each builder returns instructions
// the admin task runs in its own context, so every verb the engine runs for it is interleaved with
// the rest of the simulated machine.

import {
  enabledStoreProc,
  enablePatchProc,
  forceStoreProc,
  isLpError,
  moduleComingProc,
  moduleGoingProc,
  patchViews,
  type PatchDesc,
  type Proc,
} from '../engine/index.js';
import type { Instr, SimKernel, SimModule, SimTask } from './kernel.js';

export const KLP_DIR = '/sys/kernel/livepatch';

/** A module the simulator can load: a target (plain) module or a livepatch module. */
export interface ModuleDef {
  name: string;
  /** Parameters and their defaults (module_param). */
  params?: Record<string, string>;
  /** The module's functions (registered in its symbol table when it loads). */
  functions?: (sim: SimKernel, mod: SimModule) => { name: string; body: Instr[] }[];
  /** A livepatch module's patch, built once its functions have code ids. */
  patch?: (sim: SimKernel, mod: SimModule) => PatchDesc;
  /** module_init / module_exit bodies (run in the insmod / rmmod task). */
  init?: Instr[];
  exit?: Instr[];
}

const STRERROR: Record<number, string> = {
  [-1]: 'Operation not permitted',
  [-16]: 'Device or resource busy',
  [-17]: 'File exists',
  [-19]: 'No such device',
  [-22]: 'Invalid parameters',
};

const failed = (t: SimTask): boolean => t.vars.insmodFailed === true;

function insmodError(sim: SimKernel, t: SimTask, name: string, errno: number): void {
  sim.printk(`insmod: ERROR: could not insert module test_modules/${name}.ko: ${STRERROR[errno] ?? `Unknown error ${-errno}`}`);
  t.vars.insmodFailed = true;
  t.vars.lastErrno = errno;
}

function parseParams(def: ModuleDef, params: string): Record<string, string> {
  const out: Record<string, string> = { ...def.params };
  for (const kv of params.split(/\s+/).filter(Boolean)) {
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (!(key in out)) throw new Error(`module ${def.name} has no parameter '${key}'`);
    out[key] = eq < 0 ? '1' : kv.slice(eq + 1);
  }
  return out;
}

/**
 * insmod: load the module's code, run livepatch's coming notifier (MODULE_STATE_COMING), then its
 * init: a livepatch module's init enables its patch. A failure prints insmod's error line and leaves
 * the module unloaded. `params` may be a function (the syscall test's pid list is known only at run time).
 */
export function insmod(def: ModuleDef, params: string | ((sim: SimKernel) => string) = ''): Instr[] {
  const text = (sim: SimKernel): string => (typeof params === 'string' ? params : params(sim));
  return [
    { op: 'print', text: (sim) => `% insmod test_modules/${def.name}.ko${text(sim) ? ` ${text(sim)}` : ''}` },
    {
      op: 'do',
      fn: (sim, t) => {
        t.vars.insmodFailed = false;
        if (sim.modules.has(def.name)) {
          insmodError(sim, t, def.name, -17);
          return;
        }
        const mod = sim.addModule(def.name, parseParams(def, text(sim)));
        for (const fn of def.functions?.(sim, mod) ?? []) sim.defineCode(def.name, fn.name, fn.body);
        if (def.init) sim.defineCode(def.name, `${def.name}_init`, def.init);
        if (def.exit) sim.defineCode(def.name, `${def.name}_exit`, def.exit);
        mod.state = 'MODULE_STATE_COMING';
      },
    },
    {
      op: 'engine',
      make: (sim, t) => (failed(t) ? null : moduleComingProc(sim.klp, t.cpu, t.id, def.name)),
      done: (sim, t, p) => {
        if (p.error) {
          sim.removeModule(def.name);
          insmodError(sim, t, def.name, p.error.errno);
        }
      },
    },
    {
      op: 'engine',
      make: (sim, t) => {
        t.vars.enableErrno = 0;
        if (failed(t) || !def.patch) return null;
        try {
          return enablePatchProc(sim.klp, t.cpu, t.id, def.patch(sim, sim.modules.get(def.name)!));
        } catch (e) {
          if (!isLpError(e)) throw e;
          sim.log('err', `livepatch: ${e.message}`);
          t.vars.enableErrno = e.errno;
          return null;
        }
      },
      done: (sim, t, p) => {
        if (p.error) t.vars.enableErrno = p.error.errno;
        else sim.modules.get(def.name)!.patch = def.name;
      },
    },
    // A module whose init failed goes away again: the kernel runs the going notifier for it.
    {
      op: 'engine',
      make: (sim, t) => {
        if (!t.vars.enableErrno) return null;
        sim.modules.get(def.name)!.state = 'MODULE_STATE_GOING';
        return moduleGoingProc(sim.klp, t.cpu, t.id, def.name);
      },
      done: (sim, t) => {
        sim.removeModule(def.name);
        insmodError(sim, t, def.name, t.vars.enableErrno as number);
      },
    },
    { op: 'call', obj: def.name, fn: `${def.name}_init`, when: (_sim, t) => !failed(t) && !!def.init },
    {
      op: 'do',
      fn: (sim, t) => {
        if (!failed(t)) sim.modules.get(def.name)!.state = 'MODULE_STATE_LIVE';
      },
    },
  ];
}

/** The module's reference count as /sys/module/<m>/refcnt: a livepatch module is held while its patch lives. */
export function refcnt(sim: SimKernel, name: string): number {
  const mod = sim.modules.get(name);
  return mod?.patch && sim.klp.moduleHeld.has(mod.patch) ? 1 : 0;
}

/** unload_mod / unload_lp: wait for refcnt 0, rmmod (exit, then the going notifier). */
export function rmmod(name: string): Instr[] {
  return [
    { op: 'wait', until: (sim) => refcnt(sim, name) === 0, what: `refcnt of ${name} to drop to 0` },
    { op: 'print', text: `% rmmod ${name}` },
    { op: 'do', fn: (sim) => (sim.modules.get(name)!.state = 'MODULE_STATE_GOING') },
    { op: 'call', obj: name, fn: `${name}_exit`, when: (sim) => sim.lookupSymbol(name, `${name}_exit`).length > 0 },
    { op: 'engine', make: (sim, t) => moduleGoingProc(sim.klp, t.cpu, t.id, name) },
    { op: 'do', fn: (sim) => sim.removeModule(name) },
  ];
}

/** rmmod of a module that must stay (a forced patch's): the refusal is printed and checked. */
export function rmmodBusy(name: string): Instr[] {
  return [
    { op: 'print', text: `% rmmod ${name}` },
    {
      op: 'do',
      fn: (sim) => {
        if (refcnt(sim, name) === 0) sim.fail(`rmmod ${name} should be refused: its patch was forced`);
        else sim.printk(`rmmod: ERROR: Module ${name} is in use`);
      },
    },
  ];
}

const patchExists = (sim: SimKernel, name: string): boolean => sim.klp.patches.some((p) => p.name === name);
const inTransition = (sim: SimKernel, name: string): boolean => sim.klp.transitionPatch?.name === name;

/** load_lp: insmod, then wait until the patching transition is over. */
export function loadLp(def: ModuleDef, params: string | ((sim: SimKernel) => string) = ''): Instr[] {
  return [...insmod(def, params), waitTransitionDone(def.name)];
}

export function waitTransitionDone(name: string): Instr {
  return { op: 'wait', until: (sim, t) => failed(t) || !inTransition(sim, name), what: `${name}/transition to read 0` };
}

export function waitTransition(name: string): Instr {
  return { op: 'wait', until: (sim) => inTransition(sim, name), what: `${name}/transition to read 1` };
}

function echoEngine(path: string, value: string, make: (sim: SimKernel, t: SimTask) => Proc): Instr[] {
  return [
    { op: 'print', text: `% echo ${value} > ${path}` },
    {
      op: 'engine',
      make,
      done: (sim, _t, p) => {
        if (p.error) sim.printk(`echo: write error: ${STRERROR[p.error.errno] ?? p.error.errno} (${p.error.code})`);
      },
    },
  ];
}

/** echo 0|1 > enabled, without waiting. */
export function echoEnabled(name: string, value: 0 | 1): Instr[] {
  return echoEngine(`${KLP_DIR}/${name}/enabled`, String(value), (sim, t) => enabledStoreProc(sim.klp, t.cpu, t.id, name, value === 1));
}

/** disable_lp: echo 0 > enabled, then wait until the patch is gone. */
export function disableLp(name: string): Instr[] {
  return [...echoEnabled(name, 0), { op: 'wait', until: (sim) => !patchExists(sim, name), what: `${KLP_DIR}/${name} to disappear` }];
}

/** echo 1 > force */
export function force(name: string): Instr[] {
  return echoEngine(`${KLP_DIR}/${name}/force`, '1', (sim, t) => forceStoreProc(sim.klp, t.cpu, t.id, name));
}

/** set_pre_patch_ret and friends: write a module parameter. */
export function setParam(module: string, param: string, value: string): Instr[] {
  return [
    { op: 'print', text: `% echo ${value} > /sys/module/${module}/parameters/${param}` },
    { op: 'do', fn: (sim) => (sim.modules.get(module)!.params[param] = value) },
  ];
}

/** `grep 'live patched' <file> > /dev/kmsg`: call the function behind the file and log matching lines. */
export function grepLivePatched(fn: string): Instr[] {
  return [
    { op: 'do', fn: (_sim, t) => (t.out = []) },
    { op: 'call', obj: 'vmlinux', fn },
    {
      op: 'do',
      fn: (sim, t) => {
        for (const line of t.out) if (line.includes('live patched')) sim.printk(line);
      },
    },
  ];
}

/** Read a file's content as a task would (the function behind it, through the handler) and check it. */
export function expectRead(obj: string, fn: string, expected: string): Instr[] {
  return [
    { op: 'do', fn: (_sim, t) => (t.out = []) },
    { op: 'call', obj, fn },
    {
      op: 'do',
      fn: (sim, t) => {
        if (t.out.join('\n') !== expected) sim.fail(`reading ${obj}:${fn} gave ${JSON.stringify(t.out.join('\n'))}, expected ${JSON.stringify(expected)}`);
      },
    },
  ];
}

/** The harness writes a line of its own to the log. */
export function log(text: string | ((sim: SimKernel) => string)): Instr {
  return { op: 'print', text };
}

/** A check that fails the scenario (not the simulated machine) when false. */
export function check(what: string, ok: (sim: SimKernel, t: SimTask) => boolean): Instr {
  return { op: 'do', fn: (sim, t) => (ok(sim, t) ? undefined : sim.fail(what)) };
}

const MODES: Record<string, string> = {
  '': 'drwxr-xr-x',
  enabled: '-rw-r--r--',
  force: '--w-------',
  replace: '-r--r--r--',
  stack_order: '-r--r--r--',
  transition: '-r--r--r--',
  patched: '-r--r--r--',
};

/**
 * cat /sys/kernel/livepatch/<patch>/<attr> (or <patch>/<object>/patched): the value, or null if the
 * file does not exist.
 */
export function sysfsRead(sim: SimKernel, path: string): string | null {
  const rel = path.startsWith(`${KLP_DIR}/`) ? path.slice(KLP_DIR.length + 1) : path;
  const [name, attr, sub] = rel.split('/');
  const view = patchViews(sim.klp).find((v) => v.name === name);
  if (!view) return null;
  switch (attr) {
    case 'enabled':
      return view.enabled ? '1' : '0';
    case 'transition':
      return view.transition ? '1' : '0';
    case 'replace':
      return view.replace ? '1' : '0';
    case 'stack_order':
      return String(view.stackOrder);
    default: {
      const obj = view.objects.find((o) => o.name === attr);
      return obj && sub === 'patched' ? (obj.patched ? '1' : '0') : null;
    }
  }
}

/** stat --format '%A': the mode of a livepatch sysfs file (null if it does not exist). */
export function sysfsRights(sim: SimKernel, path: string): string | null {
  const rel = path.startsWith(`${KLP_DIR}/`) ? path.slice(KLP_DIR.length + 1) : path;
  const parts = rel.split('/');
  if (!patchViews(sim.klp).some((v) => v.name === parts[0])) return null;
  if (parts.length === 1) return MODES[''];
  if (parts[1] === 'force') return MODES.force;
  if (sysfsRead(sim, rel) === null) return null;
  return MODES[parts[parts.length - 1]] ?? null;
}

export function checkValue(path: string, expected: string): Instr {
  return check(`${path} should read ${expected}`, (sim) => sysfsRead(sim, path) === expected);
}

export function checkRights(path: string, expected: string): Instr {
  return check(`${path} should have rights ${expected}`, (sim) => sysfsRights(sim, path) === expected);
}

/** echo 0|1 > /sys/devices/system/cpu/cpuN/online */
export function cpuOnline(cpu: number, online: boolean): Instr[] {
  return [
    { op: 'print', text: `% echo ${online ? 1 : 0} > /sys/devices/system/cpu/cpu${cpu}/online` },
    { op: 'cpu', cpu, online },
  ];
}
