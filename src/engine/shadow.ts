// shadow.c: shadow variables attach new data to existing objects, keyed by <object, id>. Kernel API
// shape: get, alloc, getOrAlloc with a constructor, free and freeAll with a destructor. Object keys are
// held weakly (an object that dies takes its shadow data with it); primitive keys (the simulator's
// pointers) are held in a plain map.

import type { Host } from './host.js';

/** klp_shadow_ctor_t: fill the new (empty) data; return 0, or a negative errno to refuse. */
export type ShadowCtor<T extends object, C> = (obj: unknown, shadowData: T, ctorData: C) => number;
/** klp_shadow_dtor_t: release what the data holds; called before the variable is dropped. */
export type ShadowDtor<T extends object> = (obj: unknown, shadowData: T) => void;

interface IdTable {
  weak: WeakMap<object, object>;
  /** Enumerates the weakly held keys for freeAll(); dead ones are skipped and pruned. */
  refs: Set<WeakRef<object>>;
  strong: Map<unknown, object>;
}

const isObjectKey = (obj: unknown): obj is object => (typeof obj === 'object' && obj !== null) || typeof obj === 'function';

export class Shadow {
  private readonly ids = new Map<number, IdTable>();

  /** `log` receives the kernel's messages (duplicate alloc, failed constructor). */
  constructor(private readonly log: Host['log'] = () => {}) {}

  private table(id: number, create: boolean): IdTable | undefined {
    let t = this.ids.get(id);
    if (!t && create) {
      t = { weak: new WeakMap(), refs: new Set(), strong: new Map() };
      this.ids.set(id, t);
    }
    return t;
  }

  /** klp_shadow_get(): the data attached to <obj, id>, or null. */
  get<T extends object>(obj: unknown, id: number): T | null {
    const t = this.table(id, false);
    if (!t) return null;
    return ((isObjectKey(obj) ? t.weak.get(obj) : t.strong.get(obj)) as T | undefined) ?? null;
  }

  /** klp_shadow_alloc(): attach new data; null (with a warning) if <obj, id> already has some. */
  alloc<T extends object, C = unknown>(obj: unknown, id: number, ctor?: ShadowCtor<T, C>, ctorData?: C): T | null {
    if (this.get(obj, id) !== null) {
      this.log('warn', `livepatch: Duplicate shadow variable <${String(obj)}, ${hex(id)}>`);
      return null;
    }
    return this.create(obj, id, ctor, ctorData);
  }

  /** klp_shadow_get_or_alloc(): the existing data (constructor not called), or new data. */
  getOrAlloc<T extends object, C = unknown>(obj: unknown, id: number, ctor?: ShadowCtor<T, C>, ctorData?: C): T | null {
    return this.get<T>(obj, id) ?? this.create(obj, id, ctor, ctorData);
  }

  /** klp_shadow_free(): detach <obj, id>, calling dtor first. */
  free<T extends object>(obj: unknown, id: number, dtor?: ShadowDtor<T>): void {
    const t = this.table(id, false);
    const data = this.get<T>(obj, id);
    if (!t || data === null) return;
    if (isObjectKey(obj)) {
      t.weak.delete(obj);
      for (const ref of t.refs) if (ref.deref() === obj) t.refs.delete(ref);
    } else t.strong.delete(obj);
    dtor?.(obj, data);
  }

  /** klp_shadow_free_all(): detach every <*, id>, calling dtor for each. */
  freeAll<T extends object>(id: number, dtor?: ShadowDtor<T>): void {
    const t = this.table(id, false);
    if (!t) return;
    this.ids.delete(id);
    for (const [obj, data] of t.strong) dtor?.(obj, data as T);
    for (const ref of t.refs) {
      const obj = ref.deref();
      const data = obj === undefined ? undefined : t.weak.get(obj);
      if (obj !== undefined && data !== undefined) dtor?.(obj, data as T);
    }
  }

  private create<T extends object, C>(obj: unknown, id: number, ctor?: ShadowCtor<T, C>, ctorData?: C): T | null {
    const data = {} as T;
    if (ctor) {
      const err = ctor(obj, data, ctorData as C);
      if (err) {
        this.log('err', `livepatch: Failed to construct shadow variable <${String(obj)}, ${hex(id)}> (${err})`);
        return null;
      }
    }
    const t = this.table(id, true)!;
    if (isObjectKey(obj)) {
      t.weak.set(obj, data);
      t.refs.add(new WeakRef(obj));
    } else t.strong.set(obj, data);
    return data;
  }
}

const hex = (id: number): string => `0x${id.toString(16)}`;
