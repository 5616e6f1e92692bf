/**
 * Ephemeral X25519 (RFC 7748) for direct sessions (DESIGN §4): a fresh random key pair per
 * session, never reused and never derived from anything guessable.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { ErrorCode, ParleyError, integrity, malformed } from '../errors.ts'

const X25519_KEY_BYTES = 32

// DER prefixes for an X25519 key (RFC 8410): SubjectPublicKeyInfo and PKCS#8 PrivateKeyInfo,
// each followed by exactly the 32 raw bytes. Node has no "raw" import for X25519, so we wrap.
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
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

function publicKeyFromRaw (raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_KEY_BYTES) throw malformed('X25519 public key must be 32 bytes')
  // As a PEM string, not a DER or JWK object: given an object, Node 24 asks whether it and its
  // `key` are KeyObjects or CryptoKeys by throwing and catching an exception for each question,
  // four in all, which cost more than the import (33 µs against 9 for the string).
  return createPublicKey(spkiPem(Buffer.concat([SPKI_PREFIX, raw])))
}

function spkiPem (der: Buffer): string {
  return `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`
}

export function x25519SharedSecret (privateKey: KeyObject, peerPublicKey: Uint8Array): Uint8Array {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'x25519') {
    throw malformed('not an X25519 private key')
  }
  const publicKey = publicKeyFromRaw(peerPublicKey)
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
