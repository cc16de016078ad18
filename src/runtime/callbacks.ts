// A patch object's callbacks in the Node runtime (the kernel's klp_callbacks): checked statically and
// compiled at enable (or, for a module not loaded yet, checked at enable and compiled when it comes),
// run only when the engine calls them. What an async callback's promise does maps to the kernel's
// paths: an async prePatch is awaited, with a bound, before the engine's enable, and its rejection or
// timeout is a failing prePatch (the enable is refused, nothing changes); the other callbacks' results
// are ignored by the kernel, so their promises are only watched (a rejection or timeout is logged). No
// promise of a callback is ever left without a handler.

import type { CallbackObject, Callbacks, LogLevel } from '../engine/index.js';
import { LpError } from '../engine/index.js';
import { checkSource, compileIn, shapeOf } from './compile.js';
import { CALLBACKS, type PatchObjectFile } from './patchfile.js';
import type { ModuleRecord } from './registry.js';

type CallbackName = (typeof CALLBACKS)[number];
type CallbackFn = (o: CallbackObject) => unknown;

const EINVAL = -22;
const ETIMEDOUT = -110;

export interface CallbackHost {
  log(level: LogLevel, line: string): void;
  /** How long an async callback may take, in milliseconds. */
  readonly callbackTimeoutMs: number;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';

/** One object's callbacks of one patch. */
export class ObjectCallbacks {
  /** What the engine calls. */
  readonly callbacks: Callbacks = {};
  /** prePatch is an async function: the host must await it (settlePrePatch) before the engine's enable. */
  readonly asyncPrePatch: boolean;
  private readonly fns: Partial<Record<CallbackName, CallbackFn>> = {};
  /** The settled result of an awaited prePatch, which the engine's next call returns instead of running it. */
  private settled: number | null = null;

  /** Checks every source statically (throws LpError, nothing runs); compiles them when `rec` is loaded. */
  constructor(
    private readonly host: CallbackHost,
    private readonly patch: string,
    private readonly obj: PatchObjectFile,
    rec: ModuleRecord | null,
  ) {
    let asyncPrePatch = false;
    for (const name of CALLBACKS) {
      const code = obj.callbacks?.[name];
      if (code === undefined) continue;
      const isAsync = typeof code === 'function' ? shapeOf(code as (...a: unknown[]) => unknown).async : checkSource(rec, code, this.what(name)).async;
      if (name === 'prePatch') asyncPrePatch = isAsync;
      if (typeof code === 'function') this.fns[name] = code as CallbackFn;
      if (name === 'prePatch') this.callbacks.prePatch = (o) => this.runPrePatch(o);
      else this.callbacks[name] = (o) => this.runOther(name, o);
    }
    this.asyncPrePatch = asyncPrePatch;
    if (asyncPrePatch && !rec) {
      throw new LpError(
        'LP_ERR_UNPATCHABLE',
        `${this.what('prePatch')}: an async prePatch cannot be awaited when its module loads later (a module load is synchronous): ` +
          'make it synchronous, or enable the patch once the module is loaded',
      );
    }
    if (rec) this.compile(rec);
  }

  /** Compile the sources in the module's scope: at enable, or when the module comes. Throws LpError. */
  compile(rec: ModuleRecord): void {
    for (const name of CALLBACKS) {
      const code = this.obj.callbacks?.[name];
      if (typeof code === 'string') this.fns[name] = compileIn(rec, code, this.what(name)).fn as CallbackFn;
    }
  }

  /**
   * Run an async prePatch and wait for it, at most callbackTimeoutMs: a rejection is -EINVAL, a timeout
   * -ETIMEDOUT (the callback goes on running; what it settles to later is ignored). The engine's call
   * then returns this result.
   */
  async settlePrePatch(o: CallbackObject): Promise<number> {
    const started = this.call('prePatch', o);
    let result = started.threw ? EINVAL : prePatchResult(started.value);
    if (!started.threw && isThenable(started.value)) {
      let timer: NodeJS.Timeout | undefined;
      const ms = this.host.callbackTimeoutMs;
      result = await Promise.race([
        Promise.resolve(started.value).then(prePatchResult, (e: unknown) => {
          this.failed('prePatch', 'rejected', e);
          return EINVAL;
        }),
        new Promise<number>((resolve) => {
          timer = setTimeout(() => {
            this.host.log('err', `livepatch: '${this.patch}': prePatch callback for '${this.obj.name}' did not settle within ${ms} ms`);
            resolve(ETIMEDOUT);
          }, ms);
        }),
      ]);
      clearTimeout(timer);
    }
    this.settled = result;
    return result;
  }

  /**
   * Whether an awaited prePatch's result was never asked for (the engine refused the patch before this
   * object); forgets it. Its prePatch ran and succeeded, so postUnpatch is owed.
   */
  takeUnconsumed(): boolean {
    const was = this.settled === 0;
    this.settled = null;
    return was;
  }

  private runPrePatch(o: CallbackObject): number {
    if (this.settled !== null) {
      const r = this.settled;
      this.settled = null;
      return r;
    }
    const r = this.call('prePatch', o);
    if (r.threw) return EINVAL;
    if (!isThenable(r.value)) return prePatchResult(r.value);
    // Returned a promise without being declared async: the engine cannot wait for it here.
    this.watch('prePatch', r.value);
    this.host.log('err', `livepatch: '${this.patch}': prePatch callback for '${this.obj.name}' returned a promise: declare it async to have it awaited`);
    return EINVAL;
  }

  private runOther(name: CallbackName, o: CallbackObject): void {
    const r = this.call(name, o);
    if (!r.threw && isThenable(r.value)) this.watch(name, r.value);
  }

  private call(name: CallbackName, o: CallbackObject): { threw: true } | { threw: false; value: unknown } {
    const fn = this.fns[name];
    try {
      if (!fn) throw new LpError('LP_ERR_NOT_INSTRUMENTED', `module '${this.obj.name}' is not loaded`);
      return { threw: false, value: fn(o) };
    } catch (e) {
      this.failed(name, 'threw', e);
      return { threw: true };
    }
  }

  /** A promise whose result the kernel would ignore: its rejection or a timeout is logged, never unhandled. */
  private watch(name: CallbackName, p: PromiseLike<unknown>): void {
    const ms = this.host.callbackTimeoutMs;
    const timer = setTimeout(() => this.host.log('err', `livepatch: '${this.patch}': ${name} callback for '${this.obj.name}' did not settle within ${ms} ms`), ms);
    timer.unref();
    Promise.resolve(p).then(
      () => clearTimeout(timer),
      (e: unknown) => {
        clearTimeout(timer);
        this.failed(name, 'rejected', e);
      },
    );
  }

  private failed(name: CallbackName, how: string, e: unknown): void {
    let msg: string;
    try {
      msg = e instanceof Error ? String(e.message) : String(e);
    } catch {
      msg = 'a value that cannot be printed';
    }
    this.host.log('err', `livepatch: '${this.patch}': ${name} callback for '${this.obj.name}' ${how}: ${msg}`);
  }

  private what(name: CallbackName): string {
    return `patch '${this.patch}': ${this.obj.name}: callbacks.${name}`;
  }
}

/** 0, or the negative errno a prePatch returned. */
function prePatchResult(v: unknown): number {
  return typeof v === 'number' && v < 0 ? v : 0;
}
