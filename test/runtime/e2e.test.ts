// Issue 4, acceptance 1: a real HTTP server (examples/shop), started with `--import livepatch/register`,
// under concurrent load from this (second) process on loopback, is patched, unpatched, re-patched,
// reversed in the middle of a transition and atomically replaced through its control socket. Every
// response says which version of each patched function it ran: none may mix versions, none may fail;
// a request suspended inside a patched async function keeps old code until it returns while new
// requests get new code at once. Then bad input under load (acceptance 5).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { load, parked, shopPatch, startShop, versionOf, type Shop } from '../../src/cli/demo.js';
import type { PatchFile } from '../../src/runtime/patchfile.js';
import type { PatchInfo, TransitionStatus } from '../../src/runtime/types.js';

let shop: Shop;

before(async () => {
  shop = await startShop();
});

after(() => shop?.stop());

const fresh = async (): Promise<string> => versionOf((await shop.get('/item/fresh')).body);
const names = async (): Promise<string[]> => (await shop.ctl.call<PatchInfo[]>('list')).map((p) => p.name);
const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('patch, unpatch, re-patch, reverse mid-transition and atomic replace under load: no mixed versions, no failures', async () => {
  const traffic = load(shop, 16);
  assert.equal(await fresh(), 'v1');

  // 1. Patch while a request is suspended inside handle(): it finishes on v1, new requests get v2 at once.
  const a = parked(shop, 'a');
  await settle(20);
  await shop.ctl.call('enable', { patch: shopPatch('shop-v2') });
  assert.equal(await fresh(), 'v2');
  const st = await shop.ctl.call<TransitionStatus>('status');
  assert.equal(st.patch, 'shop-v2');
  assert.ok(
    st.blocked.some((t) => t.name === 'GET /slow/a' && t.holding.some((h) => h.func === 'handle' && h.object === './lib/shop.js')),
    JSON.stringify(st),
  );
  await a.release();
  assert.equal(await a.version, 'v1');
  await shop.waitIdle();

  // 2. Unpatch, then re-patch.
  await shop.ctl.call('disable', { name: 'shop-v2' });
  await shop.waitIdle();
  assert.equal(await fresh(), 'v1');
  await shop.ctl.call('enable', { patch: shopPatch('shop-v2') });
  await shop.waitIdle();
  assert.equal(await fresh(), 'v2');

  // 3. Atomic replace by v3 with a v2 request in flight, then disable v3 in the middle of its
  //    transition: it reverses, and the request that held it back still ends on v2.
  const b = parked(shop, 'b');
  await settle(20);
  await shop.ctl.call('enable', { patch: shopPatch('shop-v3') });
  assert.equal(await fresh(), 'v3');
  assert.equal((await shop.ctl.call<TransitionStatus>('status')).patch, 'shop-v3');
  await shop.ctl.call('disable', { name: 'shop-v3' });
  assert.equal(await fresh(), 'v2');
  await b.release();
  assert.equal(await b.version, 'v2');
  await shop.waitIdle();
  assert.deepEqual(await names(), ['shop-v2']);

  // 4. Replace for good, then remove everything.
  await shop.ctl.call('enable', { patch: shopPatch('shop-v3') });
  await shop.waitIdle();
  assert.equal(await fresh(), 'v3');
  assert.deepEqual(await names(), ['shop-v3']);
  await shop.ctl.call('disable', { name: 'shop-v3' });
  await shop.waitIdle();
  assert.equal(await fresh(), 'v1');

  await traffic.stop();
  assert.equal(traffic.failed(), 0);
  assert.equal(traffic.mixed(), 0);
  for (const v of ['v1', 'v2', 'v3']) assert.ok((traffic.counts.get(v) ?? 0) > 0, `no load response ran ${v}: ${JSON.stringify([...traffic.counts])}`);
});

test('bad input under load: each refused with its code, the service keeps serving its previous code', async () => {
  await shop.ctl.call('enable', { patch: shopPatch('shop-v2') });
  await shop.waitIdle();
  const traffic = load(shop, 8);
  const bad = (mutate: (p: PatchFile) => void): PatchFile => {
    const p = shopPatch('shop-v2');
    p.name = 'bad';
    mutate(p);
    return p;
  };
  const cases: Array<[string, PatchFile]> = [
    ['LP_ERR_PATCH_SYNTAX', bad((p) => (p.objs[0].funcs[1].source = 'function (url, seen { return 1 }'))],
    ['LP_ERR_NO_SUCH_FUNC', bad((p) => (p.objs[0].funcs[1].oldName = 'nope'))],
    ['LP_ERR_SHA_MISMATCH', bad((p) => (p.objs[0].sha256 = '0'.repeat(64)))],
    ['LP_ERR_CALLBACK_FAILED', bad((p) => (p.objs[0].callbacks = { prePatch: '() => { throw new Error("no") }' }))],
    ['LP_ERR_UNPATCHABLE', bad((p) => (p.objs[0].funcs[0].source = 'async function* (url) { yield 1 }'))],
    ['LP_ERR_UNRESOLVED', bad((p) => (p.objs[0].funcs[1].source = 'function (url, seen) { return undefinedThing }'))],
  ];
  for (const [code, p] of cases) {
    await assert.rejects(shop.ctl.call('enable', { patch: p }), (e: { code?: string }) => e.code === code, code);
    assert.deepEqual(await names(), ['shop-v2']);
    assert.equal((await shop.ctl.call<TransitionStatus>('status')).patch, null);
  }
  // Keep the load on for a while after the last refusal.
  const until = traffic.served() + 200;
  while (traffic.served() < until) await settle(5);
  await traffic.stop();
  assert.equal(traffic.failed(), 0);
  assert.equal(traffic.mixed(), 0);
  assert.deepEqual([...traffic.counts.keys()], ['v2']);
  await shop.ctl.call('disable', { name: 'shop-v2' });
  await shop.waitIdle();
});
