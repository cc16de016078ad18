// Issue 12, acceptance 3: a round trip on a real package. express 4.21.2 and 4.22.3 are fetched from the
// npm registry through npm itself (npm pack); a service runs on 4.21.2 with express patchable
// (livepatch.config.json `packages`); `livepatch build` compares the two releases' files and, as pinned
// here, produces a patch of two functions (utils.js's parseExtendedQueryString gained arrayLimit: 1000,
// request.js's `fresh` getter accepts QUERY) that applies and passes a smoke test of both fixes. The
// same config also shows a `packages` entry that matches nothing warned about, with a "did you mean".

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO, Scratch, writeTree } from './service.js';

const s = new Scratch();
after(() => s.cleanup());

const OLD = '4.21.2';
const NEW = '4.22.3';

/** An app whose node_modules has express at `version` and the rest of livepatch's own packages (express's dependencies among them). */
function app(dir: string, version: string): void {
  writeTree(dir, {
    'package.json': '{ "name": "express-round-trip", "private": true }\n',
    'livepatch.config.json': JSON.stringify({ packages: ['express', 'expresss'] }),
    'server.js': `const express = require('express');
const app = express();
app.set('query parser', 'extended');
app.get('/q', (req, res) => res.json(req.query));
app.all('/fresh', (req, res) => {
  res.setHeader('ETag', '"x"');
  res.end(String(req.fresh));
});
const server = app.listen(0, '127.0.0.1', () => console.log('READY ' + server.address().port));
`,
  });
  const modules = join(dir, 'node_modules');
  mkdirSync(modules);
  for (const name of readdirSync(join(REPO, 'node_modules'))) if (name !== 'express' && !name.startsWith('.')) symlinkSync(join(REPO, 'node_modules', name), join(modules, name));
  mkdirSync(join(modules, 'express'));
  execFileSync('tar', ['-xzf', s.path(`express-${version}.tgz`), '-C', join(modules, 'express'), '--strip-components=1']);
}

test(`express ${OLD} → ${NEW}: the built patch applies to a running service and passes the smoke test`, { timeout: 300_000 }, async () => {
  // The registry through npm: a failure here fails the test (CI reaches the registry).
  execFileSync('npm', ['pack', `express@${OLD}`, `express@${NEW}`, '--silent', '--pack-destination', s.dir], { cwd: s.dir, stdio: 'pipe' });
  app(s.path('old'), OLD);
  app(s.path('new'), NEW);

  const built = await s.cli(['build', '--old', 'old', '--new', 'new', '-o', 'express.json']);
  assert.equal(built.status, 0, built.stderr);
  assert.match(built.stdout, /^express\/lib\/request\.js: 1 changed \(<anonymous>\), 0 added, 0 removed$/m);
  assert.match(built.stdout, /^express\/lib\/utils\.js: 1 changed \(parseExtendedQueryString\), 0 added, 0 removed$/m);
  const patch = JSON.parse(readFileSync(s.path('express.json'), 'utf8'));
  assert.deepEqual(
    patch.objs.map((o: { name: string; funcs: Array<{ oldName: string; oldSympos: number }> }) => [o.name, o.funcs.map((f) => `${f.oldName}#${f.oldSympos}`)]),
    [
      ['express/lib/request.js', ['<anonymous>#1']],
      ['express/lib/utils.js', ['parseExtendedQueryString#1']],
    ],
  );

  const svc = await s.start('server.js', s.path('old'));
  assert.match(svc.stderr(), /livepatch: warning: livepatch\.config\.json: packages: 'expresss' matches no package in .*node_modules; did you mean 'express'\?/);
  const get = (m: string, p: string, h?: Record<string, string>) => svc.request(m, p, h);
  assert.equal(await get('GET', '/q?a[25]=x'), '{"a":{"25":"x"}}', `${OLD}: arrays are limited to 20 entries`);
  assert.equal(await get('QUERY', '/fresh', { 'if-none-match': '"x"' }), 'false', `${OLD}: QUERY is never fresh`);

  const enabled = await s.cli(['enable', 'express.json', '--wait']);
  assert.equal(enabled.status, 0, enabled.stderr);
  assert.equal(await get('GET', '/q?a[25]=x'), '{"a":["x"]}', `${NEW}: arrays up to 1000 entries`);
  assert.equal(await get('QUERY', '/fresh', { 'if-none-match': '"x"' }), 'true', `${NEW}: QUERY is validated like GET`);
  assert.equal(await get('GET', '/fresh', { 'if-none-match': '"x"' }), 'true');
});
