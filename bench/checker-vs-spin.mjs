#!/usr/bin/env node
// Our model checker against SPIN on the same protocol and bounds: the `bench` world (final code,
// sequentially consistent memory, 1 CPU, one reverse, lean tasks) and its Promela mirror
// bench/spin/livepatch.pml, side by side for each task count, with ratios (ours / SPIN).
//
//   npm run build && node bench/checker-vs-spin.mjs [--tasks 2,3,4,5,6,7] [--validate 1,2,3] [--workers 2]
//                                                    [--budget 1500] [--timeout 1800] [--no-v3] [--no-full]
//
// --tasks     task counts to compare (default 2,3,4,5,6,7).
// --validate  task counts at which both explore the unreduced space (our checker with symmetry and POR
//             off, pan -DNOREDUCE) to show the two models have exactly the same states (default 1,2,3;
//             "none" to skip).
// --budget    seconds: a run whose projected time (last time x last growth) exceeds this is skipped.
// --timeout   seconds: a run still going after this is killed and reported as such.
// --no-v3     skip the v3-reverse runs (both tools must find the stale-flag bug there).
// --workers   threads for our second run at each task count (default: 2, or the core count if less;
//             1 to skip it): the same search on W threads sharing one state table (src/sim/check/
//             parallel.ts). Its counts vary a little from run to run; SPIN runs on one core.
// --no-full   skip our run of the `full` model (3 tasks and a fork, 2 CPUs one of them hot-plugged, a
//             reverse: issue 3's acceptance 3, which SPIN has no model of).
//
// The end says whether issue 3's goals hold in this run: 5 tasks in no more than SPIN's time, 7 tasks
// in at most 30 s and 1 GB (peak RSS of the whole checker process), the full model in at most 60 s,
// each for ours on one thread and on --workers threads.
//
// A tool is skipped for the remaining task counts once a run of it took more than 120 s, once its
// projected time exceeds --budget, for ours once its projected state count exceeds maxStates (it would
// stop incomplete), and, with no earlier run to project from, when the model's known size (x10 states
// a task) cannot fit maxStates or RAM; the output says which. pan keeps full state vectors while the
// expected space fits in 40% of RAM, else uses -DHC4 hash compaction (approximate: it misses a few %).
// SPIN is installed with apt-get if missing (Debian package `spin`); gcc must be present.
//
// Memory: ours = the checker's own memoryBytes (state table + DFS stack at its largest), and the child
// process's peak RSS (process.resourceUsage().maxRSS) minus its RSS just before check(), so the Node
// runtime and the loaded engine are not counted; SPIN = pan's "total actual memory usage", and pan's
// peak RSS (GNU time's %M where /usr/bin/time exists, else VmHWM sampled from /proc every 10 ms).
// Time: ours = check()'s elapsedMs; SPIN = pan's own "elapsed time" (spin -a + gcc reported apart).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const PML = join(HERE, 'spin', 'livepatch.pml');
const SLOW = 120; // seconds: a run slower than this ends the tool's series
const MAX_STATES = 2e8;
// This model's unreduced state space at 1 task, and its growth per added task (measured: 2.2 k, 20.6 k,
// 195 k at 1, 2, 3 tasks; pan with its reduction stores 195 k, 1.84 M, 17.3 M at 3, 4, 5).
const UNREDUCED_1 = 2214;
const GROWTH = 10;
// Issue 3's goals (acceptance 3 and 6).
const GOAL_N7_SEC = 30;
const GOAL_N7_BYTES = 2 ** 30;
const GOAL_FULL_SEC = 60;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

// ---------------------------------------------------------------- child: one run of our checker

async function child(argv) {
  const [n, variant, reduce, model, workers] = [Number(argv[0]), argv[1], argv[2] === '1', argv[3] ?? 'bench', Number(argv[4] ?? 1)];
  const load = (m) => import(pathToFileURL(join(ROOT, 'dist', 'src', 'sim', 'check', m)).href);
  const [{ World }, { check }, { MODELS }] = await Promise.all([load('world.js'), load('explore.js'), load('models.js')]);
  // Unreduced, the World walks the task list in list order as the Promela model does, so the two
  // spaces must be equal; reduced, it walks in any order (which its exact symmetry needs): a superset.
  const world = new World({ ...MODELS[model].shape, tasks: n, variant, memory: 'sc', drop: [], listOrder: !reduce });
  const opts = { strategy: 'dfs', maxStates: MAX_STATES, seed: 1, symmetry: reduce, por: reduce, depth: 400, pctDepth: 3, workers };
  const rssBefore = process.memoryUsage().rss;
  const r = check(world, opts);
  const maxRss = process.resourceUsage().maxRSS * 1024;
  const v = r.violation;
  process.stdout.write(
    JSON.stringify({
      states: r.states,
      transitions: r.transitions,
      complete: r.complete,
      elapsedMs: r.elapsedMs,
      memoryBytes: r.memoryBytes,
      rssBefore,
      maxRss,
      violation: v ? { invariant: v.invariant, detail: v.detail, steps: v.choices.length } : null,
    }) + '\n',
  );
}

// ---------------------------------------------------------------- process running with peak RSS

/**
 * Run a command; resolves with stdout, stderr, exit code, wall seconds and, with `sampleRss`, peak RSS
 * in bytes (VmHWM sampled every 10 ms: null when the process ended before two samples, or unsampled).
 * Our checker reports its own peak RSS: it runs unsampled, so that this process wakes no core it uses.
 */
function run(cmd, args, { cwd, timeout, sampleRss = false }) {
  return new Promise((done) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let peak = 0;
    let samples = 0;
    let timedOut = false;
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        if (m) {
          peak = Math.max(peak, Number(m[1]) * 1024);
          samples++;
        }
      } catch {
        // exited between samples
      }
    };
    const timer = sampleRss ? setInterval(sample, 10) : undefined;
    const killer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeout * 1000);
    p.on('close', (code) => {
      clearInterval(timer);
      clearTimeout(killer);
      done({ out, err, code, timedOut, wall: Number(process.hrtime.bigint() - t0) / 1e9, peak: samples >= 2 ? peak : null });
    });
  });
}

// ---------------------------------------------------------------- SPIN

function ensureSpin() {
  const have = () => spawnSync('sh', ['-c', 'command -v spin'], { encoding: 'utf8' }).status === 0;
  if (have()) return;
  console.log('spin not found: installing the Debian package (apt-get update && apt-get install -y spin) ...');
  const r1 = spawnSync('apt-get', ['update'], { stdio: 'inherit' });
  const r2 = r1.status === 0 ? spawnSync('apt-get', ['install', '-y', 'spin'], { stdio: 'inherit' }) : r1;
  if (r2.status !== 0 || !have()) throw new Error('could not install spin (apt-get install -y spin needs root and the Debian mirror)');
}

/**
 * Compile and run flags for pan at n tasks: full state vectors while they fit in 40% of RAM, else hash
 * compaction; a hash table (-w) about twice the expected state count; a depth bound (-m) about three
 * times the expected search depth (both measured: 4.4 k states / depth 289 at N=1, x15 / x3.9 a task).
 */
function panFlags(n, { noreduce = false, v3 = false, depthScale = 1 } = {}) {
  const est = UNREDUCED_1 * GROWTH ** (n - 1);
  const depth = Math.max(10000, 2 ** Math.ceil(Math.log2(3 * 289 * 3.9 ** (n - 1) * depthScale)));
  const cc = ['-O2', '-DSAFETY'];
  if (noreduce) cc.push('-DNOREDUCE');
  // The checker's dfs tries the admin first; -DREVERSE makes pan try pid 0 (the admin) first too.
  if (v3) cc.push('-DREVERSE');
  if (!v3 && est * 100 > 0.4 * totalmem()) cc.push('-DHC4');
  const w = Math.min(28, Math.max(20, Math.ceil(Math.log2(est)) + 1));
  return { cc, run: ['-n', `-m${depth}`, `-w${v3 ? 20 : w}`] };
}

function num(re, text) {
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

/** Which of the model's checks an assertion is, from its text. */
function classify(text) {
  if (/starting/.test(text)) return 'I4';
  if (/abusy/.test(text)) return 'I3';
  if (/^\(?\(?tp==/.test(text)) return 'I2';
  if (/tpc\[i\]!=2/.test(text)) return 'I5';
  if (/ps\[\(_pid-3\)\]!=2/.test(text)) return 'I7';
  return 'WARN/I6';
}

async function spinRun(n, { variant = 'final', noreduce = false, timeout, depthScale = 1 }) {
  const dir = mkdtempSync(join(tmpdir(), 'lp-spin-'));
  try {
    const v3 = variant === 'v3';
    const flags = panFlags(n, { noreduce, v3, depthScale });
    const defs = [`-DN=${n}`, ...(v3 ? ['-DVARIANT=3'] : [])];
    const t0 = process.hrtime.bigint();
    const a = spawnSync('spin', ['-a', ...defs, PML], { cwd: dir, encoding: 'utf8' });
    if (a.status !== 0) throw new Error(`spin -a failed:\n${a.stdout}${a.stderr}`);
    const g = spawnSync('gcc', [...flags.cc, '-o', 'pan', 'pan.c'], { cwd: dir, encoding: 'utf8' });
    if (g.status !== 0) throw new Error(`gcc failed:\n${g.stderr}`);
    const buildSec = Number(process.hrtime.bigint() - t0) / 1e9;
    // pan's peak RSS: GNU time's exact %M where it is installed, else sampled from /proc.
    const r = TIME
      ? await run(TIME, ['-f', 'MAXRSS_KB %M', './pan', ...flags.run], { cwd: dir, timeout })
      : await run('./pan', flags.run, { cwd: dir, timeout, sampleRss: true });
    const maxRssKb = num(/MAXRSS_KB (\d+)/, r.err);
    const o = r.out;
    // The depth bound was too small (the search was cut): run again with a larger one.
    if (/max search depth too small/.test(o) && depthScale < 64) return spinRun(n, { variant, noreduce, timeout, depthScale: depthScale * 4 });
    const assertion = /assertion violated (.*?) \(at depth (\d+)\)/.exec(o);
    return {
      flags: `${flags.cc.slice(1).join(' ')} / pan ${flags.run.join(' ')}`,
      buildSec,
      timedOut: r.timedOut,
      states: num(/([\d.e+]+) states, stored/, o),
      transitions: num(/([\d.e+]+) transitions \(= stored\+matched\)/, o),
      sec: num(/pan: elapsed time ([\d.e+]+) seconds/, o) ?? r.wall,
      wall: r.wall,
      memMB: num(/([\d.]+)\s+total actual memory usage/, o),
      peakRss: maxRssKb != null ? maxRssKb * 1024 : r.peak,
      errors: num(/errors: (\d+)/, o),
      depth: num(/depth reached (\d+)/, o),
      violation: assertion ? { invariant: classify(assertion[1]), depth: Number(assertion[2]) } : null,
      raw: o,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- ours

async function oursRun(n, { variant = 'final', reduce = true, timeout, model = 'bench', workers = 1 }) {
  const r = await run(process.execPath, [fileURLToPath(import.meta.url), '--child', String(n), variant, reduce ? '1' : '0', model, String(workers)], {
    cwd: ROOT,
    timeout,
  });
  if (r.timedOut) return { timedOut: true, wall: r.wall };
  if (r.code !== 0) throw new Error(`checker run failed (N=${n}):\n${r.err}`);
  const j = JSON.parse(r.out.trim().split('\n').pop());
  return { ...j, sec: j.elapsedMs / 1000, memMB: j.memoryBytes / 2 ** 20, peakRss: Math.max(0, j.maxRss - j.rssBefore), wall: r.wall };
}

// ---------------------------------------------------------------- printing

const int = (x) => (x == null ? '-' : Math.round(x).toLocaleString('en-US'));
const sec = (x) => (x == null ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const rate = (states, s) => (states == null || !s || s < 0.02 ? '-' : states / s >= 1e6 ? `${(states / s / 1e6).toFixed(2)} M` : `${Math.round(states / s / 1e3)} k`);
const mb = (x) => (x == null || Number.isNaN(x) ? '-' : x.toFixed(x < 10 ? 1 : 0));
const mbb = (bytes) => (bytes == null ? '-' : mb(bytes / 2 ** 20));
const ratio = (a, b) => (a == null || b == null || !b ? '-' : a / b >= 10 ? `${(a / b).toFixed(0)}x` : `${(a / b).toFixed(2)}x`);

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ')).join('\n');
}

function verdict(x) {
  if (!x) return '-';
  if (x.timedOut) return 'timed out';
  if (x.violation) return `VIOLATION ${x.violation.invariant}`;
  if (x.complete === false) return 'incomplete (maxStates)';
  if (x.errors > 0) return `${x.errors} errors`;
  return 'no violation';
}

// ---------------------------------------------------------------- main

function parseList(args, name, def) {
  const i = args.indexOf(name);
  if (i < 0) return def;
  if (args[i + 1] === 'none') return [];
  return args[i + 1].split(',').map(Number);
}

async function main(args) {
  const tasks = parseList(args, '--tasks', [2, 3, 4, 5, 6, 7]);
  const validate = parseList(args, '--validate', [1, 2, 3]);
  const budget = parseList(args, '--budget', [1500])[0];
  const timeout = parseList(args, '--timeout', [1800])[0];
  const withV3 = !args.includes('--no-v3');
  const withFull = !args.includes('--no-full');
  const workers = parseList(args, '--workers', [Math.min(2, cpus().length)])[0];
  if (!existsSync(join(ROOT, 'dist', 'src', 'sim', 'check', 'explore.js')))
    throw new Error('the compiled checker is missing: run `npm run build` (or `npx tsc -p .`) in the repo root first');
  ensureSpin();
  const spinVersion = spawnSync('spin', ['-V'], { encoding: 'utf8' }).stdout.trim();
  const gccVersion = spawnSync('gcc', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  console.log(`livepatch checker vs SPIN: the bench world (final code, sc memory, 1 CPU, 1 reverse, lean tasks)`);
  console.log(`${new Date().toISOString()} | ${cpus().length} x ${cpus()[0]?.model ?? '?'} | ${(totalmem() / 2 ** 30).toFixed(0)} GiB | node ${process.version} | ${spinVersion} | ${gccVersion}`);
  console.log(`ours: check(dfs, symmetry + POR, maxStates ${MAX_STATES.toExponential(0)}) in a child process, on 1 thread${workers > 1 ? ` and on ${workers}` : ''}; SPIN: spin -a, gcc, ./pan (default partial-order reduction, 1 core)\n`);

  // 1. Same state space: no reductions on either side.
  if (validate.length) {
    console.log('== Same model: unreduced state spaces (ours: symmetry and POR off; pan -DNOREDUCE) ==');
    const rows = [['N', 'ours states', 'SPIN states', 'equal', 'ours trans', 'SPIN trans', 'ours s', 'SPIN s', 'ours st/s', 'SPIN st/s', 'time ours/SPIN']];
    for (const n of validate) {
      const o = await oursRun(n, { reduce: false, timeout });
      const s = await spinRun(n, { noreduce: true, timeout });
      rows.push([n, int(o.states), int(s.states), o.states === s.states ? 'yes' : 'NO', int(o.transitions), int(s.transitions), sec(o.sec), sec(s.sec), rate(o.states, o.sec), rate(s.states, s.sec), ratio(o.sec, s.sec)]);
    }
    console.log(table(rows));
    console.log('(pan counts one transition more: "stored+matched" includes the initial state)\n');
  }

  // 2. Each tool at its best: ours with symmetry + POR, SPIN with its defaults.
  const last = { ours: [], spin: [], par: [] };
  const skipReason = (tool, n) => {
    const hist = last[tool];
    const prev = hist[hist.length - 1];
    if (!prev) {
      // Nothing measured yet in this run: judge by the model's known size (x10 states a task unreduced;
      // ours stores 0.1-0.4x of that; pan about 60 B a state with hash compaction, 95 B without).
      const est = UNREDUCED_1 * GROWTH ** (n - 1);
      if (tool !== 'spin' && 0.4 * est > MAX_STATES) return `expected ~${int(0.4 * est)} states > maxStates ${MAX_STATES.toExponential(0)}`;
      if (tool === 'spin' && est * 60 > 0.8 * totalmem()) return `expected ~${int(est)} states, ~${mb((est * 60) / 2 ** 30)} GiB > 80% of RAM`;
      return null;
    }
    if (prev.sec > SLOW) return `N=${prev.n} took ${sec(prev.sec)} s > ${SLOW} s`;
    const before = hist[hist.length - 2];
    const states = prev.states * (before ? prev.states / before.states : GROWTH) ** (n - prev.n);
    if (tool !== 'spin' && states > MAX_STATES)
      return `projected ${int(states)} states > maxStates ${MAX_STATES.toExponential(0)} (would stop incomplete)`;
    const growth = before && before.sec > 0.05 ? prev.sec / before.sec : GROWTH;
    const projected = prev.sec * growth ** (n - prev.n);
    if (projected > budget) return `projected ${sec(projected)} s > budget ${budget} s`;
    return null;
  };
  const summary = [];
  for (const n of tasks) {
    console.log(`== N = ${n} tasks ==`);
    const skipOurs = skipReason('ours', n);
    const skipSpin = skipReason('spin', n);
    const skipPar = workers > 1 ? skipReason('par', n) : 'one thread only';
    const o = skipOurs ? null : await oursRun(n, { timeout });
    const p = skipPar ? null : await oursRun(n, { timeout, workers });
    const s = skipSpin ? null : await spinRun(n, { timeout });
    for (const [tool, x] of [['ours', o], ['par', p], ['spin', s]]) {
      if (x && !x.timedOut) last[tool].push({ n, sec: x.sec, states: x.states });
      else if (x) last[tool].push({ n, sec: Infinity, states: Infinity });
    }
    const rows = [['', 'states', 'transitions', 'time s', 'states/s', 'mem MB', 'peak RSS MB', 'verdict']];
    rows.push(
      o
        ? ['ours (sym+POR)', int(o.states), int(o.transitions), sec(o.sec), rate(o.states, o.sec), mb(o.memMB), mbb(o.peakRss), verdict(o)]
        : ['ours', '-', '-', '-', '-', '-', '-', `skipped: ${skipOurs}`],
    );
    if (workers > 1)
      rows.push(
        p
          ? [`ours, ${workers} threads`, int(p.states), int(p.transitions), sec(p.sec), rate(p.states, p.sec), mb(p.memMB), mbb(p.peakRss), verdict(p)]
          : [`ours, ${workers} threads`, '-', '-', '-', '-', '-', '-', `skipped: ${skipPar}`],
      );
    rows.push(
      s
        ? ['SPIN (pan)', int(s.states), int(s.transitions), sec(s.sec), rate(s.states, s.sec), mb(s.memMB), mbb(s.peakRss), verdict(s)]
        : ['SPIN', '-', '-', '-', '-', '-', '-', `skipped: ${skipSpin}`],
    );
    if (o && s && !o.timedOut && !s.timedOut)
      rows.push(['ours/SPIN', ratio(o.states, s.states), ratio(o.transitions, s.transitions), ratio(o.sec, s.sec), ratio(o.states / o.sec, s.states / s.sec), ratio(o.memMB, s.memMB), ratio(o.peakRss, s.peakRss), '']);
    if (p && s && !p.timedOut && !s.timedOut)
      rows.push([`ours ${workers} threads/SPIN`, ratio(p.states, s.states), ratio(p.transitions, s.transitions), ratio(p.sec, s.sec), ratio(p.states / p.sec, s.states / s.sec), ratio(p.memMB, s.memMB), ratio(p.peakRss, s.peakRss), '']);
    if (o && p && !o.timedOut && !p.timedOut) console.log(`${workers} threads / 1 thread: time ${ratio(p.sec, o.sec)}, states ${ratio(p.states, o.states)}`);
    console.log(table(rows));
    if (s) console.log(`SPIN: ${s.flags}; spin -a + gcc ${sec(s.buildSec)} s; search depth ${int(s.depth)}${s.flags.includes('HC4') ? '; hash compaction: approximate (may miss a few states)' : ''}`);
    if (o && s && o.violation == null && s.violation == null && o.complete && s.errors === 0) console.log('verdicts agree: no violation');
    summary.push({ n, o, p, s, skipOurs, skipPar, skipSpin });

    if (withV3) {
      const ov = await oursRun(n, { variant: 'v3', timeout });
      const sv = await spinRun(n, { variant: 'v3', timeout });
      console.log(
        `v3 reverse: ours ${verdict(ov)} after ${ov.violation?.steps ?? '-'} steps (${int(ov.states)} states, ${sec(ov.sec)} s);` +
          ` SPIN ${verdict(sv)} at depth ${sv.violation?.depth ?? '-'} (${int(sv.states)} states, ${sec(sv.sec)} s, pan -DREVERSE)`,
      );
      Object.assign(summary[summary.length - 1], { ov, sv });
    }
    console.log('');
  }

  console.log('== Summary (ratios ours / SPIN) ==');
  const rows = [['N', 'ours states', 'SPIN states', 'ours s', `${workers} thr s`, 'SPIN s', 'time', `time ${workers} thr`, 'ours MB', 'SPIN MB', 'memory', 'ours RSS', 'SPIN RSS', 'RSS', 'verdicts (final | v3)']];
  for (const { n, o, p, s, ov, sv } of summary) {
    const ok = (x) => (x ? verdict(x) : 'skipped');
    rows.push([
      n,
      o ? int(o.states) : 'skipped',
      s ? int(s.states) : 'skipped',
      o ? sec(o.sec) : '-',
      p ? sec(p.sec) : '-',
      s ? sec(s.sec) : '-',
      o && s ? ratio(o.sec, s.sec) : '-',
      p && s ? ratio(p.sec, s.sec) : '-',
      o ? mb(o.memMB) : '-',
      s ? mb(s.memMB) : '-',
      o && s ? ratio(o.memMB, s.memMB) : '-',
      o ? mbb(o.peakRss) : '-',
      s ? mbb(s.peakRss) : '-',
      o && s ? ratio(o.peakRss, s.peakRss) : '-',
      `${ok(o)} / ${ok(s)}${ov ? ` | ${ok(ov)} / ${ok(sv)}` : ''}`,
    ]);
  }
  console.log(table(rows));
  const full = withFull ? await oursRun(3, { model: 'full', timeout }) : null;
  const fullPar = withFull && workers > 1 ? await oursRun(3, { model: 'full', timeout, workers }) : null;
  if (full) {
    console.log(`\n== The full model: 3 tasks + a fork, 2 CPUs (one hot-plugged), one reverse (ours only) ==`);
    for (const [label, x] of [['1 thread', full], [`${workers} threads`, fullPar]])
      if (x) console.log(`${label}: ${int(x.states)} states, ${int(x.transitions)} transitions, ${sec(x.sec)} s, ${rate(x.states, x.sec)} states/s, peak RSS ${mbb(x.maxRss)} MB: ${verdict(x)}`);
  }
  console.log('\n== Issue 3 goals, in this run ==');
  const at = (n) => summary.find((x) => x.n === n);
  const n5 = at(5);
  const runs = (x) => [['1 thread', x?.o], [`${workers} threads`, x?.p]].filter(([, r]) => r && !r.timedOut);
  const goal = (label, list, ok, show) => {
    if (!list.length) return console.log(`${label}: not measured in this run`);
    const met = list.filter(([, r]) => ok(r));
    console.log(`${label}: ${list.map(([t, r]) => `${t} ${show(r)}`).join('; ')}: ${met.length ? `met (${met.map(([t]) => t).join(', ')})` : 'NOT met'}`);
  };
  if (n5?.s && !n5.s.timedOut)
    goal(`5 tasks in no more than SPIN's time (${sec(n5.s.sec)} s)`, runs(n5), (r) => r.complete && r.sec <= n5.s.sec, (r) => `${sec(r.sec)} s`);
  else console.log("5 tasks in no more than SPIN's time: not measured in this run");
  goal(`7 tasks in at most ${GOAL_N7_SEC} s and 1 GB`, runs(at(7)), (r) => r.complete && r.sec <= GOAL_N7_SEC && r.maxRss <= GOAL_N7_BYTES, (r) => `${sec(r.sec)} s, peak RSS ${mbb(r.maxRss)} MB`);
  goal(`the full model in at most ${GOAL_FULL_SEC} s`, [['1 thread', full], [`${workers} threads`, fullPar]].filter(([, r]) => r && !r.timedOut), (r) => r.complete && r.sec <= GOAL_FULL_SEC, (r) => `${sec(r.sec)} s`);
  const bad = [full, fullPar].some((x) => x && (x.violation || x.timedOut)) || summary.some(({ o, p, s }) => [o, p].some((x) => x && (x.violation || x.timedOut)) || (s && (s.violation || s.errors))) ||
    summary.some(({ ov, sv }) => ov && (!ov.violation || !sv.violation));
  if (bad) {
    console.log('\nUNEXPECTED: the final code must verify and v3 must fail on both sides');
    process.exitCode = 1;
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') await child(argv.slice(1));
else
  await main(argv).catch((e) => {
    console.error(e.message);
    process.exit(2);
  });
