// The patch-file fuzz test (issue 11, acceptance 2): seeded mutations of valid patch files, of their
// JSON text and of their replacement and callback sources, read the way the CLI reads them and enabled
// in a live process. Each is refused with one LP_ERR_* line or applied correctly (and disabled again).
// Every generated source records a canary when it runs: `typeof` its first parameter, which is an
// object only in a callback the engine calls and a number only in a replacement the test calls, so any
// other entry is patch code that ran while it was validated or compiled. A failure prints its seed;
// LIVEPATCH_FUZZ_SEED=<seed> replays it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isLpError } from '../../src/engine/index.js';
import { ControlClient } from '../../src/runtime/control.js';
import { readPatchFile } from '../../src/runtime/read-patch.js';
import type { PatchInfo, TransitionStatus } from '../../src/runtime/types.js';
import { freshTmp, MODULE, removeTmps, SHA256, startChild, type Child } from './control-child.js';
import { Fuzz, withSeed } from './fuzz.js';

const ROUNDS = 240;
/** Rounds that go through the CLI itself, to see its one line. */
const CLI_ROUNDS = 6;
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const CANARY = 'globalThis.canary.push(typeof __lpArg)';
/** Codes of the checks made before the engine is asked: no callback can have run. */
const CHECKED_BEFORE = new Set(['LP_ERR_PATCH_FILE', 'LP_ERR_PATCH_SYNTAX', 'LP_ERR_UNRESOLVED', 'LP_ERR_UNPATCHABLE', 'LP_ERR_BAD_MESSAGE', 'LP_ERR_SHA_MISMATCH', 'LP_ERR_USAGE']);

/** A source of each accepted form; `k` is what the replacement multiplies by. */
function replacementSource(fz: Fuzz, k: number): string {
  const body = `{ ${CANARY}; return __lpArg * ${k} }`;
  return fz.pick([`function (__lpArg) ${body}`, `(__lpArg) => ${body}`, `price(__lpArg) ${body}`, `function price(__lpArg) ${body}`]);
}

function callbackSource(fz: Fuzz): string {
  const body = `{ ${CANARY}; return 0 }`;
  return fz.pick([`(__lpArg) => ${body}`, `function (__lpArg) ${body}`, `cb(__lpArg) ${body}`, `async (__lpArg) => ${body}`]);
}

/**
 * Rewrites of a source into forms that would run code if evaluated (each must be refused), or random
 * edits (which may also break the canary itself: `edited` is told).
 */
function hostile(fz: Fuzz, source: string, edited: () => void): string {
  switch (fz.int(10)) {
    case 0: return `[${CANARY}](__lpArg) { return 1 }`;
    case 1: return `get [${CANARY}]() { return 1 }`;
    case 2: return `(function () { ${CANARY}; return ${source} })()`;
    case 3: return `(${CANARY}, ${source})`;
    case 4: return `${CANARY}; ${source}`;
    case 5: return `${source}\n)(${CANARY}`;
    case 6: return `class { static { ${CANARY} } }`;
    case 7: return `${source}, ${CANARY}`;
    case 8: return `new (function () { ${CANARY} })()`;
    default: {
      edited();
      let s = source;
      for (let n = 1 + fz.int(3); n > 0; n--) s = fz.mutate(s);
      return s;
    }
  }
}

interface Generated {
  text: string;
  /** Nothing was mutated: it must be accepted, and price(2) must then be 2 * k. */
  intact: boolean;
  /** No random edit touched the text: every canary still says `typeof __lpArg`. */
  canaryIntact: boolean;
  k: number;
  name: string;
}

function generate(fz: Fuzz, round: number): Generated {
  const k = 3 + fz.int(90);
  const name = `fz-${round}`;
  let intact = true;
  let canaryIntact = true;
  const maybe = (s: string) => {
    if (!fz.chance(0.35)) return s;
    intact = false;
    return hostile(fz, s, () => (canaryIntact = false));
  };
  const callbacks: Record<string, string> = {};
  for (const cb of ['prePatch', 'postPatch', 'preUnpatch', 'postUnpatch']) if (fz.chance(0.4)) callbacks[cb] = maybe(callbackSource(fz));
  const obj: Record<string, unknown> = { name: MODULE, sha256: SHA256, funcs: [{ oldName: 'price', source: maybe(replacementSource(fz, k)) }] };
  if (Object.keys(callbacks).length > 0) obj.callbacks = callbacks;
  const patch: Record<string, unknown> = { name, objs: [obj] };
  if (fz.chance(0.2)) patch.states = [{ id: 1 + fz.int(3), version: fz.int(3) }];
  let text = JSON.stringify(patch, null, fz.chance(0.5) ? 2 : undefined);
  if (fz.chance(0.3)) {
    intact = false;
    canaryIntact = false;
    for (let n = 1 + fz.int(4); n > 0; n--) text = fz.mutate(text);
  }
  return { text, intact, canaryIntact, k, name };
}

function cli(child: Child, file: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, 'enable', '--pid', String(child.pid), file], { env: { ...process.env, TMPDIR: child.tmp } });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** What ran of patch code since the last look, as `typeof` of its first parameter. */
async function canary(child: Child): Promise<string[]> {
  return JSON.parse((await child.ask('canary', 'canary ')).slice('canary '.length)) as string[];
}

async function waitIdle(client: ControlClient): Promise<void> {
  while ((await client.call<TransitionStatus>('status')).patch !== null) await new Promise((r) => setTimeout(r, 5));
}

test('patch-file fuzz: mutated patch files and sources are refused with one LP_ERR_* line or applied correctly; no source runs while checked', { timeout: 300_000 }, () =>
  withSeed('dist/test/runtime/fuzz-patchfile.test.js', async (seed) => {
    const child = await startChild(freshTmp());
    process.env.TMPDIR = child.tmp;
    const client = await ControlClient.connect(child.pid);
    const fz = new Fuzz(seed);
    const tally = { refused: 0, applied: 0 };
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const g = generate(fz, round);
        const where = `round ${round}: ${g.text.slice(0, 300)}`;
        const file = join(child.tmp, `${g.name}.json`);
        writeFileSync(file, g.text);
        let code: string | null = null;
        if (round < CLI_ROUNDS) {
          const r = await cli(child, file);
          if (r.status !== 0) {
            assert.match(r.stderr, /^livepatch: LP_ERR_[A-Z_]+: [^\n]*\n$/, `${where}: one line`);
            assert.equal(r.stdout, '');
            code = /LP_ERR_[A-Z_]+/.exec(r.stderr)![0];
          }
        } else {
          try {
            await client.call<PatchInfo>('enable', { patch: readPatchFile(file) });
          } catch (e) {
            assert.ok(isLpError(e), `${where}: ${String(e)}`);
            assert.ok(!e.message.includes('\n'), `${where}: one line`);
            code = e.code;
          }
        }
        assert.notEqual(code, 'LP_ERR_INTERNAL', where);
        // Refused before the engine saw it: nothing of it ran. Else only callbacks the engine called did
        // (called with the object: unless an edit broke the canary, they say so).
        const ran = await canary(child);
        if (code !== null && CHECKED_BEFORE.has(code)) assert.deepEqual(ran, [], `${where}: refused by the checks (${code}), nothing of it ran`);
        else if (g.canaryIntact) assert.deepEqual(ran.filter((t) => t !== 'object'), [], `${where}: only callbacks the engine called ran`);
        if (code !== null) {
          assert.ok(!g.intact, `${where}: an unmutated patch is refused (${code})`);
          assert.deepEqual(await client.call('list'), [], where);
          tally.refused++;
          continue;
        }
        tally.applied++;
        await waitIdle(client);
        // A mutation may have edited the name itself (a valid one still applies): the applied patch is
        // the one the text names.
        const name = (JSON.parse(g.text) as { name: string }).name;
        const [info] = await client.call<PatchInfo[]>('list');
        assert.equal(info?.name, name, where);
        assert.equal(info.enabled, true);
        const called = await child.ask('call 2', 'call ');
        if (g.intact) {
          assert.equal(called, `call ${2 * g.k}`, `${where}: the new code runs`);
          assert.deepEqual(await canary(child), ['number'], `${where}: the replacement ran, called`);
        }
        await client.call('disable', { name });
        await waitIdle(client);
        assert.deepEqual(await client.call('list'), [], where);
        const unpatched = await canary(child);
        if (g.canaryIntact) assert.deepEqual(unpatched.filter((t) => t !== 'object' && t !== 'number'), [], where);
        assert.equal(await child.ask('call 2', 'call '), 'call 4', `${where}: the old code is back`);
      }
      assert.ok(tally.applied > 0 && tally.refused > 0, JSON.stringify(tally));
      console.log(`# patch-file fuzz: seed ${seed}, ${ROUNDS} patch files: ${tally.applied} applied and disabled, ${tally.refused} refused`);
    } finally {
      client.close();
      await child.stop();
      removeTmps();
    }
  }),
);
