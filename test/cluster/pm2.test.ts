// Issue 14, acceptance 3 (pm2 cluster mode): pm2 (the npm package) runs examples/shop/server.js on 2
// cluster workers; its daemon, started under livepatch (NODE_OPTIONS, which the workers inherit), is
// their node:cluster primary and coordinates them. A real pm2 daemon with its own PM2_HOME in a temp
// dir, killed after. The flow is fleet.ts's.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { attachShop, type Shop } from '../../src/cli/demo.js';
import { fleetScenario } from './fleet.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/shop/', import.meta.url));
const REGISTER = fileURLToPath(new URL('../../src/runtime/register.js', import.meta.url));
const PM2 = fileURLToPath(new URL('../../../node_modules/pm2/bin/pm2', import.meta.url));
let shop: Shop | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'livepatch-pm2-'));
  cpSync(EXAMPLE, dir, { recursive: true });
  const port = await freePort();
  const env = { ...process.env, PM2_HOME: join(dir, '.pm2'), NODE_OPTIONS: `--import ${REGISTER}`, LIVEPATCH_ROOT: dir, LIVEPATCH_LOG: 'warn', PORT: String(port) };
  const kill = (): void => {
    spawnSync(process.execPath, [PM2, 'kill'], { cwd: dir, env: { ...env, NODE_OPTIONS: '' }, stdio: 'ignore', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  const r = spawnSync(process.execPath, [PM2, 'start', 'server.js', '-i', '2', '--name', 'shop'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    kill();
    throw new Error(`pm2 start failed (${r.status}): ${r.stdout}${r.stderr}`);
  }
  shop = await attachShop(Number(readFileSync(join(dir, '.pm2', 'pm2.pid'), 'utf8')), port, kill);
});

after(() => shop?.stop());

test('pm2 cluster mode, 2 workers: one livepatch apply reaches every worker; a worker killed mid-transition comes back patched', async () => {
  await fleetScenario(shop!);
});
