// The hook cells: one global property per object name, read by every entry hook of its modules (the
// ABI in docs/runtime.md). A cell holds `undefined` while no function of the object is on a func
// stack, else a frozen array by site index: 0 runs the original, 1 asks the handler (`__lp$M.d`), a
// function is what the call runs instead (the handler's settled answer).
//
// Why a global property: V8 keeps a global property's value in a PropertyCell, and optimized code
// that reads a cell nobody has written since it was made embeds the value as a constant (with a code
// dependency on the cell), whether or not the function is inlined; a frozen array's elements at a
// constant index fold the same way. So an unpatched hook, and the hook of another function of a
// patched module, compile to nothing, and a settled patched call to a direct call of the replacement.
// A write would turn the cell mutable for good; a cell is therefore never written but deleted and
// defined anew: the delete deoptimizes the code that folded it, the new cell is constant again.

type Entry = 0 | 1 | ((...args: unknown[]) => unknown);
export type CellValue = readonly Entry[] | undefined;

/** Entry: run the original. */
export const ORIGINAL = 0;
/** Entry: ask the handler. */
export const ASK = 1;

const globals = globalThis as unknown as Record<string, CellValue>;

export class HookCells {
  /**
   * What each defined cell holds. Every module's cell is defined when it loads, holding undefined: a
   * hook that reads a property the global object lacks misses V8's inline caches on every call.
   */
  private readonly values = new Map<string, CellValue>();
  /** Cells holding at least one function (a settled answer). */
  private readonly settled = new Set<string>();

  /**
   * Give cell `name` the entries `entries` (undefined: nothing hooked); a cell that holds them already
   * is left alone. False when the global object refuses the property (a frozen globalThis): the hooks
   * then read undefined and run the original code (fail open).
   */
  set(name: string, entries: Entry[] | undefined): boolean {
    const old = this.values.get(name);
    if (this.values.has(name) && (old === entries || (old !== undefined && entries !== undefined && sameEntries(old, entries)))) return true;
    const value = entries && Object.freeze(entries);
    this.values.set(name, value);
    if (value?.some((e) => typeof e === 'function')) this.settled.add(name);
    else this.settled.delete(name);
    try {
      delete globals[name];
      // Not enumerable: global leak checks (mocha --check-leaks) and Object.keys(globalThis) do not see it.
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
      return true;
    } catch {
      return false;
    }
  }

  get(name: string): CellValue {
    return this.values.get(name);
  }

  /**
   * Every settled answer goes back to the handler: called when an admin verb starts, since a verb can
   * change the answers (tasks switch, funcs leave their stacks) while code it runs (callbacks, log
   * subscribers, signal listeners) calls the functions; the verb's end sets them anew.
   */
  unsettle(): void {
    for (const name of [...this.settled]) this.set(name, this.values.get(name)!.map((e) => (typeof e === 'function' ? ASK : e)));
  }
}

function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
