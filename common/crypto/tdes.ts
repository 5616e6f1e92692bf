/**
 * The frame AEAD (DESIGN §4): 3DES-EDE3-CBC with a random IV per frame and PKCS#7 padding,
 * then HMAC-SHA-256 over everything the receiver relies on (encrypt-then-MAC). The tag is
 * checked in constant time before a single byte is decrypted, so a padding oracle never exists.
 *
 * Sealed layout: IV(8) || ciphertext(8k, k >= 1) || tag(32)
 * Tag input:     u32be(adLength) || ad || u64be(seq) || IV || ciphertext
 * The AD length prefix keeps (ad, seq) unambiguous; the sequence number makes a replayed or
 * reordered frame fail even though its bytes are authentic.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { ErrorCode, ParleyError, integrity, malformed, tooLarge } from '../errors.ts'
import { hkdfSha256 } from './hkdf.ts'
import { randomBytesPooled } from './random.ts'
import { WeakMemo } from '../weak-memo.ts'

/**
 * NIST SP 800-67r2 §3.3: at most 2^20 64-bit blocks (8 MiB) may be encrypted under one
 * three-key TDEA key; beyond that the 64-bit block birthday bound (Sweet32) bites.
 */
export const TDES_MAX_BYTES_PER_KEY = 8 * 1024 * 1024

const ENC_KEY_BYTES = 24
const MAC_KEY_BYTES = 32
const IV_BYTES = 8
const BLOCK_BYTES = 8
const TAG_BYTES = 32
/** The shortest sealed frame: IV, one block (an empty plaintext pads to one block), tag. */
const MIN_SEALED = IV_BYTES + BLOCK_BYTES + TAG_BYTES
const MAX_SEQ = (1n << 64n) - 1n
const MAX_AD = 0xffffffff

export interface FrameKeys {
  /** 3DES three-key bundle, 24 bytes. */
  encKey: Uint8Array
  /** HMAC-SHA-256 key, 32 bytes. */
  macKey: Uint8Array
}

/** The one place a secret becomes frame keys: HKDF (empty salt) to 56 bytes, split 24/32. */
export function frameKeysFrom (secret: Uint8Array, info: string): FrameKeys {
  // Every caller hands a uniformly random secret of at least 24 bytes; anything shorter is a bug.
  if (secret.length < 16) throw malformed('frame key secret too short')
  const okm = hkdfSha256(secret, new Uint8Array(0), info, ENC_KEY_BYTES + MAC_KEY_BYTES)
  return { encKey: okm.subarray(0, ENC_KEY_BYTES), macKey: okm.subarray(ENC_KEY_BYTES) }
}

/**
 * The KeyObject of a raw key, made once per key: Node imports a raw key on every cipher and
 * HMAC it is given (a tenth of a session's CPU in the profile, issue 11), while a KeyObject is
 * used as it is. Weak, so a key forgotten by its session is forgotten here too.
 */
const keyObjects = new WeakMemo<Uint8Array, KeyObject>(raw => createSecretKey(raw))

function checkKeys (keys: FrameKeys): void {
  if (keys.encKey.length !== ENC_KEY_BYTES) throw malformed('3DES key must be 24 bytes')
  if (keys.macKey.length !== MAC_KEY_BYTES) throw malformed('MAC key must be 32 bytes')
}

function checkSeqAndAd (seq: bigint, associatedData: Uint8Array): void {
  if (seq < 0n || seq > MAX_SEQ) throw malformed('sequence number out of range')
  if (associatedData.length > MAX_AD) throw tooLarge('associated data too long')
}

function tagOf (keys: FrameKeys, seq: bigint, associatedData: Uint8Array, iv: Uint8Array, ...ciphertext: Uint8Array[]): Buffer {
  const header = Buffer.allocUnsafe(4)
  header.writeUInt32BE(associatedData.length)
  const seqBytes = Buffer.allocUnsafe(8)
  seqBytes.writeBigUInt64BE(seq)
  const hmac = createHmac('sha256', keyObjects.get(keys.macKey)).update(header).update(associatedData).update(seqBytes).update(iv)
  for (const part of ciphertext) hmac.update(part)
  return hmac.digest()
}

/**
 * Joins parts into one fresh Uint8Array (one copy). Not Buffer.concat: small Buffers live in
 * Node's shared 8 KiB pool, so a caller reading `.buffer` would see (and could send) other
 * data, and plaintext would sit in memory shared with unrelated allocations.
 */
function join (total: number, parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(total)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

export function sealFrame (keys: FrameKeys, seq: bigint, associatedData: Uint8Array, plaintext: Uint8Array): Uint8Array {
  checkKeys(keys)
  checkSeqAndAd(seq, associatedData)
  // One frame alone must not exceed a key's budget; the total across frames is the caller's
  // to count (see TDES_MAX_BYTES_PER_KEY).
  if (plaintext.length >= TDES_MAX_BYTES_PER_KEY) throw tooLarge('frame too large for one 3DES key')
  const iv = randomBytesPooled(IV_BYTES)
  const cipher = createCipheriv('des-ede3-cbc', keyObjects.get(keys.encKey), iv)
  const body = cipher.update(plaintext)
  const last = cipher.final()
  const tag = tagOf(keys, seq, associatedData, iv, body, last)
  return join(IV_BYTES + body.length + last.length + TAG_BYTES, [iv, body, last, tag])
}

export function openFrame (keys: FrameKeys, seq: bigint, associatedData: Uint8Array, sealed: Uint8Array): Uint8Array {
  checkKeys(keys)
  checkSeqAndAd(seq, associatedData)
  if (sealed.length < MIN_SEALED) throw integrity('frame too short')
  const ctEnd = sealed.length - TAG_BYTES
  if ((ctEnd - IV_BYTES) % BLOCK_BYTES !== 0) throw integrity('frame length is not whole blocks')
  const iv = sealed.subarray(0, IV_BYTES)
  const ciphertext = sealed.subarray(IV_BYTES, ctEnd)
  const expected = tagOf(keys, seq, associatedData, iv, ciphertext)
  if (!timingSafeEqual(expected, sealed.subarray(ctEnd))) throw integrity('frame MAC mismatch')
  try {
    const decipher = createDecipheriv('des-ede3-cbc', keyObjects.get(keys.encKey), iv)
    const body = decipher.update(ciphertext)
    const last = decipher.final()
    return join(body.length + last.length, [body, last])
  } catch (err) {
    // Only reachable for an authentic frame from a broken sender; still an integrity failure,
    // and the OpenSSL text (padding details) stays in `cause`, off the wire.
    throw new ParleyError(ErrorCode.Integrity, 'frame does not decrypt', { cause: err })
  }
}
