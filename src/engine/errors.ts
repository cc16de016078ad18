// Every error livepatch reports, with a stable code. Codes are never reused or renumbered: scripts and
// tests match on them. Each message names the likely cause and the fix.
//
// The brand (Symbol.for) makes isLpError() work across duplicate copies of this package, where
// instanceof would not.

const BRAND = Symbol.for('livepatch.error');

export type LpErrorCode =
  | 'LP_ERR_INVALID_PATCH'
  | 'LP_ERR_NO_SUCH_FUNC'
  | 'LP_ERR_AMBIGUOUS_FUNC'
  | 'LP_ERR_DUPLICATE_FUNC'
  | 'LP_ERR_DUPLICATE_OBJECT'
  | 'LP_ERR_DUPLICATE_PATCH'
  | 'LP_ERR_BUSY'
  | 'LP_ERR_INCOMPATIBLE_STATE'
  | 'LP_ERR_REENABLE'
  | 'LP_ERR_SAME_VALUE'
  | 'LP_ERR_NOT_IN_TRANSITION'
  | 'LP_ERR_NO_SUCH_PATCH'
  | 'LP_ERR_CALLBACK_FAILED'
  | 'LP_ERR_MODULE_REFUSED'
  | 'LP_ERR_FORCED'
  | 'LP_ERR_PATCH_IN_USE'
  | 'LP_ERR_SHADOW_EXISTS'
  | 'LP_ERR_SHADOW_CTOR'
  | 'LP_ERR_USAGE'
  | 'LP_ERR_NO_SUCH_SCENARIO'
  | 'LP_ERR_SCENARIO'
  // The Node.js runtime:
  | 'LP_ERR_PATCH_FILE'
  | 'LP_ERR_PATCH_SYNTAX'
  | 'LP_ERR_UNPATCHABLE'
  | 'LP_ERR_UNRESOLVED'
  | 'LP_ERR_SHA_MISMATCH'
  | 'LP_ERR_NOT_INSTRUMENTED'
  | 'LP_ERR_BAD_MESSAGE'
  | 'LP_ERR_NO_PROCESS'
  | 'LP_ERR_TIMEOUT'
  | 'LP_ERR_CONFIG'
  // A patch that would change nothing in the process (names it matches nowhere), from enable or build --check:
  | 'LP_ERR_NOOP'
  // The builder (src/builder), one per change kind it refuses (kpatch-build's "unsupported change"):
  | 'LP_ERR_BUILD_SOURCE'
  | 'LP_ERR_BUILD_SYNTAX'
  | 'LP_ERR_BUILD_FORMAT'
  | 'LP_ERR_BUILD_TOPLEVEL'
  | 'LP_ERR_BUILD_BINDING'
  | 'LP_ERR_BUILD_CLASS_SHAPE'
  | 'LP_ERR_BUILD_NEW_FUNC_CALLER'
  | 'LP_ERR_BUILD_FUNC_SHAPE'
  | 'LP_ERR_BUILD_REFUSED'
  | 'LP_ERR_BUILD_NO_CHANGE'
  // Delivery (src/delivery): a transition someone else reversed, patch signatures, installed patches:
  | 'LP_ERR_REVERSED'
  | 'LP_ERR_SIGNATURE'
  | 'LP_ERR_NOT_INSTALLED'
  // A bug in livepatch itself (an exception that is not an LpError), reported rather than crashing the host:
  | 'LP_ERR_INTERNAL';

export class LpError extends Error {
  readonly code: LpErrorCode;
  /** The kernel errno this error corresponds to (negative), for transcripts that print one. */
  readonly errno: number;
  readonly [BRAND] = true;

  constructor(code: LpErrorCode, message: string, errno = -22) {
    super(message);
    this.name = 'LpError';
    this.code = code;
    this.errno = errno;
  }

  /** One line: the form every CLI and log prints. */
  toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function isLpError(e: unknown): e is LpError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

export const EINVAL = -22;
export const EBUSY = -16;
export const ENODEV = -19;
export const EAGAIN = -11;
export const EADDRINUSE = -98;
export const ENOMEM = -12;
export const EEXIST = -17;
