/**
 * HKDF-SHA-256 (RFC 5869): the one key-derivation function of Parley. Every key below the
 * X25519 secret, the scrypt master key and the group key is derived through here.
 */
import { createSecretKey, hkdfSync } from 'node:crypto'
import { malformed } from '../errors.ts'

/** RFC 5869 §2.3: L <= 255 * HashLen. */
const MAX_OUTPUT = 255 * 32
/** Node refuses an info longer than 1024 bytes; say so as a ParleyError, not a RangeError. */
const MAX_INFO = 1024

const utf8 = new TextEncoder()

export function hkdfSha256 (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array | string, length: number): Uint8Array {
  const infoBytes = typeof info === 'string' ? utf8.encode(info) : info
  if (infoBytes.length > MAX_INFO) throw malformed('HKDF info too long')
  if (!Number.isInteger(length) || length < 1 || length > MAX_OUTPUT) throw malformed('bad HKDF output length')
  // The key goes in as a KeyObject: given bytes, Node 24 first asks whether they are a KeyObject
  // and then a CryptoKey by throwing and catching an exception for each, which took a third of
  // an HKDF's time. createSecretKey takes bytes without asking. hkdfSync returns a fresh
  // ArrayBuffer: wrap it without copying.
  return new Uint8Array(hkdfSync('sha256', createSecretKey(ikm), salt, infoBytes, length))
}
