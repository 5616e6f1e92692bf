import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { generateEphemeralKeyPair, x25519FromRaw, x25519SharedSecret } from '../../../common/crypto/x25519.ts'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'))
const INTEGRITY = { name: 'ParleyError', code: 'ERR_INTEGRITY' }
const MALFORMED = { name: 'ParleyError', code: 'ERR_MALFORMED' }

describe('X25519 known answers (RFC 7748)', () => {
  test('§5.2 first vector', () => {
    const out = x25519FromRaw(
      hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
      hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'))
    assert.deepEqual(out, hex('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552'))
  })

  test('§5.2 second vector (u-coordinate with the high bit set is masked)', () => {
    const out = x25519FromRaw(
      hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
      hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'))
    assert.deepEqual(out, hex('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957'))
  })

  test('§6.1 Alice and Bob derive their public keys and the same shared secret', () => {
    const alicePrivate = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
    const alicePublic = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
    const bobPrivate = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')
    const bobPublic = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
    const shared = hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742')
    const basePoint = new Uint8Array(32)
    basePoint[0] = 9
    assert.deepEqual(x25519FromRaw(alicePrivate, basePoint), alicePublic)
    assert.deepEqual(x25519FromRaw(bobPrivate, basePoint), bobPublic)
    assert.deepEqual(x25519FromRaw(alicePrivate, bobPublic), shared)
    assert.deepEqual(x25519FromRaw(bobPrivate, alicePublic), shared)
  })
})

describe('ephemeral key pairs', () => {
  test('two fresh key pairs agree on one shared secret', () => {
    const a = generateEphemeralKeyPair()
    const b = generateEphemeralKeyPair()
    assert.equal(a.publicKey.length, 32)
    assert.deepEqual(x25519SharedSecret(a.privateKey, b.publicKey), x25519SharedSecret(b.privateKey, a.publicKey))
  })

  test('each call gives a different key pair (never a fixed or reused ephemeral)', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 16; i++) seen.add(Buffer.from(generateEphemeralKeyPair().publicKey).toString('hex'))
    assert.equal(seen.size, 16)
  })

  test('rejects an all-zero (low-order) peer public key with an integrity error', () => {
    const a = generateEphemeralKeyPair()
    assert.throws(() => x25519SharedSecret(a.privateKey, new Uint8Array(32)), INTEGRITY)
  })

  test('rejects u = 1, a point of small order, because the shared secret would be zero', () => {
    const a = generateEphemeralKeyPair()
    const one = new Uint8Array(32)
    one[0] = 1
    assert.throws(() => x25519SharedSecret(a.privateKey, one), INTEGRITY)
  })

  test('rejects a peer public key that is not 32 bytes as malformed', () => {
    const a = generateEphemeralKeyPair()
    assert.throws(() => x25519SharedSecret(a.privateKey, new Uint8Array(31)), MALFORMED)
    assert.throws(() => x25519SharedSecret(a.privateKey, new Uint8Array(33)), MALFORMED)
  })
})
