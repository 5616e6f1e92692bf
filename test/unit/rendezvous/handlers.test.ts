/**
 * The rendezvous handlers (rendezvous/handlers.ts) through the real handlers, sessions, notifier
 * and store in memory, every request and answer through the wire encoding (in-process.ts):
 * sign-up and sign-in errors, what needs a session, the directory, the group registry and its
 * events, and lost rotate races. (Who may start an epoch and how often: epochs.test.ts; scrypt
 * parameters and their upgrade: accounts.test.ts; the throttle's policy: ratelimit.test.ts.)
 */
import { afterEach, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { KDF_PARAMS, newSalt, verifierOf } from '../../../common/crypto/password.ts'
import { ErrorCode, is } from '../../../common/errors.ts'
import { MAX_GROUP_MEMBERS, MAX_LISTED, RendezvousError } from '../../../common/protocol/rendezvous.ts'
import type { Op, RequestArgs, Result, ServerEvent } from '../../../common/protocol/rendezvous.ts'
import { epochProof } from '../../helpers/rendezvous.ts'
import { readNameCard } from '../../../common/crypto/name-card.ts'
import { InProcessRendezvous } from './in-process.ts'
import { KEY_NEEDED_REPEAT_MS } from '../../../rendezvous/notify.ts'
import { MEMBERSHIP_CHANGE_BURST, MEMBERSHIP_CHANGES_PER_SECOND, SIGNUP_BURST } from '../../../rendezvous/constants.ts'
import type { TestUser } from './in-process.ts'

const rejectsWith = (code: ErrorCode, pattern?: RegExp) => (err: unknown): boolean =>
  is(err, code) && (pattern === undefined || pattern.test(err.message))

describe('rendezvous handlers', () => {
  let rv: InProcessRendezvous
  const as = <O extends Op>(user: TestUser, op: O, args: RequestArgs<O>): Result<O> => rv.call(op, args, user.context)
  const eventsOf = (user: TestUser, type: ServerEvent['type']): ServerEvent[] => user.events.filter(e => e.type === type)

  beforeEach(() => { rv = new InProcessRendezvous() })
  afterEach(() => { rv.close() })

  describe('sign-up and sign-in', () => {
    const password = randomBytes(32)
    const signup = (user: TestUser, username = user.username): Result<'signup'> =>
      as(user, 'signup', { username, salt: newSalt(), kdf: { ...KDF_PARAMS }, authKey: password, identity: new Uint8Array(100).fill(7), addrs: ['/ip4/10.0.0.9/tcp/4001'] })
    const signin = (user: TestUser, username = user.username, authKey: Uint8Array = password): Result<'signin'> =>
      as(user, 'signin', { username, authKey, addrs: ['/ip4/10.0.0.9/tcp/4002'] })

    it('sign-up makes the account and signs its connection in', async () => {
      const alice = await rv.identity('alice')
      const made = signup(alice)
      assert.deepEqual({ ...made, ticket: made.ticket?.length }, { username: 'alice', peerId: alice.peerId, ticket: 16 })
      assert.equal(rv.sessions.isOnline('alice'), true)
      assert.equal(rv.store.getUser('alice')?.peerId, alice.peerId)
    })

    it(`new accounts from one network: ${SIGNUP_BURST} at once, then one a minute; other networks and this machine are not held back (round 43: 74 a second from one machine)`, async () => {
      const from = async (username: string, ip: string): Promise<TestUser> => {
        const user = await rv.identity(username)
        user.context = { ...user.context, remoteAddr: multiaddr(`/ip4/${ip}/tcp/999`) }
        return user
      }
      for (let i = 0; i < SIGNUP_BURST; i++) signup(await from(`sybil${i}`, `203.0.113.${i + 1}`))
      const more = await from('sybilmore', '203.0.113.200')
      assert.throws(() => signup(more), rejectsWith(ErrorCode.RateLimited, /too many new accounts from your network in a short time: nothing was done/))
      assert.equal(rv.store.getUser('sybilmore'), undefined)
      signup(await from('neighbour', '198.51.100.7'))
      for (let i = 0; i < SIGNUP_BURST + 5; i++) signup(await from(`local${i}`, '127.0.0.1'))
      rv.aheadMs = 60_000
      signup(more)
      const onemore = await from('onemore', '203.0.113.201')
      assert.throws(() => signup(onemore), rejectsWith(ErrorCode.RateLimited))
    })

    it('a taken username, or a peer id that already has an account, is ERR_EXISTS and changes nothing', async () => {
      const alice = await rv.identity('alice')
      signup(alice)
      const other = await rv.identity('alice')
      assert.throws(() => signup(other), rejectsWith(ErrorCode.Exists, /username already taken/))
      assert.throws(() => signup(alice, 'alice2'), rejectsWith(ErrorCode.Exists, /peer id already belongs/))
      assert.equal(rv.store.getUser('alice')?.peerId, alice.peerId)
      assert.equal(rv.store.getUser('alice2'), undefined)
      assert.equal(rv.sessions.get(other.peerId), undefined)
    })

    it('a wrong password and an unknown user get the same error, word for word, and no session', async () => {
      const alice = await rv.identity('alice')
      signup(alice)
      rv.sessions.end(alice.peerId)
      let wrong: unknown
      let unknown: unknown
      try { signin(alice, 'alice', randomBytes(32)) } catch (err) { wrong = err }
      try { signin(alice, 'nobody') } catch (err) { unknown = err }
      assert.ok(is(wrong, ErrorCode.BadCredentials) && is(unknown, ErrorCode.BadCredentials))
      assert.equal(wrong.message, unknown.message)
      assert.equal(rv.sessions.isOnline('alice'), false)
    })

    it('failed sign-ins from other devices are told at the next sign-in, once; the owner\'s own typos are not (round 40)', async () => {
      const alice = await rv.identity('alice')
      signup(alice)
      rv.sessions.end(alice.peerId)
      const guesser = await rv.identity('alice')
      for (let i = 0; i < 3; i++) assert.throws(() => signin(guesser, 'alice', randomBytes(32)), rejectsWith(ErrorCode.BadCredentials))
      assert.throws(() => signin(alice, 'alice', randomBytes(32)), rejectsWith(ErrorCode.BadCredentials), 'a typo on her own device')
      assert.equal(signin(alice).failedSignIns, 3)
      assert.equal(signin(alice).failedSignIns, undefined, 'told once')
    })

    it('a new username must start with a letter or digit; an account made before that rule still signs in', async () => {
      const dash = await rv.identity('dash')
      assert.throws(() => signup(dash, '-'), rejectsWith(ErrorCode.InvalidName, /a new username must start with a letter or digit/))
      assert.equal(rv.store.getUser('-'), undefined)
      assert.equal(rv.sessions.get(dash.peerId), undefined)
      const old = await rv.identity('_old')
      rv.store.createUser({ username: '_old', peerId: old.peerId, salt: newSalt(), kdf: { ...KDF_PARAMS }, verifier: verifierOf(password), identity: new Uint8Array(100).fill(7), addrs: [] })
      assert.equal(signin(old, '_old').bound, true)
    })

    it('the right password from another machine returns the wrapped identity but binds nothing there', async () => {
      const alice = await rv.identity('alice')
      signup(alice)
      rv.sessions.end(alice.peerId)
      const laptop = await rv.identity('alice')
      const result = signin(laptop)
      assert.equal(result.bound, false)
      assert.equal(result.peerId, alice.peerId)
      assert.deepEqual(result.identity, new Uint8Array(100).fill(7))
      assert.equal(rv.sessions.isOnline('alice'), false, 'it signs in again under the identity it unwrapped')
      assert.deepEqual(rv.store.getUser('alice')?.addrs, ['/ip4/10.0.0.9/tcp/4001'], 'another machine does not move the account')
      const home = signin(alice)
      assert.equal(home.bound, true)
      assert.equal(rv.sessions.get(alice.peerId)?.username, 'alice')
      assert.deepEqual(rv.store.getUser('alice')?.addrs, ['/ip4/10.0.0.9/tcp/4002'])
    })

    it('a network guessing passwords is held back, even with the right one; the owner\'s own device is not', async () => {
      const alice = await rv.identity('alice')
      signup(alice)
      const guesser = await rv.identity('mallory')
      guesser.context = { ...guesser.context, remoteAddr: multiaddr('/ip4/203.0.113.5/tcp/999') }
      for (let i = 0; i < 5; i++) assert.throws(() => signin(guesser, 'alice', randomBytes(32)), rejectsWith(ErrorCode.BadCredentials))
      assert.throws(() => signin(guesser, 'alice'), rejectsWith(ErrorCode.RateLimited))
      assert.equal(signin(alice).bound, true)
    })

    it('a second sign-in of the same account replaces the first session, which is told so', async () => {
      const alice = await rv.identity('alice')
      signup(alice)
      const first = rv.sessions.get(alice.peerId)
      assert.ok(first !== undefined)
      rv.sessions.attach(first, { send: event => { alice.events.push(event) }, close: event => { if (event !== undefined) alice.events.push(event) } })
      const again = { ...alice, context: { ...alice.context, connectionId: 'a-new-connection' } }
      assert.equal(signin(again).bound, true)
      assert.deepEqual(eventsOf(alice, 'session-replaced'), [{ type: 'session-replaced' }])
      assert.equal(rv.sessions.get(alice.peerId)?.connectionId, 'a-new-connection')
    })

    it('a peer signing in again by itself with its ticket renews its session; once a person signed the account in since, elsewhere, it is refused and the session stays with them (round 46: a device woken from sleep took the account back)', async () => {
      const laptop = await rv.identity('alice')
      const first = signup(laptop).ticket
      assert.ok(first !== undefined)
      // The laptop's connection went (a restart, a blip): it signs in again on a new one, with its ticket.
      const back = { ...laptop, context: { ...laptop.context, connectionId: 'laptop-again' } }
      const resumed = as(back, 'signin', { username: 'alice', authKey: password, addrs: [], resume: first })
      assert.deepEqual([resumed.bound, resumed.ticket], [true, first], 'renewed, the same ticket: a resume whose answer was lost is still good')
      assert.equal(rv.sessions.get(laptop.peerId)?.connectionId, 'laptop-again')
      // The person signs in on the phone (LOGIN restored alice's identity there): a new ticket.
      const phone = { ...laptop, context: { ...laptop.context, connectionId: 'phone' } }
      const phoneTicket = signin(phone).ticket
      assert.ok(phoneTicket !== undefined && !Buffer.from(phoneTicket).equals(first))
      // The laptop wakes and signs in again by itself: refused, and the phone keeps the account.
      const woke = { ...laptop, context: { ...laptop.context, connectionId: 'laptop-woke' } }
      assert.throws(() => as(woke, 'signin', { username: 'alice', authKey: password, addrs: [], resume: first }), rejectsWith(ErrorCode.Conflict, /signed in since/))
      assert.equal(rv.sessions.get(laptop.peerId)?.connectionId, 'phone')
      // The phone's own resume goes on working; a person's LOGIN on the laptop takes it back.
      assert.equal(as({ ...phone, context: { ...phone.context, connectionId: 'phone-again' } }, 'signin', { username: 'alice', authKey: password, addrs: [], resume: phoneTicket }).bound, true)
      assert.equal(signin(woke).bound, true)
      assert.equal(rv.sessions.get(laptop.peerId)?.connectionId, 'laptop-woke')
    })

    it('a takeover from another connection is announced to those watching; the same connection signing in again is not', async () => {
      const alice = await rv.identity('alice')
      signup(alice)
      const bob = await rv.user('bob')
      as(bob, 'lookup', { username: 'alice' })
      signin(alice)
      assert.deepEqual(eventsOf(bob, 'presence'), [], 'the same connection again: nothing changed')
      // Another device with alice's identity (LOGIN restored it there): bob must look her up again.
      signin({ ...alice, context: { ...alice.context, connectionId: 'another-device' } })
      assert.deepEqual(eventsOf(bob, 'presence'), [{ type: 'presence', username: 'alice', online: true }])
    })

    it('everything but salt, sign-up and sign-in needs a session first', async () => {
      const stranger = await rv.identity('stranger')
      const wrapped = new Uint8Array(8)
      const proof = { commitment: new Uint8Array(32), signature: new Uint8Array(64) }
      const calls: Array<() => unknown> = [
        () => as(stranger, 'lookup', { username: 'alice' }),
        () => as(stranger, 'whois', { peerId: stranger.peerId }),
        () => as(stranger, 'card', {}),
        () => as(stranger, 'who', {}),
        () => as(stranger, 'list', {}),
        () => as(stranger, 'create', { group: 'g' }),
        () => as(stranger, 'join', { group: 'g' }),
        () => as(stranger, 'leave', { group: 'g' }),
        () => as(stranger, 'members', { group: 'g' }),
        () => as(stranger, 'rotate', { group: 'g', fromEpoch: 0, wrapped, ...proof }),
        () => as(stranger, 'put-key', { group: 'g', epoch: 1, wrapped }),
        () => as(stranger, 'get-keys', { group: 'g' }),
        () => as(stranger, 'groups', {}),
        () => as(stranger, 'rekey', { authKey: password, salt: newSalt(), kdf: { ...KDF_PARAMS }, newAuthKey: password, dataKey: wrapped })
      ]
      for (const call of calls) assert.throws(call, rejectsWith(ErrorCode.NotSignedIn))
      assert.equal(rv.store.getGroup('g'), undefined)
    })
  })

  describe('directory', () => {
    it('looks users up by name and by peer id; an unknown one is ERR_NOT_FOUND', async () => {
      const alice = await rv.user('alice')
      const bob = await rv.user('bob', ['/ip4/10.0.0.2/tcp/5002'])
      assert.deepEqual(as(alice, 'lookup', { username: 'bob' }), { username: 'bob', peerId: bob.peerId, addrs: ['/ip4/10.0.0.2/tcp/5002'], online: true })
      assert.equal(as(alice, 'whois', { peerId: bob.peerId }).username, 'bob')
      assert.throws(() => as(alice, 'lookup', { username: 'nobody' }), rejectsWith(ErrorCode.NotFound))
      const stranger = await rv.identity('stranger')
      assert.throws(() => as(alice, 'whois', { peerId: stranger.peerId }), rejectsWith(ErrorCode.NotFound))
    })

    it('a signed-in user\'s name card names it at its own peer id, signed by this server', async () => {
      const alice = await rv.user('alice')
      const { card } = as(alice, 'card', {})
      assert.equal(readNameCard(card, rv.nameCards.peerId, alice.peerId), 'alice')
      assert.equal(readNameCard(card, rv.nameCards.peerId, (await rv.identity('mallory')).peerId), undefined)
    })

    it('whoever looked a user up is told when it comes and goes; others are not', async () => {
      const alice = await rv.user('alice')
      const bob = await rv.user('bob')
      const carol = await rv.user('carol')
      as(alice, 'lookup', { username: 'bob' })
      rv.sessions.end(bob.peerId)
      rv.notifier.offline('bob')
      assert.deepEqual(eventsOf(alice, 'presence'), [{ type: 'presence', username: 'bob', online: false }])
      assert.deepEqual(eventsOf(carol, 'presence'), [])
    })

    it('who lists online users and groupmates, each with presence', async () => {
      const alice = await rv.user('alice')
      const bob = await rv.user('bob')
      await rv.user('carol')
      as(alice, 'create', { group: 'club' })
      as(bob, 'join', { group: 'club' })
      rv.sessions.end(bob.peerId)
      assert.deepEqual(as(alice, 'who', {}).users, [
        { username: 'alice', online: true }, { username: 'bob', online: false }, { username: 'carol', online: true }
      ])
    })
  })

  describe('group registry', () => {
    let alice: TestUser
    let bob: TestUser
    let carol: TestUser
    beforeEach(async () => {
      alice = await rv.user('alice')
      bob = await rv.user('bob')
      carol = await rv.user('carol')
    })

    it('one user joining and leaving in a loop is held to a rate; the others and the group are not (round 40: 1,040 lines a minute on every member\'s screen)', () => {
      as(alice, 'create', { group: 'club' })
      as(bob, 'join', { group: 'club' })
      const refused = rejectsWith(ErrorCode.RateLimited, /^too many joins and leaves in a short time: nothing was done; try again in a minute$/)
      let changes = 0
      for (; changes < 100; changes++) {
        try {
          as(carol, changes % 2 === 0 ? 'join' : 'leave', { group: 'club' })
        } catch (err) {
          assert.ok(refused(err), String(err))
          break
        }
      }
      assert.equal(changes, MEMBERSHIP_CHANGE_BURST)
      assert.equal(eventsOf(bob, 'member-joined').length + eventsOf(bob, 'member-left').length, MEMBERSHIP_CHANGE_BURST)
      // Others are not held back by it, and carol may go on at the rate.
      as(bob, 'leave', { group: 'club' })
      rv.aheadMs += 1 / MEMBERSHIP_CHANGES_PER_SECOND * 1_000
      as(carol, 'join', { group: 'club' })
      assert.throws(() => as(carol, 'leave', { group: 'club' }), refused)
    })

    it('LIST past MAX_LISTED groups: the asker\'s own first, then the largest, not the first by name (round 48: 1,000 groups named 0000… hid every other)', async () => {
      await rv.user('mallory')
      as(alice, 'create', { group: 'zoo' })
      as(bob, 'join', { group: 'zoo' })
      as(carol, 'create', { group: 'yard' })
      as(bob, 'join', { group: 'yard' })
      as(carol, 'create', { group: 'mine' })
      for (let i = 0; i < MAX_LISTED; i++) rv.store.createGroup(`0000${String(i).padStart(4, '0')}x`, 'mallory')
      const listed = as(carol, 'list', {}).groups
      assert.equal(listed.length, MAX_LISTED)
      const found = (groups: Array<{ group: string, members: number }>, ...names: string[]): unknown[] => names.map(name => groups.find(g => g.group === name))
      assert.deepEqual(found(listed, 'mine', 'yard', 'zoo'), [{ group: 'mine', members: 1 }, { group: 'yard', members: 2 }, { group: 'zoo', members: 2 }])
      assert.deepEqual(listed.slice(0, 2), [{ group: '00000000x', members: 1 }, { group: '00000001x', members: 1 }], 'in the order of their names')
      assert.equal(listed.filter(g => g.group.startsWith('0000')).length, MAX_LISTED - 3)
      // A change is counted at once (the count is kept a second only while nothing changes).
      as(alice, 'join', { group: 'yard' })
      assert.deepEqual(found(as(bob, 'list', {}).groups, 'yard', 'zoo'), [{ group: 'yard', members: 3 }, { group: 'zoo', members: 2 }])
    })

    it('creates a group once, with its creator as first member', () => {
      assert.deepEqual(as(alice, 'create', { group: 'club' }), { group: 'club', epoch: 0 })
      assert.throws(() => as(bob, 'create', { group: 'club' }), rejectsWith(ErrorCode.Exists))
      assert.throws(() => as(bob, 'create', { group: 'CLUB' }), rejectsWith(ErrorCode.Exists), 'names are case-insensitive')
      assert.deepEqual(as(bob, 'list', {}).groups, [{ group: 'club', members: 1 }])
      assert.deepEqual(as(alice, 'groups', {}).groups, [{ group: 'club', epoch: 0 }])
      assert.deepEqual(as(bob, 'groups', {}).groups, [])
    })

    it('a new group\'s name must start with a letter or digit (CREATE, or a JOIN that creates it); a group made before that rule can still be joined', () => {
      const refused = rejectsWith(ErrorCode.InvalidName, /a new group must start with a letter or digit/)
      assert.throws(() => as(alice, 'create', { group: '-' }), refused)
      assert.throws(() => as(alice, 'join', { group: '...' }), refused)
      assert.deepEqual(as(alice, 'list', {}).groups, [])
      rv.store.createGroup('_old', 'carol')
      assert.deepEqual(as(bob, 'join', { group: '_old' }), { group: '_old', created: false, epoch: 0, already: false })
    })

    it('join creates a missing group, is idempotent, and tells the others once', () => {
      assert.deepEqual(as(alice, 'join', { group: 'club' }), { group: 'club', created: true, epoch: 0, already: false })
      assert.deepEqual(as(bob, 'join', { group: 'club' }), { group: 'club', created: false, epoch: 0, already: false })
      assert.deepEqual(as(bob, 'join', { group: 'club' }), { group: 'club', created: false, epoch: 0, already: true })
      assert.deepEqual(eventsOf(alice, 'member-joined'), [{ type: 'member-joined', group: 'club', username: 'bob' }])
      assert.deepEqual(eventsOf(bob, 'member-joined'), [])
      assert.deepEqual(as(carol, 'list', {}).groups, [{ group: 'club', members: 2 }])
    })

    it('a member who joins without the current key is handed it: its holders are asked', async () => {
      as(alice, 'create', { group: 'club' })
      as(alice, 'rotate', { group: 'club', fromEpoch: 0, wrapped: new Uint8Array(8), ...await epochProof(alice.key, 'club', 1) })
      as(bob, 'join', { group: 'club' })
      assert.deepEqual(eventsOf(alice, 'key-needed'), [{ type: 'key-needed', group: 'club', epoch: 1, username: 'bob' }])
    })

    it(`a member who lacks the key, subscribing or re-joining again and again, has its holders asked once per ${KEY_NEEDED_REPEAT_MS / 1000} s (round 43: hundreds of times a second)`, async () => {
      as(alice, 'create', { group: 'club' })
      as(alice, 'rotate', { group: 'club', fromEpoch: 0, wrapped: new Uint8Array(8), ...await epochProof(alice.key, 'club', 1) })
      as(bob, 'join', { group: 'club' })
      const session = rv.sessions.get(bob.peerId)
      assert.ok(session !== undefined)
      for (let i = 0; i < 8; i++) { // (the membership-change limit allows 20 at once)
        rv.notifier.subscribed(session)
        as(bob, 'leave', { group: 'club' })
        as(bob, 'join', { group: 'club' })
      }
      assert.equal(eventsOf(alice, 'key-needed').length, 1)
      rv.aheadMs = KEY_NEEDED_REPEAT_MS
      rv.notifier.subscribed(session)
      assert.equal(eventsOf(alice, 'key-needed').length, 2, 'asked again once the time has passed')
    })

    it('a full group takes no new member; its members may still join again', () => {
      as(alice, 'create', { group: 'club' })
      for (let i = 1; i < MAX_GROUP_MEMBERS; i++) {
        rv.store.createUser({ username: `m${i}`, peerId: `peer-m${i}`, salt: new Uint8Array(16), kdf: { logN: 17, r: 8, p: 1 }, verifier: new Uint8Array(32), identity: new Uint8Array(1), addrs: [] })
        rv.store.joinGroup('club', `m${i}`)
      }
      assert.throws(() => as(bob, 'join', { group: 'club' }), rejectsWith(ErrorCode.Forbidden, /full/))
      assert.equal(as(alice, 'join', { group: 'club' }).created, false)
      assert.equal(rv.store.memberCount('club'), MAX_GROUP_MEMBERS)
    })

    it('leave: only a member may, the others are told and asked to rotate, the last one deletes the group', () => {
      assert.throws(() => as(alice, 'leave', { group: 'club' }), rejectsWith(ErrorCode.NotFound))
      as(alice, 'create', { group: 'club' })
      as(bob, 'join', { group: 'club' })
      assert.throws(() => as(carol, 'leave', { group: 'club' }), rejectsWith(ErrorCode.Forbidden))
      as(bob, 'leave', { group: 'club' })
      assert.deepEqual(alice.events.slice(-2), [{ type: 'member-left', group: 'club', username: 'bob' }, { type: 'rotation-needed', group: 'club' }])
      assert.equal(as(alice, 'members', { group: 'club' }).rotationNeeded, true)
      as(alice, 'leave', { group: 'club' })
      assert.equal(rv.store.getGroup('club'), undefined)
      assert.deepEqual(as(carol, 'list', {}).groups, [])
    })

    it('members: only for members, with presence and who holds the current key', async () => {
      as(alice, 'create', { group: 'club' })
      as(bob, 'join', { group: 'club' })
      assert.throws(() => as(carol, 'members', { group: 'club' }), rejectsWith(ErrorCode.Forbidden))
      assert.throws(() => as(carol, 'members', { group: 'nowhere' }), rejectsWith(ErrorCode.NotFound))
      as(alice, 'rotate', { group: 'club', fromEpoch: 0, wrapped: new Uint8Array(8), ...await epochProof(alice.key, 'club', 1) })
      rv.sessions.end(bob.peerId)
      const seen = as(alice, 'members', { group: 'club' })
      assert.equal(seen.epoch, 1)
      assert.deepEqual(seen.members, [
        { username: 'alice', peerId: alice.peerId, online: true, hasKey: true },
        { username: 'bob', peerId: bob.peerId, online: false, hasKey: false }
      ])
    })

    it('join-times: only for members, how long ago each joined by the server\'s clock (how long ago, not when: the asker\'s clock need not agree)', async () => {
      as(alice, 'create', { group: 'club' })
      await sleep(25) // over the 20 asserted below: a timer may fire a millisecond early by Date's clock
      as(bob, 'join', { group: 'club' })
      assert.throws(() => as(carol, 'join-times', { group: 'club' }), rejectsWith(ErrorCode.Forbidden))
      assert.throws(() => as(carol, 'join-times', { group: 'nowhere' }), rejectsWith(ErrorCode.NotFound))
      const { group, members } = as(bob, 'join-times', { group: 'club' })
      const [aliceAgo = -1, bobAgo = -1] = members.map(m => m.joinedAgoMs)
      assert.deepEqual([group, members.map(m => m.username)], ['club', ['alice', 'bob']])
      assert.ok(bobAgo >= 0 && aliceAgo >= bobAgo + 20 && aliceAgo < 10_000, JSON.stringify(members))
    })
  })

  describe('rotate races and key copies', () => {
    let alice: TestUser
    let bob: TestUser
    const rotate = async (user: TestUser, fromEpoch: number, wrapped: Uint8Array): Promise<Result<'rotate'>> =>
      as(user, 'rotate', { group: 'club', fromEpoch, wrapped, ...await epochProof(user.key, 'club', fromEpoch + 1) })
    const lostRace = (epoch: number) => (err: unknown): boolean =>
      err instanceof RendezvousError && err.code === ErrorCode.Conflict && err.epoch === epoch

    beforeEach(async () => {
      alice = await rv.user('alice')
      bob = await rv.user('bob')
      as(alice, 'create', { group: 'club' })
      as(bob, 'join', { group: 'club' })
    })

    it('two members rotating from the same epoch: one wins, the other learns the epoch it lost to, and only the winner\'s key is kept', async () => {
      const aliceProof = await epochProof(alice.key, 'club', 1)
      const bobProof = await epochProof(bob.key, 'club', 1)
      assert.deepEqual(as(alice, 'rotate', { group: 'club', fromEpoch: 0, wrapped: Uint8Array.of(0xa1), ...aliceProof }), { group: 'club', epoch: 1 })
      assert.throws(() => as(bob, 'rotate', { group: 'club', fromEpoch: 0, wrapped: Uint8Array.of(0xb1), ...bobProof }), lostRace(1))
      assert.deepEqual(as(alice, 'get-keys', { group: 'club' }).keys, [{ epoch: 1, wrapped: Uint8Array.of(0xa1) }])
      assert.deepEqual(as(bob, 'get-keys', { group: 'club' }), { group: 'club', epoch: 1, keys: [] })
      const seen = as(bob, 'members', { group: 'club' })
      assert.equal(seen.maker?.username, 'alice')
      assert.deepEqual(seen.maker?.commitment, aliceProof.commitment, 'the winner\'s commitment, not the loser\'s')
    })

    it('a rotation from an epoch the group has left behind, or not reached, is a lost race', async () => {
      await rotate(alice, 0, Uint8Array.of(1))
      as(alice, 'leave', { group: 'club' }) // bob alone now, and a rotation is needed
      as(alice, 'join', { group: 'club' })
      await rotate(bob, 1, Uint8Array.of(2))
      await assert.rejects(rotate(alice, 1, Uint8Array.of(3)), lostRace(2))
      await assert.rejects(rotate(alice, 5, Uint8Array.of(3)), lostRace(2))
      assert.equal(rv.store.getGroup('club')?.epoch, 2)
    })

    it('the loser takes the winner\'s key and stores its own copy for that epoch only', async () => {
      await rotate(alice, 0, Uint8Array.of(0xa1))
      assert.throws(() => as(bob, 'put-key', { group: 'club', epoch: 2, wrapped: Uint8Array.of(0xb2) }), lostRace(1))
      assert.throws(() => as(bob, 'put-key', { group: 'club', epoch: 0, wrapped: Uint8Array.of(0xb0) }), lostRace(1))
      assert.deepEqual(as(bob, 'put-key', { group: 'club', epoch: 1, wrapped: Uint8Array.of(0xb1) }), { group: 'club', epoch: 1 })
      assert.deepEqual(as(bob, 'get-keys', { group: 'club' }).keys, [{ epoch: 1, wrapped: Uint8Array.of(0xb1) }])
      assert.deepEqual(as(alice, 'get-keys', { group: 'club' }).keys, [{ epoch: 1, wrapped: Uint8Array.of(0xa1) }], 'each member sees only its own copies')
      assert.equal(as(alice, 'members', { group: 'club' }).members.every(m => m.hasKey), true)
    })

    it('a non-member can neither rotate nor store nor read keys', async () => {
      const carol = await rv.user('carol')
      await assert.rejects(rotate(carol, 0, Uint8Array.of(1)), rejectsWith(ErrorCode.Forbidden))
      assert.throws(() => as(carol, 'put-key', { group: 'club', epoch: 1, wrapped: Uint8Array.of(1) }), rejectsWith(ErrorCode.Forbidden))
      assert.throws(() => as(carol, 'get-keys', { group: 'club' }), rejectsWith(ErrorCode.Forbidden))
      assert.equal(rv.store.getGroup('club')?.epoch, 0)
    })
  })
})
