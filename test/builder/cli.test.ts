// `livepatch build` at the command line: --diff makes the same patch as the fixed tree does, a refused
// change prints each reason as file:line:column: CODE and writes nothing (exit 1), a change of comments
// only is "nothing to patch" (exit 1), usage errors exit 2.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { APP, FIXES, fixedCopy, Scratch, writeTree } from './service.js';

const s = new Scratch();
after(() => s.cleanup());
writeTree(s.path('app'), APP);
fixedCopy(s.path('app'), s.path('fixed'), 'lib/pricing.js', FIXES);

test('--diff: the old tree with a unified diff applied gives the same patch, byte for byte', async () => {
  const diff = spawnSync('diff', ['-u', '--label', 'a/lib/pricing.js', '--label', 'b/lib/pricing.js', s.path('app/lib/pricing.js'), s.path('fixed/lib/pricing.js')], { encoding: 'utf8' });
  writeFileSync(s.path('fix.patch'), diff.stdout);
  const fromDiff = await s.cli(['build', '--diff', 'fix.patch', '--old', 'app', '--name', 'fix', '-o', 'a.json']);
  assert.equal(fromDiff.status, 0, fromDiff.stderr);
  const fromTree = await s.cli(['build', '--old', 'app', '--new', 'fixed', '--name', 'fix', '-o', 'b.json']);
  assert.equal(fromTree.status, 0, fromTree.stderr);
  assert.equal(readFileSync(s.path('a.json'), 'utf8'), readFileSync(s.path('b.json'), 'utf8'));
  // Without -o the patch goes to stdout and the summary to stderr; run from the app directory, --diff's old tree is the app.
  const piped = await s.cli(['build', '--diff', '../fix.patch', '--name', 'fix'], s.path('app'));
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal(`${piped.stdout}`, readFileSync(s.path('a.json'), 'utf8'));
  assert.match(piped.stderr, /^\.\/lib\/pricing\.js: 3 changed/m);

  writeFileSync(s.path('bad.patch'), '--- a/lib/nope.js\n+++ b/lib/nope.js\n@@ -1 +1 @@\n-x\n+y\n');
  const bad = await s.cli(['build', '--diff', 'bad.patch', '--old', 'app']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^livepatch: LP_ERR_BUILD_SOURCE: --diff bad\.patch does not apply/m);
});

test('a refused change: every reason as file:line:column: CODE: why, no patch written, exit 1', async () => {
  fixedCopy(s.path('fixed'), s.path('refused'), 'lib/pricing.js', [
    ['// Prices a cart.\n', '// Prices a cart.\nconst CURRENCY = "EUR";\n'],
    ['function label(cart)', 'async function label(cart)'],
  ]);
  const r = await s.cli(['build', '--old', 'app', '--new', 'refused', '-o', 'refused.json']);
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.deepEqual(
    lines.map((l) => l.replace(/: [^:]*$/, '').replace(/(LP_ERR_\w+):.*/, '$1')),
    ['lib/pricing.js:2:1: LP_ERR_BUILD_BINDING', 'lib/pricing.js:22:1: LP_ERR_BUILD_FUNC_SHAPE', 'livepatch: LP_ERR_BUILD_REFUSED'],
    r.stderr,
  );
  assert.ok(!existsSync(s.path('refused.json')));
});

test('comments and formatting only: nothing to patch (LP_ERR_BUILD_NO_CHANGE, exit 1); usage errors exit 2', async () => {
  fixedCopy(s.path('app'), s.path('comments'), 'lib/pricing.js', [['  const cart = new Cart(items);', '  // a comment\n  const cart = new Cart(items)']]);
  const r = await s.cli(['build', '--old', 'app', '--new', 'comments']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^livepatch: LP_ERR_BUILD_NO_CHANGE: no function differs/m);
  for (const args of [['build'], ['build', '--old', 'app', '--new', 'x', '--diff', 'y'], ['build', '--old', 'app', '--pid', '1'], ['build', '--bogus']]) {
    const u = await s.cli(args);
    assert.equal(u.status, 2, args.join(' '));
    assert.match(u.stderr, /^livepatch: LP_ERR_USAGE: build: /);
  }
});

test('--config selects the files for both trees; --build runs a build command in each tree first', async () => {
  writeFileSync(s.path('no-lib.json'), JSON.stringify({ exclude: ['lib/**'] }));
  const excluded = await s.cli(['build', '--old', 'app', '--new', 'fixed', '--config', 'no-lib.json']);
  assert.equal(excluded.status, 1);
  assert.match(excluded.stderr, /LP_ERR_BUILD_NO_CHANGE/);
  // The build makes a second module from lib/pricing.js in each tree: both are in the patch.
  const built = await s.cli(['build', '--old', 'app', '--new', 'fixed', '--build', 'mkdir -p gen && cp lib/pricing.js gen/copy.js', '-o', 'gen.json']);
  assert.equal(built.status, 0, built.stderr);
  assert.deepEqual(
    JSON.parse(readFileSync(s.path('gen.json'), 'utf8')).objs.map((o: { name: string }) => o.name),
    ['./gen/copy.js', './lib/pricing.js'],
  );
  assert.ok(!existsSync(s.path('app/gen')), "the user's tree is never built in place");
  const failing = await s.cli(['build', '--old', 'app', '--new', 'fixed', '--build', 'echo broken >&2; exit 3']);
  assert.equal(failing.status, 1);
  assert.match(failing.stderr, /^livepatch: LP_ERR_BUILD_SOURCE: the build \(echo broken >&2; exit 3\) failed in the old tree: broken$/m);
});

test('a changed parameter list that code outside the patch calls (another module here) is a warning; the patch is written', async () => {
  fixedCopy(s.path('app'), s.path('signature'), 'lib/pricing.js', [['async function checkout(items, wait) {', "async function checkout(items, wait, currency = 'EUR') {"]]);
  const r = await s.cli(['build', '--old', 'app', '--new', 'signature', '-o', 'sig.json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^lib\/pricing\.js:14:1: warning: the parameters of checkout changed and code the patch does not replace calls it \(server\.js:15\): those calls keep passing the old arguments$/m);
  assert.ok(existsSync(s.path('sig.json')));
});
