// Issue 12, acceptance 1 (TypeScript): the TypeScript twin of the shop (examples/shop-ts) is compiled
// with the project's own tsc, run under livepatch, fixed in its .ts source; `livepatch build` compiles
// both trees, compares the JavaScript that runs, and writes the patch; every message names the .ts
// file:line through the source maps.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fixedCopy, REPO, Scratch } from './service.js';

const s = new Scratch();
after(() => s.cleanup());

test('the TypeScript shop: build from the fixed .ts, enable, new requests get the fix, in-flight ones finish old', { timeout: 240_000 }, async () => {
  const app = s.path('app');
  cpSync(join(REPO, 'examples/shop-ts'), app, { recursive: true, filter: (src) => !src.endsWith('/dist') });
  // The project's TypeScript and Node types: livepatch's own node_modules stands in for the app's.
  symlinkSync(join(REPO, 'node_modules'), join(app, 'node_modules'), 'dir');
  execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app });
  const svc = await s.start('dist/server.js', app);
  const seen = async (path: string) => (JSON.parse(await svc.get(path)) as { seen: Record<string, string> }).seen;
  assert.deepEqual(await seen('/a'), { handle: 'v1', quote: 'v1', render: 'v1' });

  fixedCopy(app, s.path('fixed'), 'src/lib/shop.ts', [
    ["{ handle: 'v1' }", "{ handle: 'v2' }"],
    ["seen.quote = 'v1';", "seen.quote = 'v2';"],
    ["seen.render = 'v1';", "seen.render = 'v2'; // fixed in TypeScript"],
  ]);
  const built = await s.cli(['build', '--old', 'app', '--new', 'fixed', '-o', 'ts.json']);
  assert.equal(built.status, 0, built.stderr);
  assert.match(built.stdout, /^\.\/dist\/lib\/shop\.js: 3 changed \(handle, quote, render\), 0 added, 0 removed$/m);
  const patch = JSON.parse(readFileSync(s.path('ts.json'), 'utf8'));
  assert.equal(patch.objs[0].name, './dist/lib/shop.js');

  const inflight = svc.get('/slow/x');
  await new Promise((r) => setTimeout(r, 200));
  const enabling = s.cli(['enable', 'ts.json', '--wait', '--timeout', '60']);
  let fresh: Record<string, string> = {};
  for (let i = 0; i < 200 && fresh.render !== 'v2'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    fresh = await seen('/b');
  }
  assert.deepEqual(fresh, { handle: 'v2', quote: 'v2', render: 'v2' });
  assert.equal(await svc.get('/release/x'), 'released');
  assert.deepEqual((JSON.parse(await inflight) as { seen: unknown }).seen, { handle: 'v1', quote: 'v1', render: 'v1' });
  assert.equal((await enabling).status, 0);

  // A refusal names the .ts line, not the compiled one.
  fixedCopy(app, s.path('toplevel'), 'src/lib/shop.ts', [['export type Seen', "export const CURRENCY = 'EUR';\nexport type Seen"]]);
  const refused = await s.cli(['build', '--old', 'app', '--new', 'toplevel']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^src\/lib\/shop\.ts:4:\d+: LP_ERR_BUILD_TOPLEVEL: a new top-level statement/m);
  assert.match(refused.stderr, /^livepatch: LP_ERR_BUILD_REFUSED: /m);
});
