// The entry of `node --import livepatch/register app.js`: installs the runtime, then the loader hooks
// that instrument the app's patchable modules as they load. A bad config is reported once and the app
// then loads unchanged (fail open: livepatch must never be the reason a service does not start).

import Module from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { isLpError } from '../engine/errors.js';
import { patchCompile } from './cjs.js';
import { configWarnings, loadConfig } from './config.js';
import type { HooksData } from './hooks-async.js';
import { installSyncHooks } from './hooks-sync.js';
import { startDelivery } from '../delivery/startup.js';
import { installRuntime } from './livepatch.js';
import { Loader, hookPath } from './loader.js';

// Which hooks this thread has ('sync' | 'async'; absent: none), for the runtime's `ping`, and so that a
// second copy of livepatch preloaded into the same process does not instrument every module twice.
const HOOKS = Symbol.for('livepatch.hooks');
const global = globalThis as Record<symbol, unknown>;

const rt = installRuntime();
if (global[HOOKS] === undefined) {
  try {
    // Object names are relative to the app root of the entry script, wherever the app was started from.
    const config = loadConfig(process.env, process.cwd(), process.argv[1]);
    if (isMainThread) for (const line of configWarnings(config)) process.stderr.write(`${line}\n`);
    // Instrumented code has its columns shifted on touched lines; the inline maps restore them.
    process.setSourceMapsEnabled(true);
    if (hookPath === 'sync') {
      installSyncHooks(config);
    } else {
      const data: HooksData = { config };
      Module.register('./hooks-async.js', { parentURL: import.meta.url, data });
      patchCompile(new Loader(config));
    }
    global[HOOKS] = hookPath;
    startDelivery(rt, config.root);
  } catch (e) {
    // Worker threads run this file again: the main thread has said it already.
    if (isMainThread) {
      process.stderr.write(
        isLpError(e) ? `livepatch: ${e.toString()}\n` : `livepatch: warning: loader hooks not installed: ${String(e)}\n`,
      );
    }
  }
}
