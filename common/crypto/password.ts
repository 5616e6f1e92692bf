/**
 * Password-derived keys (DESIGN §3). The password never leaves the peer: scrypt makes a master
 * key, from which come an authKey (sent to the server, which stores only its SHA-256) and a
 * wrapKey (never sent; it wraps the identity key and group keys).
 */
import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { malformed } from '../errors.ts'
import { hkdfSha256 } from './hkdf.ts'

/**
 * N = 2^15, r = 8, p = 1: the OWASP / RFC 7914 §2 interactive-login setting, 32 MiB of memory
 * (128 * N * r), so maxmem is set above it (Node's default is exactly 32 MiB and would refuse).
 */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }

const KEY_BYTES = 32
const SALT_BYTES = 16

export async function deriveMasterKey (password: string, salt: Uint8Array): Promise<Uint8Array> {
  if (salt.length < SALT_BYTES) throw malformed('salt too short')
  // NFKC so the same password typed on two keyboards/OSes gives the same key; never lower-cased
  // (case is part of the password's entropy).
  const normalised = password.normalize('NFKC')
  return await new Promise((resolve, reject) => {
    scrypt(normalised, salt, KEY_BYTES, SCRYPT_PARAMS, (err, key) => {
      if (err !== null) reject(err)
      else resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength))
    })
  })
}

function checkMaster (master: Uint8Array): void {
  if (master.length !== KEY_BYTES) throw malformed('master key must be 32 bytes')
}

export function deriveAuthKey (master: Uint8Array): Uint8Array {
  checkMaster(master)
  return hkdfSha256(master, new Uint8Array(0), 'parley/auth', KEY_BYTES)
}

export function deriveWrapKey (master: Uint8Array): Uint8Array {
  checkMaster(master)
  return hkdfSha256(master, new Uint8Array(0), 'parley/wrap', KEY_BYTES)
}

/** What the server stores: a leaked verifier does not let anyone sign in (needs the preimage). */
export function verifierOf (authKey: Uint8Array): Uint8Array {
  if (authKey.length !== KEY_BYTES) throw malformed('auth key must be 32 bytes')
  return new Uint8Array(createHash('sha256').update(authKey).digest())
}

export function newSalt (): Uint8Array {
  return new Uint8Array(randomBytes(SALT_BYTES))
}

/**
 * A stable salt for a username that does not exist, so asking for salts cannot reveal which
 * names are registered: keyed by a server secret, so nobody else can tell it from a real one.
 */
export function fakeSaltFor (username: string, serverSecret: Uint8Array): Uint8Array {
  if (serverSecret.length < 16) throw malformed('server secret too short')
  const mac = createHmac('sha256', serverSecret).update('parley/fake-salt' + username, 'utf8').digest()
  return new Uint8Array(mac.subarray(0, SALT_BYTES))
}

/** Verifier and MAC comparisons: no early exit that would time-leak how many bytes matched. */
export function constantTimeEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  return timingSafeEqual(a, b)
}
