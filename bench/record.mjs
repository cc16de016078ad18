#!/usr/bin/env node
// The run of record of issue 15 (npm run bench:record): bench/runtime.mjs, bench/service.mjs and
// bench/startup.mjs under Node 20 and 24, then bench/RESULTS.md written from their numbers: the
// machine, the Node versions, every table, and each goal met or not, decided here from the numbers
// (not by hand). The README's headline between its `bench:headline` markers is rewritten too.
//
//   node bench/record.mjs             # the run of record (about 45 minutes: run it on a quiet machine)
//   node bench/record.mjs --short     # a preliminary run (a few minutes), marked as such in RESULTS.md
//   node bench/record.mjs --rounds 3 --duration 5 --processes 3 --runs 5   # in between (also preliminary)

import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem, type } from 'node:os';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const { values: opts } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    // Overrides of the settings (the run of record's when left out): fewer make a preliminary run.
    rounds: { type: 'string' },
    duration: { type: 'string' },
    processes: { type: 'string' },
    runs: { type: 'string' },
  },
});
const RECORD = { rounds: '5', duration: '8', processes: '5', runs: '9' };
const SHORT = { rounds: '2', duration: '3', processes: '1', runs: '3' };
const set = Object.fromEntries(Object.keys(RECORD).map((k) => [k, opts[k] ?? (opts.short ? SHORT : RECORD)[k]]));
const reduced = Object.keys(RECORD).some((k) => Number(set[k]) < Number(RECORD[k]));
const work = mkdtempSync(join(tmpdir(), 'lp-record-'));

const startedAt = new Date();
const loadBefore = loadavg();

function bench(script, args) {
  const json = join(work, `${script}.json`);
  process.stderr.write(`# node bench/${script}.mjs ${args.join(' ')}\n`);
  const out = execFileSync(process.execPath, [join(REPO, 'bench', `${script}.mjs`), ...args, '--json', json], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  // Its headings go one level down, under this file's.
  return { text: out.trim().replace(/^## /gm, '### '), data: JSON.parse(readFileSync(json, 'utf8')) };
}

const runtimeArgs = ['--processes', set.processes, ...(opts.short ? ['--small'] : [])];
const serviceArgs = ['--rounds', set.rounds, '--duration', set.duration];
const startupArgs = ['--runs', set.runs];
const runtime = bench('runtime', runtimeArgs);
const service = bench('service', serviceArgs);
const startup = bench('startup', startupArgs);
const loadAfter = loadavg();

// ---- goals ----

// A ratio over a zero (a p99 of 0 ms) is NaN, which JSON carries as null.
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '–');
const goals = [];
const goal = (what, target, measured, met) => goals.push({ what, target, measured, met });

for (const row of service.data.table) {
  const at = `${row.framework}, Node ${row.node}`;
  if (row.variant === 'context') goal(`reference: no livepatch, an AsyncLocalStorage context per request (${at})`, 'stated', `${f3(row.throughput)}x, p99 ${f2(row.p99Ratio)}x`, null);
  if (row.variant === 'all') {
    goal(`service throughput, everything hooked, nothing patched (${at})`, '>= 0.98x', `${f3(row.throughput)}x (${f3(row.throughputMin)}–${f3(row.throughputMax)})`, row.throughput >= 0.98);
    goal(`service p99, everything hooked, nothing patched (${at})`, '<= 1.05x', `${f2(row.p99Ratio)}x (${f2(row.p99Min)}–${f2(row.p99Max)})`, Number.isFinite(row.p99Ratio) && row.p99Ratio <= 1.05);
  }
  if (row.variant === 'patched') goal(`service throughput, a patch applied (${at})`, '>= 0.97x', `${f3(row.throughput)}x (${f3(row.throughputMin)}–${f3(row.throughputMax)})`, row.throughput >= 0.97);
  if (row.variant === 'transition') goal(`service throughput during a transition held open (${at})`, 'stated', `${f3(row.throughput)}x, p99 ${f2(row.p99Ratio)}x`, null);
}
for (const [version, r] of Object.entries(runtime.data)) {
  const { ns, memory, completion } = r;
  goal(`unpatched hooked call vs plain (Node ${version})`, '<= 1.05x', `${f3(ns.hooked / ns.plain)}x (${f2(ns.hooked)} vs ${f2(ns.plain)} ns)`, ns.hooked / ns.plain <= 1.05);
  goal(`other function of a patched module vs plain (Node ${version})`, '<= 1.10x', `${f3(ns.moduleOn / ns.plain)}x`, ns.moduleOn / ns.plain <= 1.1);
  goal(`patched call over the direct call, no transition (Node ${version})`, '<= 3 ns', `${f2(ns.patched - ns.direct)} ns`, ns.patched - ns.direct <= 3);
  goal(
    `patched async call over the direct async call, no transition (Node ${version})`,
    '<= 3 ns',
    `${f2(ns.asyncPatched - ns.asyncDirect)} ns (of which ${f2(ns.asyncHooked - ns.asyncPlain)} ns tracking its activation, as for any instrumented async function; ${f2(ns.asyncPatched - ns.asyncHooked)} ns over an unpatched instrumented call)`,
    ns.asyncPatched - ns.asyncDirect <= 3,
  );
  goal(`memory per live task beyond Node's own (Node ${version})`, '<= 200 B', `${(memory.ours - memory.nodeOwn).toFixed(0)} B`, memory.ours - memory.nodeOwn <= 200);
  const none = completion.filter((c) => c.blockers === 0);
  const at10k = none.find((c) => c.tasks === 10000);
  if (at10k) goal(`apply → complete, 10k tasks in flight, none blocking (Node ${version})`, '<= 10 ms', `${f2(at10k.enableMs)} ms`, at10k.enableMs <= 10);
  const big = none.find((c) => c.tasks === 100000);
  if (at10k && big) {
    const growth = big.enableMs / big.tasks / (at10k.enableMs / at10k.tasks);
    goal(`growth 10k → 100k tasks, per task (Node ${version})`, 'linear (<= 1.5x per task)', `${f2(growth)}x`, growth <= 1.5);
  }
}
for (const row of startup.data) {
  goal(`cached start vs plain Node, ${row.program} (Node ${row.node})`, '<= 1.2x', `${f2(row.cachedRatio)}x (${row.cached.toFixed(0)} vs ${row.plain.toFixed(0)} ms)`, row.cachedRatio <= 1.2);
}

// ---- RESULTS.md ----

const cpu = cpus();
const nodes = Object.keys(runtime.data).join(', ');
// Quiet before is what counts: the benchmarks themselves keep both cores busy, so the load after is ~2.
const preliminary = reduced || opts.short || loadBefore[0] > 1;
const lines = [
  '# bench: results (issue 15)',
  '',
  `Written by \`npm run bench:record${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (bench/record.mjs) on ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
  '',
  preliminary
    ? `**Preliminary run**: ${[
        reduced || opts.short ? `reduced settings (${serviceArgs.join(' ')}; ${runtimeArgs.join(' ')}; startup ${startupArgs.join(' ')})` : '',
        loadBefore[0] > 1 ? `on a machine shared with other work (load average ${loadBefore[0].toFixed(1)} before, on ${cpu.length} cores)` : '',
      ].filter(Boolean).join(', ')}: the ratios are noisy; the run of record is \`npm run bench:record\` on a quiet machine.`
    : `Run of record: load average ${loadBefore[0].toFixed(1)} before (quiet) and ${loadAfter[0].toFixed(1)} after (the benchmarks' own load), on ${cpu.length} cores.`,
  '',
  `Machine: ${cpu[0]?.model ?? '?'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${type()}. Node: ${nodes}.`,
  '',
  '## Goals',
  '',
  '| goal | target | measured (median; spread) | met |',
  '|---|---|---|---|',
  ...goals.map((g) => `| ${g.what} | ${g.target} | ${g.measured} | ${g.met === null ? '–' : g.met ? 'yes' : '**no**'} |`),
  '',
  '## The service (bench/service.mjs)',
  service.text,
  '',
  '## Entry hooks, tasks, transitions (bench/runtime.mjs)',
  runtime.text,
  '',
  '## Start-up (bench/startup.mjs)',
  startup.text,
  '',
  '## Reading these numbers',
  '',
  readFileSync(join(REPO, 'bench', 'RESULTS.notes.md'), 'utf8').trim(),
  '',
];
writeFileSync(join(REPO, 'bench', 'RESULTS.md'), `${lines.join('\n')}\n`);

// ---- the README's headline ----

const pick = (framework, variant, node) => service.data.table.find((r) => r.framework === framework && r.variant === variant && r.node.startsWith(`v${node}.`));
const headline = [];
for (const node of ['20', '24']) {
  const parts = [];
  for (const fw of ['express', 'fastify']) {
    const all = pick(fw, 'all', node);
    const patched = pick(fw, 'patched', node);
    const tr = pick(fw, 'transition', node);
    if (all) parts.push(`${fw} ${f2(all.throughput)}x throughput / ${f2(all.p99Ratio)}x p99 with everything hooked, ${f2(patched.throughput)}x patched, ${f2(tr.throughput)}x in a transition`);
  }
  if (parts.length) headline.push(`Node ${node}: ${parts.join('; ')}.`);
}
const readme = join(REPO, 'README.md');
const text = readFileSync(readme, 'utf8');
const START = '<!-- bench:headline -->';
const END = '<!-- /bench:headline -->';
if (text.includes(START) && text.includes(END)) {
  const body = `${START}\n${preliminary ? 'Preliminary (a shared, loaded machine): ' : ''}${headline.join(' ')} Details and every goal: [bench/RESULTS.md](bench/RESULTS.md).\n${END}`;
  writeFileSync(readme, text.slice(0, text.indexOf(START)) + body + text.slice(text.indexOf(END) + END.length));
}
rmSync(work, { recursive: true, force: true });
console.log(readFileSync(join(REPO, 'bench', 'RESULTS.md'), 'utf8'));
