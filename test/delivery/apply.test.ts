// Issue 13, acceptance 1 and 2: `livepatch apply` under real loopback HTTP load with a blocker that
// never returns (progress lines, the fake signal at --signal-after reaching the app's signal listener,
// the reverse at --timeout, the non-zero exit naming the blocker with file:line, the service still on
// the old code and serving), and every exit code from a real outcome.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cli, load, makeApp, park, settle, startService, workPatch, writePatch, type App, type Service } from './app.js';

let app: App;
let svc: Service;

before(async () => {
  app = makeApp();
  svc = await startService(app);
});

after(async () => {
  await svc?.stop();
  app?.remove();
});

const pidArgs = (): string[] => ['--pid', String(svc.pid)];
/** Park a request and wait until it is at its gate (a blocker from then on); `done` is its response. */
async function parked(id: string): Promise<{ done: Promise<{ body: string }> }> {
  const done = park(svc, id);
  while ((await svc.get(`/parked/${id}`)).body !== 'yes') await settle(10);
  return { done };
}
/** Wait until `name`'s transition runs (the CLI that enables it is a process of its own: no sleep is long enough on a loaded machine). */
async function inTransition(name: string): Promise<void> {
  while ((JSON.parse((await cli(app, ['status', '--json', ...pidArgs()])).stdout) as { patch: string | null }).patch !== name) await settle(20);
}
const release = async (id: string): Promise<void> => {
  while ((await svc.get(`/release/${id}`)).body !== 'released') await settle(10);
};
const patchNames = async (): Promise<string[]> => (JSON.parse((await cli(app, ['list', '--json', ...pidArgs()])).stdout) as Array<{ name: string }>).map((p) => p.name);

test('apply under load, a blocker that never returns: progress, signal, reverse at --timeout, exit 4 naming it; still v1 and serving', { timeout: 60_000 }, async () => {
  const traffic = load(svc, 8);
  const blocker = await parked('forever');
  const r = await cli(app, ['apply', writePatch(app, workPatch('fix', 'v2')), ...pidArgs(), '--timeout', '3', '--signal-after', '1']);
  const version = await svc.version();
  const signals = Number((await svc.get('/signals')).body);
  await settle(200);
  const { served, failed, versions } = await traffic.stop();
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(r.status, 4, `${r.stdout}\n${r.stderr}`);
  assert.match(lines[0], new RegExp(`^pid ${svc.pid}: 'fix' enabled, transition started$`));
  const progress = lines.filter((l) => / patching \S+: \d+\/\d+ tasks switched; blocked: GET \/park\/forever in handle \(lib\/work\.mjs:2\) inside /.test(l));
  // One line a second over 3 s (a loaded machine may merge or skip one, never all).
  assert.ok(progress.length >= 2, r.stdout);
  const sig = lines.findIndex((l) => l === `pid ${svc.pid}: 'fix': fake signal sent to 1 task not switched yet (GET /park/forever)`);
  const rev = lines.findIndex((l) => l.startsWith(`pid ${svc.pid}: 'fix': not done in time: reversing the transition; blocked by: GET /park/forever in handle (lib/work.mjs:2)`));
  assert.ok(sig > 0 && rev > sig, r.stdout);
  assert.ok(lines.some((l) => /^ {2}blocker: GET \/park\/forever in handle \(lib\/work\.mjs:2\) inside /.test(l)), r.stdout);
  assert.match(r.stderr, /^livepatch: LP_ERR_TIMEOUT: 'fix' \(pid \d+\) not applied: the transition did not finish in time and was reversed; the process runs its previous code; blocked by: GET \/park\/forever in handle \(lib\/work\.mjs:2\) inside \S+; exit 4\n$/);
  assert.ok(signals >= 1, `the app's signal listener ran ${signals} times`);
  assert.equal(version, 'v1');
  assert.deepEqual(await patchNames(), []);
  assert.equal(failed, 0);
  assert.ok(served > 0 && (versions.v1 ?? 0) > 0, JSON.stringify(versions));
  await release('forever');
  assert.equal(JSON.parse((await blocker.done).body).version, 'v1');
});

test('apply, nothing blocking: exit 0, applied; --json streams start, progress?, complete', { timeout: 30_000 }, async () => {
  const r = await cli(app, ['apply', writePatch(app, workPatch('ok', 'v2')), ...pidArgs(), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string; outcome?: string; exit?: number; pid: number });
  assert.equal(events[0].event, 'start');
  assert.deepEqual(events.at(-1), { ...events.at(-1), event: 'complete', outcome: 'complete', exit: 0, pid: svc.pid });
  assert.equal(await svc.version(), 'v2');
  assert.equal((await cli(app, ['disable', 'ok', '--wait', ...pidArgs()])).status, 0);
  assert.equal(await svc.version(), 'v1');
});

test('--json on a timed-out apply: progress, signal, reverse and complete events, one JSON object a line', { timeout: 30_000 }, async () => {
  const blocker = await parked('json');
  const r = await cli(app, ['apply', writePatch(app, workPatch('j', 'v2')), ...pidArgs(), '--timeout', '2', '--signal-after', '1', '--json']);
  await release('json');
  await blocker.done;
  assert.equal(r.status, 4, r.stderr);
  const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string; blockers?: Array<{ where: string; task: string }>; outcome?: string });
  const kinds = new Set(events.map((e) => e.event));
  for (const k of ['start', 'progress', 'signal', 'reverse', 'complete']) assert.ok(kinds.has(k), `${k} in ${[...kinds].join(',')}`);
  const end = events.at(-1)!;
  assert.equal(end.outcome, 'timeout');
  assert.deepEqual(end.blockers!.map((b) => [b.task, b.where]), [['GET /park/json', 'lib/work.mjs:2']]);
});

test('exit 3: a concurrent disable reverses the transition (apply and enable --wait alike, never 0 "disabled")', { timeout: 40_000 }, async () => {
  for (const cmd of [['apply'], ['enable']]) {
    const blocker = await parked('rev');
    const file = writePatch(app, workPatch('rev', 'v2'));
    const running = cli(app, [...cmd, file, ...pidArgs(), ...(cmd[0] === 'enable' ? ['--wait'] : []), '--timeout', '20']);
    await inTransition('rev');
    const d = await cli(app, ['disable', 'rev', ...pidArgs()]);
    assert.equal(d.status, 0, d.stderr);
    const r = await running;
    await release('rev');
    await blocker.done;
    assert.equal(r.status, 3, `${cmd[0]}: ${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^livepatch: LP_ERR_REVERSED: 'rev' \(pid \d+\) was not applied: its transition was reversed by someone else/m);
    assert.equal(await svc.version(), 'v1');
  }
});

test('exit 5: enable --wait runs out of time, the transition goes on; exit 6: completed by force', { timeout: 40_000 }, async () => {
  const blocker = await parked('force');
  const w = await cli(app, ['enable', writePatch(app, workPatch('f', 'v2')), ...pidArgs(), '--wait', '--timeout', '1']);
  assert.equal(w.status, 5, w.stderr);
  assert.match(w.stderr, /^livepatch: LP_ERR_TIMEOUT: 'f' \(pid \d+\): the transition is not done and goes on in the process/m);
  // The disable reverses it; the parked request is on v1, so the reverse completes at once: exit 0.
  assert.equal((await cli(app, ['disable', 'f', ...pidArgs(), '--wait', '--timeout', '20'])).status, 0);
  const applying = cli(app, ['apply', writePatch(app, workPatch('f2', 'v2')), ...pidArgs(), '--timeout', '20', '--signal-after', '20']);
  await inTransition('f2');
  assert.equal((await cli(app, ['force', 'f2', ...pidArgs()])).status, 0);
  const r = await applying;
  assert.equal(r.status, 6, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /^livepatch: LP_ERR_FORCED: 'f2' \(pid \d+\) reached its target only by livepatch force/m);
  await release('force');
  await blocker.done;
  assert.equal((await cli(app, ['disable', 'f2', '--wait', ...pidArgs()])).status, 0);
});

test('exit 1: refused by the process (wrong sha256), nothing changed; exit 2: usage', { timeout: 20_000 }, async () => {
  const before = await patchNames();
  const bad = workPatch('bad', 'v2', '// another version\n');
  const r = await cli(app, ['apply', writePatch(app, bad), ...pidArgs()]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^livepatch: LP_ERR_SHA_MISMATCH: pid \d+: object '\.\/lib\/work\.mjs' in process \d+ is not the code/);
  assert.deepEqual(await patchNames(), before);
  for (const args of [['apply'], ['apply', 'x.json', '--pid', '1', '--app', 'y'], ['apply', 'x.json', '--timeout', 'soon']]) {
    const u = await cli(app, args);
    assert.equal(u.status, 2, args.join(' '));
    assert.match(u.stderr, /^livepatch: LP_ERR_USAGE: /);
  }
});

test('ps: command line, app, root, patches, transition; apply --app NAME picks the process by its package name', { timeout: 20_000 }, async () => {
  const ps = await cli(app, ['ps']);
  const lines = ps.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^PID +NODE +HOOKS +APP +ROOT +PATCHES +TRANSITION +COMMAND$/);
  assert.match(lines[1], new RegExp(`^${svc.pid} +v\\S+ +\\S+ +delivery-fixture +\\S+/app +- +- +\\S+node .*server\\.mjs$`));
  const r = await cli(app, ['apply', writePatch(app, workPatch('byapp', 'v2')), '--app', 'delivery-fixture']);
  assert.equal(r.status, 0, r.stderr);
  assert.match((await cli(app, ['ps'])).stdout, /delivery-fixture +\S+ +byapp +- /);
  const none = await cli(app, ['apply', writePatch(app, workPatch('x', 'v2')), '--app', 'nope']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^livepatch: LP_ERR_NO_PROCESS: no process runs app 'nope' \(apps running: delivery-fixture/);
  assert.equal((await cli(app, ['disable', 'byapp', '--wait', ...pidArgs()])).status, 0);
});

test('status: the transition\'s age apart from the time the task has been inside the function', { timeout: 20_000 }, async () => {
  const blocker = await parked('st');
  await settle(1200);
  assert.equal((await cli(app, ['enable', writePatch(app, workPatch('st', 'v2')), ...pidArgs()])).status, 0);
  const st = await cli(app, ['status', ...pidArgs()]);
  assert.match(st.stdout, /^transition: 'st' patching, started \d+ms ago, 1 of \d+ tasks not switched/);
  // Parked 1.2 s before the transition: bounded by its task's age (>= 1.2 s), not the transition's.
  const m = /^GET \/park\/st +\d+ +(\S+) +unpatched +handle \(lib\/work\.mjs:2\) inside <=(\d+(?:\.\d)?)s$/m.exec(st.stdout);
  assert.ok(m && Number(m[2]) >= 1.2, st.stdout);
  assert.equal((await cli(app, ['disable', 'st', '--wait', ...pidArgs()])).status, 0);
  await release('st');
  await blocker.done;
  // Parked during a transition: timed exactly from the activation's start.
  // A task that entered the function during a transition is timed exactly (no '<='): here a request
  // that runs the new code when the transition is reversed.
  const old = await parked('st1');
  assert.equal((await cli(app, ['enable', writePatch(app, workPatch('st2', 'v2')), ...pidArgs()])).status, 0);
  const hold = await parked('st2');
  assert.equal((await cli(app, ['disable', 'st2', ...pidArgs()])).status, 0);
  const st2 = await cli(app, ['status', ...pidArgs()]);
  assert.match(st2.stdout, /^transition: 'st2' unpatching, /);
  assert.match(st2.stdout, /^GET \/park\/st2 +\d+ +\S+ +patched +handle \(\.\/lib\/work\.mjs\) inside \d/m);
  await release('st2');
  await hold.done;
  await release('st1');
  await old.done;
});
