/**
 * Fuzz: the META frame of a file transfer (peer/files/wire.ts openMeta). A receiver opens it
 * from a peer it has only just met: random or tampered bytes must be ERR_INTEGRITY (a secret of
 * the wrong size ERR_MALFORMED), and an authentic frame whose body is not a valid META must be
 * ERR_MALFORMED / ERR_TOO_LARGE, never a FileMeta of the wrong shape.
 *
 * Cases: 10,000 per property of unauthenticated input; the properties that seal first cost about
 * 0.1 ms a case (HKDF and a 3DES key schedule) and run 3,000 each: 29,000 in all.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from 'cborg'
import { frameKeysFrom, sealFrame } from '../../../common/crypto/tdes.ts'
import { ErrorCode } from '../../../common/errors.ts'
import { checkObject } from '../../../common/wire/codec.ts'
import { META_KEY_INFO } from '../../../peer/files/constants.ts'
import { fileMetaBody as metaSchema } from '../../../common/protocol/peer.ts'
import type { FileMeta } from '../../../common/protocol/peer.ts'
import { openMeta, sealMeta } from '../../../peer/files/wire.ts'
import { anyBytes, assertNoNull, cborValue, fc, nearlyValidBody, outcome, params, scaled, validBody } from './arbitraries.ts'

const fileSecret = fc.uint8Array({ minLength: 32, maxLength: 32 })
/** Header bytes || transfer id, as the caller builds it; opaque here. */
const associatedData = fc.uint8Array({ minLength: 16, maxLength: 80 })
const MIME = fc.constantFrom('image/png', 'text/plain', 'application/octet-stream', 'audio/x-wav', 'video/mp4')
const validMeta = validBody(metaSchema, { mime: fc.option(MIME, { nil: undefined }) }) as fc.Arbitrary<FileMeta>

/** An authentic frame (right key, seq 0, AD) around whatever body the test picks. */
function sealBody (secret: Uint8Array, ad: Uint8Array, body: Uint8Array): Uint8Array {
  return sealFrame(frameKeysFrom(secret, META_KEY_INFO), 0n, ad, body)
}

function checkMeta (secret: Uint8Array, ad: Uint8Array, sealed: Uint8Array, allowed: readonly ErrorCode[]): void {
  const result = outcome(() => openMeta(secret, ad, sealed), allowed)
  if (!result.ok) return
  assertNoNull(result.value)
  checkObject(metaSchema, result.value, 'meta')
}

test('openMeta answers random sealed bytes with ERR_INTEGRITY', () => {
  fc.assert(fc.property(fileSecret, associatedData, anyBytes(300), (secret, ad, sealed) => {
    const result = outcome(() => openMeta(secret, ad, sealed), [ErrorCode.Integrity])
    assert.ok(!result.ok)
  }), params())
})

test('openMeta answers a file secret too short to derive keys from with ERR_MALFORMED, and any other with ERR_INTEGRITY for bytes it did not seal', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), associatedData, anyBytes(300), (secret, ad, sealed) => {
    const result = outcome(() => openMeta(secret, ad, sealed), [ErrorCode.Integrity, ErrorCode.Malformed])
    assert.ok(!result.ok)
    assert.equal(result.error.code, secret.length < 16 ? ErrorCode.Malformed : ErrorCode.Integrity)
  }), params())
})

test('openMeta answers authentic frames around arbitrary bytes or CBOR values with a valid FileMeta or ERR_MALFORMED / ERR_TOO_LARGE', () => {
  const body = fc.oneof(anyBytes(200), cborValue.map(value => encode(value)))
  fc.assert(fc.property(fileSecret, associatedData, body, (secret, ad, data) => {
    checkMeta(secret, ad, sealBody(secret, ad, data), [ErrorCode.Malformed, ErrorCode.TooLarge])
  }), params(scaled(3_000)))
})

test('openMeta answers authentic frames around nearly valid META bodies (a null mime included) with a valid FileMeta or a typed error', () => {
  const body = nearlyValidBody(metaSchema, { mime: fc.oneof(MIME, fc.constantFrom(null, 'image/', '/png', 'x/y z', 'a/b;c=d', 'ab', 'x'.repeat(101) + '/y')) })
    .map(value => encode(value))
  fc.assert(fc.property(fileSecret, associatedData, body, (secret, ad, data) => {
    checkMeta(secret, ad, sealBody(secret, ad, data), [ErrorCode.Malformed, ErrorCode.TooLarge])
  }), params(scaled(3_000)))
})

test('openMeta refuses a sealed META under another secret, AD, or with a byte changed, with ERR_INTEGRITY', () => {
  fc.assert(fc.property(fileSecret, associatedData, validMeta, fc.nat(2), fc.nat(), (secret, ad, meta, how, at) => {
    const sealed = sealMeta(secret, ad, meta)
    const flip = (bytes: Uint8Array): Uint8Array => bytes.map((b, i) => i === at % bytes.length ? b ^ 0x01 : b)
    const result = how === 0
      ? outcome(() => openMeta(flip(secret), ad, sealed), [ErrorCode.Integrity])
      : how === 1
        ? outcome(() => openMeta(secret, flip(ad), sealed), [ErrorCode.Integrity])
        : outcome(() => openMeta(secret, ad, flip(sealed)), [ErrorCode.Integrity])
    assert.ok(!result.ok)
  }), params(scaled(3_000)))
})

test('every valid META round-trips through sealMeta and openMeta', () => {
  fc.assert(fc.property(fileSecret, associatedData, validMeta, (secret, ad, meta) => {
    const expected: Record<string, unknown> = { ...meta }
    if (expected.mime === undefined) delete expected.mime
    assert.deepEqual(openMeta(secret, ad, sealMeta(secret, ad, meta)), expected)
  }), params(scaled(3_000)))
})
