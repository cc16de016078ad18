// Issue 14, acceptance 1: the example service on 4 worker threads (examples/shop/threads.js), each with
// its own runtime, under loopback load from this process: patch, reverse in the middle of a transition
// (in every thread, including those already done), re-patch, replace, and a thread restarted in the
// middle of a transition, all through the main thread's control socket. No response may mix versions,
// none may fail, and the process-level transition ends only when every thread's has.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { load, parked, shopPatch, startShop, versionOf, type Shop } from '../../src/cli/demo.js';
import type { GroupStatus } from '../../src/cluster/types.js';
import type { PatchInfo } from '../../src/runtime/types.js';

const THREADS = 4;
const PACKAGE = fileURLToPath(new URL('../../src/runtime/index.js', import.meta.url));
let shop: Shop;

before(async () => {
  shop = await startShop({ entry: 'threads.js', env: { THREADS: String(THREADS), LIVEPATCH_PACKAGE: PACKAGE } });
});

after(() => shop?.stop());

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const status = (): Promise<GroupStatus> => shop.ctl.call<GroupStatus>('status');
const names = async (): Promise<string[]> => (await shop.ctl.call<PatchInfo[]>('list')).map((p) => p.name);
/** Every thread has received the last op (the main thread's enable returns before they have). */
async function applied(): Promise<void> {
  for (;;) {
    const st = await status();
    if (st.cpus.every((c) => c.applied === c.ops)) return;
    await settle(5);
  }
}
/** One request to every thread (round robin): the versions they ran. */
const everyThread = async (): Promise<string[]> =>
  Promise.all(Array.from({ length: THREADS }, async (_, i) => versionOf((await shop.get(`/item/fresh/${i}`)).body)));

test('4 worker threads under load: patch, reverse mid-transition, re-patch, replace, restart mid-transition', async () => {
  const traffic = load(shop, 8);
  assert.deepEqual(await everyThread(), ['v1', 'v1', 'v1', 'v1']);

  // 1. Patch while a request is parked inside handle() in one thread: every thread's new tasks run v2 at
  //    once, the process-level transition waits for the parked one.
  const a = parked(shop, 'a');
  await settle(50);
  await shop.ctl.call('enable', { patch: shopPatch('shop-v2') });
  await applied();
  assert.deepEqual(await everyThread(), ['v2', 'v2', 'v2', 'v2']);
  let st = await status();
  assert.equal(st.patch, 'shop-v2');
  assert.equal(st.cpus.length, THREADS + 1, JSON.stringify(st.cpus));
  assert.ok(st.cpus.some((c) => c.cpu.startsWith('thread') && !c.switched), JSON.stringify(st.cpus));
  assert.ok(st.blocked.some((t) => /^thread \d+: job \/slow\/a$/.test(t.name) && t.holding.some((h) => h.func === 'handle')), JSON.stringify(st.blocked));
  await a.release();
  assert.equal(await a.version, 'v1');
  await shop.waitIdle();
  st = await status();
  assert.ok(st.cpus.every((c) => c.switched && c.applied === 1), JSON.stringify(st.cpus));

  // 2. Replace by v3 with a v2 request parked, then disable v3 mid-transition: every thread reverses,
  //    the three that had completed included.
  const b = parked(shop, 'b');
  await settle(50);
  await shop.ctl.call('enable', { patch: shopPatch('shop-v3') });
  await applied();
  assert.deepEqual(await everyThread(), ['v3', 'v3', 'v3', 'v3']);
  assert.equal((await status()).patch, 'shop-v3');
  await assert.rejects(shop.ctl.call('enable', { patch: shopPatch('shop-v2') }), /LP_ERR_BUSY|in transition/);
  await shop.ctl.call('disable', { name: 'shop-v3' });
  await applied();
  assert.deepEqual(await everyThread(), ['v2', 'v2', 'v2', 'v2']);
  await b.release();
  assert.equal(await b.version, 'v2');
  await shop.waitIdle();
  assert.deepEqual(await names(), ['shop-v2']);

  // 3. Unpatch and re-patch.
  await shop.ctl.call('disable', { name: 'shop-v2' });
  await shop.waitIdle();
  assert.deepEqual(await everyThread(), ['v1', 'v1', 'v1', 'v1']);
  await shop.ctl.call('enable', { patch: shopPatch('shop-v2') });
  await shop.waitIdle();
  assert.deepEqual(await everyThread(), ['v2', 'v2', 'v2', 'v2']);

  // 4. Replace by v3 while every thread is restarted in the middle of the transition: the new threads
  //    come up on v3 (the replay); the old thread holding `c` holds the transition until it ends.
  const c = parked(shop, 'c');
  await settle(50);
  await shop.ctl.call('enable', { patch: shopPatch('shop-v3') });
  const restarts = Array.from({ length: THREADS }, (_, i) => shop.get(`/threads/restart/${i}`));
  // Until the three old threads that hold nothing have drained and ended.
  while ((st = await status()).cpus.length !== THREADS + 2) await settle(10);
  assert.equal(st.patch, 'shop-v3');
  assert.equal(st.cpus.length, THREADS + 2, JSON.stringify(st.cpus));
  assert.deepEqual(await everyThread(), ['v3', 'v3', 'v3', 'v3']);
  await c.release();
  assert.equal(await c.version, 'v2');
  for (const r of await Promise.all(restarts)) assert.equal(r.body, 'restarted');
  await shop.waitIdle();
  assert.deepEqual(await everyThread(), ['v3', 'v3', 'v3', 'v3']);
  assert.deepEqual(await names(), ['shop-v3']);
  st = await status();
  assert.equal(st.patch, null);
  assert.equal(st.cpus.length, THREADS + 1, JSON.stringify(st.cpus));

  await traffic.stop();
  assert.equal(traffic.failed(), 0);
  assert.equal(traffic.mixed(), 0);
  for (const v of ['v1', 'v2', 'v3']) assert.ok((traffic.counts.get(v) ?? 0) > 0, `no load response ran ${v}: ${JSON.stringify([...traffic.counts])}`);
});
