import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { hkdfSha256 } from '../../../common/crypto/hkdf.ts'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'))
const range = (from: number, to: number): Uint8Array => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe('HKDF-SHA-256 known answers (RFC 5869 appendix A)', () => {
  test('test case 1: basic', () => {
    const okm = hkdfSha256(new Uint8Array(22).fill(0x0b), range(0x00, 0x0c), range(0xf0, 0xf9), 42)
    assert.deepEqual(okm, hex(`
      3cb25f25faacd57a90434f64d0362f2a
      2d2d0a90cf1a5a4c5db02d56ecc4c5bf
      34007208d5b887185865`))
  })

  test('test case 2: longer inputs and outputs', () => {
    const okm = hkdfSha256(range(0x00, 0x4f), range(0x60, 0xaf), range(0xb0, 0xff), 82)
    assert.deepEqual(okm, hex(`
      b11e398dc80327a1c8e7f78c596a4934
      4f012eda2d4efad8a050cc4c19afa97c
      59045a99cac7827271cb41c65e590e09
      da3275600c2f09b8367793a9aca3db71
      cc30c58179ec3e87c14c01d5c1f3434f
      1d87`))
  })

  test('test case 3: zero-length salt and info', () => {
    const okm = hkdfSha256(new Uint8Array(22).fill(0x0b), new Uint8Array(0), '', 42)
    assert.deepEqual(okm, hex(`
      8da4e775a563c18f715f802a063c5a31
      b8a11f5c5ee1879ec3454e5f3c738d2d
      9d201395faa4b61a96c8`))
  })
})

describe('hkdfSha256', () => {
  test('a string info is the same as its UTF-8 bytes', () => {
    const ikm = new Uint8Array(32).fill(7)
    assert.deepEqual(hkdfSha256(ikm, new Uint8Array(0), 'parley/é', 32),
      hkdfSha256(ikm, new Uint8Array(0), new TextEncoder().encode('parley/é'), 32))
  })

  test('rejects an output length outside 1..8160 as malformed', () => {
    const ikm = new Uint8Array(32)
    assert.throws(() => hkdfSha256(ikm, new Uint8Array(0), '', 0), { code: 'ERR_MALFORMED' })
    assert.throws(() => hkdfSha256(ikm, new Uint8Array(0), '', 255 * 32 + 1), { code: 'ERR_MALFORMED' })
  })
})
