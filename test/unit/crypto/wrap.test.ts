import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { unwrapSecret, wrapSecret } from '../../../common/crypto/wrap.ts'

const INTEGRITY = { name: 'ParleyError', code: 'ERR_INTEGRITY' }
const wrapKey = new Uint8Array(randomBytes(32))
const groupKey = new Uint8Array(randomBytes(24))

describe('wrapped secrets', () => {
  test('unwraps what it wrapped, for the same key and context', () => {
    const blob = wrapSecret(wrapKey, 'group:friends:3', groupKey)
    assert.deepEqual(unwrapSecret(wrapKey, 'group:friends:3', blob), groupKey)
  })

  test('wrapping the same secret twice gives different blobs (fresh salt and IV)', () => {
    assert.notDeepEqual(wrapSecret(wrapKey, 'identity:alice', groupKey), wrapSecret(wrapKey, 'identity:alice', groupKey))
  })

  test('rejects a blob opened with the wrong wrap key', () => {
    const blob = wrapSecret(wrapKey, 'group:friends:3', groupKey)
    assert.throws(() => unwrapSecret(new Uint8Array(randomBytes(32)), 'group:friends:3', blob), INTEGRITY)
  })

  test('rejects a blob swapped into another context (other group, other epoch, identity)', () => {
    const blob = wrapSecret(wrapKey, 'group:friends:3', groupKey)
    for (const context of ['group:friends:4', 'group:family:3', 'identity:alice']) {
      assert.throws(() => unwrapSecret(wrapKey, context, blob), INTEGRITY, context)
    }
  })

  test('rejects a blob with any single byte changed, or truncated', () => {
    const blob = wrapSecret(wrapKey, 'identity:alice', groupKey)
    for (let i = 0; i < blob.length; i++) {
      const bad = Uint8Array.from(blob)
      bad[i] = (bad[i] ?? 0) ^ 0x80
      assert.throws(() => unwrapSecret(wrapKey, 'identity:alice', bad), INTEGRITY, `byte ${i}`)
    }
    assert.throws(() => unwrapSecret(wrapKey, 'identity:alice', blob.subarray(0, 20)), INTEGRITY)
  })

  test('rejects a wrap key that is not 32 bytes as malformed', () => {
    assert.throws(() => wrapSecret(new Uint8Array(16), 'identity:alice', groupKey), { code: 'ERR_MALFORMED' })
  })
})
