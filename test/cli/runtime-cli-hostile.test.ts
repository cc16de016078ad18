// The CLI against hostile files and readers (issue 11): patch files are read only when they are
// regular files under the cap, and a reader that goes away ends the command quietly.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MAX_PATCH_FILE } from '../../src/runtime/limits.js';
import { childForFile, MODULE, SHA256 } from '../runtime/control-child.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const at = childForFile();

function cli(args: string[], opts: { closeStdout?: boolean } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, TMPDIR: at.child.tmp } });
    let stdout = '';
    let stderr = '';
    if (opts.closeStdout) p.stdout.destroy();
    else p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const pid = () => String(at.child.pid);

test('the CLI: enable of a device, a FIFO, a directory or an oversized file is one LP_ERR_PATCH_FILE line, exit 2', { timeout: 60_000 }, async () => {
  const fifo = join(at.child.tmp, 'patch.fifo');
  execFileSync('mkfifo', [fifo]);
  const big = join(at.child.tmp, 'big.json');
  writeFileSync(big, `{"name":"big","objs":[],"pad":"${'x'.repeat(MAX_PATCH_FILE)}"}`);
  for (const [file, why] of [
    ['/dev/zero', /'\/dev\/zero' is not a regular file/],
    [fifo, /is not a regular file/],
    [at.child.tmp, /is not a regular file|EISDIR/],
    [big, /more than a patch file may have \(2097152\)/],
  ] as const) {
    const r = await cli(['enable', '--pid', pid(), file]);
    assert.equal(r.status, 2, `${file}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^livepatch: LP_ERR_PATCH_FILE: /);
    assert.match(lines[0], why);
  }
  assert.deepEqual(await cli(['list', '--pid', pid()]), { status: 0, stdout: 'no patches\n', stderr: '' });
});

test('the CLI: a 100,000-deep patch file is one LP_ERR_PATCH_FILE line, no stack trace', async () => {
  const file = join(at.child.tmp, 'deep.json');
  writeFileSync(file, `{"name":"deep","objs":[{"name":"${MODULE}","sha256":"${SHA256}","funcs":[],"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`);
  const r = await cli(['enable', '--pid', pid(), file]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^livepatch: LP_ERR_PATCH_FILE: '.*deep\.json' nests arrays and objects deeper than 64 levels \(at offset \d+\)[^\n]*\n$/);
});

test('the CLI: a reader that goes away (livepatch modules | head) ends the command quietly', async () => {
  for (const args of [['modules', '--pid', pid()], ['log', '--pid', pid()], ['ps']]) {
    const r = await cli(args, { closeStdout: true });
    assert.equal(r.stderr, '', `${args[0]}: no EPIPE stack trace`);
    assert.equal(r.status, 0, args[0]);
  }
});
