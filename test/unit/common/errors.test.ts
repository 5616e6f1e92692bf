/**
 * Retryability (common/errors.ts): set where an error is made, with a default per code, and the
 * same default for the errors decoded from the wire (a recipient's refusal, a rendezvous answer),
 * which carry only a code.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, ParleyError, asParleyError } from '../../../common/errors.ts'
import { refusalError } from '../../../common/protocol/peer.ts'
import { decodeResponse, encodeError } from '../../../common/protocol/rendezvous.ts'

const RETRYABLE: ErrorCode[] = [ErrorCode.Unreachable, ErrorCode.Protocol, ErrorCode.RateLimited, ErrorCode.Internal, ErrorCode.Integrity, ErrorCode.IdentityChanged, ErrorCode.NotSignedIn, ErrorCode.NoSpace]

test('each code has its default; the maker of an error may say otherwise', () => {
  for (const code of Object.values(ErrorCode)) {
    assert.equal(new ParleyError(code, 'x').retryable, RETRYABLE.includes(code), code)
  }
  assert.equal(new ParleyError(ErrorCode.File, 'x', { retryable: true }).retryable, true)
  assert.equal(new ParleyError(ErrorCode.Unreachable, 'x', { retryable: false }).retryable, false)
  assert.equal(asParleyError(new Error('a bug')).retryable, true, 'an unexpected failure is ERR_INTERNAL')
})

test('an error from the wire takes its code\'s default: a refusal, and a rendezvous answer', () => {
  const id = new Uint8Array(16)
  assert.equal(refusalError({ id, code: ErrorCode.RateLimited, why: 'slow down' }).retryable, true)
  assert.equal(refusalError({ id, code: ErrorCode.Forbidden, why: 'no' }).retryable, false)
  assert.equal(refusalError({ id, code: 'ERR_FROM_THE_FUTURE', why: '?' }).retryable, true, 'an unknown code reads as ERR_PROTOCOL')
  for (const [code, retryable] of [[ErrorCode.NotSignedIn, true], [ErrorCode.NotFound, false]] as const) {
    assert.throws(() => decodeResponse('lookup', encodeError(new ParleyError(code, 'x'))),
      (err: unknown) => err instanceof ParleyError && err.code === code && err.retryable === retryable)
  }
})
