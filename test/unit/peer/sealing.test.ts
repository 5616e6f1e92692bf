import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createDecipheriv, randomBytes } from 'node:crypto'
import { hkdfSha256 } from '../../../common/crypto/hkdf.ts'
import { wrapSecret } from '../../../common/crypto/wrap.ts'
import { SEALED_AES_GCM, SEALED_PER_VALUE_3DES, StoreSealer } from '../../../peer/store/sealing.ts'

const wrapKey = randomBytes(32)
const row = 'msg:00ff:in:bob:body'
const utf8 = new TextEncoder()

describe('store sealing at rest', () => {
  test('a value is AES-256-GCM under the store key, its row name authenticated: IV(12) || ciphertext || tag(16)', () => {
    const sealed = new StoreSealer(wrapKey).seal(row, 'héllo, bob')
    assert.equal(sealed.length, 12 + utf8.encode('héllo, bob').length + 16)
    // Opened with Node alone, from the key schedule the module documents.
    const key = hkdfSha256(wrapKey, new Uint8Array(0), 'parley/store/aes-256-gcm', 32)
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
    decipher.setAAD(utf8.encode(row))
    decipher.setAuthTag(sealed.subarray(sealed.length - 16))
    const plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()])
    assert.equal(plain.toString('utf8'), 'héllo, bob')
  })

  test('round trip; two seals of one value differ (a fresh IV each)', () => {
    const sealer = new StoreSealer(wrapKey)
    const [a, b] = [sealer.seal(row, 'same'), sealer.seal(row, 'same')]
    assert.notDeepEqual(a, b)
    assert.equal(sealer.open(row, a, SEALED_AES_GCM), 'same')
    assert.equal(sealer.open(row, b, SEALED_AES_GCM), 'same')
    assert.equal(sealer.open(row, sealer.seal(row, ''), SEALED_AES_GCM), '')
  })

  test('another row, another key, a changed byte, a cut value or an unknown format: ERR_INTEGRITY', () => {
    const sealer = new StoreSealer(wrapKey)
    const sealed = sealer.seal(row, 'the eagle lands')
    assert.throws(() => sealer.open('msg:00ff:in:mallory:body', sealed, SEALED_AES_GCM), { code: 'ERR_INTEGRITY' })
    assert.throws(() => new StoreSealer(randomBytes(32)).open(row, sealed, SEALED_AES_GCM), { code: 'ERR_INTEGRITY' })
    for (const at of [0, 12, sealed.length - 1]) {
      const altered = sealed.slice()
      altered[at]! ^= 1
      assert.throws(() => sealer.open(row, altered, SEALED_AES_GCM), { code: 'ERR_INTEGRITY' }, `byte ${at}`)
    }
    assert.throws(() => sealer.open(row, sealed.subarray(0, 27), SEALED_AES_GCM), { code: 'ERR_INTEGRITY' })
    assert.throws(() => sealer.open(row, sealed.subarray(0, sealed.length - 1), SEALED_AES_GCM), { code: 'ERR_INTEGRITY' })
    assert.throws(() => sealer.open(row, sealed, 7), { code: 'ERR_INTEGRITY' })
  })

  test('a value sealed before schema step 5 (its own salted 3DES+HMAC key) still opens, bound to its row', () => {
    const perValueKey = hkdfSha256(wrapKey, new Uint8Array(0), 'parley/store', 32)
    const old = wrapSecret(perValueKey, row, utf8.encode('from last year'))
    const sealer = new StoreSealer(wrapKey)
    assert.equal(sealer.open(row, old, SEALED_PER_VALUE_3DES), 'from last year')
    assert.throws(() => sealer.open('outbox:00ff:bob', old, SEALED_PER_VALUE_3DES), { code: 'ERR_INTEGRITY' })
    assert.throws(() => sealer.open(row, old, SEALED_AES_GCM), { code: 'ERR_INTEGRITY' })
  })
})
