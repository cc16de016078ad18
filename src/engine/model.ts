// The patch model: patch / object / func, as a patch author describes them and as the engine keeps
// them. Field names follow include/linux/livepatch.h.

/** klp_target_state and task->patch_state values. */
export const TRANSITION_IDLE = -1;
export const TRANSITION_UNPATCHED = 0;
export const TRANSITION_PATCHED = 1;
export type PatchStateValue = -1 | 0 | 1;

/** The object name of the main program (the kernel's vmlinux: an object with a NULL name). */
export const VMLINUX = 'vmlinux';

/** What a callback receives: the object it runs for. */
export interface CallbackObject {
  readonly name: string;
  /** The patch the object belongs to. */
  readonly patch: string;
  /** The loaded module's state at the time of the call, as the kernel's callbacks print it. */
  readonly moduleState: ModuleState | null;
}

export type ModuleState = 'MODULE_STATE_LIVE' | 'MODULE_STATE_COMING' | 'MODULE_STATE_GOING' | 'MODULE_STATE_UNFORMED';

/**
 * klp_callbacks. preUnpatch/postPatch/postUnpatch cannot fail; prePatch returns 0 or a negative errno.
 * Symmetry: postUnpatch runs only if prePatch ran and succeeded (postUnpatchEnabled).
 */
export interface Callbacks {
  prePatch?: (obj: CallbackObject) => number;
  postPatch?: (obj: CallbackObject) => void;
  preUnpatch?: (obj: CallbackObject) => void;
  postUnpatch?: (obj: CallbackObject) => void;
}

export interface FuncDesc {
  /** Name of the function to replace. */
  oldName: string;
  /** 1-based position among same-named symbols in the object; 0 or absent = the name must be unique. */
  oldSympos?: number;
  /** The host's code id of the replacement. */
  newFunc: number;
}

export interface ObjectDesc {
  /** Module name; absent or 'vmlinux' for the main program. */
  name?: string;
  funcs: FuncDesc[];
  callbacks?: Callbacks;
}

/** klp_state: a system state a patch introduces or takes over. */
export interface StateDesc {
  id: number;
  version: number;
}

export interface PatchDesc {
  /** The patch module's name (patch->mod->name). */
  name: string;
  objs: ObjectDesc[];
  states?: StateDesc[];
  replace?: boolean;
  /** The seed's immediate flag (variant v3 only). */
  immediate?: boolean;
}

export class KlpState {
  data: unknown = null;
  constructor(
    readonly id: number,
    readonly version: number,
  ) {}
}

export class KlpFunc {
  /** Resolved address of the original function (the host's code id), -1 while the object is not loaded. */
  oldFunc = -1;
  /** Which klp_ops (one per original function) this func is stacked on, -1 while not patched. */
  ops = -1;
  /** (p) in the func state machine of livepatch.h: on its funcStack. Written under klp_mutex only. */
  patched = false;

  /**
   * Engine-wide id, the index of this func's lock-free variables in Memory; -1 until the patch is
   * accepted (a refused patch leaves no trace), recycled once the patch is freed.
   */
  id = -1;

  constructor(
    readonly obj: KlpObject,
    readonly oldName: string,
    readonly oldSympos: number,
    /** Code id of the replacement; for a nop it is set to oldFunc when the object loads. */
    public newFunc: number,
    /** Dynamic func of an atomic-replace patch: "run the original code". */
    readonly nop: boolean,
  ) {}
}

export class KlpObject {
  funcs: KlpFunc[] = [];
  /** On the func stacks (all funcs patched). Written under klp_mutex only. */
  patched = false;
  /** Module loaded (obj->mod set); always true for vmlinux. */
  loaded = false;
  /** Set when prePatch succeeded; postUnpatch runs only then (callback symmetry). */
  postUnpatchEnabled = false;

  constructor(
    readonly patch: KlpPatch,
    readonly name: string,
    readonly callbacks: Callbacks,
    /** Created by atomic replace to hold nops. */
    readonly dynamic: boolean,
  ) {}

  get isVmlinux(): boolean {
    return this.name === VMLINUX;
  }
}

export class KlpPatch {
  readonly objs: KlpObject[] = [];
  readonly states: KlpState[];
  /** Enabled (or being enabled). Written under klp_mutex. */
  enabled = false;
  /** A transition of this patch was forced: it can never be unloaded. */
  forced = false;
  /**
   * The seed's `immediate` (variant v3 only; removed upstream in 2018): the patch applies to every task
   * at once, with no per-task transition, so a task inside a function it changes goes on with a mix.
   */
  immediate = false;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly replace: boolean,
    states: readonly StateDesc[],
  ) {
    this.states = states.map((s) => new KlpState(s.id, s.version));
  }

  private funcCache: KlpFunc[] | null = null;

  /** Every func of every object, in order (cached: objects change only when nops are added or discarded). */
  allFuncs(): readonly KlpFunc[] {
    return (this.funcCache ??= this.objs.flatMap((obj) => obj.funcs));
  }

  /** Call after adding or removing objects or funcs. */
  funcsChanged(): void {
    this.funcCache = null;
  }
}
