// The `context` reference variant of bench/service.mjs (node -r ./context.cjs): what an
// AsyncLocalStorage context per request costs by itself, with no livepatch in the process, made the
// way src/runtime/http.ts makes a task (one wrapper on net.Server.prototype.emit, the context run
// around the 'request' listeners, ended at the response's 'close'). Every agent that follows a request
// across awaits (OpenTelemetry, Datadog) pays this; on Node 20 it is async_hooks' promise hooks.
'use strict';

const { AsyncLocalStorage } = require('node:async_hooks');
const { Server } = require('node:net');

const als = new AsyncLocalStorage();
const emit = Server.prototype.emit;
function onClose() {
  this.context.ended = true;
}
Server.prototype.emit = function (type, req, res) {
  if (type !== 'request') return Reflect.apply(emit, this, arguments);
  const context = { name: `${req.method} ${req.url}`, ended: false };
  res.context = context;
  res.on('close', onClose);
  return als.run(context, Reflect.apply, emit, this, arguments);
};
