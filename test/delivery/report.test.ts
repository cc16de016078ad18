// Issue 13, acceptance 5: the transition report of a real `livepatch apply --report` under load opens
// in a real browser (headless Chromium, Debian's package) with its chart: both code versions' series,
// the transition's start, the fake signal, the reverse and the end marked, the blocker with file:line,
// latency before / during / after; and its screenshot is not blank. Without Chromium the test is
// skipped with a message, except in CI (CI=true), where .ci/run installs it and its absence fails.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { cli, load, makeApp, park, settle, startService, workPatch, writePatch } from './app.js';

function findChromium(): string | null {
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

const chromium = findChromium();
const why = 'Chromium is not installed (apt-get install -y chromium); .ci/run installs it and CI=true makes its absence a failure';
if (!chromium && process.env.CI === 'true') throw new Error(`CI=true: ${why}`);

/** Chromium with everything that would reach the network off, in a profile of its own. */
function browse(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const profile = mkdtempSync(join(tmpdir(), 'lp-chromium-'));
  try {
    const r = spawnSync(
      chromium!,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, ...args],
      { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return { stdout: r.stdout, stderr: r.stderr, status: r.status };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** The PNG's width, height and how many distinct scanline bytes it has (1: one flat colour). */
function pngFacts(file: string): { width: number; height: number; distinct: number } {
  const buf = readFileSync(file);
  assert.equal(buf.subarray(1, 4).toString('latin1'), 'PNG');
  const idat: Buffer[] = [];
  let width = 0;
  let height = 0;
  for (let at = 8; at < buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.subarray(at + 4, at + 8).toString('latin1');
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (let i = 0; i < raw.length; i += 97) seen.add(raw[i]);
  return { width, height, distinct: seen.size };
}

test('the transition report opens in headless Chromium and shows the transition', { skip: chromium ? false : why, timeout: 180_000 }, async () => {
  const app = makeApp();
  const svc = await startService(app);
  try {
    const traffic = load(svc, 4);
    const blocker = park(svc, 'r');
    while ((await svc.get('/parked/r')).body !== 'yes') await settle(10);
    const out = join(app.tmp, 'transition.html');
    const r = await cli(app, ['apply', writePatch(app, workPatch('fix', 'v2')), '--pid', String(svc.pid), '--timeout', '3', '--signal-after', '1', '--report', out]);
    await traffic.stop();
    await svc.get('/release/r');
    await blocker;
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stdout, new RegExp(`^report: ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    const html = readFileSync(out, 'utf8');
    assert.doesNotMatch(html, /<script|https?:\/\//, 'self-contained: no script, nothing fetched');

    const dom = browse(['--dump-dom', `file://${out}`]);
    assert.equal(dom.status, 0, dom.stderr);
    const d = dom.stdout;
    assert.match(d, /<svg class="requests"/);
    const count = (v: string) => Number(new RegExp(`<path class="series ${v}" data-version="${v}" data-count="(\\d+)"`).exec(d)?.[1] ?? -1);
    // Before and after the transition the old code serves; new requests ran the patch while it lasted.
    assert.ok(count('old') > 0 && count('new') > 0, `old ${count('old')}, new ${count('new')}`);
    for (const e of ['start', 'signal', 'reverse', 'complete']) assert.match(d, new RegExp(`<g class="marker" data-event="${e}">`), e);
    assert.match(d, /<td>GET \/park\/r<\/td><td>handle<\/td><td class="where">lib\/work\.mjs:2<\/td>/);
    for (const phase of ['before', 'during', 'after']) assert.match(d, new RegExp(`<tr data-phase="${phase}"><td>${phase}</td><td>[1-9]\\d*</td><td>\\d+ ms</td>`), phase);
    assert.match(d, /end: timeout/);

    const png = join(app.tmp, 'report.png');
    const shot = browse(['--hide-scrollbars', '--window-size=1000,1000', `--screenshot=${png}`, `file://${out}`]);
    assert.ok(existsSync(png), shot.stderr);
    const facts = pngFacts(png);
    assert.deepEqual([facts.width, facts.height], [1000, 1000]);
    assert.ok(facts.distinct > 3, `the screenshot is blank (${facts.distinct} distinct sampled bytes)`);
  } finally {
    await svc.stop();
    app.remove();
  }
});

test('livepatch demo prints the path of its transition report', { timeout: 120_000 }, async () => {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../src/cli/main.js', import.meta.url)), 'demo'], { encoding: 'utf8', timeout: 110_000 });
  assert.equal(r.status, 0, r.stderr);
  const file = /^ {3}transition report: (\S+\.html)$/m.exec(r.stdout)?.[1];
  assert.ok(file && existsSync(file), r.stdout);
  try {
    const html = readFileSync(file, 'utf8');
    assert.match(html, /<svg class="requests"/);
    assert.match(html, /<g class="marker" data-event="complete"><line [^>]*\/><text [^>]*>end: complete<\/text>/);
    assert.match(html, /<td>GET \/slow\/c<\/td><td>handle<\/td><td class="where">lib\/shop\.js:4<\/td>/);
  } finally {
    rmSync(file, { force: true });
  }
});
