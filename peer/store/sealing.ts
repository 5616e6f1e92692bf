/**
 * How the store seals a value at rest (message texts, file paths, outbox bodies), bound to its
 * row: the row's name (`msg:<id>:<direction>:<peer>:body`, …) is authenticated with it, so a
 * sealed value copied into another row does not open there.
 *
 * Rows written since schema step 5 are AES-256-GCM under one key per store, derived once from
 * the user's wrapKey, with a random 96-bit IV per value: IV(12) || ciphertext || tag(16). A
 * store's whole history under one key is fine for AES (NIST SP 800-38D: up to 2^32 values with
 * random IVs, far more than any history), where 3DES allows only 8 MiB per key (Sweet32) and so
 * needed a key derived per value: two HKDFs and two key imports for every row written or read,
 * which was most of the store's CPU in the soak (issue 11). The customer's 3DES is for messages
 * between peers (common/crypto/tdes.ts); this is our own protection of the user's disk.
 *
 * Rows written before step 5 keep their format (one salted 3DES+HMAC key per value,
 * common/crypto/wrap.ts) and are read as they are; the `sealing` column says which a row is.
 */
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { ErrorCode, ParleyError, integrity } from '../../common/errors.ts'
import { hkdfSha256 } from '../../common/crypto/hkdf.ts'
import { randomBytesPooled } from '../../common/crypto/random.ts'
import { unwrapSecret } from '../../common/crypto/wrap.ts'

/** The `sealing` column: which format a row's sealed values are in. */
export const SEALED_PER_VALUE_3DES = 1
export const SEALED_AES_GCM = 2

const IV_BYTES = 12
const TAG_BYTES = 16

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

export class StoreSealer {
  readonly #key: KeyObject
  /** What rows written before schema step 5 were sealed under. */
  readonly #perValueKey: Uint8Array

  constructor (wrapKey: Uint8Array) {
    const empty = new Uint8Array(0)
    this.#key = createSecretKey(hkdfSha256(wrapKey, empty, 'parley/store/aes-256-gcm', 32))
    this.#perValueKey = hkdfSha256(wrapKey, empty, 'parley/store', 32)
  }

  /** Sealed in the format of SEALED_AES_GCM. */
  seal (row: string, value: string): Uint8Array {
    const iv = randomBytesPooled(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(utf8.encode(row))
    const body = cipher.update(utf8.encode(value))
    const last = cipher.final()
    const sealed = new Uint8Array(IV_BYTES + body.length + last.length + TAG_BYTES)
    sealed.set(iv, 0)
    sealed.set(body, IV_BYTES)
    sealed.set(last, IV_BYTES + body.length)
    sealed.set(cipher.getAuthTag(), IV_BYTES + body.length + last.length)
    return sealed
  }

  open (row: string, sealed: Uint8Array, sealing: number): string {
    if (sealing === SEALED_PER_VALUE_3DES) return fromUtf8.decode(unwrapSecret(this.#perValueKey, row, sealed))
    if (sealing !== SEALED_AES_GCM) throw integrity(`unknown sealing ${sealing}`)
    if (sealed.length < IV_BYTES + TAG_BYTES) throw integrity('sealed value too short')
    const decipher = createDecipheriv('aes-256-gcm', this.#key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES })
    decipher.setAAD(utf8.encode(row))
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
    try {
      const body = decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES))
      return fromUtf8.decode(Buffer.concat([body, decipher.final()]))
    } catch (err) {
      // A wrong key, another row's value or altered bytes: OpenSSL's text stays in `cause`.
      throw new ParleyError(ErrorCode.Integrity, 'stored value does not open', { cause: err })
    }
  }
}
