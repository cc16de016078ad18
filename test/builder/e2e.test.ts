// Issue 12, acceptance 1 and 4, as a user does it: a real service runs under livepatch; its source is
// copied and fixed (a bug in an async function, in a class method and in a nested function); `livepatch
// build` makes the patch; `livepatch enable --wait` applies it from another process while a request is
// in flight: new requests get the fix at once, the one in flight finishes on the old code; a second
// build with --replace supersedes the first. The same from a git repository with two revisions. And the
// silent no-ops are gone: a wrong object name, a wrong function name, a module never loaded, each a clear
// error; the service started from another directory has the same object names.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { APP, FIXES, fixedCopy, Scratch, writeTree } from './service.js';

const scratches: Scratch[] = [];
after(() => scratches.forEach((s) => s.cleanup()));

function scratch(): Scratch {
  const s = new Scratch();
  scratches.push(s);
  return s;
}

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

test('build from a fixed copy, enable --wait from another process, in-flight finishes old, --replace supersedes', { timeout: 180_000 }, async () => {
  const s = scratch();
  writeTree(s.path('app'), APP);
  // Started from the scratch directory, not the app's: object names are relative to the app root.
  const svc = await s.start('app/server.js', s.dir);
  assert.deepEqual(json(await svc.get('/')), { v: 1, total: 2, label: 'EUR 2' });

  fixedCopy(s.path('app'), s.path('fixed'), 'lib/pricing.js', FIXES);
  const built = await s.cli(['build', '--old', 'app', '--new', 'fixed', '-o', 'fix.json']);
  assert.equal(built.status, 0, built.stderr);
  assert.match(built.stdout, /^\.\/lib\/pricing\.js: 3 changed \(Cart\.prototype\.total, checkout, label>money\), 0 added, 0 removed$/m);
  assert.match(built.stdout, /^wrote fix\.json: patch 'fix', 3 functions in 1 object$/m);
  const patch = JSON.parse(readFileSync(s.path('fix.json'), 'utf8'));
  assert.deepEqual(
    patch.objs.map((o: { name: string; funcs: Array<{ oldName: string }> }) => [o.name, o.funcs.map((f) => f.oldName)]),
    [['./lib/pricing.js', ['Cart.prototype.total', 'checkout', 'label>money']]],
  );
  assert.ok(patch.objs[0].funcs[2].source.includes('// two decimals\n'), 'sources keep their comments and lines');

  // Byte-identical output for the same inputs.
  assert.equal((await s.cli(['build', '--old', 'app', '--new', 'fixed', '-o', 'again.json'])).status, 0);
  assert.equal(readFileSync(s.path('again.json'), 'utf8').replace('"again"', '"fix"'), readFileSync(s.path('fix.json'), 'utf8'));

  const check = await s.cli(['build', '--check', 'fix.json', '--pid', String(svc.pid)]);
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /^ok: \.\/lib\/pricing\.js: Cart\.prototype\.total, checkout, label>money$/m);

  // A request parked inside checkout() (an async function the patch changes) holds the transition.
  const inflight = svc.get('/slow/a');
  await new Promise((r) => setTimeout(r, 200));
  const enabling = s.cli(['enable', 'fix.json', '--wait', '--timeout', '60']);
  let fresh: Record<string, unknown> = {};
  for (let i = 0; i < 200 && fresh.v !== 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
    fresh = json(await svc.get('/'));
  }
  assert.deepEqual(fresh, { v: 2, total: 6, label: 'EUR 6.00' });
  const trace = String(json(await svc.get('/empty')).error);
  assert.match(trace, /^Error: empty cart\n {4}at checkout \(lib\/pricing\.js:17:\d+\)$/m, 'the stack trace points at the fixed source');
  assert.equal(await svc.get('/release/a'), 'released');
  assert.deepEqual(json(await inflight), { v: 1, total: 2, label: 'EUR 2' }, 'the request in flight finished on the old code');
  const enabled = await enabling;
  assert.equal(enabled.status, 0, enabled.stderr);
  assert.match(enabled.stdout, /^fix +enabled +1 +\.\/lib\/pricing\.js \(patched, 3 funcs\)$/m);

  // A second fix, built against the running (old) code, replaces the first atomically.
  fixedCopy(s.path('fixed'), s.path('fixed2'), 'lib/pricing.js', [["'EUR '", "'€'"]]);
  const second = await s.cli(['build', '--old', 'app', '--new', 'fixed2', '--replace', '--name', 'fix2', '-o', 'fix2.json']);
  assert.equal(second.status, 0, second.stderr);
  assert.equal(JSON.parse(readFileSync(s.path('fix2.json'), 'utf8')).replace, true);
  const replaced = await s.cli(['enable', 'fix2.json', '--wait']);
  assert.equal(replaced.status, 0, replaced.stderr);
  assert.deepEqual(json(await svc.get('/')), { v: 2, total: 6, label: '€6.00' });
  const list = await s.cli(['list', '--json']);
  assert.deepEqual(
    (JSON.parse(list.stdout) as Array<{ name: string }>).map((p) => p.name),
    ['fix2'],
    'the replaced patch is gone',
  );
});

test('a git repository: two revisions, or one revision and the working tree', { timeout: 120_000 }, async () => {
  const s = scratch();
  const repo = s.path('repo');
  writeTree(repo, APP);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, encoding: 'utf8' });
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'v1');
  const svc = await s.start('server.js', repo);
  fixedCopy(repo, s.path('fixed'), 'lib/pricing.js', FIXES);
  writeFileSync(`${repo}/lib/pricing.js`, readFileSync(s.path('fixed/lib/pricing.js')));

  // One revision: the working tree is the new side.
  const working = await s.cli(['build', '--old', 'HEAD', '-o', `${s.dir}/wt.json`], repo);
  assert.equal(working.status, 0, working.stderr);
  git('commit', '-qam', 'v2');
  const revs = await s.cli(['build', '--old', 'HEAD~1', '--new', 'HEAD', '-o', `${s.dir}/wt.json`], repo);
  assert.equal(revs.status, 0, revs.stderr);
  assert.match(revs.stdout, /3 changed/);
  const enabled = await s.cli(['enable', 'wt.json', '--wait']);
  assert.equal(enabled.status, 0, enabled.stderr);
  assert.deepEqual(json(await svc.get('/')), { v: 2, total: 6, label: 'EUR 6.00' });

  const bad = await s.cli(['build', '--old', 'no-such-rev'], repo);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^livepatch: LP_ERR_BUILD_SOURCE: 'no-such-rev' is neither a directory nor a git revision/m);
});

test('silent no-ops are gone: wrong object, wrong function, never loaded; names do not depend on the start directory', { timeout: 120_000 }, async () => {
  const s = scratch();
  writeTree(s.path('app'), { ...APP, 'lib/lazy.js': 'function later() { return 1; }\nmodule.exports = { later };\n' });
  // The same app from two directories: the same object names.
  const a = await s.start('server.js', s.path('app'));
  const b = await s.start('app/server.js', s.dir);
  const names = async (pid: number) => JSON.parse((await s.cli(['modules', '--pid', String(pid), '--json'])).stdout).map((m: { name: string }) => m.name).sort();
  assert.deepEqual(await names(a.pid), ['./lib/pricing.js', './server.js']);
  assert.deepEqual(await names(b.pid), await names(a.pid));

  const sha = execFileSync(process.execPath, [new URL('../../src/cli/main.js', import.meta.url).pathname, 'hash', s.path('app/lib/pricing.js')], { encoding: 'utf8' }).split(' ')[0];
  const lazySha = execFileSync(process.execPath, [new URL('../../src/cli/main.js', import.meta.url).pathname, 'hash', s.path('app/lib/lazy.js')], { encoding: 'utf8' }).split(' ')[0];
  const write = (file: string, obj: string, oldName: string, hash = sha) =>
    writeFileSync(s.path(file), JSON.stringify({ name: file.replace('.json', ''), objs: [{ name: obj, sha256: hash, funcs: [{ oldName, source: 'function () { return 0 }' }] }] }));
  write('wrong-object.json', 'lib/pricing.js', 'checkout');
  write('wrong-func.json', './lib/pricing.js', 'Cart.total');
  write('lazy.json', './lib/lazy.js', 'later', lazySha);
  const pid = String(b.pid);
  const cases: Array<[string, RegExp]> = [
    ['wrong-object.json', /LP_ERR_NOOP: .*object 'lib\/pricing\.js' is not loaded .*did you mean '\.\/lib\/pricing\.js'/],
    ['wrong-func.json', /LP_ERR_NOOP: .*'\.\/lib\/pricing\.js' has no function 'Cart\.total' \(did you mean 'Cart\.prototype\.total'/],
    ['lazy.json', /LP_ERR_NOOP: .*object '\.\/lib\/lazy\.js' is not loaded .*--allow-unloaded/],
  ];
  for (const [file, message] of cases) {
    for (const args of [['enable', file, '--pid', pid], ['build', '--check', file, '--pid', pid]]) {
      const r = await s.cli(args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
  }
  assert.deepEqual(JSON.parse((await s.cli(['list', '--pid', pid, '--json'])).stdout), [], 'nothing was enabled');
  // Allowed to come later, the lazily loaded module's patch is accepted and pending.
  const later = await s.cli(['enable', 'lazy.json', '--pid', pid, '--allow-unloaded']);
  assert.equal(later.status, 0, later.stderr);
  assert.match(later.stdout, /\.\/lib\/lazy\.js \(not loaded\)/);
});
