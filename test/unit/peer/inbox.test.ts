/**
 * The inbox (peer/inbox.ts) through the real class, on the real peer store in memory and a real
 * directory over the rendezvous handlers in process: every arrival stored once before it is
 * reported (and before the ACK, which waits for the returned promise), duplicates after a lost
 * ACK not shown twice, senders known by their authenticated peer id, floods refused per sender.
 */
import { afterEach, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import { IN_MEMORY } from '../../../common/sqlite.ts'
import { Directory } from '../../../peer/directory.ts'
import type { Emit, PeerEvent } from '../../../peer/events.ts'
import { Inbox } from '../../../peer/inbox.ts'
import type { IncomingFile, IncomingText } from '../../../peer/inbox.ts'
import { PeerStore } from '../../../peer/store/store.ts'
import { InProcessRendezvous } from '../rendezvous/in-process.ts'
import { SETTLE_MS } from '../../../peer/catch-up-order.ts'
import { checkSender } from '../../../peer/groups/envelope.ts'
import type { SignedInUser } from '../../../peer/signed-in.ts'
import type { TestUser } from '../rendezvous/in-process.ts'
import { toGroupName, toUsername } from '../../../common/wire/names.ts'

const text = (over: Partial<IncomingText> = {}): IncomingText =>
  ({ from: toUsername('bob'), group: null, id: randomBytes(16), text: 'hello', sentAt: Date.now(), ...over })
const file = (over: Partial<IncomingFile> = {}): IncomingFile =>
  ({ from: toUsername('bob'), group: null, id: randomBytes(16), name: 'photo.png', path: '/downloads/photo.png', size: 4_900, sha256: new Uint8Array(32).fill(0xab), sentAt: 1, ...over })

describe('inbox', () => {
  let rv: InProcessRendezvous
  let store: PeerStore
  let alice: TestUser
  let bob: TestUser
  let events: PeerEvent[]
  let time: number
  const limits = { perSecond: 2, burst: 3 }
  let inbox: Inbox

  beforeEach(async () => {
    rv = new InProcessRendezvous()
    store = new PeerStore(IN_MEMORY, randomBytes(32))
    alice = await rv.user('alice')
    bob = await rv.user('bob')
    events = []
    time = 1_000_000
    const emit = (event: PeerEvent): void => { events.push(event) }
    inbox = new Inbox(store, new Directory(rv.client(alice), store, emit), emit, limits, () => time)
  })

  afterEach(() => {
    store.close()
    rv.close()
  })

  describe('texts', () => {
    it('stores a direct text, then reports it', async () => {
      const message = text({ text: 'are you there?' })
      await inbox.onText(message)
      const id = Buffer.from(message.id).toString('hex')
      assert.deepEqual(events.map(e => e.event === 'message' ? { id: e.id, from: e.from, text: e.text } : e.event), [{ id, from: 'bob', text: 'are you there?' }])
      const [stored] = store.history({ user: 'bob' }, 10)
      assert.equal(stored?.id, id)
      assert.equal(stored?.direction, 'in')
      assert.equal(stored?.status, 'received')
    })

    it('a re-delivery after a lost ACK resolves again (so it is ACKed) but is neither stored nor shown twice', async () => {
      const message = text()
      await inbox.onText(message)
      await inbox.onText({ ...message, text: 'a forged second body under the same id' })
      await inbox.onText(message)
      assert.equal(events.length, 1)
      assert.deepEqual(store.history({ user: 'bob' }, 10).map(m => m.body), ['hello'])
    })

    it('the same id from another sender, or in a group, is another message', async () => {
      const id = randomBytes(16)
      await inbox.onText(text({ id }))
      await inbox.onText(text({ id, from: toUsername('carol') }))
      await inbox.onText(text({ id, from: toUsername('carol'), group: toGroupName('club'), text: 'to the club' }))
      assert.deepEqual(events.map(e => e.event), ['message', 'message'], 'the third repeats (carol, id): one row per sender and id')
      await inbox.onText(text({ from: toUsername('carol'), group: toGroupName('club'), text: 'to the club' }))
      const last = events.at(-1)
      assert.deepEqual(last?.event === 'group-message' ? [last.group, last.from, last.text] : last, ['club', 'carol', 'to the club'])
      assert.deepEqual(store.history({ group: toGroupName('club') }, 10).map(m => m.body), ['to the club'])
    })

    it('a burst of texts arriving together is stored whole, in arrival order, each reported once', async () => {
      const arrivals = Array.from({ length: 20 }, (_, i) => inbox.onText(text({ text: `m${i}` })))
      await Promise.all(arrivals)
      assert.equal(events.length, 20)
      assert.deepEqual(store.history({ user: 'bob' }, 100).map(m => m.body), Array.from({ length: 20 }, (_, i) => `m${i}`))
    })

    it('an arrival the store cannot keep fails its caller (no ACK) and is not shown', async () => {
      store.close()
      await assert.rejects(inbox.onText(text()), (err: unknown) => is(err, ErrorCode.Internal))
      assert.deepEqual(events, [])
    })
  })

  describe('texts in their sender\'s order (peer/arrival-order.ts)', () => {
    const hex = (id: Uint8Array): string => Buffer.from(id).toString('hex')
    const kept = (): string[] => store.history({ user: 'bob' }, 100).map(m => m.body)
    const shown = (): string[] => events.flatMap(e => e.event === 'message' ? [e.text] : [])
    const later = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
    /** Take `message`, following `after`; `open` resolves after `delayMs` or rejects with `refuse`. */
    const take = async (message: IncomingText, after?: IncomingText, options: { delayMs?: number, refuse?: ParleyError } = {}): Promise<void> => {
      await inbox.takeText(message.from, message.id, after?.id, async () => {
        if (options.delayMs !== undefined) await later(options.delayMs)
        if (options.refuse !== undefined) throw options.refuse
        return message
      })
    }
    const passing = (): ParleyError => new ParleyError(ErrorCode.Unreachable, 'waiting for the key of club (epoch 2) from another member')

    it('a text whose checks finish first still waits for the one it follows (it overtook it until 2026-12-06)', async () => {
      const [one, two, three] = [text({ text: 'one' }), text({ text: 'two' }), text({ text: 'three' })]
      // one waits on something slow (a key from the rendezvous); two and three are quick.
      await Promise.all([take(one, undefined, { delayMs: 30 }), take(two, one), take(three, two)])
      assert.deepEqual(kept(), ['one', 'two', 'three'])
      assert.deepEqual(shown(), ['one', 'two', 'three'])
    })

    it('a text that follows one refused for a passing reason is refused (retryable) and kept nowhere; sent again in order, both are taken', async () => {
      const [one, two, three] = [text({ text: 'one' }), text({ text: 'two' }), text({ text: 'three' })]
      const outcomes = await Promise.allSettled([take(one, undefined, { refuse: passing() }), take(two, one), take(three, two)])
      const refusals = outcomes.map(o => o.status === 'rejected' ? o.reason as ParleyError : undefined)
      assert.ok(refusals.every(e => e !== undefined && e.code === ErrorCode.Unreachable && e.retryable), JSON.stringify(refusals.map(e => e?.message)))
      assert.match(refusals[1]?.message ?? '', /follows a message that has not arrived yet/)
      assert.deepEqual(kept(), [])
      // The sender's next run starts with one (naming nothing), then the rest in order.
      await Promise.all([take(one), take(two, one), take(three, two)])
      assert.deepEqual(kept(), ['one', 'two', 'three'])
      assert.deepEqual(shown(), ['one', 'two', 'three'])
    })

    it('a text that follows one refused for good is taken: the sender gives that one up, the gap is for ever', async () => {
      const [one, two] = [text({ text: 'one' }), text({ text: 'two' })]
      await assert.rejects(take(one, undefined, { refuse: new ParleyError(ErrorCode.Forbidden, 'bob is not a member of club') }), (err: unknown) => is(err, ErrorCode.Forbidden))
      await take(two, one)
      assert.deepEqual(kept(), ['two'])
    })

    it('a text that follows one never seen is refused until that one comes; one that follows a text stored long ago is taken', async () => {
      const [lost, next] = [text({ text: 'lost with its connection' }), text({ text: 'next' })]
      await assert.rejects(take(next, lost), (err: unknown) => is(err, ErrorCode.Unreachable))
      await take(lost)
      await take(next, lost)
      assert.deepEqual(kept(), ['lost with its connection', 'next'])
      assert.equal(store.hasMessage(hex(next.id), 'in', 'bob'), true)
    })

    it('the same text taken twice at once (sent again on a new session) is stored and shown once, and what follows it waits for both', async () => {
      const [one, two] = [text({ text: 'one' }), text({ text: 'two' })]
      await Promise.all([take(one, undefined, { delayMs: 20 }), take(one), take(two, one)])
      assert.deepEqual(kept(), ['one', 'two'])
      assert.deepEqual(shown(), ['one', 'two'])
    })

    it('a second copy of a text that follows a later text cannot make the two wait on each other (round 46: a hostile sender so held every text after them, and their memory, for ever)', async () => {
      const [b, a, after] = [text({ text: 'b, first copy' }), text({ text: 'a' }), text({ text: 'after a' })]
      const bAgain = { ...b, text: 'b, second copy' }
      // b's first copy is slow to check and then refused for good; its second copy follows a,
      // and a follows b.
      const all = Promise.allSettled([
        take(b, undefined, { delayMs: 30, refuse: new ParleyError(ErrorCode.Forbidden, 'bob is not a member of nogroup') }),
        take(bAgain, a),
        take(a, b),
        take(after, a)
      ])
      const outcomes = await Promise.race([all, later(3_000).then(() => 'still waiting')])
      assert.notEqual(outcomes, 'still waiting')
      assert.deepEqual(kept(), ['a', 'after a', 'b, second copy'], 'a once b was refused for good, then what follows a')
    })

    it('texts of one sender wait only for their own: another sender\'s with the same id is not the one followed', async () => {
      const mine = text({ text: 'from bob' })
      const carols = text({ from: toUsername('carol'), id: mine.id, text: 'from carol' })
      await take(mine)
      await assert.rejects(take(text({ from: toUsername('carol'), text: 'carol again' }), carols), (err: unknown) => is(err, ErrorCode.Unreachable))
    })

    it('a text that names itself as the one it follows is a protocol breach, not a wait for ever', async () => {
      const one = text()
      await assert.rejects(take(one, one), (err: unknown) => is(err, ErrorCode.Protocol))
    })

    it('a burst where each follows the one before is stored in one commit, in order', async () => {
      const burst = Array.from({ length: 50 }, (_, i) => text({ text: `m${i}` }))
      // A counter bumped once per turn of the event loop: writes run in one commit (one
      // synchronous transaction) exactly when they all see the same value.
      let turn = 0
      let counting = true
      const bump = (): void => { turn++; if (counting) setImmediate(bump) }
      setImmediate(bump)
      const turns: number[] = []
      const commitSoon = store.commitSoon.bind(store)
      store.commitSoon = async work => await commitSoon(() => { turns.push(turn); return work() })
      await Promise.all(burst.map(async (message, i) => { await take(message, burst[i - 1]) }))
      counting = false
      assert.deepEqual(kept(), burst.map(m => m.text))
      assert.equal(turns.length, burst.length)
      assert.equal(new Set(turns).size, 1, 'written in more than one commit')
    })
  })

  describe('files', () => {
    it('stores and reports a file once; a retry of the same file is known before it is received again', async () => {
      const arrived = file()
      assert.equal(inbox.hasFile('bob', arrived.id), false)
      await inbox.onFile(arrived)
      await inbox.onFile(arrived)
      assert.equal(inbox.hasFile('bob', arrived.id), true)
      assert.equal(inbox.hasFile('carol', arrived.id), false, 'known per sender')
      assert.equal(events.length, 1)
      const [event] = events
      assert.deepEqual(event?.event === 'file' ? [event.name, event.path, event.size, event.sha256, event.sentAt] : event,
        ['photo.png', '/downloads/photo.png', 4_900, 'ab'.repeat(32), 1])
      const [stored] = store.history({ user: 'bob' }, 10)
      assert.deepEqual([stored?.kind, stored?.body, stored?.path, stored?.sentAt], ['file', 'photo.png', '/downloads/photo.png', 1])
    })

    it('a file whose sender does not say when it was sent has no sent time; one from the future is taken as sent on arrival', async () => {
      await inbox.onFile(file({ sentAt: null }))
      await inbox.onFile(file({ sentAt: Date.now() + 3_600_000 }))
      const [unsaid, future] = events
      assert.equal(unsaid?.event === 'file' ? unsaid.sentAt : unsaid, null)
      assert.ok(future?.event === 'file' && future.sentAt === future.at, JSON.stringify(future))
    })

    it('a group file is reported with its group', async () => {
      await inbox.onFile(file({ group: toGroupName('club') }))
      assert.deepEqual(events.map(e => e.event === 'group-file' ? e.group : e.event), ['club'])
    })
  })

  describe('the shown mark (store/shown-mark.ts)', () => {
    /** A store on disk in a folder of its own (the shown mark is a file beside it), its last
     * run's unshown taken; `restart` closes it, runs `meanwhile` (what a kill -9 left), and opens
     * it again. Removed after `body`. */
    const onDisk = async (body: (disk: { dbFile: string, store: () => PeerStore, restart: (meanwhile: () => void) => PeerStore }) => Promise<void>): Promise<void> => {
      const dir = await mkdtemp(join(tmpdir(), 'parley-inbox-'))
      const dbFile = join(dir, 'parley.db')
      const key = randomBytes(32)
      let opened = new PeerStore(dbFile, key)
      try {
        opened.takeUnshown()
        await body({
          dbFile,
          store: () => opened,
          restart: meanwhile => {
            opened.close()
            meanwhile()
            opened = new PeerStore(dbFile, key)
            return opened
          }
        })
      } finally {
        opened.close()
        await rm(dir, { recursive: true, force: true })
      }
    }
    const inboxOn = (store: PeerStore, emit: Emit): Inbox => new Inbox(store, new Directory(rv.client(alice), store, emit), emit)

    it('moves past what came in only once it was shown: a stop while it is shown, before the line is out, tells of it at the next sign-in', async () => {
      await onDisk(async ({ dbFile, store, restart }) => {
        // What a kill -9 at the moment each line is written would leave of the mark.
        const leftAt: Buffer[] = []
        const diskInbox = inboxOn(store(), (event, shown) => { events.push(event); leftAt.push(readFileSync(`${dbFile}.shown`)); shown?.() })
        const first = text({ text: 'first' })
        await diskInbox.onText(first)
        await diskInbox.onFile(file({ group: toGroupName('club') }))
        await diskInbox.onText(first) // a duplicate: neither shown nor marked again
        assert.equal(events.length, 2)
        const marks = [...leftAt, readFileSync(`${dbFile}.shown`)].map(mark => Number(mark.toString('latin1')))
        assert.ok(marks[0]! < marks[1]! && marks[1]! < marks[2]!, `the mark moves past each message after its line: ${marks.join(' ')}`)
        // Killed while the file's line was written: that file was never shown.
        const again = restart(() => { writeFileSync(`${dbFile}.shown`, leftAt[1]!) })
        assert.deepEqual(again.takeUnshown(), [{ user: null, group: 'club', count: 1 }])
      })
    })

    it('a line written but still in the output\'s buffer is not shown: a kill -9 then tells of it at the next sign-in (round 9: 55 of 600 lost unsaid)', async () => {
      await onDisk(async ({ store, restart }) => {
        const buffered: Array<() => void> = []
        const diskInbox = inboxOn(store(), (event, shown) => { events.push(event); if (shown !== undefined) buffered.push(shown) })
        await diskInbox.onText(text({ text: 'out' }))
        buffered.shift()?.() // this line reached the pipe
        await diskInbox.onText(text({ text: 'in the buffer' }))
        assert.equal(events.length, 2)
        const again = restart(() => {}) // killed before the second line left the process
        assert.deepEqual(again.takeUnshown(), [{ user: 'bob', group: null, count: 1 }])
      })
    })

    it('a group\'s catch-up is held to be shown in the order sent (catch-up-order.ts): stored at once, marked shown only once shown', async () => {
      await onDisk(async ({ dbFile, store, restart }) => {
        const emit: Emit = (event, shown) => { events.push(event); shown?.() }
        const diskInbox = inboxOn(store(), emit)
        const club = toGroupName('club')
        const sent = Date.now() - 10 * 60_000
        await diskInbox.onText(text({ from: toUsername('bob'), group: club, text: '2-bob', sentAt: sent + 2 }))
        await diskInbox.onText(text({ from: toUsername('carol'), group: club, text: '1-carol', sentAt: sent + 1 }))
        assert.equal(events.length, 0, 'held: stored and acknowledged, not shown yet')
        assert.equal(store().history({ group: 'club' }, 10).length, 2)
        const mark = readFileSync(`${dbFile}.shown`)
        await new Promise(resolve => setTimeout(resolve, SETTLE_MS + 50))
        assert.deepEqual(events.map(e => e.event === 'group-message' ? e.text : e.event), ['1-carol', '2-bob'])
        // Killed while they were held: both are told of at the next sign-in.
        const again = restart(() => { writeFileSync(`${dbFile}.shown`, mark) })
        assert.deepEqual(again.takeUnshown(), [{ user: null, group: 'club', count: 2 }])
        // A sign-out shows what is held at once.
        const next = inboxOn(again, emit)
        await next.onText(text({ group: club, text: 'at the sign-out', sentAt: sent }))
        next.showHeld()
        assert.equal(events.length, 3)
      })
    })
  })

  describe('senders', () => {
    it('knows a sender by its authenticated peer id, and refuses one with no account', async () => {
      assert.equal(await inbox.senderOf(bob.peerId), 'bob')
      const stranger = await rv.identity('mallory')
      await assert.rejects(inbox.senderOf(stranger.peerId), (err: unknown) => is(err, ErrorCode.NotFound))
    })

    it('refuses a flood of streams from one sender, not from others, and lets it in again over time', async () => {
      for (let i = 0; i < limits.burst; i++) await inbox.senderOf(bob.peerId)
      await assert.rejects(inbox.senderOf(bob.peerId), (err: unknown) => is(err, ErrorCode.RateLimited))
      assert.equal(await inbox.senderOf(alice.peerId), 'alice')
      time += 1_000 / limits.perSecond
      assert.equal(await inbox.senderOf(bob.peerId), 'bob')
      await assert.rejects(inbox.senderOf(bob.peerId), (err: unknown) => is(err, ErrorCode.RateLimited))
    })
  })

  describe('refused streams', () => {
    it('a sender that went away mid-stream is not reported (it retries); a refusal is, the same one not every time', () => {
      inbox.onInboundError(bob.peerId, new ParleyError(ErrorCode.Unreachable, 'stream reset'))
      // Nor one we made while our sign-in at the rendezvous was renewed: it mends (round 14).
      inbox.onInboundError(bob.peerId, new ParleyError(ErrorCode.NotSignedIn, 'signing in to the rendezvous again (it was away): try again in a moment'))
      assert.equal(events.length, 0)
      for (let i = 0; i < 50; i++) inbox.onInboundError('some-peer', new ParleyError(ErrorCode.NotFound, 'no user with that peer id'))
      const warnings = events.filter(e => e.event === 'warning')
      assert.ok(warnings.length >= 1 && warnings.length < 50, `${warnings.length} warnings for 50 refusals`)
      assert.ok(warnings.every(w => w.event === 'warning' && w.code === ErrorCode.NotFound && w.message.includes('some-peer')))
    })

    it('a group message refused because we left the group is not a warning to us (it was about us); one from a non-member is', async () => {
      const keys = (info: () => Promise<{ members: Array<{ username: string }> }>): SignedInUser['keys'] =>
        ({ listForSender: info, key: async () => { throw new Error('unused') }, acceptHandedKey: async () => { throw new Error('unused') } }) as unknown as SignedInUser['keys']
      const left = await checkSender(keys(async () => { throw new ParleyError(ErrorCode.Forbidden, 'you are not a member of "club"') }), 'club', 'eve').catch((err: unknown) => err as ParleyError)
      const stranger = await checkSender(keys(async () => ({ members: [{ username: 'alice' }] })), 'club', 'mallory').catch((err: unknown) => err as ParleyError)
      const warned = (): string => events.flatMap(e => e.event === 'warning' ? [e.message] : []).join('\n')
      inbox.onInboundError(bob.peerId, left as ParleyError)
      assert.equal(warned(), '')
      inbox.onInboundError(bob.peerId, stranger as ParleyError)
      assert.match(warned(), /mallory is not a member of club/)
    })

    it('a refusal names a known contact by name, with its peer id', () => {
      store.pin('bob', bob.peerId)
      inbox.onInboundError(bob.peerId, new ParleyError(ErrorCode.RateLimited, 'too many requests, slow down'))
      assert.deepEqual(events.filter(e => e.event === 'warning').map(e => e.event === 'warning' && e.message),
        [`refused incoming data from bob (${bob.peerId}): too many requests, slow down`])
    })
  })
})
