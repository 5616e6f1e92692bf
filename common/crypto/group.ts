/**
 * Group keys (DESIGN §4). One random 24-byte key per group and epoch, made by a member's peer.
 * Every message draws a fresh random nonce and gets its own keys from it, so a group key never
 * encrypts more than one message directly and the 3DES per-key limit is per message.
 */
import { malformed } from '../errors.ts'
import { hkdfSha256 } from './hkdf.ts'
import { randomBytesPooled } from './random.ts'
import type { FrameKeys } from './tdes.ts'

/** 24 bytes, the size the design calls the group "nonce" (a 3DES key's length). */
export const GROUP_KEY_BYTES = 24
const MESSAGE_NONCE_BYTES = 16

export function newGroupKey (): Uint8Array {
  return randomBytesPooled(GROUP_KEY_BYTES)
}

export function newMessageNonce (): Uint8Array {
  return randomBytesPooled(MESSAGE_NONCE_BYTES)
}

/**
 * The per-message secret. Group and epoch go into the info after a "/" so the message and file
 * labels ("parley/group/…", "parley/group-file/…") can never produce the same string; the epoch
 * comes last after "|" and is all digits, so the encoding is unambiguous for any group name.
 */
function perMessage (label: string, groupKey: Uint8Array, messageNonce: Uint8Array, group: string, epoch: number, length: number): Uint8Array {
  if (groupKey.length !== GROUP_KEY_BYTES) throw malformed('group key must be 24 bytes')
  if (messageNonce.length !== MESSAGE_NONCE_BYTES) throw malformed('message nonce must be 16 bytes')
  if (group.length === 0) throw malformed('empty group name')
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw malformed('bad group epoch')
  return hkdfSha256(groupKey, messageNonce, label + '/' + group + '|' + epoch, length)
}

export function groupMessageKeys (groupKey: Uint8Array, messageNonce: Uint8Array, group: string, epoch: number): FrameKeys {
  const okm = perMessage('parley/group', groupKey, messageNonce, group, epoch, 56)
  return { encKey: okm.subarray(0, 24), macKey: okm.subarray(24) }
}

/** 32 bytes for sealChunk/openChunk; the nonce is fresh per file message, so is this secret. */
export function groupFileSecret (groupKey: Uint8Array, messageNonce: Uint8Array, group: string, epoch: number): Uint8Array {
  return perMessage('parley/group-file', groupKey, messageNonce, group, epoch, 32)
}

/**
 * Keys for the receiver's encrypted ACK on a group stream. Its own label keeps the ACK from
 * ever sharing keys with the message, so a message frame reflected back cannot pass as an ACK.
 */
export function groupAckKeys (groupKey: Uint8Array, messageNonce: Uint8Array, group: string, epoch: number): FrameKeys {
  const okm = perMessage('parley/group-ack', groupKey, messageNonce, group, epoch, 56)
  return { encKey: okm.subarray(0, 24), macKey: okm.subarray(24) }
}
