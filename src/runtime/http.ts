// Every request a node:http / https / http2 server receives runs as its own task, from the 'request'
// (or http2 'stream') event until the response closes: the kernel's process per request.

import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { EventEmitter } from 'node:events';
import type { Runtime } from './livepatch.js';

const WRAPPED = Symbol('livepatch.wrapped');

type Emit = EventEmitter['emit'] & { [WRAPPED]?: true };

function pathOf(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0];
  return path.length > 100 ? `${path.slice(0, 100)}…` : path;
}

/** Make `event` of servers with prototype `proto` start a task named by `name(args)`, ended by `closer(args)`'s 'close'. */
function wrap(rt: Runtime, proto: { emit: Emit }, event: string, name: (args: unknown[]) => string, closer: (args: unknown[]) => EventEmitter): void {
  const orig = proto.emit;
  if (orig[WRAPPED]) return;
  const emit = function (this: EventEmitter, type: string | symbol, ...args: unknown[]): boolean {
    if (type !== event) return orig.call(this, type, ...args);
    const task = rt.startTask(name(args));
    closer(args).once('close', () => rt.endTask(task));
    return rt.tasks.als.run(task, () => orig.call(this, type, ...args));
  } as Emit;
  emit[WRAPPED] = true;
  proto.emit = emit;
}

export function installHttpTasks(rt: Runtime): void {
  const onRequest = (args: unknown[]): string => {
    const req = args[0] as http.IncomingMessage;
    return `${req.method} ${pathOf(req.url)}`;
  };
  const response = (args: unknown[]): EventEmitter => args[1] as EventEmitter;
  wrap(rt, http.Server.prototype as unknown as { emit: Emit }, 'request', onRequest, response);
  wrap(rt, https.Server.prototype as unknown as { emit: Emit }, 'request', onRequest, response);
  // http2: the compatibility API's 'request' is emitted from a 'stream' listener, so it runs in the
  // stream's task.
  const onStream = (args: unknown[]): string => {
    const headers = args[1] as http2.IncomingHttpHeaders;
    return `${headers[':method']} ${pathOf(headers[':path'])}`;
  };
  const stream = (args: unknown[]): EventEmitter => args[0] as EventEmitter;
  for (const server of [http2.createServer(), http2.createSecureServer({})]) {
    wrap(rt, Object.getPrototypeOf(server) as { emit: Emit }, 'stream', onStream, stream);
  }
}
