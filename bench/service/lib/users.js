// The service's own code: a user store behind one async step (a lookup that yields to the event loop,
// as a database round trip would) and the formatting a patch replaces.
'use strict';

const users = new Map();
for (let id = 1; id <= 1000; id++) {
  users.set(String(id), { id, name: `user ${id}`, email: `user${id}@example.com`, roles: id % 7 === 0 ? ['admin', 'user'] : ['user'], created: 1700000000000 + id * 86400000 });
}

function tick() {
  return new Promise((resolve) => setImmediate(resolve));
}

async function findUser(id) {
  await tick();
  return users.get(id) ?? null;
}

function formatUser(user, requestId) {
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    admin: user.roles.includes('admin'),
    created: new Date(user.created).toISOString(),
    links: { self: `/users/${user.id}`, orders: `/users/${user.id}/orders` },
    requestId,
  };
}

/** Held open until `gate` resolves: the request that keeps a transition from completing. */
async function holdOpen(gate) {
  await gate;
  return 'released';
}

module.exports = { findUser, formatUser, holdOpen };
