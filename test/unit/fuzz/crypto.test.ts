/**
 * Fuzz: the frame AEAD (common/crypto/tdes.ts openFrame) and file chunks (common/crypto/chunks.ts
 * openChunk). Whatever the bytes, keys, sequence number or associated data, opening answers the
 * plaintext or ERR_INTEGRITY / ERR_MALFORMED: never an OpenSSL error, a RangeError from a
 * Buffer or a BigInt, or any other exception.
 *
 * Cases: 10,000 per property of arbitrary input (openFrame 20,000, openChunk 10,000). The
 * properties that seal first (tampering, forged tags, round-trips) cost a 3DES key schedule or two
 * per case, about 0.1 ms, so they run 2,000-3,000 cases each: openFrame 29,000 in all, openChunk
 * 14,000.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { ErrorCode } from '../../../common/errors.ts'
import { frameKeysFrom, openFrame, sealFrame } from '../../../common/crypto/tdes.ts'
import type { FrameKeys } from '../../../common/crypto/tdes.ts'
import { CHUNK_SIZE, openChunk, sealChunk } from '../../../common/crypto/chunks.ts'
import { anyBytes, fc, outcome, params, scaled } from './arbitraries.ts'

const OPEN_ERRORS: readonly ErrorCode[] = [ErrorCode.Integrity, ErrorCode.Malformed]
const MAX_SEQ = (1n << 64n) - 1n

const secret = fc.uint8Array({ minLength: 32, maxLength: 32 })
const keys: fc.Arbitrary<FrameKeys> = secret.map(s => frameKeysFrom(s, 'fuzz/frame'))
/** Sequence numbers in range, at its edges, and out of it (negative, past 2^64 - 1). */
const seq = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX_SEQ }),
  fc.constantFrom(0n, 1n, MAX_SEQ, MAX_SEQ + 1n, -1n, -(1n << 64n), 1n << 70n),
  fc.bigInt()
)
const ad = fc.uint8Array({ maxLength: 48 })
/** Sealed-frame-shaped bytes: IV + whole blocks + tag, and every other length around them. */
const sealedLike = fc.oneof(
  anyBytes(256),
  fc.integer({ min: 1, max: 16 }).chain(blocks => fc.uint8Array({ minLength: 8 + blocks * 8 + 32, maxLength: 8 + blocks * 8 + 32 }))
)

/** The tag formula of tdes.ts, so a test can forge frames that pass the MAC. */
function tag (k: FrameKeys, s: bigint, associatedData: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const header = Buffer.alloc(4)
  header.writeUInt32BE(associatedData.length)
  const seqBytes = Buffer.alloc(8)
  seqBytes.writeBigUInt64BE(s)
  return createHmac('sha256', k.macKey).update(header).update(associatedData).update(seqBytes).update(iv).update(ciphertext).digest()
}

test('openFrame answers arbitrary bytes under any sequence number and AD with ERR_INTEGRITY or ERR_MALFORMED', () => {
  fc.assert(fc.property(keys, seq, ad, sealedLike, (k, s, a, sealed) => {
    const result = outcome(() => openFrame(k, s, a, sealed), OPEN_ERRORS)
    assert.ok(!result.ok, 'random bytes never authenticate')
    const inRange = s >= 0n && s <= MAX_SEQ
    assert.equal(result.error.code, inRange ? ErrorCode.Integrity : ErrorCode.Malformed)
  }), params())
})

test('openFrame answers keys of any length (and a frame sealed under other keys) with ERR_MALFORMED or ERR_INTEGRITY', () => {
  const anyKeys = fc.record({ encKey: fc.uint8Array({ maxLength: 40 }), macKey: fc.uint8Array({ maxLength: 40 }) }, { noNullPrototype: true })
  const sealed = fc.tuple(keys, fc.uint8Array({ maxLength: 64 })).map(([k, plaintext]) => sealFrame(k, 0n, new Uint8Array(0), plaintext))
  fc.assert(fc.property(anyKeys, fc.oneof(sealed, sealedLike), (k, frame) => {
    const result = outcome(() => openFrame(k, 0n, new Uint8Array(0), frame), OPEN_ERRORS)
    assert.ok(!result.ok)
    const rightLengths = k.encKey.length === 24 && k.macKey.length === 32
    assert.equal(result.error.code, rightLengths ? ErrorCode.Integrity : ErrorCode.Malformed)
  }), params())
})

test('openFrame answers an authentic tag over garbage ciphertext (bad padding) with the plaintext or ERR_INTEGRITY, never an OpenSSL error', () => {
  const forged = fc.tuple(keys, fc.bigInt({ min: 0n, max: MAX_SEQ }), ad, fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.integer({ min: 1, max: 8 }))
    .chain(([k, s, a, iv, blocks]) => fc.uint8Array({ minLength: blocks * 8, maxLength: blocks * 8 })
      .map(ciphertext => ({ k, s, a, frame: new Uint8Array([...iv, ...ciphertext, ...tag(k, s, a, iv, ciphertext)]) })))
  fc.assert(fc.property(forged, ({ k, s, a, frame }) => {
    const result = outcome(() => openFrame(k, s, a, frame), [ErrorCode.Integrity])
    // About 1 in 256 random last blocks happen to end in valid PKCS#7 padding.
    if (result.ok) assert.ok(result.value.length < frame.length - 8 - 32)
  }), params(scaled(3_000)))
})

test('openFrame refuses every edit of a sealed frame, and the same frame under another sequence number or AD, with ERR_INTEGRITY', () => {
  const sealed = fc.tuple(keys, fc.bigInt({ min: 0n, max: MAX_SEQ }), ad, fc.uint8Array({ maxLength: 100 }))
    .map(([k, s, a, plaintext]) => ({ k, s, a, plaintext, frame: sealFrame(k, s, a, plaintext) }))
  fc.assert(fc.property(sealed, fc.nat(2), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }), ({ k, s, a, frame }, how, flips) => {
    let s2 = s
    let a2 = a
    const f2 = new Uint8Array(frame)
    if (how === 0) for (const [at, x] of flips) f2[at % f2.length] = (f2[at % f2.length] ?? 0) ^ x
    else if (how === 1) s2 = s === MAX_SEQ ? 0n : s + 1n
    else a2 = new Uint8Array([...a, 0])
    const result = outcome(() => openFrame(k, s2, a2, f2), [ErrorCode.Integrity])
    const unchanged = Buffer.compare(f2, frame) === 0 && s2 === s && a2 === a
    assert.equal(result.ok, unchanged)
  }), params(scaled(2_000)))
})

test('openFrame refuses a sealed frame cut short or grown at either end with ERR_INTEGRITY', () => {
  const cases = fc.tuple(keys, fc.uint8Array({ maxLength: 64 }), fc.integer({ min: -64, max: 64 }).filter(n => n !== 0), fc.boolean())
  fc.assert(fc.property(cases, ([k, plaintext, delta, atStart]) => {
    const frame = sealFrame(k, 7n, new Uint8Array(0), plaintext)
    const changed = delta < 0
      ? (atStart ? frame.subarray(Math.min(-delta, frame.length)) : frame.subarray(0, Math.max(0, frame.length + delta)))
      : (atStart ? new Uint8Array([...randomBytes(delta), ...frame]) : new Uint8Array([...frame, ...randomBytes(delta)]))
    const result = outcome(() => openFrame(k, 7n, new Uint8Array(0), changed), [ErrorCode.Integrity])
    assert.ok(!result.ok)
  }), params(scaled(2_000)))
})

test('every plaintext round-trips through sealFrame and openFrame', () => {
  fc.assert(fc.property(keys, fc.bigInt({ min: 0n, max: MAX_SEQ }), ad, fc.uint8Array({ maxLength: 300 }), (k, s, a, plaintext) => {
    assert.deepEqual(openFrame(k, s, a, sealFrame(k, s, a, plaintext)), plaintext)
  }), params(scaled(2_000)))
})

// --- chunks --------------------------------------------------------------------------------------

/** Chunk indexes as a hostile caller could pass them: negative, fractional, NaN, huge. */
const index = fc.oneof(
  fc.nat(1000),
  fc.constantFrom(-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 64, -0),
  fc.integer(),
  fc.double()
)

test('openChunk answers arbitrary bytes, secrets of any length and any index with ERR_INTEGRITY or ERR_MALFORMED', () => {
  const fileSecret = fc.oneof(secret, fc.uint8Array({ maxLength: 40 }))
  fc.assert(fc.property(fileSecret, index, fc.boolean(), ad, sealedLike, (s, i, final, a, sealed) => {
    const result = outcome(() => openChunk(s, i, final, a, sealed), OPEN_ERRORS)
    assert.ok(!result.ok, 'random bytes never authenticate')
    const wellFormed = s.length >= 16 && Number.isSafeInteger(i) && i >= 0
    assert.equal(result.error.code, wellFormed ? ErrorCode.Integrity : ErrorCode.Malformed)
  }), params())
})

test('openChunk refuses a sealed chunk under another index, final flag, AD or secret, or with edits, with ERR_INTEGRITY', () => {
  const chunk = fc.tuple(secret, fc.nat(100_000), fc.boolean(), ad, fc.uint8Array({ maxLength: 128 }))
  fc.assert(fc.property(chunk, fc.nat(4), fc.nat(), ([s, i, final, a, data], how, at) => {
    const sealed = sealChunk(s, i, final, a, data)
    const open = (): Uint8Array => {
      switch (how) {
        case 0: return openChunk(s, i + 1, final, a, sealed)
        case 1: return openChunk(s, i, !final, a, sealed)
        case 2: return openChunk(s, i, final, new Uint8Array([...a, 1]), sealed)
        case 3: return openChunk(new Uint8Array(s.map((b, j) => j === at % s.length ? b ^ 1 : b)), i, final, a, sealed)
        default: {
          const edited = new Uint8Array(sealed)
          edited[at % edited.length] = (edited[at % edited.length] ?? 0) ^ 0x80
          return openChunk(s, i, final, a, edited)
        }
      }
    }
    const result = outcome(open, [ErrorCode.Integrity])
    assert.ok(!result.ok)
  }), params(scaled(2_000)))
})

test('every chunk round-trips through sealChunk and openChunk', () => {
  const chunk = fc.tuple(secret, fc.nat(Number.MAX_SAFE_INTEGER), fc.boolean(), ad, fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 256 }), weight: 199 },
    // A full 64 KiB chunk costs milliseconds of 3DES: about 50 of them.
    { arbitrary: fc.constant(new Uint8Array(CHUNK_SIZE)), weight: 1 }
  ))
  fc.assert(fc.property(chunk, ([s, i, final, a, data]) => {
    assert.deepEqual(openChunk(s, i, final, a, sealChunk(s, i, final, a, data)), data)
  }), params(scaled(2_000)))
})
