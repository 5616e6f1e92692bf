import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, scryptSync } from 'node:crypto'
import {
  KDF_PARAMS, LEGACY_KDF_PARAMS, checkKdfParams, constantTimeEqual, deriveAuthKey, deriveMasterKey, deriveWrapKey, fakeSaltFor,
  newSalt, scryptOptions, verifierOf, weakerKdf,
} from '../../../common/crypto/password.ts'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'))

describe('scrypt known answers (RFC 7914 §12)', () => {
  // The third vector (N = 2^14) and the fourth (N = 2^20, 1 GiB) are left out: too slow for a
  // unit suite. These two already pin the parameter order and the PBKDF2 wrapping.
  test('N=16, r=1, p=1, empty password and salt', () => {
    const out = scryptSync('', '', 64, { N: 16, r: 1, p: 1 })
    assert.deepEqual(new Uint8Array(out), hex(`
      77 d6 57 62 38 65 7b 20 3b 19 ca 42 c1 8a 04 97
      f1 6b 48 44 e3 07 4a e8 df df fa 3f ed e2 14 42
      fc d0 06 9d ed 09 48 f8 32 6a 75 3a 0f c8 1f 17
      e8 d3 e0 fb 2e 0d 36 28 cf 35 e2 0c 38 d1 89 06`))
  })

  test('N=1024, r=8, p=16, "password" / "NaCl"', () => {
    const out = scryptSync('password', 'NaCl', 64, { N: 1024, r: 8, p: 16 })
    assert.deepEqual(new Uint8Array(out), hex(`
      fd ba be 1c 9d 34 72 00 78 56 e7 19 0d 01 e9 fe
      7c 6a d7 cb c8 23 78 30 e7 73 76 63 4b 37 31 62
      2e af 30 d9 2e 22 a3 88 6f f1 09 27 9d 98 30 da
      c7 27 af b9 4a 83 ee 6d 83 60 cb df a2 cc 06 40`))
  })
})

describe('password-derived keys', () => {
  const salt = hex('000102030405060708090a0b0c0d0e0f')

  test('new accounts use scrypt N=2^17, r=8, p=1 (OWASP\'s minimum), 128 MiB, with maxmem raised above it', () => {
    assert.deepEqual({ ...KDF_PARAMS }, { logN: 17, r: 8, p: 1 })
    const options = scryptOptions(KDF_PARAMS)
    assert.deepEqual([options.N, options.r, options.p], [131072, 8, 1])
    assert.ok(options.maxmem > 128 * 131072 * 8, 'Node refuses scrypt when maxmem is not above 128 * N * r')
  })

  test('deriveMasterKey is scrypt with the current parameters by default, 32 bytes', async () => {
    const master = await deriveMasterKey('correct horse', salt)
    assert.equal(master.length, 32)
    assert.deepEqual(master, new Uint8Array(scryptSync('correct horse', salt, 32, { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 })))
  })

  test('deriveMasterKey with an account\'s older parameters (N=2^15) gives that account\'s key', async () => {
    const master = await deriveMasterKey('correct horse', salt, LEGACY_KDF_PARAMS)
    assert.deepEqual(master, new Uint8Array(scryptSync('correct horse', salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })))
    assert.notDeepEqual(master, await deriveMasterKey('correct horse', salt))
  })

  test('refuses parameters below N=2^15, out of range or above 1 GiB; compares costs', async () => {
    for (const bad of [{ logN: 14, r: 8, p: 1 }, { logN: 1, r: 8, p: 1 }, { logN: 17, r: 1, p: 1 }, { logN: 17, r: 8, p: 0 },
      { logN: 17.5, r: 8, p: 1 }, { logN: 21, r: 8, p: 1 }, { logN: 17, r: 8, p: 99 }]) {
      assert.throws(() => { checkKdfParams(bad) }, { code: 'ERR_MALFORMED' }, JSON.stringify(bad))
      await assert.rejects(deriveMasterKey('pw', salt, bad), { code: 'ERR_MALFORMED' })
    }
    checkKdfParams({ logN: 20, r: 8, p: 1 }) // 1 GiB: the most a rendezvous may ask
    assert.equal(weakerKdf(LEGACY_KDF_PARAMS, KDF_PARAMS), true)
    assert.equal(weakerKdf(KDF_PARAMS, KDF_PARAMS), false)
    assert.equal(weakerKdf(KDF_PARAMS, LEGACY_KDF_PARAMS), false)
    assert.equal(weakerKdf({ logN: 18, r: 8, p: 1 }, { logN: 17, r: 16, p: 1 }), true)
  })

  test('passwords are case-sensitive: never lower-cased', async () => {
    const [lower, upper] = await Promise.all([deriveMasterKey('secret', salt), deriveMasterKey('Secret', salt)])
    assert.notDeepEqual(lower, upper)
  })

  test('composed and decomposed Unicode spellings of a password give the same key (NFKC)', async () => {
    const [composed, decomposed] = await Promise.all([deriveMasterKey('caf\u00e9', salt), deriveMasterKey('cafe\u0301', salt)])
    assert.deepEqual(composed, decomposed)
  })

  test('authKey and wrapKey are different 32-byte keys, and the verifier is SHA-256 of authKey', () => {
    const master = new Uint8Array(32).fill(9)
    const auth = deriveAuthKey(master)
    const wrap = deriveWrapKey(master)
    assert.equal(auth.length, 32)
    assert.equal(wrap.length, 32)
    assert.notDeepEqual(auth, wrap)
    assert.deepEqual(verifierOf(auth), new Uint8Array(createHash('sha256').update(auth).digest()))
  })

  test('newSalt gives 16 fresh random bytes', () => {
    const a = newSalt()
    assert.equal(a.length, 16)
    assert.notDeepEqual(a, newSalt())
  })

  test('fakeSaltFor is stable per username and server secret, and differs between usernames', () => {
    const secret = new Uint8Array(32).fill(3)
    assert.equal(fakeSaltFor('mallory', secret).length, 16)
    assert.deepEqual(fakeSaltFor('mallory', secret), fakeSaltFor('mallory', secret))
    assert.notDeepEqual(fakeSaltFor('mallory', secret), fakeSaltFor('Mallory', secret))
    assert.notDeepEqual(fakeSaltFor('mallory', secret), fakeSaltFor('mallory', new Uint8Array(32).fill(4)))
  })

  test('constantTimeEqual compares contents and is false on a length mismatch', () => {
    assert.equal(constantTimeEqual(hex('0102'), hex('0102')), true)
    assert.equal(constantTimeEqual(hex('0102'), hex('0103')), false)
    assert.equal(constantTimeEqual(hex('0102'), hex('010203')), false)
    assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true)
  })

  test('rejects a short salt and a master key of the wrong length as malformed', async () => {
    await assert.rejects(deriveMasterKey('pw', new Uint8Array(8)), { code: 'ERR_MALFORMED' })
    assert.throws(() => deriveAuthKey(new Uint8Array(16)), { code: 'ERR_MALFORMED' })
  })
})
