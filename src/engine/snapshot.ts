// Capture and restore of everything the engine keeps that changes, as integers: what a model checker
// needs to store a state, hash it and come back to it. The patches themselves (their objects and
// funcs) are built once by the checker and passed in; only their mutable fields are captured.
//
// A checker captures and restores millions of times a second, so both work on reused buffers and
// reuse the engine objects in place: nothing here allocates once the buffers have grown.

import { LpError } from './errors.js';
import { Frame, Proc } from './machine.js';
import type { Klp } from './klp.js';
import type { KlpPatch } from './model.js';

/** A growable int32 vector a capture appends to; clear() and reuse it so no state costs an allocation. */
export class IntVec {
  buf = new Int32Array(256);
  n = 0;

  clear(): void {
    this.n = 0;
  }

  push(v: number): void {
    if (this.n === this.buf.length) this.reserve(1);
    this.buf[this.n++] = v;
  }

  /** Room for k more values: buf[n .. n + k) may then be written directly. */
  reserve(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Int32Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf);
    this.buf = next;
  }

  /** The contents, without copying (valid until the next write). */
  view(): Int32Array {
    return this.buf.subarray(0, this.n);
  }

  /** The contents as a new array of their own. */
  copy(): Int32Array {
    return this.buf.slice(0, this.n);
  }
}

/**
 * A cursor over a captured vector. The restore functions read through a local copy of `at` and
 * write it back: a checker restores millions of times a second.
 */
export class IntReader {
  data: ArrayLike<number> = EMPTY;
  at = 0;

  reset(data: ArrayLike<number>, at = 0): this {
    this.data = data;
    this.at = at;
    return this;
  }
}

/** (An Int32Array, like every vector a checker restores from: reads stay monomorphic.) */
const EMPTY = new Int32Array(0);

/** Bit i set iff `set` holds names[i]. */
function mask(set: ReadonlySet<string>, names: readonly string[]): number {
  let m = 0;
  for (let i = 0; i < names.length; i++) if (set.has(names[i])) m |= 1 << i;
  return m;
}

function restoreSet(set: Set<string>, names: readonly string[], m: number): void {
  if (mask(set, names) === m) return;
  set.clear();
  for (let i = 0; i < names.length; i++) if (m & (1 << i)) set.add(names[i]);
}

/**
 * Append the engine's mutable state to `out`. The klp_mutex owner is a proc the caller owns: it
 * captures and restores that itself. klp_signals_cnt is left to the caller too: a checker decides
 * whether the attempt count is part of its state.
 */
export function captureKlp(k: Klp, patches: readonly KlpPatch[], patchNames: readonly string[], modules: readonly string[], out: IntVec): void {
  out.push(k.transitionPatch ? patches.indexOf(k.transitionPatch) : -1);
  out.push(k.schedHook ? 1 : 0);
  out.push(k.patches.length);
  for (const p of k.patches) out.push(patches.indexOf(p));
  out.push(mask(k.moduleHeld, patchNames));
  out.push(mask(k.liveModules, modules));
  for (const p of patches) {
    out.push((p.enabled ? 1 : 0) | (p.forced ? 2 : 0));
    for (const obj of p.objs) {
      if (obj.dynamic) throw new LpError('LP_ERR_SCENARIO', `patch '${p.name}': atomic-replace nops cannot be captured`);
      const funcs = obj.funcs;
      out.reserve(1 + 5 * funcs.length);
      const b = out.buf;
      let o = out.n;
      b[o++] = (obj.patched ? 1 : 0) | (obj.loaded ? 2 : 0) | (obj.postUnpatchEnabled ? 4 : 0);
      for (let j = 0; j < funcs.length; j++) {
        const f = funcs[j];
        b[o++] = f.id;
        b[o++] = f.patched ? 1 : 0;
        b[o++] = f.oldFunc;
        b[o++] = f.newFunc;
        b[o++] = f.ops;
      }
      out.n = o;
    }
  }
  out.push(k.funcs.length);
  out.push(k.freeFuncIds.length);
  for (const id of k.freeFuncIds) out.push(id);
  out.push(k.warnings.length);
}

/** Restore what captureKlp() wrote where `r` stands, and move `r` past it. */
export function restoreKlp(k: Klp, patches: readonly KlpPatch[], patchNames: readonly string[], modules: readonly string[], r: IntReader): void {
  // (Read with a local cursor, as restoreProc() does.)
  const d = r.data;
  let at = r.at;
  const tp = d[at++];
  k.transitionPatch = tp < 0 ? null : patches[tp];
  k.schedHook = d[at++] === 1;
  const n = d[at++];
  // (Setting an array's length costs a runtime call even when it does not change it.)
  if (k.patches.length !== n) k.patches.length = n;
  for (let i = 0; i < n; i++) k.patches[i] = patches[d[at++]];
  restoreSet(k.moduleHeld, patchNames, d[at++]);
  restoreSet(k.liveModules, modules, d[at++]);
  let funcsOk = true;
  for (const p of patches) {
    const flags = d[at++];
    p.enabled = (flags & 1) !== 0;
    p.forced = (flags & 2) !== 0;
    for (const obj of p.objs) {
      const o = d[at++];
      obj.patched = (o & 1) !== 0;
      obj.loaded = (o & 2) !== 0;
      obj.postUnpatchEnabled = (o & 4) !== 0;
      for (const f of obj.funcs) {
        f.id = d[at++];
        f.patched = d[at++] === 1;
        f.oldFunc = d[at++];
        f.newFunc = d[at++];
        f.ops = d[at++];
        if (f.id >= 0 && k.funcs[f.id] !== f) funcsOk = false;
      }
    }
  }
  // k.funcs must hold exactly the funcs with ids, at their ids, and nothing else (its length decides
  // the next fresh id): rebuild it only when it does not.
  const nfuncs = d[at++];
  if (funcsOk && k.funcs.length === nfuncs) {
    for (let id = 0; id < nfuncs; id++) if (k.funcs[id] !== undefined && k.funcs[id].id !== id) funcsOk = false;
  } else funcsOk = false;
  if (!funcsOk) {
    k.funcs.length = 0;
    k.funcs.length = nfuncs;
    for (const p of patches) for (const f of p.allFuncs()) if (f.id >= 0) k.funcs[f.id] = f;
  }
  const nfree = d[at++];
  if (k.freeFuncIds.length !== nfree) k.freeFuncIds.length = nfree;
  for (let i = 0; i < nfree; i++) k.freeFuncIds[i] = d[at++];
  const warned = d[at++];
  r.at = at;
  if (k.warnings.length !== warned) k.warnings.length = warned;
}

/** Append a proc's position: -1 for none, else frame count, preemptOff, result, cpu, then fn, pc, i, a, b, rv per frame. */
export function captureProc(p: Proc | null, out: IntVec): void {
  if (!p) {
    out.push(-1);
    return;
  }
  const frames = p.frames;
  const n = frames.length;
  // (Written straight into the buffer: a checker captures every proc of every state.)
  out.reserve(4 + 6 * n);
  const b = out.buf;
  let o = out.n;
  b[o++] = n;
  b[o++] = p.preemptOff;
  b[o++] = p.result;
  b[o++] = p.cpu;
  for (let j = 0; j < n; j++) {
    const f = frames[j];
    b[o++] = f.fn;
    b[o++] = f.pc;
    b[o++] = f.i;
    b[o++] = f.a;
    b[o++] = f.b;
    b[o++] = f.rv;
  }
  out.n = o;
}

/**
 * Restore a proc captured by captureProc() (null if there was none) where `r` stands. `reuse`, a proc
 * of the same task nothing else refers to, is overwritten in place rather than a new one built;
 * `task` is the `current` of a new one.
 */
export function restoreProc(task: number, reuse: Proc | null, r: IntReader): Proc | null {
  // (Read with a local cursor: a checker restores every proc of every state it comes back to.)
  const d = r.data;
  let at = r.at;
  const n = d[at++];
  if (n < 0) {
    r.at = at;
    return null;
  }
  const preemptOff = d[at++];
  const result = d[at++];
  const cpu = d[at++];
  const p = reuse ?? new Proc(cpu, task, d[at]);
  const frames = p.frames;
  for (let j = 0; j < n; j++) {
    const fn = d[at++];
    let f = frames[j];
    if (f === undefined || f.fn !== fn) f = frames[j] = new Frame(fn, 0, 0);
    f.pc = d[at++];
    f.i = d[at++];
    f.a = d[at++];
    f.b = d[at++];
    f.rv = d[at++];
  }
  r.at = at;
  if (frames.length !== n) frames.length = n;
  p.preemptOff = preemptOff;
  p.result = result;
  p.cpu = cpu;
  p.error = null;
  return p;
}
