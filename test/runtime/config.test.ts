// The app root (object names do not depend on the working directory) and `packages` globs.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { appRootOf, configWarnings, loadConfig, selectorFor } from '../../src/runtime/config.js';

const TMP = realpathSync(mkdtempSync(join(tmpdir(), 'lp-config-')));
after(() => rmSync(TMP, { recursive: true, force: true }));

function tree(files: string[]): string {
  const root = mkdtempSync(join(TMP, 'app-'));
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), f.endsWith('.json') ? '{}' : '');
  }
  return root;
}

test('the app root: nearest livepatch.config.json, else nearest package.json, above the entry script', () => {
  const root = tree(['livepatch.config.json', 'package.json', 'svc/package.json', 'svc/bin/server.js', 'tools/x.js', 'node_modules/tool/package.json', 'node_modules/tool/bin/t.js']);
  assert.equal(appRootOf(join(root, 'svc/bin')), root, 'a config above wins over a nearer package.json');
  rmSync(join(root, 'livepatch.config.json'));
  assert.equal(appRootOf(join(root, 'svc/bin')), join(root, 'svc'));
  assert.equal(appRootOf(join(root, 'tools')), root);
  // Whatever the working directory, the entry script decides; a tool inside node_modules works for the project.
  for (const cwd of [root, join(root, 'tools'), TMP]) {
    assert.equal(loadConfig({}, cwd, join(root, 'svc/bin/server.js')).root, join(root, 'svc'), cwd);
    assert.equal(loadConfig({}, cwd, join(root, 'node_modules/tool/bin/t.js')).root, root, cwd);
  }
  assert.equal(loadConfig({ LIVEPATCH_ROOT: 'tools' }, root, join(root, 'svc/bin/server.js')).root, join(root, 'tools'), 'LIVEPATCH_ROOT wins');
  assert.equal(loadConfig({}, join(root, 'tools')).root, join(root, 'tools'), 'no entry script: the working directory');
});

test('packages: names and globs (*, @scope/*); an entry that matches nothing is warned about', () => {
  const root = tree(['node_modules/express/index.js', 'node_modules/express-session/index.js', 'node_modules/@acme/db/index.js', 'node_modules/@acme/log/index.js', 'node_modules/other/index.js']);
  const config = { ...loadConfig({}, root), packages: ['express*', '@acme/*', 'expresss', 'nothing'] };
  const select = selectorFor(config);
  const names = ['express/index.js', 'express-session/index.js', '@acme/db/index.js', '@acme/log/index.js', 'other/index.js'].map((f) => select(join(root, 'node_modules', f)));
  assert.deepEqual(names, ['express/index.js', 'express-session/index.js', '@acme/db/index.js', '@acme/log/index.js', null]);
  const warnings = configWarnings(config);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /^livepatch: warning: livepatch\.config\.json: packages: 'expresss' matches no package in .*node_modules; did you mean 'express'/);
  assert.match(warnings[1], /'nothing' matches no package in [^;]*$/);
});
