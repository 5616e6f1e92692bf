/**
 * Ephemeral X25519 (RFC 7748) for direct sessions (DESIGN §4): a fresh random key pair per
 * session, never reused and never derived from anything guessable.
 */
import { createPrivateKey, diffieHellman, generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { ErrorCode, ParleyError, integrity, malformed } from '../errors.ts'
import { publicKeyFromRaw } from './public-key.ts'

const X25519_KEY_BYTES = 32

// The DER prefix of an X25519 PKCS#8 PrivateKeyInfo (RFC 8410), followed by exactly the 32 raw
// bytes (the known-answer tests' private keys).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

export interface EphemeralKeyPair {
  /** 32 raw bytes, what goes on the wire. */
  publicKey: Uint8Array
  /** Stays in memory for one handshake only. */
  privateKey: KeyObject
}

export function generateEphemeralKeyPair (): EphemeralKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519')
  // JWK is Node's cheapest raw export (1 µs against 20 for DER): its `x` is the raw key.
  const { x } = publicKey.export({ format: 'jwk' })
  return { publicKey: new Uint8Array(Buffer.from(x ?? '', 'base64url')), privateKey }
}

export function x25519SharedSecret (privateKey: KeyObject, peerPublicKey: Uint8Array): Uint8Array {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'x25519') {
    throw malformed('not an X25519 private key')
  }
  const publicKey = publicKeyFromRaw('X25519', peerPublicKey)
  let shared: Buffer
  try {
    shared = diffieHellman({ privateKey, publicKey })
  } catch (err) {
    // OpenSSL itself refuses an all-zero result (RFC 7748 §6.1): a low-order peer key.
    throw new ParleyError(ErrorCode.Integrity, 'X25519 low-order public key', { cause: err })
  }
  // Check again ourselves rather than rely on the OpenSSL build: a low-order public key forces
  // the secret to zero, which an attacker would know (RFC 7748 §6.1).
  if (shared.every((b) => b === 0)) throw integrity('X25519 low-order public key')
  return new Uint8Array(shared.buffer, shared.byteOffset, shared.byteLength)
}

/** Raw scalar + raw peer u-coordinate, for the RFC 7748 known-answer tests. */
export function x25519FromRaw (privateRaw: Uint8Array, peerPublicRaw: Uint8Array): Uint8Array {
  if (privateRaw.length !== X25519_KEY_BYTES) throw malformed('X25519 private key must be 32 bytes')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateRaw]), format: 'der', type: 'pkcs8' })
  return x25519SharedSecret(privateKey, peerPublicRaw)
}
