// A real service for the builder's end-to-end tests: a directory of files, started under livepatch
// (`node --import livepatch/register`) from any directory, HTTP on loopback, and the CLI run as a user
// runs it, from another process. Each test gets its own TMPDIR, so it sees only its own sockets.

import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readyPort } from '../../src/cli/demo.js';

const REGISTER = new URL('../../src/runtime/register.js', import.meta.url).pathname;
const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
export const REPO = new URL('../../../', import.meta.url).pathname;

export function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

/** A copy of `from` at `to` with each [search, replace] applied to `file` (each must match once). */
export function fixedCopy(from: string, to: string, file: string, edits: Array<[string, string]>): void {
  cpSync(from, to, { recursive: true });
  let text = readFileSync(join(to, file), 'utf8');
  for (const [a, b] of edits) {
    if (text.split(a).length !== 2) throw new Error(`edit does not match once in ${file}: ${a}`);
    text = text.replace(a, b);
  }
  writeFileSync(join(to, file), text);
}

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'lp-build-'));
  /** The TMPDIR of the service and the CLI: the control socket lives under it. */
  readonly tmp = join(this.dir, 'tmp');
  private readonly children: ChildProcess[] = [];

  constructor() {
    mkdirSync(this.tmp);
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Start `entry` under livepatch with the working directory `cwd`; resolves with its pid and port. */
  async start(entry: string, cwd: string): Promise<Service> {
    const { LIVEPATCH_CONFIG: _c, LIVEPATCH_ROOT: _r, NODE_OPTIONS: _o, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', REGISTER, entry], {
      cwd,
      env: { ...env, TMPDIR: this.tmp, LIVEPATCH_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const port = await readyPort(child, () => `the service (${err})`);
    return { pid: child.pid!, get: (path) => send(port, 'GET', path), request: (method, path, headers) => send(port, method, path, headers), stderr: () => err };
  }

  /** The livepatch CLI in its own process. */
  cli(args: string[], cwd = this.dir, timeoutMs = 120_000): Promise<Ran> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, TMPDIR: this.tmp } });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill(), timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  }

  cleanup(): void {
    for (const c of this.children) c.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface Service {
  pid: number;
  get(path: string): Promise<string>;
  request(method: string, path: string, headers?: Record<string, string>): Promise<string>;
  stderr(): string;
}

function send(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((ok, fail) => {
    http
      .request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => ok(body));
      })
      .on('error', fail)
      .end();
  });
}

/** The test service: a bug in an async function, in a class method and in a nested function. */
export const APP: Record<string, string> = {
  'package.json': '{ "name": "build-e2e-app", "private": true }\n',
  'server.js': `const http = require('node:http');
const { checkout } = require('./lib/pricing.js');

const gates = new Map();
const items = [{ price: 2, qty: 3 }];
const server = http.createServer(async (req, res) => {
  if (req.url.startsWith('/release/')) {
    const open = gates.get(req.url.slice(9));
    if (open) open();
    return res.end(open ? 'released' : 'none');
  }
  const id = req.url.startsWith('/slow/') ? req.url.slice(6) : null;
  const wait = () => (id ? new Promise((resolve) => gates.set(id, resolve)) : Promise.resolve());
  try {
    res.end(JSON.stringify(await checkout(req.url === '/empty' ? [] : items, wait)));
  } catch (e) {
    res.end(JSON.stringify({ error: String(e.stack) }));
  }
});
server.listen(0, '127.0.0.1', () => console.log('READY ' + server.address().port));
`,
  'lib/pricing.js': `// Prices a cart.
class Cart {
  constructor(items) {
    this.items = items;
  }

  total() {
    let sum = 0;
    for (const item of this.items) sum += item.price;
    return sum;
  }
}

async function checkout(items, wait) {
  const cart = new Cart(items);
  await wait();
  return { v: 1, total: cart.total(), label: label(cart) };
}

function label(cart) {
  function money(n) {
    return 'EUR ' + n;
  }
  return money(cart.total());
}

module.exports = { checkout };
`,
};

/** The fixes: quantity counted, the version stamped, two decimals, and an empty cart refused. */
export const FIXES: Array<[string, string]> = [
  ['sum += item.price;', 'sum += item.price * item.qty;'],
  [
    '  await wait();\n  return { v: 1,',
    "  await wait();\n  if (items.length === 0) throw new Error('empty cart');\n  return { v: 2,",
  ],
  ["return 'EUR ' + n;", "return 'EUR ' + n.toFixed(2); // two decimals"],
];
