// An express 4 service: a middleware chain (request id, API key, counter, JSON body parser), routing
// with a parameter, one async step, a JSON response. `listening <port>` on stdout when ready.
'use strict';

const express = require('express');
const { findUser, formatUser, holdOpen } = require('./lib/users.js');
const { requestId, authorized, count, stats } = require('./lib/middleware.js');

const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => {
  req.id = requestId(req.headers);
  res.setHeader('x-request-id', req.id);
  next();
});
app.use((req, res, next) => (authorized(req.headers) ? next() : res.status(401).json({ error: 'unauthorized' })));
app.use((req, res, next) => {
  count(req.path);
  next();
});
app.use(express.json());

app.get('/users/:id', async (req, res, next) => {
  try {
    const user = await findUser(req.params.id);
    if (!user) return res.status(404).json({ error: 'not found' });
    res.json(formatUser(user, req.id));
  } catch (e) {
    next(e);
  }
});
app.get('/stats', (req, res) => res.json(stats));

let release;
const gate = new Promise((r) => (release = r));
app.get('/hold', async (req, res) => res.json({ status: await holdOpen(gate) }));
app.get('/release', (req, res) => {
  release();
  res.json({ ok: true });
});

const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
