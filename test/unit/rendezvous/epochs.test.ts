/**
 * Signed group epochs on the rendezvous (issue 12 item 1), through the real handlers and store in
 * process, on a mocked clock: who may start an epoch, and how often.
 */
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, is } from '../../../common/errors.ts'
import type { Result } from '../../../common/protocol/rendezvous.ts'
import { createHandlers } from '../../../rendezvous/handlers.ts'
import type { Handlers, RequestContext } from '../../../rendezvous/handlers.ts'
import { EPOCH_MIN_AGE_MS, MEMBER_ROTATION_INTERVAL_MS } from '../../../rendezvous/constants.ts'
import { Notifier } from '../../../rendezvous/notify.ts'
import { SignInThrottle } from '../../../rendezvous/ratelimit.ts'
import { Sessions } from '../../../rendezvous/sessions.ts'
import { openStore } from '../../../rendezvous/store.ts'
import type { RendezvousStore } from '../../../rendezvous/store.ts'
import { epochProof } from '../../helpers/rendezvous.ts'

const NAMES = ['alice', 'bob', 'mallory'] as const
type Name = typeof NAMES[number]
const rejectsWith = (code: ErrorCode, pattern?: RegExp) => (err: unknown): boolean => is(err, code) && (pattern === undefined || pattern.test((err as Error).message))

describe('group epochs on the rendezvous', () => {
  let store: RendezvousStore
  let handlers: Handlers
  const keys = new Map<Name, PrivateKey>()
  const context = (name: Name): RequestContext => ({
    peerId: peerIdFromPrivateKey(keys.get(name)!).toString(), connectionId: `c-${name}`, remoteAddr: multiaddr('/ip4/192.0.2.1/tcp/1')
  })
  const rotate = async (name: Name, fromEpoch: number, signer: Name = name): Promise<Result<'rotate'>> =>
    handlers.rotate({ op: 'rotate', group: 'club', fromEpoch, wrapped: new Uint8Array(88), ...await epochProof(keys.get(signer)!, 'club', fromEpoch + 1) }, context(name))
  const members = (name: Name): Result<'members'> => handlers.members({ op: 'members', group: 'club' }, context(name))

  beforeEach(async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 })
    store = openStore(':memory:')
    const sessions = new Sessions()
    handlers = createHandlers({ store, sessions, notifier: new Notifier(store, sessions), throttle: new SignInThrottle() })
    for (const name of NAMES) {
      keys.set(name, await generateKeyPair('Ed25519'))
      const { peerId, connectionId, remoteAddr } = context(name)
      store.createUser({ username: name, peerId, salt: new Uint8Array(16), kdf: { logN: 17, r: 8, p: 1 }, verifier: new Uint8Array(32), identity: new Uint8Array(100), addrs: [] })
      sessions.start(peerId, name, connectionId, remoteAddr)
      handlers.join({ op: 'join', group: 'club' }, context(name))
    }
  })

  afterEach(() => {
    store.close()
    mock.timers.reset()
  })

  it('keeps the maker, its signed commitment and the epoch\'s age, and refuses a signature that is not the caller\'s', async () => {
    assert.equal(members('bob').maker, undefined)
    await assert.rejects(rotate('mallory', 0, 'alice'), rejectsWith(ErrorCode.Malformed, /not yours/))
    await rotate('alice', 0)
    mock.timers.tick(1_234)
    const seen = members('bob')
    assert.equal(seen.epoch, 1)
    assert.equal(seen.maker?.username, 'alice')
    assert.equal(seen.maker?.peerId, context('alice').peerId)
    assert.equal(seen.epochAgeMs, 1_234)
  })

  it('a stalled epoch may be replaced once it is old enough, by each member once in a while', async () => {
    await rotate('alice', 0) // the first epoch needs no reason
    await assert.rejects(rotate('mallory', 1), rejectsWith(ErrorCode.RateLimited, /is new/))
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    await rotate('mallory', 1) // forced: alice's key never reached mallory, say
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    await assert.rejects(rotate('mallory', 2), rejectsWith(ErrorCode.RateLimited, /recently/))
    await rotate('bob', 2) // another member replaces mallory's epoch
    mock.timers.tick(MEMBER_ROTATION_INTERVAL_MS)
    await rotate('mallory', 3) // ten minutes on, mallory may again
    assert.equal(members('alice').epoch, 4)
  })

  it('a rotation with a reason (a member left) is never held back', async () => {
    await rotate('alice', 0)
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    await rotate('mallory', 1)
    handlers.leave({ op: 'leave', group: 'club' }, context('bob'))
    assert.equal(members('alice').rotationNeeded, true)
    await rotate('mallory', 2) // at once, and although mallory forced one just now
    assert.equal(members('alice').rotationNeeded, false)
  })
})
