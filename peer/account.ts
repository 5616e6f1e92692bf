/**
 * Signup and sign-in without ever sending the password (DESIGN §3): the password becomes an
 * scrypt master key here, the server only ever sees authKey (and keeps its hash), and the
 * user's identity key travels and rests wrapped under wrapKey.
 */
import { readFile, writeFile, mkdir, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { deriveAuthKey, deriveMasterKey, deriveWrapKey, newSalt } from '../common/crypto/password.ts'
import { unwrapSecret, wrapSecret } from '../common/crypto/wrap.ts'
import { ErrorCode, ParleyError, is } from '../common/errors.ts'
import type { RendezvousClient } from './rendezvous-client.ts'

export interface Credentials {
  username: string
  authKey: Uint8Array
  wrapKey: Uint8Array
}

export interface SignedIn {
  username: string
  wrapKey: Uint8Array
  /** Kept in memory only, to sign in again by itself when the rendezvous comes back. */
  authKey: Uint8Array
  identity: PrivateKey
}

/** The seam between the account flow and the node that carries it. */
export interface AccountHost {
  rendezvous: () => RendezvousClient
  /** Restart the libp2p node under this identity (a no-op when it already is). */
  useIdentity: (identity: PrivateKey) => Promise<void>
  /** The node's dialable addresses, to publish in the directory. */
  addrs: () => string[]
  dataDir: string
}

const identityContext = (username: string): string => `identity:${username}`
const identityFile = (dataDir: string, username: string): string => join(dataDir, username, 'identity.wrapped')

async function credentialsFor (username: string, password: string, salt: Uint8Array): Promise<Credentials> {
  const master = await deriveMasterKey(password, salt)
  return { username, authKey: deriveAuthKey(master), wrapKey: deriveWrapKey(master) }
}

export async function signUp (host: AccountHost, username: string, password: string): Promise<SignedIn> {
  checkPassword(password)
  const salt = newSalt()
  const credentials = await credentialsFor(username, password, salt)
  const identity = await generateKeyPair('Ed25519')
  const wrapped = wrapSecret(credentials.wrapKey, identityContext(username), privateKeyToProtobuf(identity))
  await host.useIdentity(identity)
  await host.rendezvous().signup({ username, salt, authKey: credentials.authKey, identity: wrapped, addrs: host.addrs() })
  await saveLocalIdentity(host.dataDir, username, wrapped)
  return { username, wrapKey: credentials.wrapKey, authKey: credentials.authKey, identity }
}

export async function signIn (host: AccountHost, username: string, password: string): Promise<SignedIn> {
  const salt = await host.rendezvous().salt(username)
  const credentials = await credentialsFor(username, password, salt)
  const local = await loadLocalIdentity(host.dataDir, username, credentials.wrapKey)
  if (local !== undefined) await host.useIdentity(local)
  const first = await host.rendezvous().signin({ username, authKey: credentials.authKey, addrs: host.addrs() })
  if (first.bound && local !== undefined) return { username: first.username, wrapKey: credentials.wrapKey, authKey: credentials.authKey, identity: local }

  // A new machine (or a lost data folder): the identity comes from its wrapped copy on the
  // rendezvous, then we sign in again as that identity.
  const identity = privateKeyFromProtobuf(unwrapSecret(credentials.wrapKey, identityContext(first.username), first.identity))
  if (peerIdFromPrivateKey(identity).toString() !== first.peerId) {
    throw new ParleyError(ErrorCode.Integrity, 'the stored identity does not match the account')
  }
  await host.useIdentity(identity)
  const second = await host.rendezvous().signin({ username, authKey: credentials.authKey, addrs: host.addrs() })
  if (!second.bound) throw new ParleyError(ErrorCode.Protocol, 'the rendezvous did not accept our identity')
  await saveLocalIdentity(host.dataDir, first.username, first.identity)
  return { username: first.username, wrapKey: credentials.wrapKey, authKey: credentials.authKey, identity }
}

/** Passwords are kept exactly as typed (never lower-cased); only a floor on length. */
function checkPassword (password: string): void {
  if ([...password].length < 8) throw new ParleyError(ErrorCode.Usage, 'choose a password of at least 8 characters')
  if (password.length > 1024) throw new ParleyError(ErrorCode.TooLarge, 'password too long')
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

async function saveLocalIdentity (dataDir: string, username: string, wrapped: Uint8Array): Promise<void> {
  const file = identityFile(dataDir, username)
  await mkdir(join(dataDir, username), { recursive: true, mode: 0o700 })
  await writeFile(`${file}.tmp`, wrapped, { mode: 0o600 })
  await rename(`${file}.tmp`, file)
}
