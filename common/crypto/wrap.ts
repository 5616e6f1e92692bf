/**
 * Wrapped secrets stored on the rendezvous (DESIGN §3, §4): the identity key and group keys,
 * sealed under the user's wrapKey. Each blob has a fresh random salt (so no two blobs share
 * frame keys) and is bound to its context ("identity:alice", "group:friends:3") both in the key
 * derivation and in the authenticated data, so the server cannot swap one blob for another.
 *
 * Layout: salt(16) || sealFrame(IV || ciphertext || tag)
 */
import { integrity, malformed } from '../errors.ts'
import { hkdfSha256 } from './hkdf.ts'
import { randomBytesPooled } from './random.ts'
import { frameKeysFrom, openFrame, sealFrame } from './tdes.ts'
import type { FrameKeys } from './tdes.ts'

const SALT_BYTES = 16
/** salt + IV + one block + tag */
const MIN_BLOB = SALT_BYTES + 8 + 8 + 32

const utf8 = new TextEncoder()

function checkArgs (wrapKey: Uint8Array, context: string): void {
  if (wrapKey.length !== 32) throw malformed('wrap key must be 32 bytes')
  if (context.length === 0) throw malformed('wrap context must not be empty')
}

function keysFor (wrapKey: Uint8Array, salt: Uint8Array, context: string): FrameKeys {
  return frameKeysFrom(hkdfSha256(wrapKey, salt, 'parley/wrap/' + context, 32), 'parley/wrap/keys')
}

export function wrapSecret (wrapKey: Uint8Array, context: string, secret: Uint8Array): Uint8Array {
  checkArgs(wrapKey, context)
  const salt = randomBytesPooled(SALT_BYTES)
  const sealed = sealFrame(keysFor(wrapKey, salt, context), 0n, utf8.encode(context), secret)
  const blob = new Uint8Array(SALT_BYTES + sealed.length)
  blob.set(salt, 0)
  blob.set(sealed, SALT_BYTES)
  return blob
}

export function unwrapSecret (wrapKey: Uint8Array, context: string, blob: Uint8Array): Uint8Array {
  checkArgs(wrapKey, context)
  if (blob.length < MIN_BLOB) throw integrity('wrapped secret too short')
  const keys = keysFor(wrapKey, blob.subarray(0, SALT_BYTES), context)
  return openFrame(keys, 0n, utf8.encode(context), blob.subarray(SALT_BYTES))
}
