// The process commands of the CLI against a live process: what a user types, what they see, the exit status.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hookPath } from '../../src/runtime/loader.js';
import { freshTmp, MODULE, removeTmps, SHA256, SOURCE, startChild, type Child } from '../runtime/control-child.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

let child: Child;

before(async () => {
  child = await startChild();
});

after(async () => {
  await child.stop();
  removeTmps();
});

/** Run the CLI seeing `tmp`'s sockets (the child's by default). Async: the child must keep serving meanwhile. */
function cli(args: string[], tmp = child.tmp): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, TMPDIR: tmp } });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function patchFile(name: string, funcs: Array<{ oldName: string; source: string }>, sha256 = SHA256): string {
  const file = join(child.tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, objs: [{ name: MODULE, sha256, funcs }] }));
  return file;
}

const HOLD_V2 = { oldName: 'hold', source: "async function (ms) { return 'v2' }" };

test('ps: the process and its ping; --json', async () => {
  const r = await cli(['ps']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^PID +NODE +HOOKS +APP +ROOT +PATCHES +TRANSITION +COMMAND$/);
  assert.match(lines[1], new RegExp(`^${child.pid} +${process.version} +${hookPath} +- +\\S+ +- +- +\\S+ --import \\S+register\\.js \\S+main\\.js$`));
  const json = await cli(['ps', '--json']);
  assert.deepEqual(
    (JSON.parse(json.stdout) as Array<{ pid: number }>).map((p) => p.pid),
    [child.pid],
  );
});

test('list, modules, functions, status when idle', async () => {
  assert.deepEqual(await cli(['list', '--pid', String(child.pid)]), { status: 0, stdout: 'no patches\n', stderr: '' });
  const mods = await cli(['modules']);
  assert.equal(mods.status, 0);
  assert.match(mods.stdout, new RegExp(`^\\./lib/price\\.js +3 +0 +${SHA256}$`, 'm'));
  const funcs = await cli(['functions', MODULE]);
  assert.match(funcs.stdout, /^hold +1 +function\+async +5:\d+ +yes$/m);
  const st = await cli(['status']);
  assert.equal(st.stdout, 'idle: no transition in progress (1 task)\n');
  assert.equal(JSON.parse((await cli(['status', '--json'])).stdout).patch, null);
});

test('hash: what a patch needs as sha256', async () => {
  const file = join(child.tmp, 'price.js');
  writeFileSync(file, `\uFEFF${SOURCE}`);
  assert.deepEqual(await cli(['hash', file]), { status: 0, stdout: `${SHA256}  ${file}\n`, stderr: '' });
});

test('enable --wait: progress while a task holds the function, then done; status names the holder', async () => {
  child.send('hold 1500');
  await new Promise((r) => setTimeout(r, 100));
  const enabling = cli(['enable', patchFile('v2', [HOLD_V2]), '--wait', '--timeout', '20']);
  await new Promise((r) => setTimeout(r, 500));
  const st = await cli(['status']);
  assert.match(st.stdout, /^transition: 'v2' patching, started .* ago, 1 of 2 tasks not switched/);
  assert.match(st.stdout, /^job:hold +\d+ +\S+ +unpatched +hold \(lib\/price\.js:5\) inside <=\S+$/m);
  const r = await enabling;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^pid \d+: 'v2' patching \S+: \d+\/\d+ tasks switched/m);
  assert.match(r.stdout, /^v2 +enabled +1 +\.\/lib\/price\.js \(patched, 1 func\)$/m);
  assert.equal((await cli(['status'])).stdout, 'idle: no transition in progress (1 task)\n');
});

test('disable --wait, and a --wait that times out: exit 5, the blocking task printed, one error line', async () => {
  const d = await cli(['disable', 'v2', '--wait']);
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stdout, /^'v2' \(pid \d+\) removed: every task switched$/m);
  child.send('hold 3000');
  await new Promise((r) => setTimeout(r, 100));
  const r = await cli(['enable', patchFile('v3', [HOLD_V2]), '--wait', '--timeout', '1']);
  assert.equal(r.status, 5);
  assert.match(r.stdout, /^ {2}blocker: job:hold in hold \(lib\/price\.js:5\)/m);
  assert.match(r.stderr, /^livepatch: LP_ERR_TIMEOUT: 'v3' \(pid \d+\): the transition is not done and goes on in the process .*\n$/);
  // Reverse it: the held task never ran the new code, so unpatching needs no wait for it.
  const back = await cli(['disable', 'v3', '--wait', '--json']);
  assert.equal(back.status, 0, back.stderr);
  const end = JSON.parse(back.stdout.trimEnd().split('\n').at(-1)!) as { event: string; outcome: string; info: { enabled: boolean } | null };
  assert.deepEqual([end.event, end.outcome, end.info?.enabled ?? false], ['complete', 'complete', false]);
});

test('refusals of the process: their code, exit 1', async () => {
  const r = await cli(['enable', patchFile('bad', [HOLD_V2], 'e'.repeat(64))]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^livepatch: LP_ERR_SHA_MISMATCH: /);
  assert.match((await cli(['force', 'nope'])).stderr, /^livepatch: LP_ERR_NO_SUCH_PATCH: /);
  assert.match((await cli(['functions', './nope.js'])).stderr, /^livepatch: LP_ERR_NOT_INSTRUMENTED: /);
});

test('log: the runtime log lines', async () => {
  const r = await cli(['log']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^livepatch: 'v2': patching complete$/m);
});

test('log --follow: new lines as they come; it ends when the process exits', { timeout: 20_000 }, async () => {
  const other = await startChild(freshTmp());
  const following = cli(['log', '--follow'], other.tmp);
  await new Promise((r) => setTimeout(r, 600));
  const file = join(other.tmp, 'later.json');
  writeFileSync(file, JSON.stringify({ name: 'later', objs: [{ name: './lib/later.js', sha256: SHA256, funcs: [{ oldName: 'f', source: 'function () {}' }] }] }));
  // A module the process has not loaded: enable refuses it (LP_ERR_NOOP) unless told it comes later.
  assert.match((await cli(['enable', file], other.tmp)).stderr, /^livepatch: LP_ERR_NOOP: .*'\.\/lib\/later\.js' is not loaded/);
  assert.equal((await cli(['enable', file, '--wait', '--allow-unloaded'], other.tmp)).status, 0);
  await new Promise((r) => setTimeout(r, 600));
  await other.stop();
  const r = await following;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^livepatch: enabling patch 'later'$/m);
});

test('no process: LP_ERR_NO_PROCESS, exit 1', async () => {
  const empty = freshTmp();
  assert.deepEqual(await cli(['ps'], empty), { status: 0, stdout: 'no process has a livepatch control socket\n', stderr: '' });
  for (const args of [['list'], ['status', '--pid', '4194305']]) {
    const r = await cli(args, empty);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, /^livepatch: LP_ERR_NO_PROCESS: [^\n]*\n$/);
  }
});

test('a socket directory others could write to is not used', async () => {
  const open = freshTmp();
  mkdirSync(join(open, `livepatch-${process.getuid!()}`), { mode: 0o777 });
  chmodSync(join(open, `livepatch-${process.getuid!()}`), 0o777);
  for (const args of [['ps'], ['list', '--pid', String(child.pid)]]) {
    const r = await cli(args, open);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^livepatch: LP_ERR_NO_PROCESS: refusing to use the control sockets: .* has mode 0777, not 0700 .*\n$/);
  }
});

test('bad input: one line with its code, exit 2, nothing sent', async () => {
  const notJson = join(child.tmp, 'not.json');
  writeFileSync(notJson, '{ nope');
  const array = join(child.tmp, 'array.json');
  writeFileSync(array, '[{ "name": "x" }]');
  const cases: Array<[string[], string]> = [
    [['list', '--bogus'], 'LP_ERR_USAGE'],
    [['list', 'extra'], 'LP_ERR_USAGE'],
    [['status', '--limit', 'x'], 'LP_ERR_USAGE'],
    [['enable', patchFile('typo', [HOLD_V2]), '--wait', '--timeout', '1s'], 'LP_ERR_USAGE'],
    [['status', '--pid', 'abc'], 'LP_ERR_USAGE'],
    [['status', '--pid'], 'LP_ERR_USAGE'],
    [['enable'], 'LP_ERR_USAGE'],
    [['enable', notJson, '--timeout', '3'], 'LP_ERR_USAGE'],
    [['disable'], 'LP_ERR_USAGE'],
    [['functions'], 'LP_ERR_USAGE'],
    [['hash'], 'LP_ERR_USAGE'],
    [['hash', join(child.tmp, 'missing.js')], 'LP_ERR_USAGE'],
    [['enable', join(child.tmp, 'missing.json')], 'LP_ERR_PATCH_FILE'],
    [['enable', notJson], 'LP_ERR_PATCH_FILE'],
    [['enable', array], 'LP_ERR_PATCH_FILE'],
    [['enable', patchFile('short', [HOLD_V2], 'abc')], 'LP_ERR_PATCH_FILE'],
  ];
  const results = await Promise.all(cases.map(([args]) => cli(args)));
  cases.forEach(([args, code], i) => {
    const r = results[i];
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^livepatch: ${code}: [^\\n]*\\n$`), args.join(' '));
  });
  const list = (await cli(['list'])).stdout;
  assert.ok(!list.includes('short') && !list.includes('typo'), list);
});

async function appRoot(pid: number): Promise<string> {
  return (JSON.parse((await cli(['ps', '--json'])).stdout) as Array<{ pid: number; root: string }>).find((p) => p.pid === pid)!.root;
}

test('two processes: --pid is required', async () => {
  const second = await startChild(child.tmp);
  try {
    const r = await cli(['list']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^livepatch: LP_ERR_USAGE: 2 processes have a control socket .*: give --pid N or --app NAME \(livepatch ps shows them\)/);
    assert.equal((await cli(['list', '--pid', String(second.pid)])).status, 0);
    // --app NAME: the package name of the app root, read when the CLI runs.
    const [root, both] = await Promise.all([appRoot(second.pid), appRoot(child.pid)]);
    writeFileSync(join(root, 'package.json'), '{ "type": "module", "name": "second-app" }');
    const byApp = await cli(['status', '--app', 'second-app', '--json']);
    assert.equal(byApp.status, 0, byApp.stderr);
    assert.equal((await cli(['disable', 'nope', '--app', 'second-app'])).stderr, "livepatch: LP_ERR_NO_SUCH_PATCH: no patch named 'nope' is enabled (no patches; livepatch list shows them)\n");
    assert.match((await cli(['list', '--app', 'nope'])).stderr, /^livepatch: LP_ERR_NO_PROCESS: no process runs app 'nope' \(apps running: second-app;/);
    assert.match((await cli(['list', '--app', 'second-app', '--pid', '1'])).stderr, /^livepatch: LP_ERR_USAGE: list: give --pid or --app, not both/);
    writeFileSync(join(both, 'package.json'), '{ "type": "module", "name": "second-app" }');
    const two = await cli(['list', '--app', 'second-app']);
    assert.equal(two.status, 2);
    assert.match(two.stderr, /^livepatch: LP_ERR_USAGE: list: app 'second-app' runs in 2 processes \(.*\): give --pid \(livepatch apply --app reaches them all\) \(see 'livepatch --help'\)\n$/);
  } finally {
    await second.stop();
  }
});
