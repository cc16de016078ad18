// Test support: drive a real Runtime (made with the decisions a Node-host World ran) through the steps
// of a World's trace, with real instrumented async functions whose awaits the steps resolve. The World
// and the runtime step in lockstep; after every macrotask both have run their microtasks, and the
// tasks' patch states and pending flags must agree.

import assert from 'node:assert/strict';
import { addr, Var } from '../../../src/engine/memory.js';
import { Runtime } from '../../../src/runtime/livepatch.js';
import { runTask } from '../../../src/runtime/index.js';
import { decodeNodeToken, nodeWorld } from '../../../src/sim/node/check.js';
import type { NodeAction, NodeWorld } from '../../../src/sim/node/world.js';
import { loadModule, sha256 } from '../../runtime/load.js';

const KEY = Symbol.for('livepatch.runtime');

/** f pushes which version it is, then after each await what g answers; task 0's first f starts the child. */
const SOURCE = [
  "function g() { return 'g0' }",
  "async function f(ctx) { ctx.out.push('f0'); await ctx.io(); ctx.out.push(g()); ctx.spawn?.(); await ctx.io(); ctx.out.push(g()) }",
  'module.exports = { f, g };',
  '',
].join('\n');

const replacement = (v: number) => [
  { oldName: 'f', source: `async function (ctx) { ctx.out.push('f${v}'); await ctx.io(); ctx.out.push(g()); ctx.spawn?.(); await ctx.io(); ctx.out.push(g()) }` },
  { oldName: 'g', source: `function () { return 'g${v}' }` },
];

interface Gate {
  promise: Promise<void>;
  open: () => void;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** One activation's context: what it pushed, and the await it waits at. */
export interface Ctx {
  out: string[];
  waiting: Gate | null;
  io(): Promise<void>;
  spawn?: () => void;
}

function ctx(): Ctx {
  const c: Ctx = {
    out: [],
    waiting: null,
    io() {
      c.waiting = gate();
      return c.waiting.promise;
    },
  };
  return c;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

export class Driver {
  readonly rt: Runtime;
  readonly world: NodeWorld;
  /** Per task slot, per activation. */
  readonly ctxs: Ctx[][] = [];
  private readonly starts: Gate[] = [];
  private readonly module: string;
  private readonly choices: number[];
  private at = 0;

  constructor(token: string, name: string) {
    const { shape, choices } = decodeNodeToken(token);
    this.choices = choices;
    this.world = nodeWorld(shape);
    this.rt = new Runtime({ logLevel: 'off', decisions: this.world.decide });
    this.rt.retryMs = 600_000;
    (globalThis as Record<symbol, unknown>)[KEY] = this.rt;
    this.module = `./${name}/jobs.js`;
    const m = loadModule<{ f: (c: Ctx) => Promise<void> }>(this.module, SOURCE);
    for (let s = 0; s < this.world.maxTasks; s++) {
      this.ctxs.push(Array.from({ length: this.world.aloc[s].length }, ctx));
      this.starts.push(gate());
    }
    const child = shape.tasks;
    if (shape.child)
      this.ctxs[0][0].spawn = () => {
        this.ctxs[0][0].spawn = undefined;
        void runTask('child', async () => {
          await this.starts[child].promise;
          await m.f(this.ctxs[child][0]);
        });
      };
    // The boot tasks exist before any step (ids 2, 3, … as in the World), waiting for their request.
    for (let s = 0; s < shape.tasks; s++)
      void runTask(`task${s}`, async () => {
        await this.starts[s].promise;
        await Promise.all(this.ctxs[s].map((c) => m.f(c)));
      });
  }

  private patch(name: string, v: number, replace: boolean): unknown {
    return { name, replace, objs: [{ name: this.module, sha256: sha256(SOURCE), funcs: replacement(v) }] };
  }

  /** Take the next macrotask of the trace in both, and the microtasks after it; false at its end. */
  async step(extra?: NodeAction): Promise<boolean> {
    let a: NodeAction;
    if (extra) a = extra;
    else {
      if (this.at >= this.choices.length) return false;
      a = this.world.actions()[this.choices[this.at++]];
    }
    this.world.run(a);
    // The World's microtasks are the runtime's, run by the drain below.
    while (this.world.micro.length > 0 && !this.world.violation && this.at < this.choices.length) this.world.run(this.world.actions()[this.choices[this.at++]]);
    this.real(a);
    await turn();
    return true;
  }

  private real(a: NodeAction): void {
    const rt = this.rt;
    switch (a.kind) {
      case 'micro':
        return;
      case 'start':
        this.starts[a.slot].open();
        return;
      case 'resume':
        this.ctxs[a.slot][a.act].waiting!.open();
        return;
      case 'retry':
        throw new Error('drive: the retry timer is not driven');
      case 'admin': {
        const name = rt.klp.transitionPatch?.name ?? rt.klp.patches[rt.klp.patches.length - 1]?.name;
        const verbs = [
          () => rt.enable(this.patch('p1', 1, false)),
          () => rt.disable(name!),
          () => rt.enable(this.patch('p2', 2, true)),
          () => rt.disable(name!),
          () => rt.force(name!),
        ];
        rt.asRuntime(verbs[a.slot]);
        return;
      }
    }
  }

  /** Replay the whole trace; after every step the tasks' states agree. */
  async replay(): Promise<void> {
    while (await this.step()) this.agree();
  }

  /** Every task's (patch_state, pending) in the World and in the runtime, which must be equal. */
  agree(): void {
    const w = this.world;
    const of = (mem: { load(cpu: number, a: number): number }) =>
      Array.from({ length: w.maxTasks }, (_, s) => [mem.load(0, addr(Var.PatchState, w.taskId(s))), mem.load(0, addr(Var.Pending, w.taskId(s)))].join('/'));
    // Only tasks that exist in both (an unborn child has no cells yet in the runtime).
    const born = (s: number) => w.tloc[s] !== 0;
    assert.deepEqual(of(this.rt.klp.mem).filter((_, s) => born(s)), of(w.mem).filter((_, s) => born(s)), 'the World and the runtime disagree on the tasks\' states');
  }

  patchState(s: number): number {
    return this.rt.klp.mem.load(0, addr(Var.PatchState, this.world.taskId(s)));
  }
  pending(s: number): boolean {
    return this.rt.klp.mem.load(0, addr(Var.Pending, this.world.taskId(s))) !== 0;
  }
}
