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
    rv.call('leave', { group: 'club' }, user('bob').context)
    assert.equal(members('alice').rotationNeeded, true)
    await rotate('mallory', 2) // at once, and although mallory forced one just now
    assert.equal(members('alice').rotationNeeded, false)
  })
})
