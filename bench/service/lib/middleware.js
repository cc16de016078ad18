// Middleware shared by both services: a request id, an API key check, a request counter.
'use strict';

let counter = 0;

function requestId(headers) {
  return headers['x-request-id'] ?? `req-${++counter}`;
}

function authorized(headers) {
  const auth = headers.authorization;
  return typeof auth === 'string' && auth.startsWith('Bearer ') && auth.length > 12;
}

const stats = { requests: 0, byRoute: Object.create(null) };

function count(route) {
  stats.requests++;
  stats.byRoute[route] = (stats.byRoute[route] ?? 0) + 1;
}

module.exports = { requestId, authorized, count, stats };
