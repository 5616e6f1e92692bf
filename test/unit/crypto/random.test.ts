import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { newMessageIdHex, randomBytesPooled } from '../../../common/crypto/random.ts'

describe('pooled random bytes', () => {
  test('each draw has its length and its own bytes, across many refills of the pool', () => {
    const seen = new Set<string>()
    // 10,000 x 16 bytes: the 4 KiB pool is refilled about 40 times, at every offset.
    for (let i = 0; i < 10_000; i++) {
      const draw = randomBytesPooled(i % 3 === 0 ? 16 : 24)
      assert.equal(draw.length, i % 3 === 0 ? 16 : 24)
      seen.add(Buffer.from(draw).toString('hex'))
    }
    assert.equal(seen.size, 10_000, 'a draw repeated')
  })

  test('a draw is a copy: changing it changes nothing drawn later', () => {
    const first = randomBytesPooled(8)
    first.fill(0)
    const next = randomBytesPooled(8)
    assert.notDeepEqual(next, new Uint8Array(8))
    assert.equal(first.buffer === next.buffer, false)
  })

  test('odd sizes, empty, and draws larger than the pool serves', () => {
    assert.equal(randomBytesPooled(0).length, 0)
    for (const length of [1, 7, 12, 255, 256, 257, 5000]) {
      const draw = randomBytesPooled(length)
      assert.equal(draw.length, length)
      if (length >= 16) assert.notDeepEqual(draw, new Uint8Array(length))
    }
  })

  test('message ids are 32 hex digits and differ', () => {
    const [a, b] = [newMessageIdHex(), newMessageIdHex()]
    assert.match(a, /^[0-9a-f]{32}$/)
    assert.notEqual(a, b)
  })
})
