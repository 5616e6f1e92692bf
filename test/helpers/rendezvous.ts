/**
 * Shared fixtures for rendezvous tests: client nodes on loopback (never mDNS), accounts with keys
 * derived once, an event recorder and signed epoch commitments. The real server process, temp
 * folders and connection pacing, which the benchmark and the demo use too, are in harness/.
 */
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { epochStatement, keyCommitment } from '../../common/crypto/epoch.ts'
import { newGroupKey } from '../../common/crypto/group.ts'
import { KDF_PARAMS, deriveAuthKey, deriveMasterKey, deriveWrapKey, newSalt } from '../../common/crypto/password.ts'
import type { KdfParams } from '../../common/crypto/password.ts'
import { wrapSecret } from '../../common/crypto/wrap.ts'
import { createParleyNode } from '../../common/node.ts'
import type { ParleyNode } from '../../common/node.ts'
import type { RendezvousEvent } from '../../common/protocol/rendezvous.ts'

/** A client libp2p node on loopback with a random port; never mDNS. */
export async function clientNode (privateKey?: PrivateKey): Promise<ParleyNode> {
  return await createParleyNode({
    privateKey: privateKey ?? await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0']
  })
}

export interface Account {
  username: string
  salt: Uint8Array
  kdf: KdfParams
  authKey: Uint8Array
  wrapKey: Uint8Array
  privateKey: PrivateKey
  /** The private key wrapped under wrapKey, as signup sends it. */
  identity: Uint8Array
}

/** An account's keys; `kdf` other than the current parameters only to make the accounts of an
 * older version. scrypt is slow on purpose (0.6 CPU-s at N = 2^17), so accounts made here with
 * the same password and parameters share one salt and one derivation per test process (a test
 * of twelve accounts paid 7 CPU-s for them). The server cannot tell: it keeps and checks a
 * verifier per user whatever the salts. Tests where users' passwords must differ give them
 * different passwords. */
export async function makeAccount (username: string, password: string, kdf: KdfParams = KDF_PARAMS): Promise<Account> {
  const { salt, master } = await derivedOnce(password, kdf)
  const wrapKey = deriveWrapKey(master)
  const privateKey = await generateKeyPair('Ed25519')
  return {
    username,
    salt,
    kdf: { ...kdf },
    authKey: deriveAuthKey(master),
    wrapKey,
    privateKey,
    identity: wrapSecret(wrapKey, `identity:${username}`, privateKeyToProtobuf(privateKey))
  }
}

const derivations = new Map<string, Promise<{ salt: Uint8Array, master: Uint8Array }>>()

async function derivedOnce (password: string, kdf: KdfParams): Promise<{ salt: Uint8Array, master: Uint8Array }> {
  const key = JSON.stringify([password, kdf.logN, kdf.r, kdf.p])
  let derivation = derivations.get(key)
  if (derivation === undefined) {
    const salt = newSalt()
    derivation = deriveMasterKey(password, salt, kdf).then(master => ({ salt, master }))
    derivations.set(key, derivation)
  }
  return await derivation
}

/** Collects a subscriber's events; `next` waits for the first unseen one that matches. */
export class EventRecorder {
  readonly events: RendezvousEvent[] = []
  readonly #waiters: Array<{ match: (event: RendezvousEvent) => boolean, resolve: (event: RendezvousEvent) => void }> = []
  #seen = 0

  readonly push = (event: RendezvousEvent): void => {
    this.events.push(event)
    const index = this.#waiters.findIndex(waiter => waiter.match(event))
    if (index !== -1) {
      const [waiter] = this.#waiters.splice(index, 1)
      this.#seen = this.events.length
      waiter?.resolve(event)
    }
  }

  /** The next event (after the last one `next` returned) that matches, within `timeoutMs`. */
  async next (match: (event: RendezvousEvent) => boolean, timeoutMs = 5_000): Promise<RendezvousEvent> {
    const found = this.events.slice(this.#seen).find(match)
    if (found !== undefined) {
      this.#seen = this.events.indexOf(found, this.#seen) + 1
      return found
    }
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no matching event in ${timeoutMs} ms; got ${JSON.stringify(this.events.map(e => e.type))}`))
      }, timeoutMs)
      this.#waiters.push({ match, resolve: event => { clearTimeout(timer); resolve(event) } })
    })
  }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** A signed commitment for `rotate`, made as a peer makes it (common/crypto/epoch.ts), to a
 * random key unless one is given. */
export async function epochProof (maker: PrivateKey, group: string, epoch: number, key: Uint8Array = newGroupKey()): Promise<{ commitment: Uint8Array, signature: Uint8Array }> {
  const commitment = keyCommitment(key, group, epoch)
  return { commitment, signature: await maker.sign(epochStatement(group, epoch, commitment)) }
}
