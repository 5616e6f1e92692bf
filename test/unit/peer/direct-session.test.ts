/**
 * The direct session (issue 11) over an in-memory stream pair: set-up with a fresh X25519
 * exchange, pipelining in both directions with batched acks, refusals, re-keying before the 3DES
 * budget is spent, and a stream lost mid-flight (every message either acknowledged or failed,
 * none both, none twice).
 */
import { describe, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { streamPair } from '@libp2p/utils'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import { RateLimiter } from '../../../common/rate-limiter.ts'
import { SESSION_WINDOW } from '../../../common/protocol/peer.ts'
import { encodeBody } from '../../../common/wire/codec.ts'
import { FramedStream } from '../../../common/wire/frames.ts'
import { formatHeader } from '../../../common/wire/headers.ts'
import { ACK_TIMEOUT_MS, TDES_REKEY_BYTES } from '../../../peer/constants.ts'
import { DirectSession } from '../../../peer/direct/session.ts'
import type { SessionMessage, SessionPeer } from '../../../peer/direct/session.ts'
import { acceptDirectChannel, initiateDirectChannel } from '../../../peer/transport/channel.ts'
import { toUsername } from '../../../common/wire/names.ts'

const ALICE = '12D3KooWAliceAliceAliceAliceAliceAliceAliceAlice'
const BOB = '12D3KooWBobBobBobBobBobBobBobBobBobBobBobBobBob'
const MSG = formatHeader({ kind: 'MSG' })
const SESSION = formatHeader({ kind: 'SESSION' })

interface Side {
  session: DirectSession
  received: SessionMessage[]
  refused: ParleyError[]
  framed: FramedStream
  /** The key this side seals with: a new session must bring a new one. */
  sendKey: Uint8Array
  ran: Promise<ParleyError | undefined>
  /** The peers this side's session found stopped acknowledging (DirectSessionOptions.onStalled). */
  stalled: string[]
}

type Handler = (from: SessionPeer, message: SessionMessage) => Promise<void>

/** Alice dials Bob: header and handshake as DirectSessions does, then a session on each side. */
async function pair (handlers: { alice?: Handler, bob?: Handler } = {}, limiter = () => new RateLimiter({ perSecond: 1e9, burst: 1e9 })): Promise<{ alice: Side, bob: Side }> {
  const [a, b] = await streamPair({ delay: 0 })
  const aFramed = new FramedStream(a)
  const bFramed = new FramedStream(b)
  const [initiated, accepted] = await Promise.all([
    initiateDirectChannel(aFramed, SESSION, ALICE, BOB),
    (async () => {
      const header = await bFramed.read()
      assert.deepEqual(header, SESSION)
      return await acceptDirectChannel(bFramed, header, BOB, ALICE, async () => undefined)
    })()
  ])
  const side = (framed: FramedStream, channel: typeof initiated.channel, sendKey: Uint8Array, peer: SessionPeer, handler?: Handler): Side => {
    const received: SessionMessage[] = []
    const refused: ParleyError[] = []
    const stalled: string[] = []
    const session = new DirectSession({
      channel,
      peer,
      limiter: limiter(),
      onMessage: async (from, message) => {
        if (handler !== undefined) await handler(from, message)
        received.push(message)
      },
      onRefused: (_from, error) => { refused.push(error) },
      onStalled: stalledPeer => { stalled.push(stalledPeer.username) }
    })
    return { session, received, refused, framed, sendKey, ran: session.run(), stalled }
  }
  return {
    alice: side(aFramed, initiated.channel, initiated.keys.send.encKey, { peerId: BOB, username: toUsername('bob') }, handlers.alice),
    bob: side(bFramed, accepted.channel, accepted.keys.send.encKey, { peerId: ALICE, username: toUsername('alice') }, handlers.bob)
  }
}

const text = (n: number, size = 0): { id: Uint8Array, body: Uint8Array } => {
  const id = new Uint8Array(randomBytes(16))
  return { id, body: encodeBody({ id, text: `message ${n} ${'x'.repeat(size)}`, sentAt: Date.now() }) }
}
const decodeText = (message: SessionMessage): string => {
  const body = message.body
  return Buffer.from(body).toString('utf8').match(/message \d+/)?.[0] ?? ''
}

describe('direct session', () => {
  test('each session runs its own X25519 exchange: two sessions between the same peers have different keys', async () => {
    const first = await pair()
    const second = await pair()
    assert.notDeepEqual(first.alice.sendKey, second.alice.sendKey)
    assert.notDeepEqual(first.alice.sendKey, first.bob.sendKey, 'each direction has its own key')
    for (const { alice, bob } of [first, second]) {
      alice.session.abort('test over')
      bob.session.abort('test over')
    }
  })

  test('many messages in flight both ways arrive in order, each acknowledged once', async () => {
    const { alice, bob } = await pair()
    const count = 3 * SESSION_WINDOW
    const post = async (from: Side): Promise<void> => {
      const acks: Array<Promise<void>> = []
      for (let i = 0; i < count; i++) {
        await from.session.room()
        const { id, body } = text(i)
        acks.push(from.session.post(MSG, id, body))
      }
      await Promise.all(acks)
    }
    await Promise.all([post(alice), post(bob)])
    assert.equal(bob.received.length, count)
    assert.equal(alice.received.length, count)
    assert.deepEqual(bob.received.map(decodeText), Array.from({ length: count }, (_, i) => `message ${i}`))
    assert.deepEqual(alice.received.map(decodeText), Array.from({ length: count }, (_, i) => `message ${i}`))
    alice.session.abort('test over')
    bob.session.abort('test over')
  })

  test('a message carries the text it follows when the sender names one, and none otherwise (peer/arrival-order.ts)', async () => {
    const { alice, bob } = await pair()
    const first = text(1)
    const second = text(2)
    await Promise.all([alice.session.post(MSG, first.id, first.body), alice.session.post(MSG, second.id, second.body, undefined, first.id)])
    assert.deepEqual(bob.received.map(m => m.after), [undefined, first.id])
    alice.session.abort('test over')
    bob.session.abort('test over')
  })

  test('a refused message fails alone with the receiver\'s code; the session goes on', async () => {
    const { alice, bob } = await pair({
      bob: async (_from, message) => {
        if (decodeText(message) === 'message 1') throw new ParleyError(ErrorCode.Forbidden, 'alice is not a member of club')
      }
    })
    const results = await Promise.allSettled([0, 1, 2].map(async i => { const { id, body } = text(i); await alice.session.post(MSG, id, body) }))
    assert.deepEqual(results.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled'])
    const reason = (results[1] as PromiseRejectedResult).reason as unknown
    assert.ok(is(reason, ErrorCode.Forbidden) && /not a member/.test(reason.message), String(reason))
    assert.equal(bob.refused.length, 1, 'the receiver reports the refusal')
    assert.ok(alice.session.usable)
    alice.session.abort('test over')
    bob.session.abort('test over')
  })

  test('a refusal because the receiver is signing in to its rendezvous again says so in the sender\'s terms, not the receiver\'s advice (round 14)', async () => {
    const { alice, bob } = await pair({
      bob: async () => { throw new ParleyError(ErrorCode.NotSignedIn, 'signing in to the rendezvous again (it was away): try again in a moment (known contacts are reached directly meanwhile)') }
    })
    const { id, body } = text(0)
    const refused = await alice.session.post(MSG, id, body).then(() => undefined, (err: unknown) => err)
    assert.ok(is(refused, ErrorCode.NotSignedIn), String(refused))
    assert.equal(refused.message, 'refused by the recipient: the recipient is signing in to its rendezvous again')
    alice.session.abort('test over')
    bob.session.abort('test over')
  })

  test('a message posted again while in flight is refused as a passing conflict (retried, not dropped); the first goes through once', async () => {
    const { alice, bob } = await pair()
    const { id, body } = text(0)
    const first = alice.session.post(MSG, id, body)
    await assert.rejects(alice.session.post(MSG, id, body), (err: unknown) => is(err, ErrorCode.Conflict) && err.retryable)
    await first
    assert.equal(bob.received.length, 1)
    alice.session.abort('test over')
    bob.session.abort('test over')
  })

  test('a message that breaks the protocol ends the session on the receiver, with that error', async () => {
    const { alice, bob } = await pair({
      bob: async (_from, message) => {
        if (message.header.kind !== 'MSG') throw new ParleyError(ErrorCode.Protocol, `${message.header.kind} does not belong inside a session`)
      }
    })
    const id = new Uint8Array(randomBytes(16))
    await assert.rejects(alice.session.post(formatHeader({ kind: 'FILE', name: 'a.txt', size: 3 }), id, new Uint8Array(0)),
      (err: unknown) => is(err, ErrorCode.Unreachable))
    const ended = await bob.ran
    assert.ok(is(ended, ErrorCode.Protocol) && /does not belong inside a session/.test(ended.message), String(ended))
    assert.equal(await alice.ran, undefined, 'the remote going away is a normal end for alice')
  })

  test('a session re-keys before its send key seals 2 MiB: it ends, every message acknowledged, and the next goes on a new one', async () => {
    const { alice, bob } = await pair()
    const big = 15 * 1024
    const needed = Math.ceil(TDES_REKEY_BYTES / big) + 8
    const acks: Array<Promise<void>> = []
    let posted = 0
    while (alice.session.usable && posted < needed * 2) {
      await alice.session.room()
      if (!alice.session.usable) break
      const { id, body } = text(posted++, big)
      acks.push(alice.session.post(MSG, id, body))
    }
    assert.ok(!alice.session.usable, 'retired once the budget was reached')
    assert.ok(posted >= needed - 8 && posted < needed * 2, `retired after ${posted} messages`)
    await Promise.all(acks)
    // Both sides said end and nothing is outstanding: both runs end normally.
    assert.equal(await alice.ran, undefined)
    assert.equal(await bob.ran, undefined)
    assert.equal(bob.received.length, posted)
    await assert.rejects(alice.session.post(MSG, ...Object.values(text(0)) as [Uint8Array, Uint8Array]), (err: unknown) => is(err, ErrorCode.Unreachable))
  })

  test('a stream lost mid-flight: each message is either acknowledged or failed as unreachable, never both', async () => {
    let stored = 0
    let lose = (): void => {}
    const { alice, bob } = await pair({
      bob: async () => {
        // The stream goes while many messages are in flight, some of them already acknowledged.
        if (++stored === 150) lose()
        await new Promise(resolve => setTimeout(resolve, 1))
      }
    })
    lose = () => { bob.framed.abort(new Error('connection lost')) }
    const outcomes = new Map<number, string>()
    const all: Array<Promise<void>> = []
    for (let i = 0; i < 200; i++) {
      // The first hundred are acknowledged before the rest go.
      if (i === 100) await Promise.all(all)
      await alice.session.room().catch(() => {})
      const { id, body } = text(i)
      all.push(alice.session.post(MSG, id, body).then(
        () => { assert.ok(!outcomes.has(i)); outcomes.set(i, 'acked') },
        (err: unknown) => { assert.ok(!outcomes.has(i)); assert.ok(is(err, ErrorCode.Unreachable), String(err)); outcomes.set(i, 'failed') }
      ))
    }
    await Promise.all(all)
    const acked = [...outcomes.values()].filter(o => o === 'acked').length
    assert.equal(outcomes.size, 200)
    assert.ok(acked > 0 && acked < 200, `${acked} acknowledged before the loss`)
    assert.ok(stored >= acked, 'nothing is acknowledged that was not stored')
    assert.ok(!alice.session.usable)
    assert.equal(await alice.ran, undefined)
  })

  test('backpressure: a receiver over its budget waits before reading on; nothing is refused', async () => {
    const limiters: RecordingLimiter[] = []
    const { alice, bob } = await pair({}, () => {
      // Slow enough that no machine's sender outpaces the refill: a message every 50 ms after a
      // burst of 5, where a sender takes a few ms per message even on a slow, loaded machine.
      // (At 100 a second the refill kept up with a sender slowed by load: 8 waits of 30.)
      const limiter = new RecordingLimiter({ perSecond: 20, burst: 5 })
      limiters.push(limiter)
      return limiter
    })
    const acks: Array<Promise<void>> = []
    for (let i = 0; i < 30; i++) {
      await alice.session.room()
      const { id, body } = text(i)
      acks.push(alice.session.post(MSG, id, body))
    }
    await Promise.all(acks)
    assert.equal(bob.received.length, 30)
    assert.equal(bob.refused.length, 0)
    const waited = limiters.flatMap(l => l.delays).filter(d => d > 0)
    assert.ok(waited.length >= 20, `the receiver waited before ${waited.length} of 30 reads`)
    alice.session.abort('test over')
    bob.session.abort('test over')
  })
})

/** A rate limiter that remembers the waits it asked for. */
class RecordingLimiter extends RateLimiter {
  readonly delays: number[] = []
  override delay (key: string): number {
    const wait = super.delay(key)
    this.delays.push(wait)
    return wait
  }
}

describe('direct session whose remote stops acknowledging', () => {
  test('ends after the ack timeout, its messages failed as unreachable, and tells its owner, who hangs up the connection (round 46: a frozen device kept every retry)', async () => {
    const { alice } = await pair({ bob: async () => await new Promise(() => {}) }) // bob never stores it
    mock.timers.enable({ apis: ['setTimeout'] })
    try {
      const { id, body } = text(1)
      const posted = alice.session.post(MSG, id, body).then(() => 'acked', (err: unknown) => err)
      for (let turn = 0; turn < 20; turn++) await new Promise(resolve => setImmediate(resolve))
      assert.deepEqual(alice.stalled, [])
      mock.timers.tick(ACK_TIMEOUT_MS)
      const failure = await posted
      assert.ok(is(failure, ErrorCode.Unreachable) && /bob stopped acknowledging/.test(failure.message), String(failure))
      assert.deepEqual(alice.stalled, ['bob'])
    } finally {
      mock.timers.reset()
    }
  })
})
