// Test support: a thread-pool app written to a temp dir (the real loader instruments it), and the patch
// for its module. Every job runs a() … await … b() in a task of its own: a job that ran two versions
// counts as mixed. main.js drives >= 50 transitions from a seed, starting and terminating workers at
// seeded random points, and prints one JSON line of what it saw.

import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const VER_SOURCE = [
  "function a() { return 'v1' }",
  "function b() { return 'v1' }",
  'async function job(ms) { const x = a(); await new Promise((r) => setTimeout(r, ms)); return [x, b()] }',
  'module.exports = { a, b, job };',
  '',
].join('\n');

export function verPatch(name: string, v: string, replace = false): Record<string, unknown> {
  return {
    name,
    replace,
    objs: [
      {
        name: './lib/ver.js',
        sha256: createHash('sha256').update(VER_SOURCE).digest('hex'),
        funcs: [
          { oldName: 'a', source: `function () { return '${v}' }` },
          { oldName: 'b', source: `function () { return '${v}' }` },
          { oldName: 'job', source: 'async function (ms) { const x = a(); await new Promise((r) => setTimeout(r, ms)); return [x, b()] }' },
        ],
      },
    ],
  };
}

const WORKER = `
const { parentPort } = require('node:worker_threads');
const { a, job } = require('./lib/ver.js');
// A worker thread talks over its port, a cluster worker over its IPC channel.
const port = parentPort || { on: (e, f) => process.on(e, f), postMessage: (m) => process.send(m) };
let mixed = 0;
let jobs = 0;
const api = import(process.env.LIVEPATCH_PACKAGE);
// Listening at once: a cluster worker's messages before a listener would be lost.
port.on('message', async (m) => {
  const { runTask } = await api;
  port.postMessage({ id: m.id, mixed, jobs, version: await runTask('ask', () => a()) });
});
api.then(({ runTask }) => {
  const loop = async () => {
    for (let i = 0; ; i++) {
      const [x, y] = await runTask('job', () => job(i % 4));
      jobs++;
      if (x !== y) mixed++;
    }
  };
  for (let k = 0; k < 3; k++) loop();
});
`;

const MAIN = `
const cluster = require('node:cluster');
const { Worker } = require('node:worker_threads');
if (cluster.isWorker) return void require('./worker.js');
const KIND = process.env.POOL;
const seed = Number(process.env.SEED);
let t = seed >>> 0;
// mulberry32: every choice of the run comes from the seed.
const rand = () => { t = (t + 0x6d2b79f5) >>> 0; let r = Math.imul(t ^ (t >>> 15), 1 | t); r ^= r + Math.imul(r ^ (r >>> 7), 61 | r); return ((r ^ (r >>> 14)) >>> 0) / 4294967296; };
const pick = (n) => Math.floor(rand() * n);
const patches = JSON.parse(process.env.PATCHES);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
import(process.env.LIVEPATCH_PACKAGE).then(async (lp) => {
  const workers = new Set();
  let asked = 0;
  const waiting = new Map();
  const start = () => {
    const w = KIND === 'cluster' ? cluster.fork() : new Worker('./worker.js');
    w.on('message', (m) => { const f = waiting.get(m.id); waiting.delete(m.id); if (f) f(m); });
    w.on('exit', () => { workers.delete(w); for (const [id, f] of waiting) if (f.w === w) { waiting.delete(id); f(null); } });
    workers.add(w);
  };
  const stop = (w) => (KIND === 'cluster' ? new Promise((r) => { w.once('exit', r); w.process.kill('SIGKILL'); }) : w.terminate());
  const ask = (w) => new Promise((resolve) => { const id = ++asked; resolve.w = w; waiting.set(id, resolve); (KIND === 'cluster' ? w.send({ id }) : w.postMessage({ id })); });
  const churn = async () => {
    const r = rand();
    if (r < 0.3 && workers.size < 4) start();
    else if (r < 0.55 && workers.size > 1) await stop([...workers][pick(workers.size)]);
  };
  for (let i = 0; i < 3; i++) start();
  await sleep(KIND === 'cluster' ? 1000 : 200);
  const out = { transitions: 0, wrong: [], stalls: 0, mixed: 0, jobs: 0, reversed: 0, started: 0 };
  let expect = 'v1';
  let on = null;
  for (let i = 0; out.transitions < Number(process.env.TRANSITIONS); i++) {
    await churn();
    const r = rand();
    // enable (or replace) when nothing is on, else unpatch; sometimes reverse in the middle.
    if (!on) { on = patches[pick(patches.length)]; lp.enable(on.patch); expect = on.v; }
    else { lp.disable(on.patch.name); on = null; expect = 'v1'; }
    out.transitions++;
    if (r < 0.3 && lp.status().patch !== null && on) { lp.disable(on.patch.name); on = null; expect = 'v1'; out.reversed++; out.transitions++; }
    const before = workers.size;
    await sleep(pick(4));
    await churn();
    out.started += Math.max(0, workers.size - before);
    if (!(await lp.waitIdle(30000))) { out.stalls++; console.error(JSON.stringify(lp.status())); break; }
    for (const w of [...workers]) {
      const m = await ask(w);
      if (m && m.version !== expect) out.wrong.push({ transition: out.transitions, want: expect, got: m.version });
    }
  }
  for (const w of [...workers]) { const m = await ask(w); if (m) { out.mixed += m.mixed; out.jobs += m.jobs; } }
  console.log('RESULT ' + JSON.stringify(out));
  process.exit(0);
});
`;

/** The pool app in a fresh temp dir; returns the dir. */
export function writePool(): string {
  const dir = mkdtempSync(join(tmpdir(), 'livepatch-pool-'));
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'lib', 'ver.js'), VER_SOURCE);
  writeFileSync(join(dir, 'worker.js'), WORKER);
  writeFileSync(join(dir, 'main.js'), MAIN);
  writeFileSync(join(dir, 'package.json'), '{ "name": "pool", "private": true }\n');
  return dir;
}
