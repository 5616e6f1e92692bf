/**
 * Signed group epochs on the rendezvous (issue 12 item 1), through the real handlers and store in
 * process (in-process.ts), on a mocked clock: who may start an epoch, and how often.
 */
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, is } from '../../../common/errors.ts'
import type { Result } from '../../../common/protocol/rendezvous.ts'
import { EPOCH_MIN_AGE_MS, MEMBER_ROTATION_INTERVAL_MS } from '../../../rendezvous/constants.ts'
import { epochProof } from '../../helpers/rendezvous.ts'
import { InProcessRendezvous } from './in-process.ts'
import type { TestUser } from './in-process.ts'

const NAMES = ['alice', 'bob', 'mallory'] as const
type Name = typeof NAMES[number]
const rejectsWith = (code: ErrorCode, pattern?: RegExp) => (err: unknown): boolean => is(err, code) && (pattern === undefined || pattern.test((err as Error).message))

describe('group epochs on the rendezvous', () => {
  let rv: InProcessRendezvous
  const users = new Map<Name, TestUser>()
  const user = (name: Name): TestUser => users.get(name)!
  const rotate = async (name: Name, fromEpoch: number, signer: Name = name): Promise<Result<'rotate'>> =>
    rv.call('rotate', { group: 'club', fromEpoch, wrapped: new Uint8Array(88), ...await epochProof(user(signer).key, 'club', fromEpoch + 1) }, user(name).context)
  const members = (name: Name): Result<'members'> => rv.call('members', { group: 'club' }, user(name).context)

  beforeEach(async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 })
    rv = new InProcessRendezvous()
    for (const name of NAMES) {
      users.set(name, await rv.user(name))
      rv.call('join', { group: 'club' }, user(name).context)
    }
  })

  afterEach(() => {
    rv.close()
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
    assert.equal(seen.maker?.peerId, user('alice').peerId)
    assert.equal(seen.epochAgeMs, 1_234)
  })

  const putKey = (name: Name, epoch: number): Result<'put-key'> => rv.call('put-key', { group: 'club', epoch, wrapped: new Uint8Array(88) }, user(name).context)
  const leaveAndJoin = (name: Name): void => {
    rv.call('leave', { group: 'club' }, user(name).context)
    rv.call('join', { group: 'club' }, user(name).context)
  }

  it('a stalled epoch may be replaced once it is old enough, by each member once in a while', async () => {
    await rotate('alice', 0) // the first epoch needs no reason
    putKey('bob', 1) // alice's key reached bob
    await assert.rejects(rotate('mallory', 1), rejectsWith(ErrorCode.RateLimited, /is new/))
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    await rotate('mallory', 1) // forced: alice's key never reached mallory, say
    putKey('alice', 2)
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    await assert.rejects(rotate('mallory', 2), rejectsWith(ErrorCode.RateLimited, /recently/))
    await rotate('bob', 2) // another member replaces mallory's epoch
    mock.timers.tick(MEMBER_ROTATION_INTERVAL_MS)
    await rotate('mallory', 3) // ten minutes on, mallory may again
    assert.equal(members('alice').epoch, 4)
  })

  it('an epoch whose key reached no other member is replaced without counting against who does so, and its maker starts no epoch for a while, even with a reason (round 43: a member who left and re-joined froze the group again and again)', async () => {
    await rotate('alice', 0)
    putKey('bob', 1)
    putKey('mallory', 1)
    // mallory leaves and re-joins, which makes a rotation due, and starts an epoch first, whose
    // key she hands to nobody.
    leaveAndJoin('mallory')
    await rotate('mallory', 1)
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    await rotate('alice', 2) // replaces it: not counted as alice's forced rotation
    putKey('bob', 3)
    leaveAndJoin('mallory')
    assert.equal(members('alice').rotationNeeded, true)
    await assert.rejects(rotate('mallory', 3), rejectsWith(ErrorCode.RateLimited, /you started reached no other member; another member starts the next one/))
    await rotate('bob', 3) // the due rotation, by another member
    putKey('alice', 4)
    // alice's own allowance is whole: she may still replace an epoch whose key did not reach her.
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    await rotate('alice', 4)
    // Nor may mallory replace an epoch of her own that nobody took, then go on: she is held back
    // from the moment it is replaced.
    mock.timers.tick(MEMBER_ROTATION_INTERVAL_MS)
    leaveAndJoin('mallory')
    await rotate('mallory', 5)
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    await rotate('mallory', 6) // her own, held by nobody else: counted as forced
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    leaveAndJoin('mallory')
    await assert.rejects(rotate('mallory', 7), rejectsWith(ErrorCode.RateLimited, /reached no other member/))
    assert.equal(members('alice').epoch, 7)
  })

  it('a rotation with a reason (a member left) is never held back', async () => {
    await rotate('alice', 0)
    mock.timers.tick(EPOCH_MIN_AGE_MS)
    await rotate('mallory', 1)
    rv.call('leave', { group: 'club' }, user('bob').context)
    assert.equal(members('alice').rotationNeeded, true)
    await rotate('mallory', 2) // at once, and although mallory forced one just now
    assert.equal(members('alice').rotationNeeded, false)
  })
})
