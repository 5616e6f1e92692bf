/**
 * Direct-session key schedule (DESIGN §4). Both ephemeral keys go into the salt and both peer
 * ids into the info, so the keys are bound to this one handshake between these two peers.
 * Each direction gets its own 3DES + MAC keys, so the two sides never encrypt under the same
 * key and a frame cannot be reflected back to its sender.
 */
import { malformed } from '../errors.ts'
import { hkdfSha256 } from './hkdf.ts'
import { frameKeysFrom } from './tdes.ts'
import type { FrameKeys } from './tdes.ts'

export interface DirectSessionKeys {
  send: FrameKeys
  receive: FrameKeys
  /** 32 bytes: chunk keys of files this side sends. */
  fileSecret: Uint8Array
  /** 32 bytes: chunk keys of files this side receives. */
  peerFileSecret: Uint8Array
}

export function deriveDirectSessionKeys (args: {
  sharedSecret: Uint8Array
  initiatorEphemeral: Uint8Array
  responderEphemeral: Uint8Array
  initiatorPeerId: string
  responderPeerId: string
  role: 'initiator' | 'responder'
}): DirectSessionKeys {
  const { sharedSecret, initiatorEphemeral, responderEphemeral, initiatorPeerId, responderPeerId, role } = args
  if (sharedSecret.length !== 32) throw malformed('shared secret must be 32 bytes')
  if (initiatorEphemeral.length !== 32 || responderEphemeral.length !== 32) throw malformed('ephemeral keys must be 32 bytes')
  // "|" separates the two ids in the info; an id containing it (or empty) would make the
  // encoding ambiguous. libp2p peer ids are base58/base32 and never do.
  for (const id of [initiatorPeerId, responderPeerId]) {
    if (id.length === 0 || id.includes('|')) throw malformed('bad peer id')
  }
  if (role !== 'initiator' && role !== 'responder') throw malformed('bad session role')

  const salt = new Uint8Array(64)
  salt.set(initiatorEphemeral, 0)
  salt.set(responderEphemeral, 32)
  const secret = hkdfSha256(sharedSecret, salt, 'parley/direct' + initiatorPeerId + '|' + responderPeerId, 64)

  const i2r = frameKeysFrom(secret, 'i2r')
  const r2i = frameKeysFrom(secret, 'r2i')
  const empty = new Uint8Array(0)
  const fileI2r = hkdfSha256(secret, empty, 'file-i2r', 32)
  const fileR2i = hkdfSha256(secret, empty, 'file-r2i', 32)
  return role === 'initiator'
    ? { send: i2r, receive: r2i, fileSecret: fileI2r, peerFileSecret: fileR2i }
    : { send: r2i, receive: i2r, fileSecret: fileR2i, peerFileSecret: fileI2r }
}
