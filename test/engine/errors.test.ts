// Acceptance 3: bad input gets its stable error code, and the engine is exactly as it was afterwards.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enablePatchProc, isLpError, type LpErrorCode, type PatchDesc } from '../../src/engine/index.js';
import { TestHost } from './host.js';

function world() {
  const h = new TestHost();
  const orig = h.define('vmlinux', 'cmdline_proc_show');
  h.define('vmlinux', 'dup');
  h.define('vmlinux', 'dup');
  const v1 = h.define('p1', 'new_cmdline');
  const desc = (name: string, extra: Partial<PatchDesc> = {}): PatchDesc => ({
    name,
    objs: [{ funcs: [{ oldName: 'cmdline_proc_show', newFunc: v1 }] }],
    ...extra,
  });
  return { h, orig, v1, desc };
}

/** The error a synchronous check throws, or the one the enable verb reports. */
function enableError(h: TestHost, desc: PatchDesc): { code: LpErrorCode; message: string } {
  try {
    const p = h.enable(desc);
    assert.ok(p.error, 'expected the enable to fail');
    return p.error;
  } catch (e) {
    assert.ok(isLpError(e), String(e));
    return e;
  }
}

function expectRefused(h: TestHost, desc: PatchDesc, code: LpErrorCode): string {
  const before = h.snapshot();
  const err = enableError(h, desc);
  assert.equal(err.code, code, err.message);
  assert.equal(h.snapshot(), before, 'engine state changed');
  assert.ok(!err.message.includes('\n'), 'one line');
  return err.message;
}

test('a func that does not exist in its object', () => {
  const { h, desc, v1 } = world();
  const msg = expectRefused(h, { name: 'p', objs: [{ funcs: [{ oldName: 'nope', newFunc: v1 }] }] }, 'LP_ERR_NO_SUCH_FUNC');
  assert.match(msg, /symbol 'nope' not found/);
  assert.ok(h.lines.includes("livepatch: symbol 'nope' not found in symbol table"));
  // The engine still works afterwards.
  assert.equal(h.enable(desc('ok')).error, null);
});

test('an ambiguous func name, and a sympos past the last symbol', () => {
  const { h, v1 } = world();
  expectRefused(h, { name: 'p', objs: [{ funcs: [{ oldName: 'dup', newFunc: v1 }] }] }, 'LP_ERR_AMBIGUOUS_FUNC');
  expectRefused(h, { name: 'p', objs: [{ funcs: [{ oldName: 'dup', oldSympos: 3, newFunc: v1 }] }] }, 'LP_ERR_NO_SUCH_FUNC');
  assert.equal(h.enable({ name: 'p', objs: [{ funcs: [{ oldName: 'dup', oldSympos: 2, newFunc: v1 }] }] }).error, null);
});

test('duplicate funcs and duplicate objects', () => {
  const { h, v1 } = world();
  const f = { oldName: 'cmdline_proc_show', newFunc: v1 };
  expectRefused(h, { name: 'p', objs: [{ funcs: [f, f] }] }, 'LP_ERR_DUPLICATE_FUNC');
  // sympos 0 and 1 name the same symbol.
  expectRefused(h, { name: 'p', objs: [{ funcs: [f, { ...f, oldSympos: 1 }] }] }, 'LP_ERR_DUPLICATE_FUNC');
  expectRefused(h, { name: 'p', objs: [{ funcs: [f] }, { name: 'vmlinux', funcs: [] }] }, 'LP_ERR_DUPLICATE_OBJECT');
});

test('malformed patch descriptions', () => {
  const { h, v1 } = world();
  const bad: unknown[] = [
    null,
    { objs: [] },
    { name: 'has space', objs: [{ funcs: [] }] },
    { name: 'p', objs: [] },
    { name: 'p', objs: [{}] },
    { name: 'p', objs: [{ funcs: [{ newFunc: v1 }] }] },
    { name: 'p', objs: [{ funcs: [{ oldName: 'cmdline_proc_show', newFunc: 'x' }] }] },
    { name: 'p', objs: [{ funcs: [{ oldName: 'cmdline_proc_show', oldSympos: -1, newFunc: v1 }] }] },
    { name: 'p', objs: [{ funcs: [] }], states: [{ id: 0, version: 1 }] },
    { name: 'p', objs: [{ funcs: [] }], states: [{ id: 1, version: 1 }, { id: 1, version: 2 }] },
  ];
  for (const desc of bad) expectRefused(h, desc as PatchDesc, 'LP_ERR_INVALID_PATCH');
});

test('an incompatible state version', () => {
  const { h, desc, v1 } = world();
  assert.equal(h.enable({ ...desc('s2'), states: [{ id: 1, version: 2 }], replace: true }).error, null);
  const msg = expectRefused(h, { name: 's1', replace: true, states: [{ id: 1, version: 1 }], objs: [{ funcs: [{ oldName: 'cmdline_proc_show', newFunc: v1 }] }] }, 'LP_ERR_INCOMPATIBLE_STATE');
  assert.match(msg, /version/);
  assert.ok(h.lines.includes('livepatch: Livepatch patch (s1) is not compatible with the already installed livepatches.'));
  // A replace patch must carry every installed state.
  expectRefused(h, { name: 's0', replace: true, objs: [{ funcs: [] }] }, 'LP_ERR_INCOMPATIBLE_STATE');
  // A non-cumulative patch may leave it alone; the same version is fine.
  assert.equal(h.enable({ name: 'other', objs: [{ funcs: [] }] }).error, null);
});

test('enabling while another transition runs', () => {
  const { h, desc, orig } = world();
  h.stacks[1] = [orig]; // task 1 sleeps in the function being patched: the transition stalls
  assert.equal(h.enable(desc('first')).error, null);
  assert.equal(h.klp.transitionPatch?.name, 'first');
  const msg = expectRefused(h, desc('second'), 'LP_ERR_BUSY');
  assert.match(msg, /'first' is in transition/);
});

test('a patch name that is already installed', () => {
  const { h, desc } = world();
  assert.equal(h.enable(desc('p')).error, null);
  expectRefused(h, desc('p'), 'LP_ERR_DUPLICATE_PATCH');
});

test('sysfs writes that make no sense leave everything as it was', () => {
  const { h, desc } = world();
  assert.equal(h.enable(desc('p')).error, null);
  const before = h.snapshot();
  assert.equal(h.setEnabled('p', true).error?.code, 'LP_ERR_SAME_VALUE');
  assert.equal(h.force('p').error?.code, 'LP_ERR_NOT_IN_TRANSITION');
  assert.equal(h.snapshot(), before);
  assert.equal(h.setEnabled('p', false).error, null);
  assert.equal(h.klp.patches.length, 0);
  assert.throws(() => h.setEnabled('p', true), (e: unknown) => isLpError(e) && e.code === 'LP_ERR_NO_SUCH_PATCH');
  assert.throws(() => enablePatchProc(h.klp, 0, 0, { name: 'x', objs: 'no' } as unknown as PatchDesc), (e: unknown) => isLpError(e) && e.code === 'LP_ERR_INVALID_PATCH');
});

test('a module whose patched func is missing is refused; the patch stays as it was', () => {
  const { h } = world();
  const v = h.define('p', 'new_mod_fn');
  assert.equal(h.enable({ name: 'p', objs: [{ name: 'mod', funcs: [{ oldName: 'mod_fn', newFunc: v }] }] }).error, null);
  const before = h.snapshot();
  const p = h.moduleComing('mod'); // the module has no mod_fn
  assert.equal(p.error?.code, 'LP_ERR_MODULE_REFUSED');
  assert.ok(h.lines.includes("livepatch: patch 'p' failed for module 'mod', refusing to load module 'mod'"));
  assert.equal(h.snapshot(), before);
});
