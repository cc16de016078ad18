#!/usr/bin/env node
// Runs every compiled test file under dist/test with node:test. Node 20's --test takes no globs, so the
// file list is built here; the exit code is node:test's.
import { readdirSync, statSync } from 'node:fs';
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
const result = spawnSync(process.execPath, ['--test', ...chosen], { stdio: 'inherit' });
process.exit(result.status ?? 1);
