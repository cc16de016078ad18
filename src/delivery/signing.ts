// Signed patches (the kernel's module signing, for live patches): ed25519 through node:crypto. A signed
// patch is the patch JSON with one more field, `signature`, over the canonical bytes (canonical.ts) of
// the patch without that field. A process started with LIVEPATCH_TRUST (a public key file, or a
// directory of `*.pub` files) refuses every patch that is unsigned, signed by a key it does not hold,
// or changed after signing: from the control socket and from the installed patches alike.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LpError } from '../engine/errors.js';
import { canonicalBytes } from './canonical.js';

export interface Signature {
  alg: 'ed25519';
  /** keyIdOf() of the public key that verifies it. */
  keyId: string;
  /** base64 of the 64-byte ed25519 signature. */
  value: string;
}

/** A key's id: the first 16 hex digits of the sha256 of its public key (SPKI DER). */
function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

export function generateKeys(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    keyId: keyIdOf(publicKey),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The patch without its signature, and the signature (null when unsigned). */
export function splitSigned(patch: Record<string, unknown>): { body: Record<string, unknown>; signature: unknown } {
  const { signature = null, ...body } = patch;
  return { body, signature };
}

/** The patch signed with `privatePem` (a signature it had is replaced). */
export function signPatch(patch: Record<string, unknown>, privatePem: string): Record<string, unknown> {
  let key: KeyObject;
  try {
    key = createPrivateKey(privatePem);
  } catch (e) {
    const pub = privatePem.includes('PUBLIC KEY');
    throw new LpError('LP_ERR_SIGNATURE', pub ? 'that is a public key (.pub): sign with the private one (.key) that livepatch keygen wrote beside it' : `not a private key: ${(e as Error).message} (make one with livepatch keygen)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new LpError('LP_ERR_SIGNATURE', `the key is ${key.asymmetricKeyType}, not ed25519 (make one with livepatch keygen)`);
  const { body } = splitSigned(patch);
  const signature: Signature = { alg: 'ed25519', keyId: keyIdOf(key), value: sign(null, canonicalBytes(body), key).toString('base64') };
  return { ...body, signature };
}

/** The public keys a process trusts, by key id; `source` names where they came from, for messages. */
export interface Trust {
  source: string;
  keys: Map<string, KeyObject>;
}

/**
 * The keys of a LIVEPATCH_TRUST value: one public key file, or every `*.pub` in a directory. Throws
 * LP_ERR_SIGNATURE when none can be read (the caller then trusts nothing: it never fails open).
 */
export function loadTrust(path: string): Trust {
  const keys = new Map<string, KeyObject>();
  let files: string[];
  try {
    files = statSync(path).isDirectory() ? readdirSync(path).filter((f) => f.endsWith('.pub')).sort().map((f) => join(path, f)) : [path];
  } catch (e) {
    throw new LpError('LP_ERR_SIGNATURE', `LIVEPATCH_TRUST=${path}: ${(e as Error).message}; every patch is refused`);
  }
  for (const file of files) {
    let key: KeyObject;
    try {
      key = createPublicKey(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new LpError('LP_ERR_SIGNATURE', `LIVEPATCH_TRUST: ${file} is not a public key (${(e as Error).message.split('\n')[0]}); every patch is refused`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new LpError('LP_ERR_SIGNATURE', `LIVEPATCH_TRUST: ${file} is a ${key.asymmetricKeyType} key, not ed25519; every patch is refused`);
    keys.set(keyIdOf(key), key);
  }
  if (keys.size === 0) throw new LpError('LP_ERR_SIGNATURE', `LIVEPATCH_TRUST=${path}: no *.pub key in it; every patch is refused`);
  return { source: path, keys };
}

/**
 * The patch to enable: without its signature, checked against `trust` when there is one (null: the
 * process enforces no signing). Throws LP_ERR_SIGNATURE.
 */
export function verifiedPatch(patch: Record<string, unknown>, trust: Trust | null): Record<string, unknown> {
  const { body, signature } = splitSigned(patch);
  if (trust === null) return body;
  const name = typeof body.name === 'string' ? `'${body.name}'` : '(unnamed)';
  const refuse = (why: string): never => {
    throw new LpError('LP_ERR_SIGNATURE', `patch ${name} refused: ${why}; this process trusts only patches signed by a key in ${trust.source}`);
  };
  if (signature === null) refuse('it is not signed (livepatch sign <patch> --key K)');
  if (!isObject(signature) || signature.alg !== 'ed25519' || typeof signature.keyId !== 'string' || typeof signature.value !== 'string')
    refuse("its 'signature' is not { alg: 'ed25519', keyId, value }");
  const sig = signature as unknown as Signature;
  const key = trust.keys.get(sig.keyId) ?? refuse(`it is signed by key ${sig.keyId}, which is not trusted`);
  const bytes = Buffer.from(sig.value, 'base64');
  let ok = false;
  try {
    ok = bytes.length === 64 && verify(null, canonicalBytes(body), key, bytes);
  } catch {
    ok = false;
  }
  if (!ok) refuse(`its signature does not match its contents (changed after it was signed by key ${sig.keyId})`);
  return body;
}
