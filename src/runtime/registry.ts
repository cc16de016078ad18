// The per-module objects instrumented code calls (`__lp$M`, see docs/runtime.md) and the code ids the
// engine sees. A code id names one piece of code: site i of module m is m.base + i; replacements live
// below CODE_STRIDE (module index 0 is never a module).

import type { SiteRow, SiteTable } from './instrument.js';
import type { Task } from './tasks.js';

/** Room for each module's functions (typescript.js, the biggest file we know, has ~21.6 k). */
export const CODE_STRIDE = 2 ** 20;

/** What an entry hook calls instead of the original: the replacement, or a wrapper of it. */
export type Callable = (...args: unknown[]) => unknown;

/** What a module object needs from the runtime: the hot paths, kept to three calls. */
export interface Dispatch {
  current(): Task;
  /** The handler in the current task: what a call of `code` runs instead, or 0 to run the original. */
  answer(code: number): Callable | 0;
  /** The last open activation of some code in `task` just ended. */
  activationEnded(task: Task): void;
}

export class ModuleRecord {
  /**
   * True exactly while some function of this module is on a func stack (the runtime sets it after
   * every admin verb, with the hook cell). The hooks read the cell, not this.
   */
  on = false;
  private parsed: SiteTable | null = null;

  constructor(
    private readonly rt: Dispatch,
    readonly name: string,
    readonly sha256: string,
    private readonly sitesJson: string,
    /** Strict direct eval in the module's scope. */
    readonly evalHost: (source: string) => unknown,
    readonly base: number,
    /** The global property its entry hooks read (cells.ts); shared by instances of one object name. */
    readonly cell: string,
  ) {}

  /** Parsed on first use: most modules are never patched. */
  get table(): SiteTable {
    return (this.parsed ??= JSON.parse(this.sitesJson) as SiteTable);
  }

  /** Sites on a func stack (1), while `on`. */
  hooked: Uint8Array = new Uint8Array(0);

  /**
   * Entry hook of site i whose cell entry says "ask the handler": what this call runs instead, or 0 to
   * run the original. A site of another instance sharing the cell is not hooked here.
   */
  d(i: number): Callable | 0 {
    if (this.hooked[i] !== 1) return 0;
    return this.rt.answer(this.base + i);
  }

  /** An async function or generator of site i starts running in the current task. */
  a(i: number): Task {
    return this.ra(this.base + i);
  }

  /** …and ends (its finally block). */
  x(task: Task | undefined, i: number): void {
    this.rx(task, this.base + i);
  }

  /** The same for code `code`: an async replacement compiled in this module's scope (compile.ts). */
  ra(code: number): Task {
    const task = this.rt.current();
    task.enter(code);
    return task;
  }

  rx(task: Task | undefined, code: number): void {
    if (task?.exit(code)) this.rt.activationEnded(task);
  }

  /** Code ids of the sites named `name`, in source order (old_sympos 1, 2, …). */
  lookup(name: string): number[] {
    const out: number[] = [];
    this.table.s.forEach((row, i) => {
      if (row[0] === name) out.push(this.base + i);
    });
    return out;
  }

  site(code: number): SiteRow {
    return this.table.s[code - this.base];
  }
}
