// Issue 13, acceptance 3 and 4: installed patches survive a restart (applied before the first request,
// through `--import livepatch/register` and `livepatch run` alike), uninstall takes them away, a
// redeployed module skips its patch with one line; signed patches: a good signature applies; an
// unsigned, a one-byte-tampered and a wrong-key patch are refused with LP_ERR_SIGNATURE, from the
// socket and from the installed patches, and the process is left as it was.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cli, makeApp, startService, WORK, workPatch, writePatch, type App } from './app.js';

const apps: App[] = [];
after(() => {
  for (const a of apps) a.remove();
});
const newApp = (): App => {
  const a = makeApp();
  apps.push(a);
  return a;
};

test('install → restart: patched before its first request; uninstall → restart: unpatched; a redeployed module skips it with one line', { timeout: 60_000 }, async () => {
  const app = newApp();
  const file = writePatch(app, workPatch('fix', 'v2'));
  const inst = await cli(app, ['install', file]);
  assert.equal(inst.status, 0, inst.stderr);
  assert.match(inst.stdout, /^installed \S+\/app\/\.livepatch\/patches\/0001-fix\.json: processes of \S+ started from now on apply it/);
  const listed = await cli(app, ['installed']);
  assert.match(listed.stdout, /^ORDER +NAME +SIGNED +FILE\n1 +fix +no +\S+0001-fix\.json\n$/);

  for (const via of ['register', 'run'] as const) {
    const svc = await startService(app, { via });
    try {
      // The very first request the service answers.
      assert.equal(await svc.version(), 'v2', via);
      assert.match(svc.stderr(), /^livepatch: installed patch 'fix' enabled$/m);
      const list = JSON.parse((await cli(app, ['list', '--json', '--pid', String(svc.pid)])).stdout) as Array<{ name: string; enabled: boolean }>;
      assert.deepEqual(list.map((p) => [p.name, p.enabled]), [['fix', true]]);
    } finally {
      await svc.stop();
    }
  }

  // A second patch stacks on top of the first, in install order.
  await cli(app, ['install', writePatch(app, { ...workPatch('fix3', 'v3') })]);
  let svc = await startService(app);
  assert.equal(await svc.version(), 'v3');
  await svc.stop();
  assert.equal((await cli(app, ['uninstall', 'fix3'])).status, 0);

  // Redeployed: the module now is the fixed code; the installed patch no longer matches it.
  app.write('lib/work.mjs', WORK.replace("'v1'", "'v1-fixed'"));
  // Installing it now says so (it goes on top again: the same name reinstalled).
  const warned = await cli(app, ['install', file]);
  assert.equal(warned.status, 0, warned.stderr);
  assert.match(warned.stderr, /^livepatch: warning: \.\/lib\/work\.mjs in \S+ is not the code 'fix' was made for: processes will skip it/);
  assert.match(warned.stdout, /^reinstalled \S+\/0002-fix\.json/);
  svc = await startService(app);
  assert.equal(await svc.version(), 'v1-fixed');
  const lines = svc.stderr().split('\n').filter((l) => l.includes("'fix'"));
  assert.deepEqual(lines, ["livepatch: installed patch 'fix' skipped: ./lib/work.mjs is not the code it was made for (redeployed with the fix?); livepatch uninstall fix removes it"]);
  await svc.stop();
  app.write('lib/work.mjs', WORK);

  const un = await cli(app, ['uninstall', 'fix']);
  assert.equal(un.status, 0, un.stderr);
  assert.match(un.stdout, /^uninstalled \S+0002-fix\.json: processes started from now on go without it/);
  svc = await startService(app);
  assert.equal(await svc.version(), 'v1');
  assert.doesNotMatch(svc.stderr(), /installed patch/);
  await svc.stop();
  assert.equal((await cli(app, ['installed'])).stdout, `no patches installed in ${join(app.root, '.livepatch', 'patches')}\n`);
  const again = await cli(app, ['uninstall', 'fix']);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /^livepatch: LP_ERR_NOT_INSTALLED: no patch 'fix' is installed in \S+ \(installed: none\)\n$/);
});

test('signed: a good signature applies; unsigned, one byte tampered, wrong key: LP_ERR_SIGNATURE, the process unchanged', { timeout: 60_000 }, async () => {
  const app = newApp();
  const keys = join(app.tmp, 'ops');
  const other = join(app.tmp, 'other');
  const kg = await cli(app, ['keygen', '--out', keys]);
  assert.equal(kg.status, 0, kg.stderr);
  assert.match(kg.stdout, /^key [0-9a-f]{16}: private \S+ops\.key \(keep it secret\), public \S+ops\.pub/);
  assert.equal((await cli(app, ['keygen', '--out', other])).status, 0);
  assert.equal((await cli(app, ['keygen', '--out', keys])).status, 2, 'keygen never overwrites a key');
  const pub = await cli(app, ['sign', writePatch(app, workPatch('bypub', 'v2')), '--key', `${keys}.pub`]);
  assert.equal(pub.status, 1);
  assert.match(pub.stderr, /^livepatch: LP_ERR_SIGNATURE: that is a public key \(\.pub\): sign with the private one \(\.key\)/);

  const good = writePatch(app, workPatch('good', 'v2'));
  const signed = await cli(app, ['sign', good, '--key', `${keys}.key`]);
  assert.equal(signed.status, 0, signed.stderr);
  assert.match(signed.stdout, /^signed 'good' with key [0-9a-f]{16}: /);
  const unsigned = writePatch(app, workPatch('unsigned', 'v2'));
  const tampered = join(app.tmp, 'tampered.json');
  assert.equal((await cli(app, ['sign', writePatch(app, workPatch('tampered', 'v2')), '--key', `${keys}.key`, '--out', tampered])).status, 0);
  // One byte: the version the replacement returns.
  writeFileSync(tampered, readFileSync(tampered, 'utf8').replace("'v2'", "'v3'"));
  const wrong = writePatch(app, workPatch('wrong', 'v2'));
  assert.equal((await cli(app, ['sign', wrong, '--key', `${other}.key`])).status, 0);

  const svc = await startService(app, { env: { LIVEPATCH_TRUST: `${keys}.pub` } });
  const pid = ['--pid', String(svc.pid)];
  try {
    const cases: Array<[string, RegExp]> = [
      [unsigned, /patch 'unsigned' refused: it is not signed/],
      [tampered, /patch 'tampered' refused: its signature does not match its contents/],
      [wrong, /patch 'wrong' refused: it is signed by key [0-9a-f]{16}, which is not trusted/],
    ];
    for (const [file, why] of cases) {
      const r = await cli(app, ['apply', file, ...pid]);
      assert.equal(r.status, 1, file);
      assert.match(r.stderr, new RegExp(`^livepatch: LP_ERR_SIGNATURE: pid \\d+: ${why.source}.*; this process trusts only patches signed by a key in \\S+ops\\.pub\\n$`));
      assert.equal((await cli(app, ['list', ...pid])).stdout, 'no patches\n');
      assert.equal(await svc.version(), 'v1');
    }
    const ok = await cli(app, ['apply', good, ...pid]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(await svc.version(), 'v2');
  } finally {
    await svc.stop();
  }

  // The installed patches are held to the same rule: the unsigned one is refused with one line at
  // start-up, the signed one applies; a directory of keys trusts each of them.
  assert.equal((await cli(app, ['install', unsigned])).status, 0);
  const restarted = await startService(app, { env: { LIVEPATCH_TRUST: app.tmp } });
  try {
    assert.equal(await restarted.version(), 'v1');
    assert.match(restarted.stderr(), /^livepatch: installed patch 'unsigned' not enabled: LP_ERR_SIGNATURE: patch 'unsigned' refused: it is not signed/m);
    assert.equal((await cli(app, ['apply', wrong, '--pid', String(restarted.pid)])).status, 0, 'both keys of the directory are trusted');
  } finally {
    await restarted.stop();
  }
  // Without LIVEPATCH_TRUST, a signed patch applies as any other (its signature is not part of the patch).
  assert.equal((await cli(app, ['uninstall', 'unsigned'])).status, 0);
  assert.equal((await cli(app, ['install', good])).status, 0);
  const plain = await startService(app);
  assert.equal(await plain.version(), 'v2');
  await plain.stop();
});
