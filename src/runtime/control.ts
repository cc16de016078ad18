// The private control socket (docs/runtime.md, "Control socket"): how `livepatch enable --pid N` reaches
// a running process. Both ends live here so that the framing and the error mapping exist once.
//
// The socket must never hurt the host application: every failure to set it up is one warning and the
// process runs without it; the server is unref'd so it never keeps the process alive.

import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLpError, LpError, type LpErrorCode } from '../engine/index.js';
import { acceptPatch, appRoot } from '../delivery/startup.js';
import { requestsSince } from '../delivery/requests.js';
import { excerpt, MAX_CONNECTIONS, MAX_LINE, MAX_REPLY, own, parseJson } from './limits.js';
import type { Runtime } from './livepatch.js';
import { clusterPrimary, groupOp } from '../cluster/processes.js';
import { onTermination } from './signals.js';

export { MAX_LINE, MAX_REPLY };

export interface PingInfo {
  pid: number;
  node: string;
  livepatch: string;
  /** Which loader hooks instrument modules; 'none' when the process was not started with livepatch/register. */
  hooks: 'sync' | 'async' | 'none';
  /** The command line: the Node binary, its options, the script and its arguments. */
  argv: string[];
  /** The app root object names are relative to (null without the loader hooks). */
  root: string | null;
  /** A cluster worker's primary (src/cluster/processes.ts), whose transition it is part of; else null. */
  primary: number | null;
}

/** The directory of this user's sockets. Per-uid, so that two users on one machine never share one. */
export function socketDir(): string {
  return join(tmpdir(), `livepatch-${process.getuid?.() ?? 'user'}`);
}

export function socketPath(pid: number): string {
  return join(socketDir(), `${pid}.sock`);
}

/**
 * Pids with a socket whose process is alive. The socket of a dead pid (a process killed with SIGKILL
 * leaves it behind) is removed: the directory is this user's alone, so it was one of ours. Throws
 * LP_ERR_NO_PROCESS when the directory is not safe to talk through.
 */
export function listSockets(): number[] {
  if (!trustedClientDir()) return [];
  const names = readdirSync(socketDir());
  const pids: number[] = [];
  for (const name of names) {
    const m = /^([1-9]\d*)\.sock$/.exec(name);
    if (!m) continue;
    if (alive(Number(m[1]))) pids.push(Number(m[1]));
    else unlinkIfThere(join(socketDir(), name));
  }
  return pids.sort((a, b) => a - b);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, it is just not ours to signal.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why the socket directory cannot be trusted, or null when it can. A directory another user made (or
 * opened up) would let them connect to our socket, or plant one for our CLI to talk to.
 */
function distrust(dir: string): string | null {
  const st = lstatSync(dir);
  if (!st.isDirectory()) return `${dir} is not a directory`;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `${dir} belongs to uid ${st.uid}, not to this process's uid ${uid}`;
  if ((st.mode & 0o077) !== 0) return `${dir} has mode 0${(st.mode & 0o777).toString(8)}, not 0700`;
  return null;
}

/** The server's side: the directory is made if missing; returns why it cannot be used, or null. */
function prepareDir(dir: string): string | null {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return (e as Error).message;
  }
  return distrust(dir);
}

/** The client's side: false when there is no directory (no process made one), throws when it is unsafe. */
function trustedClientDir(): boolean {
  const dir = socketDir();
  let why: string | null;
  try {
    why = distrust(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    why = (e as Error).message;
  }
  if (why) throw new LpError('LP_ERR_NO_PROCESS', `refusing to use the control sockets: ${why} (only this user may own and use it)`);
  return true;
}

/** Splits a byte stream into lines; a line longer than `max` bytes ends the stream with `overflow`. */
function lineReader(max: number, onLine: (line: string) => void, overflow: () => void): (chunk: Buffer) => void {
  let parts: Buffer[] = [];
  let size = 0;
  let dead = false;
  return (chunk) => {
    let at = 0;
    while (!dead && at < chunk.length) {
      const nl = chunk.indexOf(0x0a, at);
      const end = nl < 0 ? chunk.length : nl;
      size += end - at;
      if (size > max) {
        dead = true;
        parts = [];
        overflow();
        return;
      }
      parts.push(chunk.subarray(at, end));
      if (nl < 0) return;
      const line = Buffer.concat(parts).toString('utf8');
      parts = [];
      size = 0;
      at = nl + 1;
      onLine(line);
    }
  };
}

type ArgType = 'string' | 'object' | 'count?';

interface Op {
  args: Record<string, ArgType>;
  /** A promise when the op waits (enable awaiting an async prePatch): the connection reads no further meanwhile. */
  run(rt: Runtime, args: Record<string, unknown>): unknown;
}

const OPS: Record<string, Op> = {
  ping: { args: {}, run: () => ping() },
  list: { args: {}, run: (rt) => rt.list() },
  status: { args: { limit: 'count?' }, run: (rt, a) => rt.status(a.limit as number | undefined) },
  enable: { args: { patch: 'object' }, run: (rt, a) => rt.enableAsync(acceptPatch(a.patch as Record<string, unknown>)) },
  disable: { args: { name: 'string' }, run: (rt, a) => rt.disable(a.name as string) },
  force: { args: { name: 'string' }, run: (rt, a) => rt.force(a.name as string) },
  signal: { args: {}, run: (rt) => rt.signalPending() },
  requests: { args: { since: 'count?' }, run: (_rt, a) => requestsSince(a.since as number | undefined) },
  modules: { args: {}, run: (rt) => rt.modulesInfo() },
  functions: { args: { module: 'string' }, run: (rt, a) => rt.functions(a.module as string) },
  log: { args: { since: 'count?' }, run: (rt, a) => rt.logSince(a.since as number | undefined) },
  // A cluster worker's part of its primary's transition (src/cluster/processes.ts).
  group: { args: { ops: 'object' }, run: (_rt, a) => groupOp(a.ops) },
};

function badMessage(msg: string): never {
  throw new LpError('LP_ERR_BAD_MESSAGE', msg);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkArgs(op: string, spec: Record<string, ArgType>, args: unknown): Record<string, unknown> {
  if (args === undefined) args = {};
  if (!isObject(args)) badMessage(`'${op}': args must be an object`);
  for (const key of Object.keys(args)) if (!Object.hasOwn(spec, key)) badMessage(`'${op}': unknown argument '${excerpt(key)}'`);
  for (const [key, type] of Object.entries(spec)) {
    const v = own(args, key);
    const ok =
      type === 'string' ? typeof v === 'string'
      : type === 'object' ? isObject(v)
      : v === undefined || (Number.isSafeInteger(v) && (v as number) >= 0);
    if (!ok) badMessage(`'${op}': argument '${key}' must be ${type === 'count?' ? 'a non-negative integer' : `a${type === 'object' ? 'n' : ''} ${type}`}`);
  }
  return args;
}

let version: string | undefined;

function ping(): PingInfo {
  // dist/src/runtime/control.js → the package root.
  version ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  // register.ts records the hooks it installed there (any copy of livepatch in the process sees it).
  const hooks = (globalThis as Record<symbol, unknown>)[Symbol.for('livepatch.hooks')];
  return {
    pid: process.pid,
    node: process.version,
    livepatch: version,
    hooks: hooks === 'sync' || hooks === 'async' ? hooks : 'none',
    argv: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    root: appRoot(),
    primary: clusterPrimary(),
  };
}

/** An id is echoed back as it came only when it is a scalar: the error path never walks a client's data. */
function idOf(req: Record<string, unknown>): unknown {
  const id = own(req, 'id') ?? null;
  if (id === null || (typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.length <= 256)) return id;
  badMessage("a request's 'id' must be a number or a string of at most 256 characters (or left out)");
}

/** A result as its reply line, or the refusal of one too long for the client to read. */
function replyLine(id: unknown, op: string, result: unknown): string {
  const line = JSON.stringify({ id, ok: true, result });
  if (Buffer.byteLength(line) <= MAX_REPLY) return line;
  return errorLine(id, new LpError('LP_ERR_BAD_MESSAGE', `the reply to '${op}' would be longer than ${MAX_REPLY} bytes; ask for less (e.g. status --limit)`));
}

/** A refusal's line; its message is cut to 2000 units, whatever input it echoes. */
function errorLine(id: unknown, e: LpError): string {
  return JSON.stringify({ id, ok: false, error: { code: e.code, message: excerpt(e.message, 2000) } });
}

/** One request line → its response line (or a promise of it). Never throws, never rejects. */
function handle(rt: Runtime, line: string): string | Promise<string> {
  let id: unknown = null;
  const failed = (e: unknown): string => {
    if (isLpError(e)) return errorLine(id, e);
    // A bug of ours: the client gets one line, the log gets the stack.
    rt.log('err', `livepatch: control socket: ${(e as Error)?.stack ?? String(e)}`);
    return errorLine(id, new LpError('LP_ERR_INTERNAL', `internal error: ${excerpt(String(e).split('\n')[0], 200)}`));
  };
  try {
    const req = parseJson(line, 'LP_ERR_BAD_MESSAGE', 'the request');
    if (!isObject(req)) badMessage('a request must be an object { id, op, args }');
    id = idOf(req);
    const opName = own(req, 'op');
    if (typeof opName !== 'string') badMessage(`a request needs 'op', one of ${Object.keys(OPS).join(', ')}`);
    const op = Object.hasOwn(OPS, opName) ? OPS[opName] : badMessage(`unknown op '${excerpt(opName)}' (one of ${Object.keys(OPS).join(', ')})`);
    const args = checkArgs(opName, op.args, own(req, 'args'));
    const result = rt.asRuntime(() => op.run(rt, args));
    if (!(result instanceof Promise)) return replyLine(id, opName, result);
    return result.then((r: unknown) => replyLine(id, opName, r), failed);
  } catch (e) {
    return failed(e);
  }
}

/**
 * Serve one connection, one request at a time: the next line is taken only once the reply to the last
 * is handed to the socket and the socket has drained below its high-water mark, and the socket is not
 * read while lines wait. A client that sends without reading so holds at most one read chunk, one
 * partial line (< MAX_LINE) and one reply (< MAX_REPLY) of this process's memory.
 */
function serve(rt: Runtime, conn: Socket): void {
  conn.on('error', () => {
    // The client went away mid-response: nothing to tell anyone.
  });
  const waiting: string[] = [];
  let busy = false;
  const pump = (): void => {
    while (!busy && waiting.length > 0 && !conn.destroyed) {
      if (conn.writableNeedDrain) {
        busy = true;
        conn.once('drain', () => {
          busy = false;
          pump();
        });
        return;
      }
      const reply = handle(rt, waiting.shift()!);
      if (typeof reply === 'string') conn.write(`${reply}\n`);
      else {
        busy = true;
        void reply.then((r) => {
          busy = false;
          if (!conn.destroyed) conn.write(`${r}\n`);
          pump();
        });
      }
    }
    if (waiting.length > 0 || busy) return;
    // The client said all it had to say (half-close): it has every answer now.
    if (ended) conn.end();
    else conn.resume();
  };
  let ended = false;
  conn.on('end', () => {
    ended = true;
    pump();
  });
  conn.on(
    'data',
    lineReader(
      MAX_LINE,
      (line) => {
        waiting.push(line);
        conn.pause();
      },
      () => {
        waiting.length = 0;
        const error = new LpError('LP_ERR_BAD_MESSAGE', `request line longer than ${MAX_LINE} bytes`);
        conn.end(`${errorLine(null, error)}\n`);
        conn.destroySoon();
      },
    ),
  );
  // After the chunk's lines are queued: answer them in order, at the socket's pace.
  conn.on('data', () => pump());
}

/** Serve the control socket of this process. Never throws: without a usable socket directory it logs why. */
export function startControl(rt: Runtime): { path: string; close(): Promise<void> } {
  const path = socketPath(process.pid);
  const warn = (why: string) =>
    rt.log('warn', `livepatch: control socket disabled: ${why}; 'livepatch --pid ${process.pid}' cannot reach this process`);
  let why: string | null;
  try {
    why = prepareDir(socketDir());
  } catch (e) {
    why = (e as Error).message;
  }
  if (!why) why = unlinkIfThere(path);
  if (why) {
    warn(why);
    return { path, close: () => Promise.resolve() };
  }

  const conns = new Set<Socket>();
  // Half-open: a client may end its side after its last request and still read the answers (serve()).
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    // Nor does a connected client (a `livepatch log --follow` left running) keep the process alive.
    conn.unref();
    conns.add(conn);
    conn.on('close', () => conns.delete(conn));
    serve(rt, conn);
  });
  server.maxConnections = MAX_CONNECTIONS;
  // Bound under a name no client looks for and renamed once it listens: a client that finds
  // `<pid>.sock` can connect (bind makes the file before listen accepts).
  const tmp = join(socketDir(), `.${process.pid}.listening`);
  const unlink = () => {
    unlinkIfThere(tmp);
    unlinkIfThere(path);
  };
  let offSignals = (): void => {};
  const stop = (): void => {
    process.off('exit', unlink);
    offSignals();
    unlink();
  };
  const publish = (): void => {
    try {
      renameSync(tmp, path);
    } catch (e) {
      warn((e as Error).message);
      server.close();
      stop();
    }
  };
  server.on('error', (e) => {
    warn(e.message);
    stop();
  });
  unlinkIfThere(tmp);
  server.listen(tmp);
  // A pipe listens synchronously in listen(); the event is the fallback should that ever change.
  if (server.listening) publish();
  else server.once('listening', publish);
  server.unref();
  process.on('exit', unlink);
  offSignals = onTermination(unlink);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        stop();
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Remove a socket file; null when done or when there was none, else why not. At start-up, a socket of
 * our pid is one a crashed process that had this pid before us left behind.
 */
function unlinkIfThere(path: string): string | null {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return (e as Error).message;
  }
  return null;
}

/** The client end: one connection, any number of requests. */
export class ControlClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  private closedWith: LpError | null = null;

  private constructor(
    readonly pid: number,
    private readonly conn: Socket,
  ) {
    conn.on(
      'data',
      lineReader(
        MAX_REPLY,
        (line) => this.response(line),
        () => this.fail(new LpError('LP_ERR_BAD_MESSAGE', `process ${pid} sent a line longer than ${MAX_REPLY} bytes`)),
      ),
    );
    conn.on('error', (e) => this.fail(new LpError('LP_ERR_NO_PROCESS', `process ${pid} closed the control connection (${e.message}): did it exit?`)));
    conn.on('close', () => this.fail(new LpError('LP_ERR_NO_PROCESS', `process ${pid} closed the control connection (did it exit?)`)));
  }

  static connect(pid: number): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      trustedClientDir();
      const conn = createConnection(socketPath(pid));
      conn.once('connect', () => resolve(new ControlClient(pid, conn)));
      conn.once('error', (e: NodeJS.ErrnoException) => {
        const why =
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
            ? `no livepatch control socket for pid ${pid} (is it running, started with node --import livepatch/register?)`
            : `cannot connect to process ${pid}: ${e.message}`;
        reject(new LpError('LP_ERR_NO_PROCESS', why));
      });
    });
  }

  /** Send one request; resolves with its result, rejects with the LpError the process answered. */
  call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    const line = JSON.stringify({ id, op, args });
    if (Buffer.byteLength(line) > MAX_LINE) return Promise.reject(new LpError('LP_ERR_BAD_MESSAGE', `the '${op}' request is longer than ${MAX_LINE} bytes`));
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.conn.write(`${line}\n`);
    });
  }

  close(): void {
    this.conn.end();
  }

  private response(line: string): void {
    let res: { id?: unknown; ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
    try {
      res = JSON.parse(line);
    } catch {
      this.fail(new LpError('LP_ERR_BAD_MESSAGE', `process ${this.pid} answered something that is not JSON`));
      return;
    }
    const err = res.ok === true ? null : new LpError(String(res.error?.code) as LpErrorCode, String(res.error?.message));
    const w = this.waiting.get(res.id as number);
    // An error for no request in particular (id null) is about the connection: it ends.
    if (!w) return void (err && res.id === null && this.fail(err));
    this.waiting.delete(res.id as number);
    if (err) w.reject(err);
    else w.resolve(res.result);
  }

  private fail(e: LpError): void {
    this.closedWith ??= e;
    for (const w of this.waiting.values()) w.reject(this.closedWith);
    this.waiting.clear();
    this.conn.destroy();
  }
}
