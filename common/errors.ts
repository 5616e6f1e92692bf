/**
 * One error type for the whole project. Every failure that crosses a module boundary is a
 * ParleyError with a stable `code`; the CLI maps codes to what a person reads, and the wire
 * carries only the code and a short message (never a stack, a key or a password).
 */

export const ErrorCode = {
  /** Bytes that do not decode: bad varint, bad CBOR, a field missing, mistyped or unknown. */
  Malformed: 'ERR_MALFORMED',
  /** A frame, name, file or field larger than its limit. */
  TooLarge: 'ERR_TOO_LARGE',
  /** A MAC that does not verify, a wrong key, a replayed/reordered/truncated frame. */
  Integrity: 'ERR_INTEGRITY',
  /** A username, group name or file name outside its allowed alphabet/length. */
  InvalidName: 'ERR_INVALID_NAME',
  /** Wrong password and unknown user alike (never say which). */
  BadCredentials: 'ERR_BAD_CREDENTIALS',
  /** An operation that needs a signed-in session, sent before sign-in. */
  NotSignedIn: 'ERR_NOT_SIGNED_IN',
  /** The thing asked for exists already (signup of a taken name, CREATE of an existing group). */
  Exists: 'ERR_EXISTS',
  /** The thing asked for does not exist (unknown group, unknown user). */
  NotFound: 'ERR_NOT_FOUND',
  /** Not allowed: not a member of the group, and so on. */
  Forbidden: 'ERR_FORBIDDEN',
  /** Too many attempts or requests: slow down. */
  RateLimited: 'ERR_RATE_LIMITED',
  /** A compare-and-set lost a race (group key epoch). */
  Conflict: 'ERR_CONFLICT',
  /** The other side is not reachable right now. */
  Unreachable: 'ERR_UNREACHABLE',
  /** The remote violated the protocol (unexpected frame, wrong order). */
  Protocol: 'ERR_PROTOCOL',
  /** A pinned peer id changed for a username (trust on first use). */
  IdentityChanged: 'ERR_IDENTITY_CHANGED',
  /** Bad command-line usage or command arguments. */
  Usage: 'ERR_USAGE',
  /** A local file problem (missing, unreadable, not a regular file). */
  File: 'ERR_FILE',
  /** The sender gave up a file mid-way (it changed or could no longer be read there). */
  Abandoned: 'ERR_ABANDONED',
  /** The disk cannot take it now (full, or too little free beyond what is kept free). */
  NoSpace: 'ERR_NO_SPACE',
  /** A bug or an unexpected failure: reported, never fatal to the process. */
  Internal: 'ERR_INTERNAL',
} as const

export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

const knownCodes = new Set<string>(Object.values(ErrorCode))

/**
 * Whether a failure with this code may pass, so the same work is worth trying again later (the
 * outbox keeps a delivery that failed so, and drops one that failed otherwise): the default of
 * `ParleyError.retryable`, which the place that makes an error may override. Errors decoded from
 * the wire (a recipient's refusal, a rendezvous error answer) carry only a code and so take its
 * default.
 */
const RETRYABLE_BY_DEFAULT: Record<ErrorCode, boolean> = {
  [ErrorCode.Malformed]: false,
  [ErrorCode.TooLarge]: false,
  /** A recipient without the key we hold may get it (the outbox gives up after a few tries). */
  [ErrorCode.Integrity]: true,
  [ErrorCode.InvalidName]: false,
  [ErrorCode.BadCredentials]: false,
  /** Our session at the rendezvous ended (its events stream dropped): Session signs in again
   * with backoff and flushes the outbox then, so what waits must not be dropped (issue 7 soak). */
  [ErrorCode.NotSignedIn]: true,
  [ErrorCode.Exists]: false,
  [ErrorCode.NotFound]: false,
  [ErrorCode.Forbidden]: false,
  [ErrorCode.RateLimited]: true,
  [ErrorCode.Conflict]: false,
  [ErrorCode.Unreachable]: true,
  /** A remote that broke off mid-exchange, or an unknown code: the next attempt may go through. */
  [ErrorCode.Protocol]: true,
  /** Waits for the person to compare fingerprints and TRUST the new identity. */
  [ErrorCode.IdentityChanged]: true,
  [ErrorCode.Usage]: false,
  [ErrorCode.File]: false,
  [ErrorCode.Abandoned]: false,
  /** Space is freed, transfers end: until 2026-12-06 a full disk gave a file up for good. */
  [ErrorCode.NoSpace]: true,
  /** A bug or an unexpected failure (a store closing under us) need not happen again. */
  [ErrorCode.Internal]: true
}

export interface ParleyErrorOptions {
  cause?: unknown
  /** Trying the same work again later may succeed; the code's default when not given. */
  retryable?: boolean
}

export class ParleyError extends Error {
  readonly code: ErrorCode
  /** Set where the error is made: whether the failed work is worth trying again later. */
  readonly retryable: boolean

  constructor (code: ErrorCode, message: string, options: ParleyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ParleyError'
    this.code = code
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT[code]
  }
}

export function isErrorCode (value: unknown): value is ErrorCode {
  return typeof value === 'string' && knownCodes.has(value)
}

/** Type guard for callers: `if (is(err, ErrorCode.Integrity)) …` */
export function is (err: unknown, code?: ErrorCode): err is ParleyError {
  return err instanceof ParleyError && (code === undefined || err.code === code)
}

/** Any thrown value as a ParleyError, keeping the code when it has one. */
export function asParleyError (err: unknown): ParleyError {
  if (err instanceof ParleyError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new ParleyError(ErrorCode.Internal, message, { cause: err })
}

export const malformed = (message: string): ParleyError => new ParleyError(ErrorCode.Malformed, message)
export const tooLarge = (message: string): ParleyError => new ParleyError(ErrorCode.TooLarge, message)
export const integrity = (message: string): ParleyError => new ParleyError(ErrorCode.Integrity, message)

/**
 * A mark some errors carry to the code that catches them (a refusal not to warn of, a cut said
 * already, …) without a field on every error: kept in a WeakSet, so a marked error is collected
 * as any other.
 */
export class ErrorMark {
  readonly #marked = new WeakSet<Error>()

  /** Mark `err` (a value that is no Error is left unmarked); returns it. */
  add<E> (err: E): E {
    if (err instanceof Error) this.#marked.add(err)
    return err
  }

  has (err: unknown): boolean {
    return err instanceof Error && this.#marked.has(err)
  }
}
