/**
 * A KeyObject for a raw 32-byte X25519 or Ed25519 public key (RFC 8410: a SubjectPublicKeyInfo
 * prefix, then the raw bytes), imported from a PEM string. Not from a DER or JWK object: given an
 * object, Node 24 asks whether it and its `key` are KeyObjects or CryptoKeys by throwing and
 * catching an exception for each question, four in all, which cost more than the import itself
 * (33 µs against 9 for the string, issue 11).
 */
import { createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { malformed } from '../errors.ts'

const RAW_KEY_BYTES = 32

const SPKI_PREFIXES = {
  X25519: Buffer.from('302a300506032b656e032100', 'hex'),
  Ed25519: Buffer.from('302a300506032b6570032100', 'hex')
}

export function publicKeyFromRaw (type: keyof typeof SPKI_PREFIXES, raw: Uint8Array): KeyObject {
  if (raw.length !== RAW_KEY_BYTES) throw malformed(`${type} public key must be 32 bytes`)
  const der = Buffer.concat([SPKI_PREFIXES[type], raw])
  return createPublicKey(`-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`)
}

/** The Ed25519 public key behind a peer id (its identity key); ERR_MALFORMED for a peer id
 * that does not parse or whose key is of another type. */
export function ed25519KeyOfPeerId (peerId: string): KeyObject {
  let raw: Uint8Array | undefined
  try {
    const publicKey = peerIdFromString(peerId).publicKey
    if (publicKey?.type === 'Ed25519') raw = publicKey.raw
  } catch {}
  if (raw === undefined) throw malformed('not the peer id of an Ed25519 identity')
  return publicKeyFromRaw('Ed25519', raw)
}
