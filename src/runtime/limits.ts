// The caps on everything a client or a patch author hands a serving process (docs/runtime.md, "Caps and
// trust"), and the one JSON reader both the control socket and patch files go through: no input may
// crash, hang or bloat the process, so its size and nesting are bounded before anything walks it.

import { LpError, type LpErrorCode } from '../engine/index.js';

/** Longest control request line, in bytes without its newline: a patch file plus its envelope. */
export const MAX_LINE = 4 * 1024 * 1024;
/** Longest reply line, in bytes; also the longest line the client accepts. */
export const MAX_REPLY = 16 * 1024 * 1024;
/** Largest patch file the CLI reads, in bytes. */
export const MAX_PATCH_FILE = 2 * 1024 * 1024;
/** Deepest nesting of arrays and objects a JSON text may have (a patch file needs 6, a request 9). */
export const MAX_JSON_DEPTH = 64;
/** Longest stored log line, in UTF-16 units; a longer one is cut and says how much. */
export const MAX_LOG_LINE = 4096;
/** Most bytes of log lines one `log` reply carries; the cursor it returns picks up the rest. */
export const LOG_REPLY_BUDGET = 1024 * 1024;
/** Most control connections served at once; more are closed as they come. */
export const MAX_CONNECTIONS = 32;

/**
 * Offset of the first `[` or `{` that opens level `max + 1` outside strings, or -1. A linear scan
 * with no recursion: JSON.parse and everything after it then only see bounded depth.
 */
function tooDeepAt(text: string, max: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}

/**
 * JSON.parse behind the depth check; every refusal is one LpError of `code` whose message starts
 * with `what` (e.g. "the request", "'fix.json'").
 */
export function parseJson(text: string, code: Extract<LpErrorCode, 'LP_ERR_BAD_MESSAGE' | 'LP_ERR_PATCH_FILE'>, what: string): unknown {
  const at = tooDeepAt(text, MAX_JSON_DEPTH);
  if (at >= 0) throw new LpError(code, `${what} nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels (at offset ${at}): not a patch or request livepatch makes`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LpError(code, `${what} is not JSON: ${excerpt((e as Error).message, 200)}`);
  }
}

/** `s` cut to at most `max` units, saying how much was cut. */
export function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length - max} more)`;
}

/**
 * Input echoed in a message: on one line (line breaks and other control characters escaped, as JSON
 * would) and cut to `max` units. Error messages are one line: scripts split on newlines.
 */
export function excerpt(s: string, max = 80): string {
  return cut(s, max).replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** `v[key]` only when it is v's own property: an inherited `constructor` or `__proto__` is no field. */
export function own(v: object, key: string): unknown {
  return Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined;
}
