// Every request of a node:http or http2 server is a task of its own, named after it, that ends when the
// response closes.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { installRuntime } from '../../src/runtime/index.js';

const rt = installRuntime();

function listen(server: http.Server | https.Server | http2.Http2Server): Promise<number> {
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok((server.address() as AddressInfo).port)));
}

test('http: each request runs in its own task until its response closes', async () => {
  const seen: Array<{ name: string; id: number }> = [];
  let bothIn!: () => void;
  const both = new Promise<void>((r) => (bothIn = r));
  const server = http.createServer(async (_req, res) => {
    const t = rt.current();
    seen.push({ name: t.name, id: t.id });
    if (seen.length === 2) bothIn();
    // Both requests are open at once; each task lives while its response is open, across turns.
    await both;
    await new Promise((r) => setImmediate(r));
    assert.equal(rt.current(), t);
    res.end('ok');
  });
  const port = await listen(server);
  const get = (path: string): Promise<string> =>
    new Promise((ok, fail) => http.get({ host: '127.0.0.1', port, path }, (res) => res.resume().on('end', () => ok(String(res.statusCode)))).on('error', fail));
  const before = rt.tasks.live.length;
  assert.deepEqual(await Promise.all([get('/a?q=1'), get('/b')]), ['200', '200']);
  assert.deepEqual(seen.map((s) => s.name).sort(), ['GET /a', 'GET /b']);
  assert.notEqual(seen[0].id, seen[1].id);
  await new Promise((r) => setImmediate(r));
  assert.equal(rt.tasks.live.length, before);
  server.close();
});

test('http2: each stream runs in its own task, also through the compatibility API', async () => {
  const names: string[] = [];
  const server = http2.createServer((_req, res) => {
    names.push(rt.current().name);
    res.end('ok');
  });
  const port = await listen(server);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  const request = (path: string): Promise<void> =>
    new Promise((ok, fail) => {
      const s = client.request({ ':path': path });
      s.on('error', fail).resume().on('end', () => ok());
    });
  await Promise.all([request('/x'), request('/y/z')]);
  client.close();
  server.close();
  assert.deepEqual(names.sort(), ['GET /x', 'GET /y/z']);
});

test('https: requests are tasks too', async () => {
  // A throw-away self-signed certificate (openssl is on every machine this project runs on).
  const dir = mkdtempSync(join(tmpdir(), 'lp-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const names: string[] = [];
    const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => {
      names.push(rt.current().name);
      res.end('ok');
    });
    const port = await listen(server);
    await new Promise<void>((ok, fail) =>
      https.get({ host: '127.0.0.1', port, path: '/secure', rejectUnauthorized: false }, (res) => res.resume().on('end', () => ok())).on('error', fail),
    );
    server.close();
    assert.deepEqual(names, ['GET /secure']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a program that serves no HTTP does not load http, https, http2 or tls (start-up)', () => {
  const register = new URL('../../src/runtime/register.js', import.meta.url);
  const script = "console.log(JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (_?https?2?|_http_\\w+|tls)$/.test(m))))";
  const out = execFileSync(process.execPath, ['--import', register.href, '-e', script], { encoding: 'utf8', env: { ...process.env, LIVEPATCH_CONTROL: '0', LIVEPATCH_LOG: 'off' } });
  assert.deepEqual(JSON.parse(out), []);
  // …and a server that does gets its requests as tasks (the tests above): http is required at the first.
});
