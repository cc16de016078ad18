// Issue 14, acceptance 3 (node:cluster): the example service on a primary and 2 workers
// (examples/shop/cluster.js); the flow is fleet.ts's.

import { after, before, test } from 'node:test';
import { startShop, type Shop } from '../../src/cli/demo.js';
import { fleetScenario } from './fleet.js';

let shop: Shop;

before(async () => {
  shop = await startShop({ entry: 'cluster.js', env: { WORKERS: '2' } });
});

after(() => shop?.stop());

test('node:cluster, 2 workers: one livepatch apply reaches every worker; a worker killed mid-transition comes back patched', async () => {
  await fleetScenario(shop);
});
