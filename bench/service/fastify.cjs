// A fastify 5 service: hooks (request id, API key, counter), routing with a parameter and a response
// schema, one async step, a JSON response. `listening <port>` on stdout when ready.
'use strict';

const fastify = require('fastify')({ logger: false });
const { findUser, formatUser, holdOpen } = require('./lib/users.js');
const { requestId, authorized, count, stats } = require('./lib/middleware.js');

fastify.addHook('onRequest', async (req, reply) => {
  req.rid = requestId(req.headers);
  reply.header('x-request-id', req.rid);
});
fastify.addHook('onRequest', async (req, reply) => {
  if (!authorized(req.headers)) return reply.code(401).send({ error: 'unauthorized' });
});
fastify.addHook('preHandler', async (req) => {
  count(req.routeOptions.url);
});

const user = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    email: { type: 'string' },
    admin: { type: 'boolean' },
    created: { type: 'string' },
    links: { type: 'object', properties: { self: { type: 'string' }, orders: { type: 'string' } } },
    requestId: { type: 'string' },
  },
};

fastify.get('/users/:id', { schema: { response: { 200: user } } }, async (req, reply) => {
  const found = await findUser(req.params.id);
  if (!found) return reply.code(404).send({ error: 'not found' });
  return formatUser(found, req.rid);
});
fastify.get('/stats', async () => stats);

let release;
const gate = new Promise((r) => (release = r));
fastify.get('/hold', async () => ({ status: await holdOpen(gate) }));
fastify.get('/release', async () => {
  release();
  return { ok: true };
});

fastify.listen({ port: 0, host: '127.0.0.1' }).then(() => console.log(`listening ${fastify.server.address().port}`));
