/**
 * The directory (peer/directory.ts) through the real class, on the real peer store in memory and
 * the real rendezvous handlers in process: pins on first use and refused changes until TRUST,
 * answers reused until presence changes, contacts reached where they were last seen while the
 * rendezvous is away, and "no such peer" remembered for a while. (The shared budget for inbound
 * look-ups and the warning throttle: inbound-lookups.test.ts.)
 */
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { NameCardIssuer } from '../../../common/crypto/name-card.ts'
import { ErrorCode, is } from '../../../common/errors.ts'
import { IN_MEMORY } from '../../../common/sqlite.ts'
import { toUsername } from '../../../common/wire/names.ts'
import { Directory, UNKNOWN_PEER_CACHE_MS } from '../../../peer/directory.ts'
import type { DirectoryRendezvous } from '../../../peer/directory.ts'
import type { PeerEvent } from '../../../peer/events.ts'
import { PeerStore } from '../../../peer/store/store.ts'
import { InProcessRendezvous } from '../rendezvous/in-process.ts'
import type { TestUser } from '../rendezvous/in-process.ts'
import { until } from '../../helpers/loop.ts'

const BOB = toUsername('bob')
const CAROL = toUsername('carol')
const DAVE = toUsername('dave')

const rejectsWith = (code: ErrorCode) => (err: unknown): boolean => is(err, code)

/** A rendezvous that, frozen, leaves each question unanswered until thawed (`waiting`: how many
 * were asked since it froze). */
function frozenGate (): { freeze: () => void, thaw: () => void, frozen: () => Promise<void>, waiting: number } {
  let thawed: Promise<void> = Promise.resolve()
  let thaw = (): void => {}
  const gate = {
    waiting: 0,
    freeze: () => { gate.waiting = 0; thawed = new Promise<void>(resolve => { thaw = resolve }) },
    thaw: () => { thaw() },
    frozen: async () => { gate.waiting++; await thawed }
  }
  return gate
}

describe('directory', () => {
  let rv: InProcessRendezvous
  let store: PeerStore
  let alice: TestUser
  let bob: TestUser
  let events: PeerEvent[]
  let time: number
  /** Alice's rendezvous client as a session holds it: one object for the session's life, whatever
   * server answers at its address (a test may put a new one there). */
  const client: DirectoryRendezvous = {
    lookup: async username => await rv.client(alice).lookup(username),
    whois: async peerId => await rv.client(alice).whois(peerId)
  }
  const directory = (): Directory => new Directory(client, store, event => { events.push(event) }, { now: () => time })
  const lookups = (): number => rv.asked.get('lookup') ?? 0

  beforeEach(async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 })
    time = 1_800_000_000_000
    rv = new InProcessRendezvous()
    store = new PeerStore(IN_MEMORY, randomBytes(32))
    alice = await rv.user('alice')
    bob = await rv.user('bob', ['/ip4/10.0.0.2/tcp/5002'])
    events = []
  })

  afterEach(() => {
    store.close()
    rv.close()
    mock.timers.reset()
  })

  describe('pins', () => {
    it('pins a user on first use, then resolves the same identity without complaint', async () => {
      const dir = directory()
      const contact = await dir.resolve(BOB)
      assert.deepEqual(contact, { username: 'bob', peerId: bob.peerId, addrs: ['/ip4/10.0.0.2/tcp/5002'], online: true })
      assert.equal(dir.pinned(BOB), bob.peerId)
      assert.equal(await dir.usernameOf(bob.peerId), 'bob')
      assert.deepEqual(events, [])
    })

    it('refuses a look-up answered with another user, who would get the messages past the pin', async () => {
      const carol = await rv.user('carol')
      await directory().resolve(BOB) // bob pinned
      // A rendezvous in bad faith answers "bob?" with carol, name and identity: every pin check
      // went by the answer's name, so bob's messages went to carol without a word.
      const swapping: DirectoryRendezvous = { ...client, lookup: async () => await rv.client(alice).lookup(CAROL) }
      const dir = new Directory(swapping, store, event => { events.push(event) }, { now: () => time })
      await assert.rejects(dir.resolve(BOB), (err: unknown) => is(err, ErrorCode.Protocol) && /answered a look-up of bob with carol/.test((err as Error).message))
      await assert.rejects(dir.identityToVerify(BOB, alice.peerId), rejectsWith(ErrorCode.Protocol))
      await assert.rejects(dir.trust(BOB, carol.peerId), rejectsWith(ErrorCode.Protocol))
      assert.equal(dir.pinned(BOB), bob.peerId, 'bob is still pinned to bob')
    })

    it('refuses a changed identity both ways, loudly, until TRUST of exactly the identity VERIFY showed', async () => {
      const before = await rv.identity('bob')
      store.pin('bob', before.peerId) // alice met bob under another identity
      const dir = directory()
      await assert.rejects(dir.resolve(BOB), rejectsWith(ErrorCode.IdentityChanged))
      await assert.rejects(dir.usernameOf(bob.peerId), rejectsWith(ErrorCode.IdentityChanged), 'nor is anything from the new identity taken')
      dir.forget(BOB)
      await assert.rejects(dir.resolve(BOB), rejectsWith(ErrorCode.IdentityChanged), 'refused again (a retry of a held message)')
      // Said once for this new identity, however often it is met (until 2026-12-06 at every turn).
      const warnings = events.filter(e => e.event === 'warning')
      assert.equal(warnings.length, 1, JSON.stringify(warnings))
      assert.match(warnings[0]?.event === 'warning' ? warnings[0].message : '', /identity of bob has changed .*VERIFY bob.*TRUST bob/)
      assert.equal(dir.pinned(BOB), before.peerId, 'the old pin stays until the user decides')

      const stranger = await rv.identity('bob')
      await assert.rejects(dir.trust(BOB, stranger.peerId), (err: unknown) => is(err, ErrorCode.IdentityChanged) && /VERIFY again/.test(err.message))
      assert.equal(dir.pinned(BOB), before.peerId, 'an identity the directory does not show is not trusted')

      assert.deepEqual(await dir.trust(BOB, bob.peerId), { peerId: bob.peerId, changed: true })
      assert.equal(dir.pinned(BOB), bob.peerId)
      assert.deepEqual(await dir.trust(BOB, bob.peerId), { peerId: bob.peerId, changed: false }, 'trusted again: nothing changed')
      assert.equal((await dir.resolve(BOB)).peerId, bob.peerId)
      assert.equal(await dir.usernameOf(bob.peerId), 'bob')
    })

    it('VERIFY is given the identity the directory shows now, with the pinned one when it changed; TRUST of it re-pins', async () => {
      const dir = directory()
      const fresh = await dir.identityToVerify(BOB, alice.peerId)
      assert.deepEqual(fresh, { user: 'bob', peerId: bob.peerId, fingerprint: Directory.fingerprint(alice.peerId, bob.peerId), changed: false, pinnedPeerId: null, pinnedFingerprint: null, lastKnown: false })
      assert.equal(dir.pinned(BOB), undefined, 'VERIFY pins nothing')

      const before = await rv.identity('bob')
      store.pin('bob', before.peerId) // alice met bob under another identity
      const shown = await dir.identityToVerify(BOB, alice.peerId)
      assert.deepEqual(shown, {
        user: 'bob',
        peerId: bob.peerId,
        fingerprint: Directory.fingerprint(bob.peerId, alice.peerId), // what bob's VERIFY shows
        changed: true,
        pinnedPeerId: before.peerId,
        pinnedFingerprint: Directory.fingerprint(alice.peerId, before.peerId),
        lastKnown: false
      })
      assert.equal(dir.pinned(BOB), before.peerId, 'VERIFY accepts nothing')
      assert.deepEqual(events, [], 'nor warns: the answer says it')
      assert.deepEqual(await dir.trust(BOB, shown.peerId), { peerId: bob.peerId, changed: true })
      assert.deepEqual(await dir.identityToVerify(BOB, alice.peerId), { ...fresh }, 'once trusted, nothing has changed')
    })

    it('an identity seen in a member list is pinned under the same rules, and a change there only warns', async () => {
      const dir = directory()
      dir.observe(BOB, bob.peerId)
      assert.equal(dir.pinned(BOB), bob.peerId)
      const other = await rv.identity('bob')
      dir.observe(BOB, other.peerId) // never throws: a members answer is still shown
      assert.equal(dir.pinned(BOB), bob.peerId)
      assert.deepEqual(events.map(e => e.event === 'warning' ? e.code : e.event), [ErrorCode.IdentityChanged])
    })

    it('a fingerprint is the same from both ends, 60 digits, and differs for another pair', async () => {
      const carol = await rv.identity('carol')
      const ab = Directory.fingerprint(alice.peerId, bob.peerId)
      assert.equal(ab, Directory.fingerprint(bob.peerId, alice.peerId))
      assert.match(ab, /^\d{5}( \d{5}){11}$/)
      assert.notEqual(ab, Directory.fingerprint(alice.peerId, carol.peerId))
    })
  })

  describe('cached answers', () => {
    it('reuses an answer for a minute, then asks again', async () => {
      const dir = directory()
      await dir.resolve(BOB)
      await dir.resolve(BOB)
      assert.equal(lookups(), 1)
      mock.timers.tick(59_999)
      await dir.resolve(BOB)
      assert.equal(lookups(), 1)
      mock.timers.tick(1)
      await dir.resolve(BOB)
      assert.equal(lookups(), 2)
    })

    it('asks again at once after presence changed (forget), for one user or all', async () => {
      const dir = directory()
      await dir.resolve(BOB)
      rv.sessions.end(bob.peerId) // bob goes offline; the rendezvous tells alice, who forgets
      assert.equal((await dir.resolve(BOB)).online, true, 'until told, the cached answer stands')
      dir.forget(BOB)
      assert.equal((await dir.resolve(BOB)).online, false)
      assert.equal(lookups(), 2)
      dir.forget()
      await dir.resolve(BOB)
      assert.equal(lookups(), 3)
    })

    it('keeps the addresses a contact was last seen at with its pin, updated when they change', async () => {
      const dir = directory()
      await dir.resolve(BOB)
      assert.deepEqual(store.lastSeen('bob'), { peerId: bob.peerId, addrs: ['/ip4/10.0.0.2/tcp/5002'] })
      rv.store.setAddrs('bob', ['/ip4/10.0.0.7/tcp/5002'])
      dir.forget(BOB)
      await dir.resolve(BOB)
      assert.deepEqual(store.lastSeen('bob'), { peerId: bob.peerId, addrs: ['/ip4/10.0.0.7/tcp/5002'] })
    })
  })

  describe('while the rendezvous is out of reach', () => {
    it('reaches a known contact where it was last seen, in this run and after a restart', async () => {
      await directory().resolve(BOB)
      rv.down = true
      const dir = directory()
      assert.deepEqual(await dir.resolve(BOB), { username: 'bob', peerId: bob.peerId, addrs: ['/ip4/10.0.0.2/tcp/5002'], online: true },
        'a new Directory (a restart) finds the addresses kept with the pin')
      await assert.rejects(dir.resolve(CAROL), rejectsWith(ErrorCode.Unreachable), 'a user never met cannot be found')
    })

    it('also while our session there is being renewed (ERR_NOT_SIGNED_IN)', async () => {
      const dir = directory()
      await dir.resolve(BOB)
      dir.forget()
      rv.sessions.end(alice.peerId)
      assert.equal((await dir.resolve(BOB)).peerId, bob.peerId)
    })

    it('frozen, a known contact waits for the look-up the patience only, then is tried where last seen; the late answer is kept (round 20: 15 s a message)', { timeout: 10_000 }, async () => {
      const gate = frozenGate()
      const freezing: DirectoryRendezvous = { ...client, lookup: async username => { await gate.frozen(); return await client.lookup(username) } }
      const dir = new Directory(freezing, store, event => { events.push(event) }, { now: () => time, answerPatienceMs: 50 })
      await dir.resolve(BOB)
      dir.forget(BOB)
      rv.store.setAddrs('bob', ['/ip4/10.0.0.7/tcp/5002']) // bob moved; the answer will say so
      gate.freeze()
      assert.deepEqual((await dir.resolve(BOB)).addrs, ['/ip4/10.0.0.2/tcp/5002'], 'where bob was last seen')
      assert.deepEqual((await dir.resolve(BOB)).addrs, ['/ip4/10.0.0.2/tcp/5002'])
      assert.equal(gate.waiting, 1, 'one look-up, shared')
      gate.thaw()
      await new Promise(resolve => setImmediate(resolve))
      assert.deepEqual((await dir.resolve(BOB)).addrs, ['/ip4/10.0.0.7/tcp/5002'], 'the late answer, kept')
      assert.equal(lookups(), 2, 'not asked again')
    })

    it('frozen, VERIFY of a pinned contact shows the pinned identity after the patience, said to be the last known (round 31: 15 s); a user never pinned waits', { timeout: 10_000 }, async () => {
      const gate = frozenGate()
      const freezing: DirectoryRendezvous = { ...client, lookup: async username => { await gate.frozen(); return await client.lookup(username) } }
      const dir = new Directory(freezing, store, event => { events.push(event) }, { now: () => time, answerPatienceMs: 50 })
      await dir.resolve(BOB) // met: pinned
      gate.freeze()
      assert.deepEqual(await dir.identityToVerify(BOB, alice.peerId), {
        user: 'bob', peerId: bob.peerId, fingerprint: Directory.fingerprint(alice.peerId, bob.peerId), changed: false, pinnedPeerId: null, pinnedFingerprint: null, lastKnown: true
      })
      const carol = await rv.user('carol', ['/ip4/10.0.0.3/tcp/5003'])
      let shown: string | undefined
      const verifying = dir.identityToVerify(CAROL, alice.peerId).then(identity => { shown = identity.peerId })
      await new Promise(resolve => setTimeout(resolve, 200))
      assert.equal(shown, undefined, 'never met: still waiting past the patience, as there is nothing else to show')
      gate.thaw()
      await verifying
      assert.equal(shown, carol.peerId)
    })

    it('frozen, a user never met waits for the answer: there is nowhere else to try', { timeout: 10_000 }, async () => {
      const carol = await rv.user('carol', ['/ip4/10.0.0.3/tcp/5003'])
      const gate = frozenGate()
      const freezing: DirectoryRendezvous = { ...client, lookup: async username => { await gate.frozen(); return await client.lookup(username) } }
      const dir = new Directory(freezing, store, event => { events.push(event) }, { now: () => time, answerPatienceMs: 50 })
      gate.freeze()
      let found: string | undefined
      const resolving = dir.resolve(CAROL).then(contact => { found = contact.peerId })
      await new Promise(resolve => setTimeout(resolve, 200))
      assert.equal(found, undefined, 'still waiting past the patience')
      gate.thaw()
      await resolving
      assert.equal(found, carol.peerId)
    })

    it('a user the rendezvous answers it does not know is an error, never an old address', async () => {
      const dir = directory()
      await dir.resolve(BOB)
      dir.forget()
      // The rendezvous lost its data (a new one on the same address): bob has no account there.
      rv.close()
      rv = new InProcessRendezvous()
      alice = await rv.user('alice')
      await assert.rejects(dir.resolve(BOB), rejectsWith(ErrorCode.NotFound))
    })
  })

  describe('name cards', () => {
    const carded = (): Directory => new Directory(client, store, event => { events.push(event) }, { now: () => time, nameCardIssuer: () => rv.nameCards.peerId })
    const cardOf = (user: TestUser): Uint8Array => rv.call('card', {}, user.context).card

    it('a sender\'s card from our rendezvous names it without asking whois, and pins it as an answer would', async () => {
      const dir = carded()
      const card = cardOf(bob)
      assert.equal(await dir.usernameOf(bob.peerId, card), 'bob')
      assert.equal(rv.asked.get('whois'), undefined)
      assert.equal(dir.pinned(BOB), bob.peerId)
    })

    it('a card shown by another peer, one from another rendezvous, or one expired is not taken: whois answers', async () => {
      const dir = carded()
      const carol = await rv.user('carol')
      assert.equal(await dir.usernameOf(carol.peerId, cardOf(bob)), 'carol', 'bob\'s card shown by carol')
      const foreign = new NameCardIssuer(await generateKeyPair('Ed25519')).issue('bob', bob.peerId)
      assert.equal(await dir.usernameOf(bob.peerId, foreign), 'bob')
      assert.equal(rv.asked.get('whois'), 2)
      const dave = await rv.user('dave')
      const card = cardOf(dave)
      time += 2 * 60 * 60_000
      assert.equal(await dir.usernameOf(dave.peerId, card), 'dave')
      assert.equal(rv.asked.get('whois'), 3)
    })

    it('a contact we write to without a look-up in this run is looked up once in the background, which has the rendezvous tell us when it comes and goes; a sender met by its card is not (round 28)', async () => {
      const dir = carded()
      assert.equal(await dir.usernameOf(bob.peerId, cardOf(bob)), 'bob')
      await new Promise(resolve => setTimeout(resolve, 20))
      assert.equal(lookups(), 0, 'taking its message asks nothing')
      dir.watch(BOB)
      await until(() => dir.answeredOnline(BOB) !== undefined)
      assert.deepEqual([lookups(), dir.answeredOnline(BOB)], [1, true], 'looked up: watched')
      dir.watch(BOB)
      await new Promise(resolve => setTimeout(resolve, 20))
      assert.equal(lookups(), 1, 'once a run')
    })

    it('a card for a pinned name with another peer id is refused as a changed identity, as whois would be', async () => {
      const dir = carded()
      await dir.resolve(BOB)
      const impostor = await rv.identity('bob')
      const forged = rv.nameCards.issue('bob', impostor.peerId)
      await assert.rejects(dir.usernameOf(impostor.peerId, forged), rejectsWith(ErrorCode.IdentityChanged))
      assert.equal(events.at(-1)?.event, 'warning')
    })
  })

  describe('negative cache', () => {
    it('remembers a peer id with no account for a minute, then asks again and finds it once it has signed up', async () => {
      const dir = directory()
      const newcomer = await rv.identity('dave')
      await assert.rejects(dir.usernameOf(newcomer.peerId), rejectsWith(ErrorCode.NotFound))
      await assert.rejects(dir.usernameOf(newcomer.peerId), rejectsWith(ErrorCode.NotFound))
      assert.equal(rv.asked.get('whois'), 1)
      rv.store.createUser({ username: 'dave', peerId: newcomer.peerId, salt: new Uint8Array(16), kdf: { logN: 17, r: 8, p: 1 }, verifier: new Uint8Array(32), identity: new Uint8Array(100), addrs: [] })
      await assert.rejects(dir.usernameOf(newcomer.peerId), rejectsWith(ErrorCode.NotFound), 'still remembered')
      time += UNKNOWN_PEER_CACHE_MS
      assert.equal(await dir.usernameOf(newcomer.peerId), 'dave')
      assert.equal(rv.asked.get('whois'), 2)
      assert.equal(dir.pinned(DAVE), newcomer.peerId)
    })
  })
})
