// The runtime in this process: instrumented modules (loaded as the loader would), tasks, and the
// engine's transition driving which version each task runs.

import assert from 'node:assert/strict';
import { subscribe } from 'node:diagnostics_channel';
import { test } from 'node:test';
import { installRuntime, isLpError, klpUpdatePatchState, onLivepatchSignal, runTask, shadow } from '../../src/runtime/index.js';
import type { PatchFile } from '../../src/runtime/patchfile.js';
import { loadModule, sha256 } from './load.js';

const rt = installRuntime();
rt.retryMs = 10;
const lines: string[] = [];
subscribe('livepatch:log', (msg) => {
  const { level, line } = msg as { level: string; line: string };
  if (level !== 'trace') lines.push(line);
});

/** The log lines `fn` (and the microtasks it queues) produced. */
async function logOf(fn: () => unknown): Promise<string[]> {
  const from = lines.length;
  fn();
  await rt.waitIdle(5000);
  return lines.slice(from);
}

function patchFor(name: string, obj: string, src: string, funcs: PatchFile['objs'][0]['funcs'], extra: Partial<PatchFile> = {}): PatchFile {
  return { name, objs: [{ name: obj, sha256: sha256(src), funcs }], ...extra };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('nothing blocking: the transition completes in the same turn and every reference runs new code', async () => {
  const src = 'function price(x) { return x * 2 }\nclass Cart { total() { return price(10) } }\nmodule.exports = { price, Cart };\n';
  const m = loadModule<{ price: (x: number) => number; Cart: new () => { total(): number } }>('./t1/price.js', src);
  const held = m.price;
  const cart = new m.Cart();
  assert.equal(held(1), 2);
  const log = await logOf(() => rt.enable(patchFor('p1', './t1/price.js', src, [{ oldName: 'price', source: 'function (x) { return x * 3 }' }])));
  assert.deepEqual(log, [
    "livepatch: enabling patch 'p1'",
    "livepatch: 'p1': initializing patching transition",
    "livepatch: 'p1': starting patching transition",
    "livepatch: 'p1': completing patching transition",
    "livepatch: 'p1': patching complete",
  ]);
  assert.equal(held(1), 3);
  assert.equal(cart.total(), 30);
  assert.equal(rt.list()[0].name, 'p1');
  const off = await logOf(() => rt.disable('p1'));
  assert.deepEqual(off, [
    "livepatch: 'p1': initializing unpatching transition",
    "livepatch: 'p1': starting unpatching transition",
    "livepatch: 'p1': completing unpatching transition",
    "livepatch: 'p1': unpatching complete",
  ]);
  assert.equal(held(1), 2);
  assert.deepEqual(rt.list(), []);
});

test('a task suspended in a function being changed keeps old code until it returns; new tasks get new code at once', async () => {
  const src = [
    'function step() { return "v1" }',
    'async function handle(gate) { const a = step(); await gate; return [a, step()] }',
    'module.exports = { handle, step };',
    '',
  ].join('\n');
  const m = loadModule<{ handle: (g: Promise<void>) => Promise<string[]> }>('./t2/handle.js', src);
  const gate = deferred();
  const slow = runTask('GET /slow', () => m.handle(gate.promise));
  rt.enable(
    patchFor('p2', './t2/handle.js', src, [
      { oldName: 'step', source: 'function () { return "v2" }' },
      { oldName: 'handle', source: 'async function (gate) { const a = step(); await gate; return [a, step(), "new"] }' },
    ]),
  );
  assert.equal(rt.status().patch, 'p2');
  const fresh = await runTask('GET /fresh', () => m.handle(Promise.resolve()));
  assert.deepEqual(fresh, ['v2', 'v2', 'new']);
  const st = rt.status();
  assert.equal(st.blocked.length, 1);
  assert.equal(st.blocked[0].name, 'GET /slow');
  assert.deepEqual(
    st.blocked[0].holding.map((h) => h.func),
    ['handle'],
  );
  gate.resolve();
  assert.deepEqual(await slow, ['v1', 'v1']);
  // The last blocker ended: the transition completed without waiting for the retry timer.
  await new Promise((r) => setImmediate(r));
  assert.equal(rt.status().patch, null);
  await logOf(() => rt.disable('p2'));
});

test('disable in the middle of a transition reverses it: tasks that switched go back, the blocker never sees new code', async () => {
  const src = 'function v() { return 1 }\nasync function hold(g) { const a = v(); await g; return [a, v()] }\nmodule.exports = { v, hold };\n';
  const m = loadModule<{ v: () => number; hold: (g: Promise<void>) => Promise<number[]> }>('./t3/rev.js', src);
  const gate = deferred();
  const held = runTask('job:hold', () => m.hold(gate.promise));
  rt.enable(
    patchFor('p3', './t3/rev.js', src, [
      { oldName: 'v', source: 'function () { return 2 }' },
      { oldName: 'hold', source: 'async function (g) { await g; return [v(), v()] }' },
    ]),
  );
  assert.equal(await runTask('t', () => m.v()), 2);
  const log = await logOf(() => rt.disable('p3'));
  assert.ok(log.includes("livepatch: 'p3': reversing transition from patching to unpatching"), log.join('\n'));
  assert.equal(await runTask('t', () => m.v()), 1);
  gate.resolve();
  assert.deepEqual(await held, [1, 1]);
  assert.deepEqual(rt.list(), []);
});

test('force switches a task that never returns (unsafe by design: that activation finishes on old code)', async () => {
  const src = 'function f() { return "a" }\nasync function forever(g) { f(); await g; return f() }\nmodule.exports = { f, forever };\n';
  const m = loadModule<{ f: () => string; forever: (g: Promise<void>) => Promise<string> }>('./t4/force.js', src);
  const gate = deferred();
  const stuck = runTask('ws:stream', () => m.forever(gate.promise));
  rt.enable(patchFor('p4', './t4/force.js', src, [{ oldName: 'forever', source: 'async function (g) { await g; return "new" }' }]));
  // The caller (the root task) switches once its frames are off the stack: only the stream is left.
  await null;
  assert.deepEqual(
    rt.status().blocked.map((t) => t.name),
    ['ws:stream'],
  );
  rt.force('p4');
  assert.equal(await rt.waitIdle(1000), true);
  assert.equal(rt.list()[0].enabled, true);
  gate.resolve();
  assert.equal(await stuck, 'a');
  await logOf(() => rt.disable('p4'));
});

test('atomic replace: the replacing patch takes over; functions it does not change get the original back', async () => {
  const src = 'function a() { return "a0" }\nfunction b() { return "b0" }\nmodule.exports = { a, b };\n';
  const m = loadModule<{ a: () => string; b: () => string }>('./t5/rep.js', src);
  await logOf(() => rt.enable(patchFor('p5a', './t5/rep.js', src, [{ oldName: 'a', source: '() => "a1"' }, { oldName: 'b', source: '() => "b1"' }])));
  assert.equal(m.a() + m.b(), 'a1b1');
  await logOf(() => rt.enable(patchFor('p5b', './t5/rep.js', src, [{ oldName: 'a', source: '() => "a2"' }], { replace: true })));
  assert.equal(m.a() + m.b(), 'a2b0');
  assert.deepEqual(
    rt.list().map((p) => p.name),
    ['p5b'],
  );
  await logOf(() => rt.disable('p5b'));
  assert.equal(m.a() + m.b(), 'a0b0');
});

test('module coming: a patch for a module not loaded yet is applied when it loads', async () => {
  const src = 'function late() { return "old" }\nmodule.exports = { late };\n';
  const file = patchFor('p6', './t6/late.js', src, [{ oldName: 'late', source: 'function () { return "new" }' }]);
  const states: string[] = [];
  file.objs[0].callbacks = { prePatch: (o: { moduleState: string | null }) => void states.push(`pre ${o.moduleState}`), postPatch: (o: { moduleState: string | null }) => void states.push(`post ${o.moduleState}`) };
  await logOf(() => rt.enable(file));
  assert.deepEqual(rt.list()[0].pendingObjects, ['./t6/late.js']);
  assert.deepEqual(states, []);
  const m = loadModule<{ late: () => string }>('./t6/late.js', src);
  assert.deepEqual(states, ['pre MODULE_STATE_COMING', 'post MODULE_STATE_COMING']);
  assert.equal(m.late(), 'new');
  assert.deepEqual(rt.list()[0].pendingObjects, []);
  await logOf(() => rt.disable('p6'));
  assert.equal(m.late(), 'old');
});

test('a replacement sees the module private bindings; callbacks run in the module scope', async () => {
  const src = 'let calls = 0\nconst RATE = 5\nfunction bill(x) { calls++; return x * RATE }\nmodule.exports = { bill, calls: () => calls };\n';
  const m = loadModule<{ bill: (x: number) => number; calls: () => number }>('./t7/bill.js', src);
  const file = patchFor('p7', './t7/bill.js', src, [{ oldName: 'bill', source: 'function (x) { calls += 10; return x * RATE + 1 }' }]);
  file.objs[0].callbacks = { postPatch: '() => { calls = 100 }' };
  await logOf(() => rt.enable(file));
  assert.equal(m.calls(), 100);
  assert.equal(m.bill(2), 11);
  assert.equal(m.calls(), 110);
  await logOf(() => rt.disable('p7'));
});

test('bad patches are refused with their code and change nothing', async () => {
  const src = 'function ok() { return 1 }\nfunction* gen() { yield 1 }\nclass A {}\nclass B extends A { constructor() { super() } }\nmodule.exports = { ok, gen, B };\n';
  const m = loadModule<{ ok: () => number }>('./t8/bad.js', src);
  const before = JSON.stringify(rt.list());
  const cases: Array<[string, unknown]> = [
    ['LP_ERR_PATCH_FILE', '{not json'],
    ['LP_ERR_PATCH_FILE', { name: 'x', objs: [{ name: './t8/bad.js', sha256: 'abc', funcs: [] }] }],
    ['LP_ERR_PATCH_SYNTAX', patchFor('b1', './t8/bad.js', src, [{ oldName: 'ok', source: 'function ( { return 2 }' }])],
    ['LP_ERR_NO_SUCH_FUNC', patchFor('b2', './t8/bad.js', src, [{ oldName: 'missing', source: '() => 2' }])],
    ['LP_ERR_SHA_MISMATCH', patchFor('b3', './t8/bad.js', src + ' ', [{ oldName: 'ok', source: '() => 2' }])],
    ['LP_ERR_UNPATCHABLE', patchFor('b4', './t8/bad.js', src, [{ oldName: 'gen', source: 'function () { return 2 }' }])],
    ['LP_ERR_UNPATCHABLE', patchFor('b5', './t8/bad.js', src, [{ oldName: 'B.constructor', source: 'constructor() {}' }])],
    ['LP_ERR_UNRESOLVED', patchFor('b6', './t8/bad.js', src, [{ oldName: 'ok', source: '() => nowhere + 1' }])],
  ];
  const failing = patchFor('b7', './t8/bad.js', src, [{ oldName: 'ok', source: '() => 2' }]);
  failing.objs[0].callbacks = { prePatch: '() => { throw new Error("not today") }' };
  cases.push(['LP_ERR_CALLBACK_FAILED', failing]);
  for (const [code, input] of cases) {
    assert.throws(
      () => rt.enable(input),
      (e: unknown) => isLpError(e) && e.code === code,
      `expected ${code}`,
    );
    assert.equal(JSON.stringify(rt.list()), before);
    assert.equal(rt.status().patch, null);
    assert.equal(m.ok(), 1);
  }
});

test('tasks started in a task inherit its state; klpUpdatePatchState() switches a long-lived loop', async () => {
  const src = 'function tick() { return "t1" }\nasync function loop(g) { await g; return tick() }\nmodule.exports = { tick, loop };\n';
  const m = loadModule<{ tick: () => string; loop: (g: Promise<void>) => Promise<string> }>('./t9/loop.js', src);
  const gate = deferred();
  let insideChild = '';
  const consumer = runTask('consumer', async () => {
    const first = await m.loop(gate.promise);
    // A switch point between two messages: nothing of the patch is active here.
    klpUpdatePatchState();
    insideChild = await runTask('child', () => m.tick());
    return [first, m.tick()];
  });
  rt.enable(patchFor('p9', './t9/loop.js', src, [{ oldName: 'loop', source: 'async function (g) { await g; return "new" }' }, { oldName: 'tick', source: '() => "t2"' }]));
  gate.resolve();
  assert.deepEqual(await consumer, ['t1', 't2']);
  assert.equal(insideChild, 't2');
  await rt.waitIdle(1000);
  await logOf(() => rt.disable('p9'));
});

test('shadow variables attach data to live objects', () => {
  const obj = {};
  assert.equal(shadow.get(obj, 1), null);
  const data = shadow.alloc(obj, 1, (_o: unknown, d: { n?: number }) => ((d.n = 7), 0));
  assert.deepEqual(data, { n: 7 });
  assert.equal(shadow.get(obj, 1), data);
  shadow.free(obj, 1);
  assert.equal(shadow.get(obj, 1), null);
});

test('a task that stalls the transition gets the fake signal every 15th failed attempt', async () => {
  const src = 'async function poll(g) { await g; return "done" }\nmodule.exports = { poll };\n';
  const m = loadModule<{ poll: (g: Promise<void>) => Promise<string> }>('./t10/poll.js', src);
  const gate = deferred();
  let signals = 0;
  const poller = runTask('GET /poll', () => {
    // A long poll ends early when livepatch asks; ignoring the signal would be safe too.
    onLivepatchSignal(() => {
      signals++;
      gate.resolve();
    });
    return m.poll(gate.promise);
  });
  rt.retryMs = 1;
  // The retry timer does not keep a process alive (a service's server does): this test has no server.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    rt.enable(patchFor('p10', './t10/poll.js', src, [{ oldName: 'poll', source: 'async function (g) { await g; return "new" }' }]));
    assert.equal(await poller, 'done');
    assert.equal(signals, 1);
    assert.equal(await rt.waitIdle(1000), true);
    assert.equal(rt.status().attempts, 0);
  } finally {
    clearInterval(keepAlive);
    rt.retryMs = 10;
  }
  await logOf(() => rt.disable('p10'));
});

test('every function form is patched by its qualified name', async () => {
  const src = [
    'class Cart {',
    '  constructor(n) { this.n = n }',
    '  total() { return this.n }',
    '  get size() { return this.n }',
    '  set size(v) { this.n = v }',
    '  static make() { return new Cart(1) }',
    '  #secret() { return "s1" }',
    '  reveal() { return this.#secret() }',
    '  *items() { yield this.n }',
    '  async *stream() { yield this.n }',
    '}',
    'const double = (x) => x * 2',
    'const api = { ping() { return "pong1" } }',
    'function outer() { function inner() { return "i1" } return inner() }',
    'const late = async function () { return "a1" }',
    'module.exports = { Cart, double, api, outer, late };',
    '',
  ].join('\n');
  type CartT = { n: number; total(): number; size: number; reveal(): string; items(): Iterable<number>; stream(): AsyncIterable<number> };
  const m = loadModule<{
    Cart: { new (n: number): CartT; make(): CartT };
    double: (x: number) => number;
    api: { ping(): string };
    outer: () => string;
    late: () => Promise<string>;
  }>('./t11/forms.js', src);
  const funcs = [
    { oldName: 'Cart.constructor', source: 'constructor(n) { this.n = n * 10 }' },
    { oldName: 'Cart.prototype.total', source: 'total() { return this.n + 1 }' },
    { oldName: 'Cart.prototype.size:get', source: 'get size() { return -this.n }' },
    { oldName: 'Cart.prototype.size:set', source: 'set size(v) { this.n = v * 2 }' },
    { oldName: 'Cart.make', source: 'make() { return new Cart(2) }' },
    { oldName: 'Cart.prototype.#secret', source: 'function () { return "s2" }' },
    { oldName: 'Cart.prototype.items', source: '*items() { yield this.n; yield 0 }' },
    { oldName: 'Cart.prototype.stream', source: 'async *stream() { yield this.n; yield 0 }' },
    { oldName: 'double', source: '(x) => x * 3' },
    { oldName: 'api.ping', source: 'ping() { return "pong2" }' },
    { oldName: 'outer>inner', source: 'function () { return "i2" }' },
    { oldName: 'late', source: 'async function () { return "a2" }' },
  ];
  await logOf(() => rt.enable(patchFor('p11', './t11/forms.js', src, funcs)));
  const c = new m.Cart(1);
  assert.equal(c.n, 10);
  assert.equal(c.total(), 11);
  assert.equal(c.size, -10);
  c.size = 3;
  assert.equal(c.n, 6);
  assert.equal(m.Cart.make().n, 20);
  assert.equal(c.reveal(), 's2');
  assert.deepEqual([...c.items()], [6, 0]);
  const streamed: number[] = [];
  for await (const x of c.stream()) streamed.push(x);
  assert.deepEqual(streamed, [6, 0]);
  assert.equal(m.double(2), 6);
  assert.equal(m.api.ping(), 'pong2');
  assert.equal(m.outer(), 'i2');
  assert.equal(await m.late(), 'a2');
  await logOf(() => rt.disable('p11'));
  const d = new m.Cart(1);
  assert.deepEqual([d.n, d.total(), d.size, d.reveal(), [...d.items()], m.double(2), m.api.ping(), m.outer(), await m.late()], [1, 1, 1, 's1', [1], 4, 'pong1', 'i1', 'a1']);
});
