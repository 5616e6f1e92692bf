/**
 * Signup and sign-in without ever sending the password (DESIGN §3): the password becomes an
 * scrypt master key here, the server only ever sees authKey (and keeps its hash), and the
 * user's identity key travels and rests wrapped under wrapKey.
 *
 * Raising the scrypt cost (issue 12 item 4). Every account carries its scrypt parameters (the
 * rendezvous returns them with the salt). The *account key* wraps everything the user keeps: the
 * identity (here and on the rendezvous), group keys (keyring), and the local store's sealing key
 * (peer/store). For an account made with the current parameters the account key is simply its
 * wrapKey. An account with weaker parameters (N=2^15, before issue 12) is upgraded at its next
 * successful sign-in: a new salt and N=2^17 give a new authKey and wrapKey, and the rendezvous
 * stores the account key — still the old wrapKey, so nothing wrapped before has to be re-wrapped —
 * wrapped under the new wrapKey (`dataKey`, returned by a successful sign-in). The old salt and
 * verifier are replaced, so from then on every password guess costs N=2^17. A copy of the wrapped
 * account key and the parameters is kept in the data folder (`account.json`), so a peer never
 * accepts weaker parameters than it last used (a hostile rendezvous cannot downgrade the cost).
 */
import { keepLatest } from '../common/latest-kept.ts'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import {
  KDF_PARAMS, checkKdfParams, constantTimeEqual, deriveAuthKey, deriveMasterKey, deriveWrapKey, newSalt, underMinimumKdf, weakerKdf
} from '../common/crypto/password.ts'
import type { KdfParams } from '../common/crypto/password.ts'
import { unwrapSecret, wrapSecret } from '../common/crypto/wrap.ts'
import { ErrorCode, ParleyError, asParleyError, is } from '../common/errors.ts'
import { writeFileAtomic } from '../common/fs.ts'
import { answerWithin } from '../common/patient-timeout.ts'
import { mayHaveBeenDone } from './rendezvous-client.ts'
import type { RendezvousClient, SigninArgs, SignupArgs } from './rendezvous-client.ts'
import type { PeerEvent } from './events.ts'
import { logger } from './log.ts'
import { ANSWER_PATIENCE_MS } from './constants.ts'

interface Credentials {
  username: string
  authKey: Uint8Array
  wrapKey: Uint8Array
}

export interface SignedIn {
  username: string
  /** The account key (see above): the wrapKey of the account's first parameters. Everything the
   * user keeps is wrapped or sealed under it. */
  wrapKey: Uint8Array
  /** Kept in memory only, to sign in again by itself when the rendezvous comes back. */
  authKey: Uint8Array
  identity: PrivateKey
  /** Signed in from the data folder alone: the rendezvous could not be reached (see signInOffline). */
  offline?: boolean
  /** Sign-ins from other devices the rendezvous refused since the account last signed in. */
  failedSignIns?: number
}

/** What a person is told of sign-ins from other devices that failed since they last signed in
 * (round 40: 20 wrong guesses at a password, and its owner never heard of them). */
export function failedSignInsWarning (username: string, count: number): PeerEvent | undefined {
  if (count === 0) return undefined
  const times = count === 1 ? 'A sign-in' : `${count} sign-ins`
  return {
    event: 'warning',
    code: ErrorCode.BadCredentials,
    message: `${times} to ${username} from another device failed (a wrong password) since you last signed in: if ${count === 1 ? 'it was' : 'they were'} not you, someone may be guessing your password`
  }
}

/** Sign-ins made here that the rendezvous refused for a wrong password, by account, until one
 * succeeds: the rendezvous counts them among the failures it reports then, and they are not
 * someone else's. At most FAILED_HERE_ACCOUNTS accounts are kept, the latest. */
export class FailedHere {
  readonly #counts = new Map<string, number>()

  note (username: string): void {
    keepLatest(this.#counts, username, (this.#counts.get(username) ?? 0) + 1, FAILED_HERE_ACCOUNTS)
  }

  /** How many were noted for `username`, forgotten now (it signed in). */
  take (username: string): number {
    const count = this.#counts.get(username) ?? 0
    this.#counts.delete(username)
    return count
  }
}

const FAILED_HERE_ACCOUNTS = 64

/** The seam between the account flow and the node that carries it. */
export interface AccountHost {
  rendezvous: () => RendezvousClient
  /** Restart the libp2p node under this identity (a no-op when it already is). */
  useIdentity: (identity: PrivateKey) => Promise<void>
  /** Make the account at the rendezvous, asked as `identity` (the account is bound to the peer id
   * that asks), and leave the node signed in there under that identity. */
  createAccount: (identity: PrivateKey, account: Omit<SignupArgs, 'addrs'>) => Promise<void>
  /** The node's dialable addresses, to publish in the directory. */
  addrs: () => string[]
  dataDir: string
}

const log = logger('parley:account')

const identityContext = (username: string): string => `identity:${username}`
const accountKeyContext = (username: string): string => `account-key:${username}`
const identityFile = (dataDir: string, username: string): string => join(dataDir, username, 'identity.wrapped')
const accountFile = (dataDir: string, username: string): string => join(dataDir, username, 'account.json')

async function credentialsFor (username: string, password: string, salt: Uint8Array, kdf: KdfParams): Promise<Credentials> {
  const master = await deriveMasterKey(password, salt, kdf)
  return { username, authKey: deriveAuthKey(master), wrapKey: deriveWrapKey(master) }
}

/**
 * Sign in at the rendezvous with an account's authKey, as the identity this node holds, and
 * require the account to be bound to it. `unbound` says what it means when it is not: a session
 * signing in again finds the account on `another` identity (ERR_IDENTITY_CHANGED); right after
 * this node took the identity the account names, a refusal is the rendezvous's `fault`
 * (ERR_PROTOCOL). The one check of `bound` for the four places that sign in with a kept key.
 */
export async function signInBound (rendezvous: Pick<RendezvousClient, 'signin'>, args: SigninArgs, unbound: 'another' | 'fault'): Promise<number> {
  const signed = await rendezvous.signin(args)
  if (signed.bound) return signed.failedSignIns ?? 0
  throw unbound === 'another'
    ? new ParleyError(ErrorCode.IdentityChanged, `the rendezvous has another identity for ${args.username}`)
    : new ParleyError(ErrorCode.Protocol, 'the rendezvous did not accept our identity')
}

export async function signUp (host: AccountHost, username: string, password: string): Promise<SignedIn> {
  checkPassword(password)
  const salt = newSalt()
  const kdf = { ...KDF_PARAMS }
  const credentials = await credentialsFor(username, password, salt, kdf)
  const identity = await generateKeyPair('Ed25519')
  const wrapped = wrapSecret(credentials.wrapKey, identityContext(username), privateKeyToProtobuf(identity))
  await host.createAccount(identity, { username, salt, kdf, authKey: credentials.authKey, identity: wrapped })
  try {
    await saveLocalIdentity(host.dataDir, username, wrapped)
    await saveLocalAccount(host.dataDir, username, { kdf, salt })
  } catch (err) {
    // Made at the rendezvous, which keeps the wrapped identity: LOGIN restores it here later
    // (until 2026-12-07 only the write's error was said, and SIGNUP again read "taken": round 29).
    const cause = asParleyError(err)
    throw new ParleyError(cause.code, `the account ${username} is made, but this folder cannot keep it (${cause.message}): LOGIN ${username} once it can be written to`, { cause: err })
  }
  return { username, wrapKey: credentials.wrapKey, authKey: credentials.authKey, identity }
}

export async function signIn (host: AccountHost, username: string, password: string, patienceMs = ANSWER_PATIENCE_MS): Promise<SignedIn> {
  const account = await loadLocalAccount(host.dataDir, username)
  let offered
  try {
    // Signed in from this folder before, we can go on without the rendezvous: its salt gets the
    // patience, then the sign-in is this folder's (offline) and the session signs in there once
    // it answers (a frozen rendezvous held LOGIN 15 s: round 20). Only the salt was asked, which
    // changes nothing there; a late answer or failure of it is dropped.
    const asking = host.rendezvous().saltOf(username)
    asking.catch(() => {})
    offered = account?.salt === undefined ? await asking : await answerWithin(asking, patienceMs)
    if (offered === undefined) throw new ParleyError(ErrorCode.Unreachable, `the rendezvous did not answer within ${patienceMs / 1000} s`)
  } catch (err) {
    if (!is(err, ErrorCode.Unreachable)) throw err
    return await signInOffline(host, username, password, account, err)
  }
  const { salt, kdf } = offered
  checkOfferedKdf(kdf, account?.kdf)
  const credentials = await credentialsFor(username, password, salt, kdf)
  // The account key as this folder last knew it (a wrong password unwraps nothing).
  const knownKey = accountKeyFrom(credentials, username, account?.dataKey, true) ?? credentials.wrapKey
  const local = await loadLocalIdentity(host.dataDir, username, knownKey)
  if (local !== undefined) await host.useIdentity(local)
  const first = await host.rendezvous().signin({ username, authKey: credentials.authKey, addrs: host.addrs() })
    .catch(async (err: unknown) => { throw await unknownHere(host, username, password, account, salt, err) })
  const accountKey = accountKeyFrom(credentials, first.username, first.dataKey, false) ?? credentials.wrapKey
  let signed: SignedIn
  const failed = first.failedSignIns === undefined ? {} : { failedSignIns: first.failedSignIns }
  if (first.bound && local !== undefined) {
    signed = { username: first.username, wrapKey: accountKey, authKey: credentials.authKey, identity: local, ...failed }
  } else {
    // A new machine (or a lost data folder): the identity comes from its wrapped copy on the
    // rendezvous, then we sign in again as that identity.
    const identity = privateKeyFromProtobuf(unwrapSecret(accountKey, identityContext(first.username), first.identity))
    if (peerIdFromPrivateKey(identity).toString() !== first.peerId) {
      throw new ParleyError(ErrorCode.Integrity, 'the stored identity does not match the account')
    }
    await host.useIdentity(identity)
    await signInBound(host.rendezvous(), { username, authKey: credentials.authKey, addrs: host.addrs() }, 'fault')
    await saveLocalIdentity(host.dataDir, first.username, first.identity)
    signed = { username: first.username, wrapKey: accountKey, authKey: credentials.authKey, identity, ...failed }
  }
  // Written only when it changed: a full disk, which refuses the write, need not refuse a sign-in
  // that changes nothing here (round 46: LOGIN failed, and the outbox could not go out).
  const known = { kdf, salt, ...(first.dataKey === undefined ? {} : { dataKey: first.dataKey }) }
  if (account === undefined || first.username !== username || !sameAccount(account, known)) await saveLocalAccount(host.dataDir, first.username, known)
  if (!weakerKdf(kdf, KDF_PARAMS)) return signed
  return await upgrade(host, signed, password, credentials.authKey)
}

/**
 * A sign-in refused as a wrong password, from a folder that signed in as `username` before with
 * another salt than the rendezvous offers now: if the password opens this folder's account, it is
 * right, and the rendezvous does not know the account (another rendezvous at the address, or one
 * that lost its accounts; an unknown name is offered a salt of its own). Said so, where "invalid
 * username or password" sent a person who had just followed the peer's advice to start with the
 * new rendezvous (ERR_IDENTITY_CHANGED) looking for a typo (until 2026-12-07: round 35). One
 * scrypt more, on this path only.
 */
async function unknownHere (host: AccountHost, username: string, password: string, account: LocalAccount | undefined, offeredSalt: Uint8Array, err: unknown): Promise<unknown> {
  if (!is(err, ErrorCode.BadCredentials) || account?.salt === undefined || Buffer.from(account.salt).equals(offeredSalt)) return err
  if ((await openLocalAccount(host, username, password, account.salt, account)).identity === undefined) return err
  // Or the password was changed since, on another device or by a PASSWORD left unanswered
  // (round 47: told to SIGNUP anew, losing the identity): both, the likelier first.
  return new ParleyError(ErrorCode.BadCredentials, `the rendezvous does not take the password that opens this folder for ${username}: ` +
    'if it was changed since (PASSWORD, here or on another device), sign in with the new one; else this is not the rendezvous the account was made at, ' +
    `or it lost its accounts, and SIGNUP ${username} makes the account there anew, with a new identity`, { cause: err })
}

/**
 * Raise an account's scrypt cost to KDF_PARAMS (see the top of this file): a new salt, authKey
 * and wrapKey; the account key, wrapped under the new wrapKey, goes to the rendezvous with them.
 * If the rendezvous does not take it, the account keeps working as it was and is upgraded at a
 * later sign-in.
 */
async function upgrade (host: AccountHost, signed: SignedIn, password: string, authKey: Uint8Array): Promise<SignedIn> {
  const salt = newSalt()
  const kdf = { ...KDF_PARAMS }
  const next = await credentialsFor(signed.username, password, salt, kdf)
  const dataKey = wrapSecret(next.wrapKey, accountKeyContext(signed.username), signed.wrapKey)
  try {
    await host.rendezvous().rekey({ authKey, salt, kdf, newAuthKey: next.authKey, dataKey })
  } catch (err) {
    // Not upgraded this time (rendezvous gone, or an older one): the old parameters still work.
    log.warn('the password parameters were not upgraded this time', err)
    return signed
  }
  await saveLocalAccount(host.dataDir, signed.username, { kdf, salt, dataKey })
  return { ...signed, authKey: next.authKey }
}

/**
 * PASSWORD: a new password for the account signed in, as an upgrade (above) makes one for new
 * parameters: a new salt gives a new authKey and wrapKey, and the account key, which the identity,
 * the group keys and the store are wrapped or sealed under, stays; only its wrapped copy
 * (`dataKey`) is made anew, on the rendezvous and here. The current password is checked here
 * first, against this sign-in's own authKey (a typo costs no attempt at the rendezvous's
 * throttle), and again by the rendezvous, which takes the change only with it. The rendezvous must
 * answer: the password lives there. `onChanged` gets the new sign-in as soon as the rendezvous took
 * it, before this folder is written (a folder that cannot be written to fails the change here, but
 * the new password is the account's all the same).
 */
export async function changePassword (host: AccountHost, signed: SignedIn, current: string, next: string, onChanged: (signed: SignedIn) => void, onUnsettled?: (settle: UnsettledChange) => void): Promise<void> {
  const refused = passwordProblem(next)
  if (refused !== undefined) throw new ParleyError(refused.code, `${refused.message}: the password was not changed`)
  const { kdf } = await checkCurrentPassword(host, signed, current)
  if (current === next) throw new ParleyError(ErrorCode.Usage, 'the new password is the current one: the password was not changed')
  const newSaltBytes = newSalt()
  const newKdf = weakerKdf(kdf, KDF_PARAMS) ? { ...KDF_PARAMS } : kdf
  const credentials = await credentialsFor(signed.username, next, newSaltBytes, newKdf)
  const dataKey = wrapSecret(credentials.wrapKey, accountKeyContext(signed.username), signed.wrapKey)
  /** The rendezvous took it: the session and this folder go on with the new password. */
  const taken = async (): Promise<void> => {
    onChanged({ ...signed, authKey: credentials.authKey })
    try {
      await saveLocalAccount(host.dataDir, signed.username, { kdf: newKdf, salt: newSaltBytes, dataKey })
    } catch (err) {
      const cause = asParleyError(err)
      throw new ParleyError(cause.code, `the password is changed, but this folder cannot keep it (${cause.message}): until it signs in here again, ` +
        'the rendezvous out of reach, this folder still opens with the old password', { cause: err })
    }
  }
  const unknown = await host.rendezvous().rekey({ authKey: signed.authKey, salt: newSaltBytes, kdf: newKdf, newAuthKey: credentials.authKey, dataKey })
    .then(() => undefined, async (err: unknown) => await settleRekey(host, signed.username, newSaltBytes, err))
  if (unknown === undefined) return await taken()
  if (onUnsettled === undefined) throw new ParleyError(unknown.code, `${unknown.message}, and whether it changed the password is not known: at the next LOGIN, try the new password first`, { cause: unknown })
  // Settled later, by the salt the rendezvous offers once it answers (until 2026-12-07 never:
  // a change a frozen rendezvous made when it thawed left this session signing in with the old
  // password, which failed at its next sign-in by itself: round 47).
  onUnsettled(async () => {
    const offered = await saltOffered(host, signed.username)
    if (offered === undefined) return undefined
    if (!Buffer.from(offered).equals(newSaltBytes)) return false
    await taken()
    return true
  })
  throw new ParleyError(unknown.code, `${unknown.message}, and whether it changed the password is said once it answers (meanwhile, at a LOGIN elsewhere, try the new password first)`, { cause: unknown })
}

/** A PASSWORD the rendezvous may have taken, asked about once: true, it was (the session and this
 * folder now have the new password); false, it was not; undefined, no answer yet. */
export type UnsettledChange = () => Promise<boolean | undefined>

/** Whether `current` is the password of this sign-in (its authKey), here alone: the parameters it
 * goes with, or ERR_BAD_CREDENTIALS. (PASSWORD's dialogue asks it first, before the new one.) */
export async function checkCurrentPassword (host: AccountHost, signed: SignedIn, current: string): Promise<{ salt: Uint8Array, kdf: KdfParams }> {
  const account = await loadLocalAccount(host.dataDir, signed.username)
  const { salt, kdf } = account?.salt === undefined ? await host.rendezvous().saltOf(signed.username) : { salt: account.salt, kdf: account.kdf }
  const check = await credentialsFor(signed.username, current, salt, kdf)
  if (!constantTimeEqual(check.authKey, signed.authKey)) {
    throw new ParleyError(ErrorCode.BadCredentials, 'the current password is not right: the password was not changed')
  }
  return { salt, kdf }
}

/** A change of password the rendezvous did not take, said so; or one it may have taken (sent,
 * unanswered: a frozen rendezvous does it when it thaws), settled by the salt it offers now: the
 * new one, and it was done (undefined); no answer, and that is not known (the error to say). */
async function settleRekey (host: AccountHost, username: string, newSaltBytes: Uint8Array, err: unknown): Promise<ParleyError | undefined> {
  const cause = asParleyError(err)
  if (!mayHaveBeenDone(err)) throw new ParleyError(cause.code, `${cause.message}: the password was not changed`, { cause: err })
  const offered = await saltOffered(host, username)
  if (offered === undefined) return cause
  if (!Buffer.from(offered).equals(newSaltBytes)) throw new ParleyError(cause.code, `${cause.message}: the password was not changed`, { cause: err })
  return undefined
}

/** The salt the rendezvous offers for `username` now, if it answers within ANSWER_PATIENCE_MS. */
async function saltOffered (host: AccountHost, username: string): Promise<Uint8Array | undefined> {
  const asking = host.rendezvous().saltOf(username)
  asking.catch(() => {}) // a late answer or failure of it is dropped
  return (await answerWithin(asking, ANSWER_PATIENCE_MS).catch(() => undefined))?.salt
}

/**
 * Sign in with the rendezvous out of reach (issue 13 item 3, as Briar does on a LAN): a folder
 * that signed in here before keeps the account's salt and parameters, and the password is right
 * exactly when it unwraps the identity kept here. The session then reaches known contacts at
 * their last addresses and signs in at the rendezvous by itself when it is back.
 */
async function signInOffline (host: AccountHost, username: string, password: string, account: LocalAccount | undefined, cause: unknown): Promise<SignedIn> {
  if (account?.salt === undefined) {
    throw new ParleyError(ErrorCode.Unreachable, `cannot reach the rendezvous, and ${username} has not signed in from this data folder before`, { cause })
  }
  const { credentials, accountKey, identity } = await openLocalAccount(host, username, password, account.salt, account)
  // A password changed on another device opens this folder only once it signed in with it at
  // the rendezvous (round 48: the new one said only "invalid", the old one opened it).
  if (identity === undefined) throw new ParleyError(ErrorCode.BadCredentials, 'invalid username or password (the rendezvous is out of reach: this folder opens with the password it last signed in with here, the old one if it was changed on another device since)')
  await host.useIdentity(identity)
  return { username, wrapKey: accountKey, authKey: credentials.authKey, identity, offline: true }
}

/** This folder's account opened with `password` and the folder's own salt and parameters: the
 * identity kept here, undefined if the password does not open it. */
async function openLocalAccount (host: AccountHost, username: string, password: string, salt: Uint8Array, account: LocalAccount): Promise<{ credentials: Credentials, accountKey: Uint8Array, identity: PrivateKey | undefined }> {
  const credentials = await credentialsFor(username, password, salt, account.kdf)
  const accountKey = accountKeyFrom(credentials, username, account.dataKey, true) ?? credentials.wrapKey
  return { credentials, accountKey, identity: await loadLocalIdentity(host.dataDir, username, accountKey) }
}

/** Parameters offered by the rendezvous: sane, and never weaker than this folder last used
 * (otherwise a hostile rendezvous could make us send an authKey that is cheap to brute-force). */
function checkOfferedKdf (offered: KdfParams, known: KdfParams | undefined): void {
  // A rendezvous run at the tests' cost: said so, as of a folder (loadAccount; until 2026-12-07
  // "unusable password parameters: scrypt N=2^10 is out of range (2^15 or more)": round 36).
  if (underMinimumKdf(offered)) {
    throw new ParleyError(ErrorCode.Integrity, `the rendezvous offers a password cost this program does not accept (scrypt N=2^${offered.logN}): ` +
      'a rendezvous run for the tests (PARLEY_TEST_WEAK_SCRYPT) offers it, and its accounts are of no use outside them')
  }
  try {
    checkKdfParams(offered)
  } catch (err) {
    throw new ParleyError(ErrorCode.Integrity, `the rendezvous offers unusable password parameters: ${(err as Error).message}`)
  }
  if (known !== undefined && weakerKdf(offered, known)) {
    throw new ParleyError(ErrorCode.Integrity, `the rendezvous offers weaker password hashing (scrypt N=2^${offered.logN}) ` +
      `than this account uses here (N=2^${known.logN}); refusing to sign in`)
  }
}

/** The account key from its wrapped copy, if there is one. `quiet`: a copy that does not unwrap
 * (a wrong password, or a copy from older parameters) gives undefined instead of an error. */
function accountKeyFrom (credentials: Credentials, username: string, wrapped: Uint8Array | undefined, quiet: boolean): Uint8Array | undefined {
  if (wrapped === undefined) return undefined
  try {
    return unwrapSecret(credentials.wrapKey, accountKeyContext(username), wrapped)
  } catch (err) {
    if (quiet && is(err, ErrorCode.Integrity)) return undefined
    throw err
  }
}

/** Passwords are kept exactly as typed (never lower-cased); only a floor on length. */
function checkPassword (password: string): void {
  const problem = passwordProblem(password)
  if (problem !== undefined) throw problem
}

/** Why a new password is refused, if it is. The prompt asks at once for another (SIGNUP's
 * hidden `Password:`, before `Again:`), where a script's SIGNUP fails with it. */
export function passwordProblem (password: string): ParleyError | undefined {
  if ([...password].length < 8) return new ParleyError(ErrorCode.Usage, 'choose a password of at least 8 characters')
  if (password.length > 1024) return new ParleyError(ErrorCode.TooLarge, 'password too long')
  return undefined
}

async function loadLocalIdentity (dataDir: string, username: string, wrapKey: Uint8Array): Promise<PrivateKey | undefined> {
  let blob: Uint8Array
  try {
    blob = await readFile(identityFile(dataDir, username))
  } catch (err) {
    // No local copy (a new machine): the rendezvous has the wrapped one. Anything else is a
    // real problem with the data folder, and the user should hear of it.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ParleyError(ErrorCode.File, `cannot read ${identityFile(dataDir, username)}: ${(err as Error).message}`)
  }
  try {
    return privateKeyFromProtobuf(unwrapSecret(wrapKey, identityContext(username), blob))
  } catch (err) {
    // A wrong password cannot unwrap it: let the server give the one clear answer.
    if (is(err, ErrorCode.Integrity)) return undefined
    throw err
  }
}

interface LocalAccount {
  kdf: KdfParams
  /** The salt that goes with `kdf` (folders from before offline sign-in have none). */
  salt?: Uint8Array
  dataKey?: Uint8Array
}

async function loadLocalAccount (dataDir: string, username: string): Promise<LocalAccount | undefined> {
  let text: string
  try {
    text = await readFile(accountFile(dataDir, username), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined // older folder, or a new machine
    throw new ParleyError(ErrorCode.File, `cannot read ${accountFile(dataDir, username)}: ${(err as Error).message}`)
  }
  try {
    const value = JSON.parse(text) as { kdf: KdfParams, salt?: string, dataKey?: string }
    const kdf = { logN: Number(value.kdf.logN), r: Number(value.kdf.r), p: Number(value.kdf.p) }
    // Not damaged, but made where passwords cost less (the tests): said so (until 2026-12-07
    // "… is damaged: scrypt N=2^10 is out of range": round 32).
    if (underMinimumKdf(kdf)) {
      throw new ParleyError(ErrorCode.Integrity, `${accountFile(dataDir, username)} is of an account made at a password cost this program does not accept ` +
        `(scrypt N=2^${kdf.logN}): the tests make such accounts (PARLEY_TEST_WEAK_SCRYPT), and they are of no use outside them`)
    }
    checkKdfParams(kdf)
    const bytes = (field: unknown): Uint8Array | undefined => typeof field === 'string' ? new Uint8Array(Buffer.from(field, 'base64')) : undefined
    const salt = bytes(value.salt)
    const dataKey = bytes(value.dataKey)
    return { kdf, ...(salt === undefined ? {} : { salt }), ...(dataKey === undefined ? {} : { dataKey }) }
  } catch (err) {
    if (err instanceof ParleyError && err.code === ErrorCode.Integrity) throw err
    throw new ParleyError(ErrorCode.File, `${accountFile(dataDir, username)} is damaged: ${(err as Error).message}`)
  }
}

/** Whether two records of an account's parameters say the same. */
function sameAccount (a: LocalAccount, b: LocalAccount): boolean {
  const bytes = (x: Uint8Array | undefined, y: Uint8Array | undefined): boolean => x === undefined || y === undefined ? x === y : Buffer.from(x).equals(y)
  return a.kdf.logN === b.kdf.logN && a.kdf.r === b.kdf.r && a.kdf.p === b.kdf.p && bytes(a.salt, b.salt) && bytes(a.dataKey, b.dataKey)
}

async function saveLocalAccount (dataDir: string, username: string, account: LocalAccount): Promise<void> {
  const file = accountFile(dataDir, username)
  const base64 = (value: Uint8Array | undefined): string | undefined => value === undefined ? undefined : Buffer.from(value).toString('base64')
  const body = { kdf: account.kdf, salt: base64(account.salt), dataKey: base64(account.dataKey) }
  await writeFileAtomic(file, JSON.stringify(body))
}

async function saveLocalIdentity (dataDir: string, username: string, wrapped: Uint8Array): Promise<void> {
  const file = identityFile(dataDir, username)
  await writeFileAtomic(file, wrapped)
}
