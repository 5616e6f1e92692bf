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
  /** 32 bytes: chunk keys of files this side sends (derived when first read: a session stream
   * never carries a file, so two of a session's five HKDFs were wasted on it). */
  readonly fileSecret: Uint8Array
  /** 32 bytes: chunk keys of files this side receives (derived when first read, as above). */
  readonly peerFileSecret: Uint8Array
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
  const fileI2r = lazySecret(secret, 'file-i2r')
  const fileR2i = lazySecret(secret, 'file-r2i')
  const [ownFiles, peerFiles] = role === 'initiator' ? [fileI2r, fileR2i] : [fileR2i, fileI2r]
  return {
    send: role === 'initiator' ? i2r : r2i,
    receive: role === 'initiator' ? r2i : i2r,
    get fileSecret () { return ownFiles() },
    get peerFileSecret () { return peerFiles() }
  }
}

/** A 32-byte secret under `secret`, derived on the first call and kept. */
function lazySecret (secret: Uint8Array, info: string): () => Uint8Array {
  let derived: Uint8Array | undefined
  return () => (derived ??= hkdfSha256(secret, new Uint8Array(0), info, 32))
}
