// The control socket's life (issue 11): it appears only once it accepts, it goes with the process on
// the usual termination signals without changing what they do to the app, and `ps` (listSockets)
// removes the sockets dead processes left behind.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { listSockets, socketDir, socketPath, startControl } from '../../src/runtime/control.js';
import { Runtime } from '../../src/runtime/livepatch.js';
import { freshTmp, removeTmps, startChild } from './control-child.js';

test.after(() => removeTmps());

// Polls for the socket file in a tight loop and connects the moment it appears; posts 'refused' for
// every connect that found the file but no listener.
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
const { existsSync } = require('node:fs');
const { createConnection } = require('node:net');
let stop = false;
parentPort.on('message', () => (stop = true));
(function poll() {
  if (stop) return parentPort.close();
  if (!existsSync(workerData)) return setImmediate(poll);
  const c = createConnection(workerData);
  c.on('connect', () => { parentPort.postMessage('connected'); c.destroy(); });
  c.on('error', (e) => parentPort.postMessage(e.code === 'ECONNREFUSED' ? 'refused' : 'other'));
  c.on('close', () => setImmediate(poll));
})();
`;

test('the socket\'s life: the socket file appears only once it listens (no connect is ever refused)', { timeout: 60_000 }, async () => {
  process.env.TMPDIR = freshTmp();
  mkdirSync(socketDir(), { mode: 0o700 });
  const rt = new Runtime({ logLevel: 'off' });
  const poller = new Worker(POLLER, { eval: true, workerData: socketPath(process.pid) });
  const seen = { connected: 0, refused: 0, other: 0 };
  poller.on('message', (m: keyof typeof seen) => seen[m]++);
  for (let i = 0; i < 150; i++) {
    const control = startControl(rt);
    await new Promise((r) => setTimeout(r, 2));
    await control.close();
  }
  poller.postMessage('stop');
  await new Promise((r) => poller.once('exit', r));
  assert.equal(seen.refused, 0, JSON.stringify(seen));
  assert.ok(seen.connected > 0, JSON.stringify(seen));
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  test(`the socket's life: ${signal} with no handler of the app's removes the socket and still ends the process by ${signal}`, async () => {
    const child = await startChild();
    const path = join(child.tmp, `livepatch-${process.getuid!()}`, `${child.pid}.sock`);
    assert.ok(existsSync(path));
    const ended = new Promise<[number | null, string | null]>((r) => child.proc.once('exit', (code, sig) => r([code, sig])));
    child.proc.kill(signal);
    assert.deepEqual(await ended, [null, signal]);
    assert.ok(!existsSync(path), 'the socket is gone');
  });
}

test("the socket's life: an app with its own SIGTERM handler keeps it; the socket is removed beside it", async () => {
  const child = await startChild(freshTmp(), { APP_SIGTERM: '1' });
  const path = join(child.tmp, `livepatch-${process.getuid!()}`, `${child.pid}.sock`);
  child.proc.kill('SIGTERM');
  while (!child.lines.includes('app: SIGTERM handled')) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(child.proc.exitCode, null, 'the app decides: it goes on running');
  assert.equal(child.proc.signalCode, null);
  assert.ok(!existsSync(path), 'the socket is gone');
  await child.stop();
});

test("the socket's life: listSockets (ps) removes the sockets of dead pids, keeps the live ones", async () => {
  const child = await startChild(freshTmp());
  process.env.TMPDIR = child.tmp;
  const killed = await startChild(child.tmp);
  const ended = new Promise((r) => killed.proc.once('exit', r));
  killed.proc.kill('SIGKILL');
  await ended;
  assert.ok(existsSync(socketPath(killed.pid)), 'SIGKILL leaves the socket behind');
  // Above the kernel's pid_max (2^22): never a live pid.
  const never = join(socketDir(), '4194306.sock');
  writeFileSync(never, '');
  assert.deepEqual(listSockets(), [child.pid]);
  assert.ok(!existsSync(socketPath(killed.pid)) && !existsSync(never), 'the dead pids\' sockets are removed');
  assert.ok(existsSync(socketPath(child.pid)));
  await child.stop();
});
