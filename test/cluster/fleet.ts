// Test support: the flow both cluster tests run (node:cluster, pm2 cluster mode) against a primary
// coordinating 2 workers of examples/shop: one `livepatch apply` reaches every worker; a worker
// killed in the middle of a transition comes back (its manager respawns it) on the right version and
// does not stall the transition; `ps` shows the cluster as one entry.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parked, shopPatch, versionOf, type Shop } from '../../src/cli/demo.js';
import type { GroupStatus } from '../../src/cluster/types.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PATCHES = fileURLToPath(new URL('../../../examples/shop/patches/', import.meta.url));

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c));
    p.stderr.on('data', (c: Buffer) => (out += c));
    p.on('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

export async function fleetScenario(shop: Shop): Promise<void> {
  const status = (): Promise<GroupStatus> => shop.ctl.call<GroupStatus>('status');
  const workers = async (): Promise<GroupStatus['cpus']> => (await status()).cpus?.filter((c) => c.cpu.startsWith('worker')) ?? [];
  // Fresh requests: the cluster spreads them over the workers.
  const fresh = async (n = 8): Promise<Set<string>> => new Set(await Promise.all(Array.from({ length: n }, async (_, i) => versionOf((await shop.get(`/item/f${i}`)).body))));

  while ((await workers()).length < 2) await settle(20);
  // pm2 reports its workers started before they listen.
  while (!(await shop.get('/item/up').then(() => true, () => false))) await settle(20);
  assert.deepEqual(await fresh(), new Set(['v1']));

  const r = await cli(['apply', `${PATCHES}shop-v2.json`, '--pid', String(shop.pid), '--timeout', '60', '--allow-unloaded']);
  assert.equal(r.code, 0, r.out);
  let ws = await workers();
  assert.equal(ws.length, 2, JSON.stringify(ws));
  assert.ok(ws.every((w) => w.switched && w.applied === 1), JSON.stringify(ws));
  assert.deepEqual(await fresh(), new Set(['v2']));

  // Replace by v3 while a request is parked in one worker; the primary learns its workers' tasks from
  // their reports (polled).
  const a = parked(shop, 'a');
  await settle(100);
  await shop.ctl.call('enable', { patch: shopPatch('shop-v3') });
  let st = await status();
  while (!st.blocked.some((t) => t.name.endsWith('GET /slow/a'))) {
    assert.equal(st.patch, 'shop-v3');
    await settle(20);
    st = await status();
  }
  // The worker that does not hold the parked request dies (the other holds the transition meanwhile).
  const holder = st.blocked.find((t) => t.name.endsWith('GET /slow/a'))!;
  const victim = /pid (\d+)/.exec(ws.find((w) => !holder.name.startsWith(w.cpu))!.cpu)![1];
  process.kill(Number(victim), 'SIGKILL');
  for (;;) {
    ws = await workers();
    if (ws.length === 2 && !ws.some((w) => w.cpu.includes(`pid ${victim})`))) break;
    await settle(20);
  }
  assert.equal((await status()).patch, 'shop-v3');
  await a.release();
  assert.equal(await a.version, 'v2');
  await shop.waitIdle(30_000);
  ws = await workers();
  assert.ok(ws.every((w) => w.switched && w.applied === 2), JSON.stringify(ws));
  assert.deepEqual(await fresh(), new Set(['v3']));

  const s = await cli(['status', '--pid', String(shop.pid)]);
  assert.equal(s.code, 0, s.out);
  // ps: the cluster is one entry, its workers beneath the primary.
  const ps = (await cli(['ps'])).out.split('\n');
  const at = ps.findIndex((l) => l.startsWith(`${shop.pid} `));
  assert.ok(at > 0, ps.join('\n'));
  const pids = new Set(ws.map((w) => /pid (\d+)/.exec(w.cpu)![1]));
  assert.deepEqual(new Set(ps.slice(at + 1, at + 3).map((l) => /^ {2}└ (\d+)/.exec(l)?.[1])), pids, ps.join('\n'));
}
