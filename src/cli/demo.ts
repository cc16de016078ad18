// `livepatch demo`: the example service (examples/shop) started under `--import livepatch/register`,
// put under load from this process, and patched, reversed and replaced through its control socket
// while it serves; every response says which version of each patched function it ran.
//
// The same machinery drives the end-to-end test (test/runtime/e2e.test.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyTo } from '../delivery/apply.js';
import { writeReport } from '../delivery/report.js';
import { ControlClient } from '../runtime/control.js';
import type { PatchFile } from '../runtime/patchfile.js';
import type { PatchInfo, TransitionStatus } from '../runtime/types.js';
import type { Io } from './sim.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/shop/', import.meta.url));
const REGISTER = fileURLToPath(new URL('../runtime/register.js', import.meta.url));

export interface Shop {
  pid: number;
  port: number;
  ctl: ControlClient;
  get(path: string): Promise<{ status: number; body: string }>;
  /** Poll the transition status until no transition runs. */
  waitIdle(timeoutMs?: number): Promise<void>;
  stop(): void;
}

/** The port a service prints as `READY <port>` on stdout; rejects when it exits first. */
export function readyPort(child: ChildProcess, what: () => string): Promise<number> {
  return new Promise<number>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) ok(Number(m[1]));
    });
    child.once('exit', (code) => fail(new Error(`${what()} exited with ${code} before listening`)));
  });
}

/** A copy of examples/shop, started with the loader hooks under `node` (default: this Node). */
export async function startShop(opts: { node?: string; log?: string; entry?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Shop> {
  const dir = mkdtempSync(join(tmpdir(), 'livepatch-shop-'));
  cpSync(EXAMPLE, dir, { recursive: true });
  // The entry (server.js; threads.js and cluster.js run it on worker threads, on cluster workers).
  const child: ChildProcess = spawn(opts.node ?? process.execPath, ['--import', REGISTER, opts.entry ?? 'server.js'], {
    cwd: dir,
    env: { ...process.env, LIVEPATCH_LOG: opts.log ?? 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const cleanup = (): void => {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  const port = await readyPort(child, () => 'the example service').catch((e: unknown) => {
    cleanup();
    throw e;
  });
  return attachShop(child.pid!, port, cleanup);
}

/** A running copy of the example (its process `pid` serving `port`, however started) as a Shop. */
export async function attachShop(pid: number, port: number, cleanup: () => void): Promise<Shop> {
  const ctl = await ControlClient.connect(pid);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const get = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((ok, fail) => {
      http
        .get({ host: '127.0.0.1', port, path, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
        })
        .on('error', fail);
    });
  const waitIdle = async (timeoutMs = 10_000): Promise<void> => {
    const until = Date.now() + timeoutMs;
    while ((await ctl.call<TransitionStatus>('status')).patch !== null) {
      if (Date.now() > until) throw new Error('the transition did not complete');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return {
    pid,
    port,
    ctl,
    get,
    waitIdle,
    stop: () => {
      ctl.close();
      agent.destroy();
      cleanup();
    },
  };
}

/** One of the example's patch files (examples/shop/patches/<name>.json). */
export function shopPatch(name: string): PatchFile {
  return JSON.parse(readFileSync(join(EXAMPLE, 'patches', `${name}.json`), 'utf8')) as PatchFile;
}

/** The one version a response ran; throws when it ran a mix. */
export function versionOf(body: string): string {
  const { seen } = JSON.parse(body) as { seen: Record<string, string> };
  const versions = new Set(Object.values(seen));
  if (Object.keys(seen).length !== 3 || versions.size !== 1) throw new Error(`a response mixed versions: ${body}`);
  return [...versions][0];
}

/** Concurrent clients until stop(): counts of versions seen, failures, mixed responses. */
export function load(shop: Shop, clients: number): { counts: Map<string, number>; failed: () => number; mixed: () => number; served: () => number; stop(): Promise<void> } {
  const counts = new Map<string, number>();
  let failed = 0;
  let mixed = 0;
  let served = 0;
  let running = true;
  const loops = Array.from({ length: clients }, async (_, n) => {
    for (let i = 0; running; i++) {
      const res = await shop.get(`/item/${n}/${i}`).catch(() => ({ status: 0, body: '' }));
      served++;
      if (res.status !== 200) {
        failed++;
        continue;
      }
      try {
        const v = versionOf(res.body);
        counts.set(v, (counts.get(v) ?? 0) + 1);
      } catch {
        mixed++;
      }
    }
  });
  return {
    counts,
    failed: () => failed,
    mixed: () => mixed,
    served: () => served,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** A request parked inside handle() until released; resolves to the version it ran. */
export function parked(shop: Shop, id: string): { version: Promise<string>; release(): Promise<void> } {
  const version = shop.get(`/slow/${id}`).then((r) => versionOf(r.body));
  return {
    version,
    release: async () => {
      // The request may not have reached its gate yet.
      while ((await shop.get(`/release/${id}`)).body !== 'released') await new Promise((r) => setTimeout(r, 2));
    },
  };
}

export async function demo(io: Io): Promise<number> {
  const say = (line: string): void => io.out(line);
  const shop = await startShop();
  try {
    const fresh = async (): Promise<string> => versionOf((await shop.get('/item/fresh')).body);
    const ping = await shop.ctl.call<{ hooks: string; node: string }>('ping');
    say(`the example service (examples/shop) runs as pid ${shop.pid} on 127.0.0.1:${shop.port}`);
    say(`  node ${ping.node}, --import livepatch/register, loader hooks: ${ping.hooks}`);
    const traffic = load(shop, 8);
    say(`  8 clients send requests; each response names the version of handle(), quote() and render() it ran`);

    say('\n1. a request parks inside handle() (v1); then: livepatch enable shop-v2.json');
    const a = parked(shop, 'a');
    await new Promise((r) => setTimeout(r, 50));
    await shop.ctl.call<PatchInfo>('enable', { patch: shopPatch('shop-v2') });
    const st = await shop.ctl.call<TransitionStatus>('status');
    for (const t of st.blocked) say(`   not switched yet: ${t.name} (${t.ageMs} ms), in ${t.holding.map((h) => `${h.func} for ${h.ageMs} ms`).join(', ')}`);
    say(`   a new request runs: ${await fresh()}`);
    await a.release();
    say(`   the parked request finished, consistently, on: ${await a.version}`);
    await shop.waitIdle();
    say('   transition complete');

    say('\n2. atomic replace by shop-v3, then disable it in the middle of its transition (reverse)');
    const b = parked(shop, 'b');
    await new Promise((r) => setTimeout(r, 50));
    await shop.ctl.call('enable', { patch: shopPatch('shop-v3') });
    say(`   a new request runs: ${await fresh()}`);
    await shop.ctl.call('disable', { name: 'shop-v3' });
    say(`   after the reverse, a new request runs: ${await fresh()}`);
    await b.release();
    say(`   the request that held the transition finished on: ${await b.version}`);
    await shop.waitIdle();
    const names = (await shop.ctl.call<PatchInfo[]>('list')).map((p) => p.name);
    say(`   patches: ${names.join(', ')}`);

    say('\n3. shop-v3 again, to completion; then disable it: the original code is back');
    await shop.ctl.call('enable', { patch: shopPatch('shop-v3') });
    await shop.waitIdle();
    say(`   a new request runs: ${await fresh()}`);
    await shop.ctl.call('disable', { name: 'shop-v3' });
    await shop.waitIdle();
    say(`   a new request runs: ${await fresh()}`);

    say('\n4. livepatch apply shop-v2.json --report: a request holds the transition for a second, then returns');
    const c = parked(shop, 'c');
    await new Promise((r) => setTimeout(r, 50));
    const applying = applyTo(shop.pid, shopPatch('shop-v2') as unknown as Record<string, unknown>, { timeoutS: 30, signalAfterS: 15, recordMs: 1000, allowUnloaded: false }, () => {});
    await new Promise((r) => setTimeout(r, 2000));
    await c.release();
    const applied = await applying;
    say(`   apply exited ${applied.exit}; the held request finished on: ${await c.version}; a new request runs: ${await fresh()}`);
    say(`   transition report: ${writeReport(join(tmpdir(), `livepatch-demo-${shop.pid}.html`), 'shop-v2', [applied])}`);

    await traffic.stop();
    const counts = [...traffic.counts].map(([v, n]) => `${v} ${n}`).join(', ');
    say(`\n${traffic.served()} responses under load (${counts}); mixed versions: ${traffic.mixed()}; failed: ${traffic.failed()}`);
    say('\nthe service log (the kernel livepatch messages):');
    for (const line of (await shop.ctl.call<{ lines: string[] }>('log')).lines) say(`  ${line}`);
    return traffic.mixed() === 0 && traffic.failed() === 0 && applied.exit === 0 ? 0 : 1;
  } finally {
    shop.stop();
  }
}
