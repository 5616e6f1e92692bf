/**
 * Authenticated group epochs (issue 12 item 1). The member who starts an epoch commits to its
 * key and signs (group, epoch, commitment) with its Ed25519 identity key. The rendezvous keeps
 * the signed commitment with the epoch (it learns nothing of the key: the commitment is an HKDF
 * output of a 192-bit random key). A member accepts a handed key only when it matches the
 * commitment and the signature is the maker's, so a hostile member can no longer hand out a fake
 * key, and a hostile rendezvous cannot swap the commitment without the maker's private key.
 */
import { timingSafeEqual, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { malformed } from '../errors.ts'
import { GROUP_KEY_BYTES } from './group.ts'
import { hkdfSha256 } from './hkdf.ts'
import { ed25519KeyOfPeerId } from './public-key.ts'

export const COMMITMENT_BYTES = 32
/** An Ed25519 signature (RFC 8032). */
export const SIGNATURE_BYTES = 64

/** What a key commits to: HKDF-SHA-256 of the key itself, bound to the group and epoch (the same
 * unambiguous "group|epoch" encoding as the message keys). */
export function keyCommitment (key: Uint8Array, group: string, epoch: number): Uint8Array {
  if (key.length !== GROUP_KEY_BYTES) throw malformed('group key must be 24 bytes')
  checkEpoch(group, epoch)
  return hkdfSha256(key, new Uint8Array(0), `parley/group-commit/${group}|${epoch}`, COMMITMENT_BYTES)
}

/** The bytes the maker signs: a label, the group and epoch, and the commitment. */
export function epochStatement (group: string, epoch: number, commitment: Uint8Array): Uint8Array {
  checkEpoch(group, epoch)
  if (commitment.length !== COMMITMENT_BYTES) throw malformed('an epoch commitment is 32 bytes')
  const head = new TextEncoder().encode(`parley/group-epoch/${group}|${epoch}|`)
  const out = new Uint8Array(head.length + commitment.length)
  out.set(head)
  out.set(commitment, head.length)
  return out
}

/** True when `signature` over the statement was made by the identity behind `makerPeerId`. */
export function verifyEpochSignature (makerPeerId: string, group: string, epoch: number, commitment: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false
  let key: KeyObject
  try {
    key = ed25519KeyOfPeerId(makerPeerId)
  } catch {
    return false
  }
  return verify(null, epochStatement(group, epoch, commitment), key, signature)
}

/** True when `key` is the one the epoch committed to (compared in constant time). */
export function keyMatchesCommitment (key: Uint8Array, group: string, epoch: number, commitment: Uint8Array): boolean {
  if (key.length !== GROUP_KEY_BYTES || commitment.length !== COMMITMENT_BYTES) return false
  return timingSafeEqual(keyCommitment(key, group, epoch), commitment)
}

function checkEpoch (group: string, epoch: number): void {
  if (group.length === 0) throw malformed('empty group name')
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw malformed('bad group epoch')
}
