/**
 * Password-derived keys (DESIGN §3). The password never leaves the peer: scrypt makes a master
 * key, from which come an authKey (sent to the server, which stores only its SHA-256) and a
 * wrapKey (never sent). The wrapKey wraps the identity key and group keys, or, for an account
 * whose scrypt cost was raised, the account key that wraps them (peer/account.ts).
 */
import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { malformed } from '../errors.ts'
import { hkdfSha256 } from './hkdf.ts'

/** scrypt's cost parameters: N = 2^logN, block size r, parallelism p. Every account carries its
 * own (the rendezvous keeps them with the salt), so the cost can rise without locking anyone out. */
export interface KdfParams {
  logN: number
  r: number
  p: number
}

/**
 * The tests' programs only: `PARLEY_TEST_WEAK_SCRYPT=1` in a peer's or rendezvous's environment
 * makes N = 2^10 (1 MiB, a few ms) its cost for new accounts and the least it accepts. The
 * harness starts the programs a test file runs so (harness/processes.ts PROGRAM_ENV): at
 * N = 2^17 their ~120 sign-ups and sign-ins were about a fifth of the suite's CPU, and at half
 * this machine's speed the suite is CPU-bound. Accounts made so are of no use elsewhere: a peer without it
 * refuses to derive a key at their cost, and a rendezvous without it takes no new one. The tests
 * of the cost itself (test/unit/crypto/password, test/unit/rendezvous/accounts) run without it.
 */
const WEAK_FOR_TESTS = process.env.PARLEY_TEST_WEAK_SCRYPT === '1'
const TEST_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({ logN: 10, r: 8, p: 1 })

/**
 * New accounts: N = 2^17, r = 8, p = 1, OWASP's minimum for scrypt (Password Storage Cheat
 * Sheet: "N=2^17 (128 MiB), r=8 (1024 bytes), p=1"); 128 * N * r = 128 MiB of memory.
 */
export const KDF_PARAMS: Readonly<KdfParams> = WEAK_FOR_TESTS ? TEST_KDF_PARAMS : Object.freeze({ logN: 17, r: 8, p: 1 })

/** What accounts made before issue 12 used (N = 2^15): still accepted, upgraded at the next
 * sign-in (peer/account.ts). Nothing weaker is ever used. */
export const LEGACY_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({ logN: 15, r: 8, p: 1 })

/** Bounds on parameters a rendezvous may hand out: never below the legacy cost (a hostile server
 * must not make us send an authKey it can brute-force cheaply), never above 1 GiB of memory. */
const MIN_LOG_N = WEAK_FOR_TESTS ? TEST_KDF_PARAMS.logN : LEGACY_KDF_PARAMS.logN
const MAX_MEMORY = 1024 * 1024 * 1024

/** ERR_MALFORMED unless `params` are sane: 2^15 ≤ N, 8 ≤ r ≤ 32, 1 ≤ p ≤ 4, memory ≤ 1 GiB. */
export function checkKdfParams (params: KdfParams): void {
  const { logN, r, p } = params
  if (![logN, r, p].every(Number.isSafeInteger)) throw malformed('scrypt parameters must be integers')
  if (logN < MIN_LOG_N || logN > 24) throw malformed(`scrypt N=2^${logN} is out of range (2^${MIN_LOG_N} or more)`)
  if (r < 8 || r > 32 || p < 1 || p > 4) throw malformed(`scrypt r=${r}, p=${p} is out of range`)
  if (scryptMemory(params) > MAX_MEMORY) throw malformed('scrypt parameters need more than 1 GiB of memory')
}

/** True if `params` cost less than any this program accepts (checkKdfParams refuses them): an
 * account made at the tests' cost (PARLEY_TEST_WEAK_SCRYPT), read by a program without it. */
export function underMinimumKdf ({ logN }: KdfParams): boolean {
  return Number.isSafeInteger(logN) && logN < MIN_LOG_N
}

/** True if `a` costs less than `b` in any parameter (so `a` should be upgraded to `b`). */
export function weakerKdf (a: KdfParams, b: KdfParams): boolean {
  return a.logN < b.logN || a.r < b.r || a.p < b.p
}

/** scrypt's working memory: 128 * N * r bytes (the p lanes run one after another in Node). */
function scryptMemory ({ logN, r }: KdfParams): number {
  return 128 * 2 ** logN * r
}

/** Options for node:crypto scrypt; maxmem is raised above the need (Node's default is 32 MiB,
 * which refuses anything above N = 2^14 with r = 8). */
export function scryptOptions (params: KdfParams): { N: number, r: number, p: number, maxmem: number } {
  return { N: 2 ** params.logN, r: params.r, p: params.p, maxmem: scryptMemory(params) + 32 * 1024 * 1024 }
}

const KEY_BYTES = 32
const SALT_BYTES = 16

export async function deriveMasterKey (password: string, salt: Uint8Array, params: KdfParams = KDF_PARAMS): Promise<Uint8Array> {
  if (salt.length < SALT_BYTES) throw malformed('salt too short')
  checkKdfParams(params)
  // NFKC so the same password typed on two keyboards/OSes gives the same key; never lower-cased
  // (case is part of the password's entropy).
  const normalised = password.normalize('NFKC')
  return await new Promise((resolve, reject) => {
    scrypt(normalised, salt, KEY_BYTES, scryptOptions(params), (err, key) => {
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
