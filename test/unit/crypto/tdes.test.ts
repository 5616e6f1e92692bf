import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto'
import { TDES_MAX_BYTES_PER_KEY, frameKeysFrom, openFrame, sealFrame } from '../../../common/crypto/tdes.ts'
import type { FrameKeys } from '../../../common/crypto/tdes.ts'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'))
const INTEGRITY = { name: 'ParleyError', code: 'ERR_INTEGRITY' }
const MALFORMED = { name: 'ParleyError', code: 'ERR_MALFORMED' }

const keys: FrameKeys = frameKeysFrom(new Uint8Array(32).fill(0x42), 'test')
const ad = new TextEncoder().encode('header')
const plaintext = new TextEncoder().encode('hello, world: more than one block')

function flip (bytes: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(bytes)
  copy[index] = (copy[index] ?? 0) ^ 0x01
  return copy
}

describe('3DES known answer (NIST SP 800-67 Appendix B)', () => {
  // The TDEA example: three independent keys, three blocks in ECB. "qufck" is the standard's own
  // spelling of the plaintext. Pins the K1/K2/K3 order, which a round trip cannot.
  const key = hex('0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123')
  const pt = new TextEncoder().encode('The qufck brown fox jump')
  const ct = hex('A826FD8CE53B855F CCE21C8112256FE6 68D5C05DD9B6B900')

  test('des-ede3 encrypts the example to the published ciphertext', () => {
    const cipher = createCipheriv('des-ede3', key, null).setAutoPadding(false)
    assert.deepEqual(new Uint8Array(Buffer.concat([cipher.update(pt), cipher.final()])), ct)
  })

  test('des-ede3-cbc with a zero IV matches on the first block and decrypts the example back', () => {
    // CBC with IV = 0 is ECB on the first block: ties the mode we use to the same vector.
    const iv = new Uint8Array(8)
    const cipher = createCipheriv('des-ede3-cbc', key, iv).setAutoPadding(false)
    assert.deepEqual(new Uint8Array(cipher.update(pt.subarray(0, 8))), ct.subarray(0, 8))
    const decipher = createDecipheriv('des-ede3', key, null).setAutoPadding(false)
    assert.deepEqual(new Uint8Array(Buffer.concat([decipher.update(ct), decipher.final()])), pt)
  })
})

describe('HMAC-SHA-256 known answers (RFC 4231), the MAC the frames rely on', () => {
  test('test case 1', () => {
    const mac = createHmac('sha256', new Uint8Array(20).fill(0x0b)).update('Hi There').digest()
    assert.deepEqual(new Uint8Array(mac), hex('b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'))
  })

  test('test case 2: key shorter than the output', () => {
    const mac = createHmac('sha256', 'Jefe').update('what do ya want for nothing?').digest()
    assert.deepEqual(new Uint8Array(mac), hex('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'))
  })

  test('test case 6: key larger than the block size', () => {
    const mac = createHmac('sha256', new Uint8Array(131).fill(0xaa))
      .update('Test Using Larger Than Block-Size Key - Hash Key First').digest()
    assert.deepEqual(new Uint8Array(mac), hex('60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'))
  })
})

describe('sealFrame / openFrame', () => {
  for (const size of [0, 1, 7, 8, 9, 64 * 1024]) {
    test(`round-trips a ${size}-byte plaintext with whole-block padding`, () => {
      const data = Uint8Array.from({ length: size }, (_, i) => i & 0xff)
      const sealed = sealFrame(keys, 5n, ad, data)
      // PKCS#7 always adds 1..8 bytes, so the ciphertext is the next multiple of 8 above size.
      assert.equal(sealed.length, 8 + (Math.floor(size / 8) + 1) * 8 + 32)
      assert.deepEqual(openFrame(keys, 5n, ad, sealed), data)
    })
  }

  test('uses a fresh random IV, so the same plaintext seals differently each time', () => {
    const a = sealFrame(keys, 1n, ad, plaintext)
    const b = sealFrame(keys, 1n, ad, plaintext)
    assert.notDeepEqual(a.subarray(0, 8), b.subarray(0, 8))
    assert.notDeepEqual(a, b)
  })

  test('the tag is HMAC-SHA-256 over u32be(adLength) || ad || u64be(seq) || IV || ciphertext', () => {
    const sealed = sealFrame(keys, 0x0102030405060708n, ad, plaintext)
    const body = sealed.subarray(0, sealed.length - 32)
    const header = Buffer.alloc(4)
    header.writeUInt32BE(ad.length)
    const seq = hex('0102030405060708')
    const mac = createHmac('sha256', keys.macKey).update(header).update(ad).update(seq).update(body).digest()
    assert.deepEqual(sealed.subarray(sealed.length - 32), new Uint8Array(mac))
    // …and the body really is 3DES-CBC of the plaintext under encKey with the leading IV.
    const decipher = createDecipheriv('des-ede3-cbc', keys.encKey, body.subarray(0, 8))
    assert.deepEqual(new Uint8Array(Buffer.concat([decipher.update(body.subarray(8)), decipher.final()])), plaintext)
  })

  test('rejects a frame with one flipped bit in the IV', () => {
    const sealed = sealFrame(keys, 1n, ad, plaintext)
    assert.throws(() => openFrame(keys, 1n, ad, flip(sealed, 3)), INTEGRITY)
  })

  test('rejects a frame with one flipped bit in the ciphertext', () => {
    const sealed = sealFrame(keys, 1n, ad, plaintext)
    assert.throws(() => openFrame(keys, 1n, ad, flip(sealed, 12)), INTEGRITY)
  })

  test('rejects a frame whose MAC has one flipped bit', () => {
    const sealed = sealFrame(keys, 1n, ad, plaintext)
    assert.throws(() => openFrame(keys, 1n, ad, flip(sealed, sealed.length - 1)), INTEGRITY)
  })

  test('rejects a frame opened with one flipped bit in the associated data', () => {
    const sealed = sealFrame(keys, 1n, ad, plaintext)
    assert.throws(() => openFrame(keys, 1n, flip(ad, 0), sealed), INTEGRITY)
  })

  test('rejects a frame whose associated data is moved into a different length', () => {
    // Without the length prefix, (ad = "ab", …) and (ad = "a", …) could share a MAC input.
    const sealed = sealFrame(keys, 1n, new Uint8Array([0x61, 0x62]), plaintext)
    assert.throws(() => openFrame(keys, 1n, new Uint8Array([0x61]), sealed), INTEGRITY)
  })

  test('rejects a frame opened with the wrong encryption or MAC key', () => {
    const sealed = sealFrame(keys, 1n, ad, plaintext)
    const other = frameKeysFrom(new Uint8Array(32).fill(0x43), 'test')
    assert.throws(() => openFrame(other, 1n, ad, sealed), INTEGRITY)
    assert.throws(() => openFrame({ encKey: keys.encKey, macKey: other.macKey }, 1n, ad, sealed), INTEGRITY)
  })

  test('rejects a replayed or reordered frame (its sequence number differs)', () => {
    const first = sealFrame(keys, 1n, ad, plaintext)
    const second = sealFrame(keys, 2n, ad, plaintext)
    assert.deepEqual(openFrame(keys, 1n, ad, first), plaintext)
    assert.throws(() => openFrame(keys, 2n, ad, first), INTEGRITY, 'replay of frame 1 as frame 2')
    assert.throws(() => openFrame(keys, 1n, ad, second), INTEGRITY, 'frame 2 delivered first')
  })

  test('rejects truncated frames of every length before decrypting', () => {
    const sealed = sealFrame(keys, 1n, ad, plaintext)
    for (let length = 0; length < sealed.length; length++) {
      assert.throws(() => openFrame(keys, 1n, ad, sealed.subarray(0, length)), INTEGRITY, `length ${length}`)
    }
  })

  test('rejects a frame with a whole block cut out, even with the tag kept', () => {
    const sealed = sealFrame(keys, 1n, ad, plaintext)
    const cut = new Uint8Array(sealed.length - 8)
    cut.set(sealed.subarray(0, sealed.length - 40))
    cut.set(sealed.subarray(sealed.length - 32), sealed.length - 40)
    assert.throws(() => openFrame(keys, 1n, ad, cut), INTEGRITY)
  })

  test('turns an authentic frame with bad padding into an integrity error, not an OpenSSL error', () => {
    // A broken sender: raw CBC with no padding, correctly MACed.
    const iv = new Uint8Array(8)
    const cipher = createCipheriv('des-ede3-cbc', keys.encKey, iv).setAutoPadding(false)
    const ct = Buffer.concat([cipher.update(new Uint8Array(8).fill(0xff)), cipher.final()])
    const header = Buffer.alloc(4)
    header.writeUInt32BE(ad.length)
    const tag = createHmac('sha256', keys.macKey).update(header).update(ad).update(new Uint8Array(8)).update(iv).update(ct).digest()
    const frame = new Uint8Array(Buffer.concat([iv, ct, tag]))
    assert.throws(() => openFrame(keys, 0n, ad, frame), { ...INTEGRITY, message: 'frame does not decrypt' })
  })

  test('rejects keys of the wrong length as malformed at once', () => {
    const bad: FrameKeys = { encKey: new Uint8Array(16), macKey: keys.macKey }
    assert.throws(() => sealFrame(bad, 0n, ad, plaintext), MALFORMED)
    assert.throws(() => openFrame(bad, 0n, ad, new Uint8Array(48)), MALFORMED)
    assert.throws(() => sealFrame({ encKey: keys.encKey, macKey: new Uint8Array(31) }, 0n, ad, plaintext), MALFORMED)
  })

  test('rejects a sequence number outside 0..2^64-1 as malformed', () => {
    assert.throws(() => sealFrame(keys, -1n, ad, plaintext), MALFORMED)
    assert.throws(() => sealFrame(keys, 1n << 64n, ad, plaintext), MALFORMED)
  })

  test('refuses a single frame that would exceed the 3DES per-key limit', () => {
    assert.equal(TDES_MAX_BYTES_PER_KEY, 8 * 1024 * 1024)
    assert.throws(() => sealFrame(keys, 0n, ad, new Uint8Array(TDES_MAX_BYTES_PER_KEY)), { code: 'ERR_TOO_LARGE' })
  })
})

describe('frameKeysFrom', () => {
  test('splits 56 HKDF bytes into a 24-byte 3DES key and a 32-byte MAC key, different per info', () => {
    const secret = new Uint8Array(32).fill(1)
    const a = frameKeysFrom(secret, 'a')
    const b = frameKeysFrom(secret, 'b')
    assert.equal(a.encKey.length, 24)
    assert.equal(a.macKey.length, 32)
    assert.notDeepEqual(a.encKey, b.encKey)
    assert.notDeepEqual(a.macKey, b.macKey)
    assert.deepEqual(frameKeysFrom(secret, 'a'), a)
  })
})
