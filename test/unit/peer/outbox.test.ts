/**
 * The outbox (peer/outbox.ts) through the real class, on the real peer store in memory and a
 * real directory over the rendezvous in process; only the network end (the Deliverer: the direct
 * service) is scripted. Order and delivery, offline recipients, which refusals are tried again
 * and which are given up, retry with backoff on a mocked clock, stop during a delivery, leaving
 * a group with deliveries under way and waiting, and duplicates.
 */
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { ErrorCode, ParleyError } from '../../../common/errors.ts'
import { IN_MEMORY } from '../../../common/sqlite.ts'
import { toGroupName, toMessageId, toUsername } from '../../../common/wire/names.ts'
import type { MessageId, Username } from '../../../common/wire/names.ts'
import { OUTBOX_RETRY_MS } from '../../../peer/constants.ts'
import type { Posted } from '../../../peer/direct/service.ts'
import { Directory } from '../../../peer/directory.ts'
import type { PeerContact } from '../../../peer/directory.ts'
import type { PeerEvent } from '../../../peer/events.ts'
import { Outbox, waitsOnGroup } from '../../../peer/outbox.ts'
import { SigningInAgain } from '../../../peer/rendezvous-client.ts'
import type { Deliverer } from '../../../peer/outbox.ts'
import { PeerStore } from '../../../peer/store/store.ts'
import type { MessageRecord, NewOutboxItem, OutboxItem } from '../../../peer/store/store.ts'
import { InProcessRendezvous } from '../rendezvous/in-process.ts'
import type { TestUser } from '../rendezvous/in-process.ts'
import { until } from '../../helpers/loop.ts'
import { recipientLeft } from '../../../peer/groups/membership-races.ts'
import { removeDir, tempDir } from '../../../harness/temp.ts'
import { join } from 'node:path'

type Item = NewOutboxItem

const BOB = toUsername('bob')

/** A delivery's outcome: ACKed, refused before it left (`refuse`, retryable as its code is by
 * default unless `retryable` says), or refused by the receiver's answer (`nack`). */
type Outcome = 'ack' | { refuse: ErrorCode, retryable?: boolean } | { nack: ErrorCode } | { failFor: (item: OutboxItem) => Error | undefined }

/** The network end: records every delivery started, answers as `outcome` says, and can hold
 * deliveries (`hold`) or their ACKs (`holdAcks`) until released. */
class ScriptedDeliverer implements Deliverer {
  readonly started: Array<{ body: string, to: PeerContact, after: string | undefined }> = []
  outcome: Outcome = 'ack'
  open = new Set<string>()
  #held: Array<() => void> = []
  #holding: 'no' | 'deliveries' | 'acks' = 'no'

  #holdingFiles = false

  hold (): void { this.#holding = 'deliveries' }
  /** Files take until `release` (a long transfer); texts go on. */
  holdFiles (): void { this.#holdingFiles = true }
  holdAcks (): void { this.#holding = 'acks' }
  release (): void {
    this.#holding = 'no'
    this.#holdingFiles = false
    for (const go of this.#held.splice(0)) go()
  }

  async deliver (item: OutboxItem, to: PeerContact, onSent: () => void, after: MessageId | undefined): Promise<Posted> {
    this.started.push({ body: item.body, to, after })
    const held = async (): Promise<void> => { await new Promise<void>(resolve => { this.#held.push(resolve) }) }
    if (this.#holding === 'deliveries' || (this.#holdingFiles && item.kind === 'file')) await held()
    const outcome = this.outcome
    if (outcome !== 'ack' && 'refuse' in outcome) throw new ParleyError(outcome.refuse, 'refused by the recipient', { retryable: outcome.retryable })
    const failure = outcome !== 'ack' && 'failFor' in outcome ? outcome.failFor(item) : undefined
    if (failure !== undefined) throw failure
    onSent()
    if (outcome !== 'ack' && 'nack' in outcome) return { acked: Promise.reject(new ParleyError(outcome.nack, 'not accepted')) }
    return { acked: this.#holding === 'acks' ? held() : Promise.resolve() }
  }

  connected (peerId: string): boolean { return this.open.has(peerId) }
}

describe('outbox', () => {
  let rv: InProcessRendezvous
  let store: PeerStore
  let alice: TestUser
  let bob: TestUser
  let directory: Directory
  let network: ScriptedDeliverer
  let events: PeerEvent[]
  let outbox: Outbox
  let next = 0

  const item = (body: string, over: Partial<Item> = {}): Item =>
    ({ id: toMessageId(randomBytes(16).toString('hex')), recipient: BOB, group: null, kind: 'text', body, created: next++, ...over })
  const record = (queued: Item): MessageRecord =>
    ({ id: queued.id, direction: 'out', peer: queued.recipient, group: null, kind: 'text', body: queued.body, path: null, status: 'queued', at: queued.created })
  const send = async (...items: Item[]): Promise<void> => {
    for (const one of items) await outbox.submit(one.group === null ? record(one) : null, [one])
    await outbox.idle()
  }
  const of = (name: PeerEvent['event']): PeerEvent[] => events.filter(e => e.event === name)
  const attemptsOf = (id: string): number | undefined => store.outboxFor('bob').find(i => i.id === id)?.attempts

  beforeEach(async () => {
    rv = new InProcessRendezvous()
    store = new PeerStore(IN_MEMORY, randomBytes(32))
    alice = await rv.user('alice')
    bob = await rv.user('bob')
    events = []
    const emit = (event: PeerEvent): void => { events.push(event) }
    directory = new Directory(rv.client(alice), store, emit)
    network = new ScriptedDeliverer()
    outbox = new Outbox(store, directory, emit, network)
  })

  afterEach(() => {
    outbox.stop()
    store.close()
    rv.close()
    mock.timers.reset()
  })

  describe('delivery', () => {
    test('delivers in order at the directory\'s address, reports sent and delivered, and empties the queue', async () => {
      const first = item('one')
      await send(first, item('two'), item('three'))
      assert.deepEqual(network.started.map(d => d.body), ['one', 'two', 'three'])
      assert.equal(network.started[0]?.to.peerId, bob.peerId)
      assert.deepEqual(of('delivered').map(e => e.event === 'delivered' ? e.to : ''), ['bob', 'bob', 'bob'])
      assert.equal(of('sent').length, 3)
      assert.equal(store.outboxSize(), 0)
      assert.equal(store.history({ user: 'bob' }, 10)[0]?.status, 'delivered')
    })

    test('delivered is reported on the ACK, before our own record of it is written; the record follows', async () => {
      const one = item('one')
      let queuedAtDelivered: string[] | undefined
      const emit = (event: PeerEvent): void => {
        events.push(event)
        // outboxFor sees writes already run in this connection, committed or not.
        if (event.event === 'delivered') queuedAtDelivered = store.outboxFor('bob').map(i => i.body)
      }
      outbox = new Outbox(store, directory, emit, network)
      await send(one)
      assert.deepEqual(queuedAtDelivered, ['one'], 'delivered waited for the outbox row to go')
      assert.equal(store.outboxSize(), 0)
      assert.equal(store.history({ user: 'bob' }, 10)[0]?.status, 'delivered')
    })

    test('an offline recipient\'s messages wait, reported queued once, and go once it is online', async () => {
      rv.sessions.end(bob.peerId)
      const waiting = item('while you were out')
      await send(waiting)
      outbox.flush(BOB)
      await outbox.idle()
      assert.equal(network.started.length, 0)
      assert.deepEqual(of('queued').map(e => e.event === 'queued' ? e.reason : ''), ['offline'])
      rv.connect(bob)
      directory.forget(BOB) // what the presence event does
      outbox.flushAll()
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body), ['while you were out'])
      assert.equal(store.outboxSize(), 0)
    })

    test('a delivery cut off from someone the rendezvous just said went offline is queued as `offline`; else as what went wrong (round 7, in --json too)', async () => {
      const cut = (): ParleyError => new ParleyError(ErrorCode.Unreachable, 'the other side closed the connection')
      const reasons = (): Array<[string, string | null]> => of('queued').map(e => e.event === 'queued' ? [e.reason, e.code] : ['', null])
      // bob quits as a text goes out: the presence event comes while the delivery is cut.
      network.outcome = { failFor: () => { directory.presence(BOB, false); return cut() } }
      await send(item('as you left'))
      assert.deepEqual(reasons(), [['offline', null]])
      // Back, and cut again: that is a fault, said as one.
      directory.presence(BOB, true)
      network.outcome = { failFor: cut }
      await send(item('a fault'))
      // Waiting for a group's key is said as that, whoever is away.
      network.outcome = {
        failFor: () => {
          directory.presence(BOB, false)
          return new ParleyError(ErrorCode.Unreachable, 'waiting for the key of club (epoch 2) from another member')
        }
      }
      await send(item('keyless'))
      assert.deepEqual(reasons(), [
        ['offline', null],
        ['the other side closed the connection', ErrorCode.Unreachable],
        ['waiting for the key of club (epoch 2) from another member', ErrorCode.Unreachable]
      ])
    })

    test('a text refused as having overtaken the one it follows (a re-key mid-burst) is not said to wait: it comes again in order, then is delivered (round 46: 1,043 `queued` lines for 2,000 texts)', async () => {
      let refusals = 1
      network.outcome = {
        failFor: () => refusals-- > 0
          ? new ParleyError(ErrorCode.Unreachable, 'refused by the recipient: it follows a message that has not arrived yet: both are to come again, in order')
          : undefined
      }
      await send(item('overtaken'))
      assert.deepEqual(of('queued'), [])
      network.outcome = 'ack'
      outbox.flush(BOB)
      await outbox.idle()
      assert.equal(of('delivered').length, 1)
      assert.deepEqual(of('queued'), [], 'and nothing said of it after either')
    })

    test('a delivery said queued for one reason is said again once, when it comes to wait for the recipient\'s disk (round 11)', async () => {
      const cut = (): ParleyError => new ParleyError(ErrorCode.Unreachable, 'the other side closed the connection')
      const full = (): ParleyError => new ParleyError(ErrorCode.NoSpace, 'refused by the recipient: not enough disk space now')
      const reasons = (): string[] => of('queued').map(e => e.event === 'queued' ? e.reason : '')
      const waiting = item('film.mkv', { kind: 'text' })
      network.outcome = { failFor: cut }
      await send(waiting)
      for (const failure of [full, full, cut, full]) {
        network.outcome = { failFor: failure }
        outbox.flush(BOB)
        await outbox.idle()
      }
      assert.deepEqual(reasons(), ['the other side closed the connection', 'refused by the recipient: not enough disk space now'])
      network.outcome = 'ack'
      outbox.flush(BOB)
      await outbox.idle()
      assert.equal(of('delivered').length, 1)
    })

    test('accept: the message is durable before anything is reported or sent, its answer (`durable`) first; a commit that fails is reported', async () => {
      const taken = item('typed')
      void outbox.accept(record(taken), [taken], () => { events.push({ event: 'warning', code: ErrorCode.Internal, message: 'durable' }) })
      assert.equal(events.length, 0, 'nothing reported before the commit')
      assert.equal(network.started.length, 0)
      await outbox.idle()
      assert.deepEqual(events.map(e => e.event === 'warning' ? e.message : e.event), ['durable', 'sent', 'delivered'])
      store.close()
      void outbox.accept(null, [item('lost')], () => { assert.fail('a failed commit is not durable') })
      await outbox.idle()
      assert.match(of('error').map(e => e.event === 'error' ? e.message : '').join(), /could not queue the message/)
    })

    test('each text names the text before it in its conversation posted in the same run, for the receiver to take first; files and the first of a run name none', async () => {
      const texts = [item('a1'), item('g1', { group: toGroupName('club') }), item('a2'), item('/tmp/f.png', { kind: 'file' }), item('a3'), item('g2', { group: toGroupName('club') }), item('h1', { group: toGroupName('hall') })]
      const bodyOf = new Map(texts.map(t => [t.id as string, t.body]))
      // Queued together, so one run takes them all.
      await store.commitSoon(() => { for (const one of texts) store.enqueue(one) })
      outbox.flush(BOB)
      await outbox.idle()
      const named = network.started.map(d => [d.body, d.after === undefined ? null : bodyOf.get(d.after)]).filter(([body]) => body !== '/tmp/f.png')
      assert.deepEqual(named, [['a1', null], ['g1', null], ['a2', 'a1'], ['a3', 'a2'], ['g2', 'g1'], ['h1', null]])
      assert.equal(network.started.find(d => d.body === '/tmp/f.png')?.after, undefined, 'a file names none')
    })

    test('a text does not wait behind a file under way to the same recipient: each has its own lane, in order within it', async () => {
      network.holdFiles()
      await outbox.submit(null, [item('/tmp/film.mp4', { kind: 'file' })])
      await outbox.submit(null, [item('/tmp/second.mp4', { kind: 'file' })])
      await until(() => network.started.length === 1)
      const texts = [item('typed while the film goes'), item('and another')]
      for (const one of texts) await outbox.submit(record(one), [one])
      await until(() => of('delivered').length === 2)
      assert.deepEqual(network.started.map(d => d.body), ['/tmp/film.mp4', 'typed while the film goes', 'and another'])
      assert.deepEqual(of('delivered').map(e => e.event === 'delivered' ? e.id : ''), texts.map(t => t.id))
      assert.equal(store.outboxSize(), 2, 'both files still wait, in their lane')
      network.release()
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body).slice(3), ['/tmp/second.mp4'], 'the files in their order')
      assert.equal(store.outboxSize(), 0)
    })

    test('after a run ends on a refusal, the next run\'s first text names none (all before it was acknowledged or given up)', async () => {
      const [one, two, three] = [item('one'), item('two'), item('three')]
      network.outcome = { nack: ErrorCode.Unreachable }
      await send(one, two, three)
      assert.equal(store.outboxSize(), 3)
      network.started.length = 0
      network.outcome = 'ack'
      outbox.flush(BOB)
      await outbox.idle()
      assert.deepEqual(network.started.map(d => [d.body, d.after]), [['one', undefined], ['two', one.id], ['three', two.id]])
      assert.equal(store.outboxSize(), 0)
    })

    test('over an open session with the pinned identity, no directory look-up is made', async () => {
      store.pin('bob', bob.peerId)
      network.open.add(bob.peerId)
      rv.down = true
      await send(item('direct'))
      assert.equal(rv.asked.get('lookup') ?? 0, 0)
      assert.equal(store.outboxSize(), 0)
    })

    test('a recipient whose identity changed gets nothing until TRUST', async () => {
      const before = await rv.identity('bob')
      store.pin('bob', before.peerId)
      await send(item('for the old bob only'))
      assert.equal(network.started.length, 0)
      assert.equal(store.outboxSize(), 1)
      await directory.trust(BOB, bob.peerId)
      outbox.flush(BOB)
      await outbox.idle()
      assert.equal(network.started[0]?.to.peerId, bob.peerId)
      assert.equal(store.outboxSize(), 0)
    })
  })

  test('after TRUST, a delivery still waiting is said again with its new reason: bob knows us by another identity too', async () => {
    network.outcome = { refuse: ErrorCode.IdentityChanged, retryable: true }
    await send(item('both accounts made anew'))
    outbox.flush(BOB)
    await outbox.idle()
    assert.equal(of('queued').length, 1, 'said once while nothing changed')
    // We accepted bob's new identity; his side has not accepted ours: it waits on, for him now.
    outbox.identityAccepted(BOB)
    outbox.flush(BOB)
    await outbox.idle()
    assert.equal(of('queued').length, 2, 'said again: what it waits for changed (until 2026-12-06 the line still said it went once we accepted)')
  })

  test('a delivery an earlier account of this name queued in this folder is said undelivered, once, and the rest goes', async () => {
    // The rendezvous lost its accounts and alice signed up again here: a new key, the old rows.
    const dir = await tempDir('parley-outbox-')
    try {
      const file = join(dir, 'parley.db')
      const earlier = new PeerStore(file, randomBytes(32))
      const old = item('queued before')
      const oldFile = item('/tmp/film.mp4', { kind: 'file' })
      for (const queued of [old, oldFile]) {
        earlier.addMessage(record(queued))
        earlier.enqueue(queued)
      }
      earlier.close()
      outbox.stop()
      store.close()
      store = new PeerStore(file, randomBytes(32))
      const emit = (event: PeerEvent): void => { events.push(event) }
      outbox = new Outbox(store, new Directory(rv.client(alice), store, emit), emit, network)
      await send(item('queued now'))
      assert.deepEqual(network.started.map(d => d.body), ['queued now'])
      outbox.flush(BOB) // the files' lane too
      await outbox.idle()
      // Until 2026-12-06 it went without a word.
      assert.deepEqual(of('undelivered').map(e => e.event === 'undelivered' ? [e.id, e.to, e.code, e.message] : []), [[old.id, 'bob', ErrorCode.Integrity,
        'could not deliver a message to bob: an earlier account of your name queued it in this folder, and it does not open with this one'], [oldFile.id, 'bob', ErrorCode.Integrity,
        // Named for what it is (until 2026-12-06 a file was "a message" here too: round 11).
        'could not deliver a file to bob: an earlier account of your name queued it in this folder, and it does not open with this one']])
      await send(item('and after'))
      assert.equal(of('undelivered').length, 2, 'said once')
    } finally {
      outbox.stop()
      store.close()
      store = new PeerStore(IN_MEMORY, randomBytes(32)) // for afterEach
      await removeDir(dir)
    }
  })

  describe('refusals', () => {
    /** Queue one group text for bob, then flush `runs` times with every delivery refused with `code`. */
    const refusedRuns = async (code: ErrorCode, runs: number): Promise<number> => {
      network.outcome = { refuse: code }
      await send(item('hi', { group: toGroupName('club') }))
      for (let i = 1; i < runs; i++) {
        outbox.flush(BOB)
        await outbox.idle()
      }
      return network.started.length
    }

    test('a delivery the recipient cannot open (ERR_INTEGRITY) is given up after five tries and reported', async () => {
      assert.equal(await refusedRuns(ErrorCode.Integrity, 10), 5)
      assert.equal(store.outboxSize(), 0)
      const given = of('undelivered')
      assert.equal(given.length, 1)
      assert.match(given[0]?.event === 'undelivered' ? given[0].message : '', /^could not deliver to bob in club: refused by the recipient/)
      assert.equal(of('error').length, 0)
    })

    test('what waits for a contact the rendezvous knows no more (replaced, its accounts lost) is given up and said so, not queued for ever (round 35)', async () => {
      const emit = (event: PeerEvent): void => { events.push(event) }
      const noSuchUser = new Directory({ lookup: async () => await rv.client(alice).lookup('nobody'), whois: async peerId => await rv.client(alice).whois(peerId) }, store, emit)
      outbox.stop()
      outbox = new Outbox(store, noSuchUser, emit, network)
      const direct = item('hi')
      await send(direct, item('hi in club', { group: toGroupName('club') }))
      assert.deepEqual(of('queued'), [])
      assert.deepEqual(of('undelivered').map(e => e.event === 'undelivered' ? [e.id === direct.id, e.code, e.message] : []), [
        [true, ErrorCode.NotFound, 'could not deliver to bob: the rendezvous knows no user "bob" (any more)'],
        [false, ErrorCode.NotFound, 'could not deliver to bob in club: the rendezvous knows no user "bob" (any more)']
      ])
      assert.equal(store.outboxSize(), 0)
      assert.equal(network.started.length, 0)
    })

    test('a look-up refused while our sign-in at the rendezvous is renewed is said as a wait, not as the command\'s "try again in a moment" (round 20)', async () => {
      const emit = (event: PeerEvent): void => { events.push(event) }
      const renewing = new Directory({ lookup: async () => { throw new SigningInAgain() }, whois: async peerId => await rv.client(alice).whois(peerId) }, store, emit)
      outbox.stop()
      outbox = new Outbox(store, renewing, emit, network)
      await send(item('hi'))
      const queued = of('queued')
      assert.deepEqual(queued.map(e => e.event === 'queued' ? [e.reason, e.code] : []), [['finding bob needs the rendezvous, which this peer is signing in to again', 'ERR_NOT_SIGNED_IN']])
      assert.equal(store.outboxSize(), 1, 'it waits, to go out by itself')
    })

    test('a recipient that is only unreachable keeps its messages, however often it fails', async () => {
      assert.equal(await refusedRuns(ErrorCode.Unreachable, 10), 10)
      assert.equal(store.outboxSize(), 1)
      assert.equal(of('error').length + of('undelivered').length, 0)
    })

    test('a refusal that no retry can change drops the message, marks it failed and says so', async () => {
      network.outcome = { refuse: ErrorCode.Forbidden }
      await send(item('not allowed'))
      assert.equal(store.outboxSize(), 0)
      assert.equal(store.history({ user: 'bob' }, 10)[0]?.status, 'failed')
      assert.deepEqual(of('undelivered').map(e => e.event === 'undelivered' && [e.to, e.code]), [['bob', ErrorCode.Forbidden]])
    })

    test('the error decides, not its code: one made retryable is tried again, one made final is given up', async () => {
      // A code that is final by default, made retryable where the error was made: kept.
      network.outcome = { refuse: ErrorCode.File, retryable: true }
      const kept = item('try me again')
      await send(kept)
      outbox.flush(BOB)
      await outbox.idle()
      assert.equal(network.started.length, 2)
      assert.equal(attemptsOf(kept.id), 2)
      assert.equal(of('undelivered').length, 0)
      network.outcome = 'ack'
      outbox.flush(BOB)
      await outbox.idle()
      assert.equal(store.outboxSize(), 0)
      assert.equal(store.history({ user: 'bob' }, 10)[0]?.status, 'delivered')

      // A code that is retryable by default, made final: dropped at the first failure.
      network.outcome = { refuse: ErrorCode.Unreachable, retryable: false }
      const dropped = item('no point')
      await send(dropped)
      assert.equal(store.outboxSize(), 0)
      assert.equal(store.history({ user: 'bob' }, 10).find(m => m.id === dropped.id)?.status, 'failed')
      assert.deepEqual(of('undelivered').map(e => e.event === 'undelivered' && e.id), [dropped.id])
    })

    test('an ACK that does not come (the receiver answered with a passing error) keeps the message and counts the try', async () => {
      network.outcome = { nack: ErrorCode.RateLimited }
      const waiting = item('later')
      await send(waiting)
      assert.equal(attemptsOf(waiting.id), 1)
      assert.deepEqual(of('queued').map(e => e.event === 'queued' ? e.reason : ''), ['not accepted'])
      network.outcome = 'ack'
      outbox.flush(BOB)
      await outbox.idle()
      assert.equal(store.outboxSize(), 0)
    })
  })

  describe('retry and backoff (mocked clock)', () => {
    beforeEach(() => { mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }) })

    /** Advance the clock by `ms` and let the delivery runs it started finish. */
    const advance = async (ms: number): Promise<void> => {
      mock.timers.tick(ms)
      await outbox.idle()
    }

    test('an online recipient that cannot be reached is retried after 1, 2, 4, 8 and 16 s, then by the sweep every 30 s', async () => {
      network.outcome = { refuse: ErrorCode.Unreachable }
      await send(item('knock knock'))
      assert.equal(network.started.length, 1)
      for (const wait of [1_000, 2_000, 4_000, 8_000, 16_000]) {
        const before: number = network.started.length
        await advance(wait - 1)
        assert.equal(network.started.length, before, `not before ${wait} ms`)
        await advance(1)
        assert.equal(network.started.length, before + 1, `again after ${wait} ms`)
      }
      await advance(10 * OUTBOX_RETRY_MS)
      assert.equal(network.started.length, 6, 'no quick retries after the fifth; no sweep before start()')
      outbox.start()
      await advance(OUTBOX_RETRY_MS)
      assert.equal(network.started.length, 7, 'the sweep')
      network.outcome = 'ack'
      await advance(OUTBOX_RETRY_MS)
      assert.equal(store.outboxSize(), 0)
    })

    test('a delivery that gets through starts the backoff over', async () => {
      network.outcome = { refuse: ErrorCode.Unreachable }
      await send(item('first'))
      await advance(1_000)
      assert.equal(network.started.length, 2)
      network.outcome = 'ack'
      await advance(2_000)
      assert.equal(store.outboxSize(), 0)
      network.outcome = { refuse: ErrorCode.Unreachable }
      await send(item('second'))
      const before = network.started.length
      await advance(1_000)
      assert.equal(network.started.length, before + 1, 'one second again, not four')
    })

    test('a failed directory look-up (the rendezvous away, nothing known) is retried soon too', async () => {
      rv.down = true
      await send(item('needs a look-up'))
      assert.equal(network.started.length, 0)
      rv.down = false
      await advance(1_000)
      assert.equal(network.started.length, 1)
      assert.equal(store.outboxSize(), 0)
    })

    test('stop clears the retries: nothing fires after it', async () => {
      network.outcome = { refuse: ErrorCode.Unreachable }
      outbox.start()
      await send(item('never mind'))
      outbox.stop()
      await advance(10 * OUTBOX_RETRY_MS)
      assert.equal(network.started.length, 1)
      assert.equal(store.outboxSize(), 1, 'it stays for the next session')
    })
  })

  describe('stop during a delivery', () => {
    test('the delivery in flight finishes, nothing else starts, and the rest stays queued', async () => {
      network.hold()
      await outbox.submit(null, [item('one'), item('two'), item('three')])
      await until(() => network.started.length === 1) // the first delivery is under way
      outbox.stop()
      network.release()
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body), ['one'])
      assert.deepEqual(store.outboxFor('bob').map(i => i.body), ['two', 'three'])
      outbox.flush(BOB)
      outbox.flushAll()
      await outbox.idle()
      assert.equal(network.started.length, 1, 'a stopped outbox starts nothing')
    })

    test('after stop the store may close: a late flush (a presence event) touches nothing', async () => {
      network.outcome = { refuse: ErrorCode.Unreachable }
      await send(item('left for the next session'))
      outbox.stop()
      store.close()
      outbox.flush(BOB)
      outbox.flushAll()
      await outbox.idle()
      assert.equal(of('error').length + of('undelivered').length, 0)
    })

    test('a refusal that arrives after stop neither counts a try nor drops the message', async () => {
      network.hold()
      const doomed = item('refused late')
      await outbox.submit(null, [doomed])
      await until(() => network.started.length === 1)
      network.outcome = { refuse: ErrorCode.Forbidden }
      outbox.stop()
      network.release()
      await outbox.idle()
      assert.equal(attemptsOf(doomed.id), 0)
      assert.equal(of('error').length + of('undelivered').length, 0)
    })
  })

  describe('leaving a group', () => {
    const club = toGroupName('club')
    /** A group message of ours (its history row, `sent`) accepted for `to`: queued in the next
     * commit, with whatever else is accepted in this turn. */
    const groupSend = (text: string, to: Username[]): MessageId => {
      const id = toMessageId(randomBytes(16).toString('hex'))
      const history: MessageRecord = { id, direction: 'out', peer: toUsername('alice'), group: club, kind: 'text', body: text, path: null, status: 'sent', at: next++ }
      void outbox.accept(history, to.map(recipient => item(text, { id, recipient, group: club })), () => {})
      return id
    }
    const statusOf = (id: string): string | undefined => store.history({ group: 'club' }, 10).find(m => m.id === id)?.status

    test('a delivery under way goes on; those still waiting are dropped, counted, skipped by the run that read them, and failed', async () => {
      const carol = await rv.user('carol')
      rv.sessions.end(carol.peerId)
      network.hold()
      // One commit: bob's run reads both before the first goes out.
      const first = groupSend('first', [BOB, toUsername('carol')])
      const second = groupSend('second', [BOB])
      await until(() => network.started.length === 1 && of('queued').length === 1) // first under way to bob, waiting for carol
      assert.deepEqual(await outbox.leaveGroup(club), { dropped: 2, underWay: 1 })
      network.release()
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body), ['first'], 'second, read by bob\'s run before LEAVE, did not go')
      assert.deepEqual(of('delivered').map(e => e.event === 'delivered' && [e.id, e.to]), [[first, 'bob']])
      assert.equal(of('undelivered').length + of('error').length, 0, 'the count said it, once')
      assert.equal(of('queued').length, 1)
      assert.equal(store.outboxSize(), 0)
      await store.commitSoon(() => {})
      assert.equal(statusOf(first), 'failed', 'carol will not get it, though bob did')
      assert.equal(statusOf(second), 'failed')
    })

    test('a group delivery that waits on its group (its first key, the rendezvous away) holds that group\'s later messages, in order, and nothing else to the member (round 50: a direct SEND waited too)', async () => {
      const used = toGroupName('used')
      const noKeyYet = (): Error => waitsOnGroup.add(new ParleyError(ErrorCode.Unreachable, 'club has no key yet: its first is made once the rendezvous answers'))
      network.outcome = { failFor: one => one.group === club ? noKeyYet() : undefined }
      const first = groupSend('to the club', [BOB])
      const second = groupSend('to the club again', [BOB])
      await outbox.submit(null, [item('to used', { group: used })])
      await send(item('direct'))
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body).filter(body => body !== 'to the club'), ['to used', 'direct'], 'the rest of the lane went; the club\'s second waits behind its first')
      assert.deepEqual(of('delivered').map(e => e.event === 'delivered' && `${e.group ?? ''}/${e.to}`), ['used/bob', '/bob'])
      const waiting = of('queued')
      assert.deepEqual(waiting.map(e => e.event === 'queued' && [e.id, e.reason]).sort(), [[first, 'club has no key yet: its first is made once the rendezvous answers'], [second, 'club has no key yet: its first is made once the rendezvous answers']].sort())
      assert.deepEqual(store.outboxFor('bob').map(i => i.body), ['to the club', 'to the club again'])
      // The key comes: both go, in order.
      network.outcome = 'ack'
      outbox.flush(BOB)
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body).slice(-2), ['to the club', 'to the club again'])
      assert.equal(store.outboxSize(), 0)
    })

    test('a delivery to a member who left before it reached them is withdrawn without a word; the message is delivered once the others have it (round 8)', async () => {
      const carol = toUsername('carol')
      await rv.user('carol')
      network.hold()
      const sent = groupSend('to the club', [BOB, carol])
      await until(() => network.started.length === 2)
      // Bob answers; carol left as it was sent (the keyring's fresh member list says so).
      network.outcome = { failFor: one => one.recipient === carol ? recipientLeft(carol, club) : undefined }
      network.release()
      await outbox.idle()
      assert.equal(of('undelivered').length + of('error').length, 0, JSON.stringify(events))
      // Said as withdrawn, which a terminal shows no line for but which ends its wait (round 16).
      assert.deepEqual(of('withdrawn'), [{ event: 'withdrawn', id: sent, to: 'carol', group: club, name: null }])
      assert.equal(store.outboxSize(), 0)
      await store.commitSoon(() => {})
      assert.equal(statusOf(sent), 'delivered', 'every member got it: not failed')
    })

    test('a delivery under way that fails after we left is given up, not tried again as a member', async () => {
      network.hold()
      const only = groupSend('last words', [BOB])
      await until(() => network.started.length === 1)
      assert.deepEqual(await outbox.leaveGroup(club), { dropped: 0, underWay: 1 })
      network.outcome = { refuse: ErrorCode.Unreachable }
      network.release()
      await outbox.idle()
      const given = of('undelivered')
      assert.deepEqual(given.map(e => e.event === 'undelivered' && e.message), ['could not deliver to bob in club: refused by the recipient (you left club, so it is not tried again)'])
      assert.equal(of('queued').length, 0, 'not said to wait for a retry')
      assert.equal(store.outboxSize(), 0)
      assert.equal(statusOf(only), 'failed')
    })
  })

  describe('duplicates', () => {
    test('the same delivery queued twice goes once', async () => {
      const once = item('once')
      await outbox.submit(record(once), [once])
      await outbox.submit(record(once), [once])
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body), ['once'])
      assert.equal(of('delivered').length, 1)
    })

    test('messages queued while a run is under way go after it, in order, each once', async () => {
      network.hold()
      await outbox.submit(null, [item('a')])
      await until(() => network.started.length === 1)
      await outbox.submit(null, [item('b')])
      outbox.flush(BOB)
      await outbox.submit(null, [item('c')])
      network.release()
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body), ['a', 'b', 'c'])
      assert.equal(store.outboxSize(), 0)
    })

    test('a message queued while the run waits for earlier ACKs goes at once, beside them, not after their round trip', async () => {
      network.holdAcks()
      await outbox.submit(null, [item('a')])
      await until(() => network.started.length === 1)
      await new Promise(resolve => setImmediate(resolve))
      await outbox.submit(null, [item('b')])
      await until(() => network.started.length === 2)
      assert.equal(of('delivered').length, 0, 'a\'s ACK is still held')
      network.release()
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body), ['a', 'b'])
      assert.equal(store.outboxSize(), 0)
    })

    test('a run reads the queue again only when something was queued meanwhile', async () => {
      const reads: string[] = []
      const outboxFor = store.outboxFor.bind(store)
      store.outboxFor = (recipient, after, kind) => { reads.push(recipient); return outboxFor(recipient, after, kind) }
      await send(item('a'))
      assert.equal(reads.length, 1, 'one message, one read')
      network.holdAcks()
      await outbox.submit(null, [item('b')])
      await until(() => network.started.length === 2)
      await outbox.submit(null, [item('c')])
      await until(() => network.started.length === 3)
      network.release()
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.body), ['a', 'b', 'c'])
      assert.equal(reads.length, 3, 'b\'s run read once more, for c')
      assert.equal(store.outboxSize(), 0)
    })

    test('one message to a group goes once to each member', async () => {
      await rv.user('carol')
      const id = toMessageId(randomBytes(16).toString('hex'))
      const members = [toUsername('bob'), toUsername('carol')]
      await outbox.submit(null, members.map(recipient => item('to the club', { id, recipient, group: toGroupName('club') })))
      await outbox.submit(null, members.map(recipient => item('to the club', { id, recipient, group: toGroupName('club') })))
      await outbox.idle()
      assert.deepEqual(network.started.map(d => d.to.username).sort(), members)
      assert.equal(store.outboxSize(), 0)
    })

    test('our group message is delivered once every member acknowledged it, failed if one never gets it', async () => {
      await rv.user('carol')
      const members = [toUsername('bob'), toUsername('carol')]
      const groupSend = async (text: string): Promise<string> => {
        const id = toMessageId(randomBytes(16).toString('hex'))
        const history: MessageRecord = { id, direction: 'out', peer: toUsername('alice'), group: toGroupName('club'), kind: 'text', body: text, path: null, status: 'sent', at: next++ }
        await outbox.submit(history, members.map(recipient => item(text, { id, recipient, group: toGroupName('club') })))
        await outbox.idle()
        await store.commitSoon(() => {})
        return store.history({ group: 'club' }, 10).find(m => m.id === id)?.status ?? 'none'
      }
      assert.equal(await groupSend('to both'), 'delivered')
      network.outcome = { refuse: ErrorCode.Forbidden }
      assert.equal(await groupSend('to nobody'), 'failed')
    })
  })
})
