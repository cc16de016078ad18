// Every request a node:http / https / http2 server receives runs as its own task, from the 'request'
// (or http2 'stream') event until the response closes: the kernel's process per request.
//
// All of them are net.Server subclasses that inherit emit(), so one wrapper on net.Server.prototype
// sees them all, without loading http, http2 or tls (24 ms of start-up on Node 24 for http alone) in
// programs that never use them: http is required at the first 'request', which only an http server
// emits, so it is loaded by then. The wrapper runs for every event of every server (a 'connection'
// per socket, a 'request' per request), so it allocates nothing beyond the task itself: no rest
// array, no closure, one shared listener.

import { createRequire } from 'node:module';
import { Server as NetServer } from 'node:net';
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import type { Runtime } from './livepatch.js';
import type { Task } from './tasks.js';

const require = createRequire(import.meta.url);
const WRAPPED = Symbol('livepatch.wrapped');
/** On the response (or http2 stream) whose 'close' ends the task: the task. */
const TASK = Symbol('livepatch.task');

type Emit = EventEmitter['emit'] & { [WRAPPED]?: true };
type Closer = EventEmitter & { [TASK]?: Task };

/** The request's path without its query, cut at 100 characters (indexOf, not split: no array per request). */
function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path.length > 100 ? `${path.slice(0, 100)}…` : path;
}

export function installHttpTasks(rt: Runtime): void {
  const proto = NetServer.prototype as unknown as { emit: Emit };
  const orig = proto.emit;
  if (orig[WRAPPED]) return;
  const als = rt.tasks.als;
  let IncomingMessage: typeof import('node:http').IncomingMessage | undefined;
  // An http server, the one emitter of 'request' with an IncomingMessage, has loaded http: a lookup.
  const isHttpRequest = (a: unknown): a is InstanceType<typeof import('node:http').IncomingMessage> =>
    a instanceof (IncomingMessage ??= (require('node:http') as typeof import('node:http')).IncomingMessage);
  function onClose(this: Closer): void {
    const task = this[TASK];
    if (task) rt.endTask(task);
  }
  function run(server: EventEmitter, args: IArguments, name: string, closer: Closer): boolean {
    const task = rt.startTask(name);
    closer[TASK] = task;
    // on, not once: once wraps the listener per call; a second 'close' finds the task ended.
    closer.on('close', onClose);
    return als.run(task, Reflect.apply, orig, server, args) as boolean;
  }
  const emit = function (this: EventEmitter, type: string | symbol, a?: unknown, b?: unknown): boolean {
    // http and https; http2's compatibility 'request' is emitted from its 'stream' listener, so it runs
    // in the stream's task and its request (not an IncomingMessage) starts none.
    if (type === 'request' && isHttpRequest(a)) return run(this, arguments, `${a.method} ${pathOf(a.url)}`, b as Closer);
    if (type === 'stream') {
      const headers = b as IncomingHttpHeaders | undefined;
      if (typeof headers?.[':path'] === 'string') return run(this, arguments, `${headers[':method']} ${pathOf(headers[':path'])}`, a as Closer);
    }
    return Reflect.apply(orig, this, arguments) as boolean;
  } as Emit;
  emit[WRAPPED] = true;
  proto.emit = emit;
}
