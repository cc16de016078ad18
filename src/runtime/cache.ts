// A content-addressed disk cache of instrumented sources, so that a restart does not re-parse every
// module. It is only ever an optimisation: any entry that cannot be read, or whose checksum does not
// match, is a miss, and any write that fails is dropped.

import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, lstatSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Everything the instrumenter's output depends on. */
export function cacheKey(source: string, id: string, format: string, instrumenterVersion: string): string {
  return createHash('sha256').update(`${instrumenterVersion}\0${format}\0${id}\0`).update(source).digest('hex');
}

// First line of every entry; the checksum covers the rest of the file.
const MAGIC = '// livepatch-cache v1 ';
const MAGIC_BYTES = Buffer.from(MAGIC, 'latin1');

export class InstrumentCache {
  /** null when no directory is usable: every lookup misses. */
  readonly dir: string | null;

  constructor(dir: string) {
    this.dir = usable(dir) ? dir : privateTmpDir();
  }

  get(key: string): string | undefined {
    if (this.dir === null) return undefined;
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(this.dir, `${key}.js`));
    } catch {
      return undefined;
    }
    // The checksum is over the bytes as stored: hashing the decoded string would encode it again.
    const nl = bytes.indexOf(10);
    if (nl < 0 || !bytes.subarray(0, MAGIC.length).equals(MAGIC_BYTES)) return undefined;
    const body = bytes.subarray(nl + 1);
    const sum = bytes.toString('latin1', MAGIC.length, nl);
    return sum === createHash('sha256').update(body).digest('hex') ? body.toString('utf8') : undefined;
  }

  set(key: string, body: string): void {
    if (this.dir === null) return;
    // Readers see either the old entry or the whole new one: rename is atomic within a directory.
    const tmp = join(this.dir, `${key}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      writeFileSync(tmp, `${MAGIC}${sha256(body)}\n${body}`);
      renameSync(tmp, join(this.dir, `${key}.js`));
    } catch {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing was written
      }
    }
  }
}

function usable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

// The fallback lives in the shared temp directory, where another user could plant entries that we
// would then run as code: use it only when it is ours and closed to others.
function privateTmpDir(): string | null {
  const uid = process.getuid?.() ?? 0;
  const base = join(tmpdir(), `livepatch-${uid}`);
  try {
    mkdirSync(base, { mode: 0o700, recursive: true });
    const st = lstatSync(base);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) return null;
    const dir = join(base, 'cache');
    mkdirSync(dir, { mode: 0o700, recursive: true });
    return dir;
  } catch {
    return null;
  }
}
