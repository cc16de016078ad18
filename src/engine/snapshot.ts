// Capture and restore of everything the engine keeps that changes, as integers: what a model checker
// needs to store a state, hash it and come back to it. The patches themselves (their objects and
// funcs) are built once by the checker and passed in; only their mutable fields are captured.

import { LpError } from './errors.js';
import { Frame, Proc } from './machine.js';
import type { Klp } from './klp.js';
import type { KlpPatch } from './model.js';

/**
 * Append the engine's mutable state to `out`. The klp_mutex owner is a proc the caller owns: it
 * captures and restores that itself.
 */
export function captureKlp(k: Klp, patches: readonly KlpPatch[], modules: readonly string[], out: number[]): void {
  out.push(k.transitionPatch ? patches.indexOf(k.transitionPatch) : -1, k.signalsCnt, k.schedHook ? 1 : 0);
  out.push(k.patches.length, ...k.patches.map((p) => patches.indexOf(p)));
  let held = 0;
  let live = 0;
  patches.forEach((p, i) => (held |= k.moduleHeld.has(p.name) ? 1 << i : 0));
  modules.forEach((m, i) => (live |= k.liveModules.has(m) ? 1 << i : 0));
  out.push(held, live);
  for (const p of patches) {
    if (p.objs.some((o) => o.dynamic)) throw new LpError('LP_ERR_SCENARIO', `patch '${p.name}': atomic-replace nops cannot be captured`);
    out.push((p.enabled ? 1 : 0) | (p.forced ? 2 : 0));
    for (const obj of p.objs) {
      out.push((obj.patched ? 1 : 0) | (obj.loaded ? 2 : 0) | (obj.postUnpatchEnabled ? 4 : 0));
      for (const f of obj.funcs) out.push(f.id, f.patched ? 1 : 0, f.oldFunc, f.newFunc, f.ops);
    }
  }
  out.push(k.freeFuncIds.length, ...k.freeFuncIds);
  out.push(k.warnings.length);
}

/** Restore what captureKlp() wrote at `at`; returns the offset after it. */
export function restoreKlp(k: Klp, patches: readonly KlpPatch[], modules: readonly string[], data: ArrayLike<number>, at: number): number {
  const tp = data[at++];
  k.transitionPatch = tp < 0 ? null : patches[tp];
  k.signalsCnt = data[at++];
  k.schedHook = data[at++] === 1;
  const n = data[at++];
  k.patches.length = 0;
  for (let i = 0; i < n; i++) k.patches.push(patches[data[at++]]);
  const held = data[at++];
  const live = data[at++];
  k.moduleHeld.clear();
  patches.forEach((p, i) => held & (1 << i) && k.moduleHeld.add(p.name));
  k.liveModules.clear();
  modules.forEach((m, i) => live & (1 << i) && k.liveModules.add(m));
  k.funcs.length = 0;
  for (const p of patches) {
    const flags = data[at++];
    p.enabled = (flags & 1) !== 0;
    p.forced = (flags & 2) !== 0;
    for (const obj of p.objs) {
      const o = data[at++];
      obj.patched = (o & 1) !== 0;
      obj.loaded = (o & 2) !== 0;
      obj.postUnpatchEnabled = (o & 4) !== 0;
      for (const f of obj.funcs) {
        f.id = data[at++];
        f.patched = data[at++] === 1;
        f.oldFunc = data[at++];
        f.newFunc = data[at++];
        f.ops = data[at++];
        if (f.id >= 0) k.funcs[f.id] = f;
      }
    }
  }
  const nfree = data[at++];
  k.freeFuncIds.length = 0;
  for (let i = 0; i < nfree; i++) k.freeFuncIds.push(data[at++]);
  k.warnings.length = data[at++];
  return at;
}

/** Append a proc's position: frame count, preemptOff, then fn, pc, i, a, b, rv per frame. */
export function captureProc(p: Proc | null, out: number[]): void {
  if (!p) {
    out.push(-1);
    return;
  }
  out.push(p.frames.length, p.preemptOff, p.result, p.cpu);
  for (const f of p.frames) out.push(f.fn, f.pc, f.i, f.a, f.b, f.rv);
}

/** Rebuild a proc captured by captureProc() (null if there was none); `task` is its `current`. */
export function restoreProc(task: number, data: ArrayLike<number>, at: number): [Proc | null, number] {
  const n = data[at++];
  if (n < 0) return [null, at];
  const preemptOff = data[at++];
  const result = data[at++];
  const cpu = data[at++];
  const p = new Proc(cpu, task, data[at], data[at + 3], data[at + 4]);
  p.frames.length = 0;
  for (let i = 0; i < n; i++) {
    const f = new Frame(data[at++], 0, 0);
    f.pc = data[at++];
    f.i = data[at++];
    f.a = data[at++];
    f.b = data[at++];
    f.rv = data[at++];
    p.frames.push(f);
  }
  p.preemptOff = preemptOff;
  p.result = result;
  return [p, at];
}
