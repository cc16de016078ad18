// Every request a node:http / https / http2 server receives runs as its own task, from the 'request'
// (or http2 'stream') event until the response closes: the kernel's process per request.
//
// All of them are net.Server subclasses that inherit emit(), so one wrapper on net.Server.prototype
// sees them all, without loading http2 or tls (10 ms of start-up) in apps that never use them.

import http from 'node:http';
import { Server as NetServer } from 'node:net';
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import type { Runtime } from './livepatch.js';

const WRAPPED = Symbol('livepatch.wrapped');

type Emit = EventEmitter['emit'] & { [WRAPPED]?: true };

function pathOf(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0];
  return path.length > 100 ? `${path.slice(0, 100)}…` : path;
}

/** The task an event starts: its name and what closes when it is over; null for any other event. */
function taskOf(type: string | symbol, args: unknown[]): { name: string; closer: EventEmitter } | null {
  // http and https; http2's compatibility 'request' is emitted from its 'stream' listener, so it runs
  // in the stream's task and its request (not an IncomingMessage) starts none.
  if (type === 'request' && args[0] instanceof http.IncomingMessage) {
    return { name: `${args[0].method} ${pathOf(args[0].url)}`, closer: args[1] as EventEmitter };
  }
  if (type === 'stream') {
    const headers = args[1] as IncomingHttpHeaders | undefined;
    if (typeof headers?.[':path'] === 'string') return { name: `${headers[':method']} ${pathOf(headers[':path'])}`, closer: args[0] as EventEmitter };
  }
  return null;
}

export function installHttpTasks(rt: Runtime): void {
  const proto = NetServer.prototype as unknown as { emit: Emit };
  const orig = proto.emit;
  if (orig[WRAPPED]) return;
  const emit = function (this: EventEmitter, type: string | symbol, ...args: unknown[]): boolean {
    const t = taskOf(type, args);
    if (!t) return orig.call(this, type, ...args);
    const task = rt.startTask(t.name);
    t.closer.once('close', () => rt.endTask(task));
    return rt.tasks.als.run(task, () => orig.call(this, type, ...args));
  } as Emit;
  emit[WRAPPED] = true;
  proto.emit = emit;
}
