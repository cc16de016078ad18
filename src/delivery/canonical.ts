// The canonical bytes of a patch: what a signature covers (signing.ts). Defined once, here.
//
// Canonical JSON: objects with their keys sorted by UTF-16 code units (Array.prototype.sort's order),
// arrays in order, no whitespace, strings and numbers as JSON.stringify writes them; the UTF-8 bytes of
// that text. Two files that parse to the same value have the same canonical bytes, so re-indenting a
// signed patch keeps its signature valid and changing any value breaks it.

function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    // JSON has no NaN or Infinity: a value JSON.parse cannot have produced is not a patch's.
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${value} is not a JSON number`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON: a ${typeof value} is not JSON`);
}

export const canonicalBytes = (value: unknown): Buffer => Buffer.from(canonicalJson(value), 'utf8');
