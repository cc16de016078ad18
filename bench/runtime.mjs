#!/usr/bin/env node
// The runtime's costs, measured side by side in one run (npm run bench:runtime):
//   1. what an entry hook costs per call: plain vs instrumented (unpatched module, patched module,
//      patched function) and async functions with activation tracking;
//   2. how fast a transition completes: N tasks in flight with none blocking, and the delay between
//      the last blocker returning and the transition completing (issue 4, acceptance 2).
// Ratios, not absolute times, are the result: this machine is shared and noisy.

import { subscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { Module } from 'node:module';
import { fileURLToPath } from 'node:url';
import { installRuntime, runTask } from '../dist/src/runtime/index.js';
import { JOBS_SOURCE, loadModule, sha256 } from '../dist/test/runtime/load.js';

process.env.LIVEPATCH_LOG ??= 'off';
const rt = installRuntime();
rt.retryMs = 600_000;

const SRC = [
  'function add(a, b) { return (a + b) & 0xffff }',
  'function other(a, b) { return (a ^ b) & 0xffff }',
  'async function step(x) { await null; return x + 1 }',
  'module.exports = { add, other, step };',
  '',
].join('\n');

function plainModule(source) {
  const m = new Module('/bench/plain.js');
  m._compile(source, '/bench/plain.js');
  return m.exports;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** ns per call of fn over n calls, median of 7 rounds after a warm-up round. */
function nsPerCall(fn, n = 5e6) {
  const rounds = [];
  for (let r = 0; r < 8; r++) {
    let s = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) s = fn(s & 0xffff, i & 0xffff);
    const t1 = performance.now();
    if (s === -1) console.log(s);
    if (r > 0) rounds.push(((t1 - t0) * 1e6) / n);
  }
  return median(rounds);
}

async function nsPerAsyncCall(fn, n = 2e5) {
  const rounds = [];
  for (let r = 0; r < 6; r++) {
    const t0 = performance.now();
    await runTask('bench', async () => {
      for (let i = 0; i < n; i++) await fn(i);
    });
    const t1 = performance.now();
    if (r > 0) rounds.push(((t1 - t0) * 1e6) / n);
  }
  return median(rounds);
}

const patchOf = (name, obj, funcs) => ({ name, objs: [{ name: obj, sha256: sha256(SRC), funcs }] });

/** One variant, measured in a process of its own (no shared inlining or IC feedback between variants). */
const VARIANTS = {
  plain: () => nsPerCall(plainModule(SRC).add),
  hooked: () => nsPerCall(loadModule('./bench/hooked.js', SRC).add),
  moduleOn: () => {
    const m = loadModule('./bench/patched-module.js', SRC);
    rt.asRuntime(() => rt.enable(patchOf('bench-mod', './bench/patched-module.js', [{ oldName: 'other', source: '(a, b) => 0' }])));
    return nsPerCall(m.add);
  },
  direct: () => nsPerCall(plainModule('module.exports = (a, b) => (a + b + 1) & 0xffff')),
  patched: () => {
    const m = loadModule('./bench/patched-fn.js', SRC);
    rt.asRuntime(() => rt.enable(patchOf('bench-fn', './bench/patched-fn.js', [{ oldName: 'add', source: '(a, b) => (a + b + 1) & 0xffff' }])));
    return nsPerCall(m.add);
  },
  asyncPlain: () => nsPerAsyncCall(plainModule(SRC).step),
  asyncHooked: () => nsPerAsyncCall(loadModule('./bench/hooked.js', SRC).step),
};

const variant = process.argv[2];
if (variant) {
  console.log(JSON.stringify(await VARIANTS[variant]()));
  process.exit(0);
}

const PROCESSES = 3;
const measured = Object.fromEntries(Object.keys(VARIANTS).map((v) => [v, []]));
for (let round = 0; round < PROCESSES; round++) {
  for (const v of Object.keys(VARIANTS)) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), v], { encoding: 'utf8', env: { ...process.env, LIVEPATCH_CONTROL: '0' } });
    measured[v].push(JSON.parse(out.trim().split('\n').pop()));
  }
}
const ns = Object.fromEntries(Object.entries(measured).map(([v, xs]) => [v, median(xs)]));
const rows = [
  ['plain function', ns.plain, ''],
  ['instrumented, module not patched', ns.hooked, ns.hooked / ns.plain],
  ['instrumented, another function of its module patched', ns.moduleOn, ns.moduleOn / ns.plain],
  ['the replacement called directly', ns.direct, ''],
  ['patched function (entry hook → handler → replacement), no transition', ns.patched, ns.patched / ns.direct],
  ['plain async function (one await, in a task)', ns.asyncPlain, ''],
  ['instrumented async function (activation tracking)', ns.asyncHooked, ns.asyncHooked / ns.asyncPlain],
];
console.log('\n## Entry hook cost per call (Node %s; each variant in its own process, median of %d)\n', process.version, PROCESSES);
console.log('| call | ns/call | ratio |\n|---|---:|---:|');
for (const [what, t, ratio] of rows) console.log(`| ${what} | ${t.toFixed(2)} | ${ratio === '' ? '' : ratio.toFixed(2)} |`);

// ---- completion ----

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
async function completionRun(n, blockers) {
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
  let lastBlockerToComplete = NaN;
  if (blockers) {
    for (const g of gates.slice(0, -1)) g.open();
    await Promise.all(slow.slice(0, -1));
    // From the moment the last blocker may resume: it returns from the changed function, its task
    // switches, and the transition completes.
    const releasedAt = performance.now();
    gates[blockers - 1].open();
    await slow[blockers - 1];
    await new Promise((r) => setImmediate(r));
    lastBlockerToComplete = (completedAt - releasedAt) * 1000;
  }
  idle.open();
  await Promise.all(others);
  if (rt.status().patch !== null) throw new Error('transition did not complete');
  rt.asRuntime(() => rt.disable(`c${round}`));
  return { enableMs, lastBlockerToComplete };
}

console.log('\n## Transition completion\n');
console.log('| tasks in flight | blockers | enable → complete (ms, median of 5) | last blocker released → complete (µs, median of 5) |\n|---:|---:|---:|---:|');
for (const [n, b] of [
  [1000, 0],
  [10000, 0],
  [1000, 10],
  [10000, 10],
]) {
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await completionRun(n, b));
  const enableMs = median(runs.map((r) => r.enableMs));
  const lat = b ? median(runs.map((r) => r.lastBlockerToComplete)).toFixed(0) : '–';
  console.log(`| ${n} | ${b} | ${b ? '– (blocked)' : enableMs.toFixed(2)} | ${lat} |`);
}
