// The example service on node:cluster: the primary forks WORKERS workers (default 2), each running
// server.js on the shared port, and forks a new one whenever one dies.
const cluster = require('node:cluster');

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS || 2);
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', () => cluster.fork());
} else {
  require('./server.js');
}
