/**
 * Issue 12 item 3, peer side: peers with no account must not make us ask the rendezvous on every
 * stream (negative `whois` cache, one shared budget for look-ups inbound traffic causes), and a
 * flood of refusals must not flood the human with warnings.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import { Directory, INBOUND_LOOKUPS_BURST, MAX_UNKNOWN_PEERS, UNKNOWN_PEER_CACHE_MS } from '../../../peer/directory.ts'
import type { PeerEvent } from '../../../peer/events.ts'
import { Inbox } from '../../../peer/inbox.ts'
import type { RendezvousClient } from '../../../peer/rendezvous-client.ts'
import type { PeerStore } from '../../../peer/store/store.ts'
import { FLOOD_PER_WINDOW, SAME_OTHER_PER_WINDOW, SAME_PER_WINDOW, WarningThrottle } from '../../../peer/warnings.ts'

function clock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: ms => { time += ms } }
}

/** A rendezvous that knows only `known` (peer id → username) and counts `whois` calls. */
function fakeRendezvous (known: Record<string, string> = {}): { client: RendezvousClient, calls: () => number } {
  let calls = 0
  const client = {
    async whois (peerId: string) {
      calls++
      await new Promise(resolve => setImmediate(resolve))
      const username = known[peerId]
      if (username === undefined) throw new ParleyError(ErrorCode.NotFound, `no user with peer id ${peerId}`)
      return { username, peerId, addrs: [], online: true }
    }
  }
  return { client: client as unknown as RendezvousClient, calls: () => calls }
}

/** Just what Directory.usernameOf needs of the store: pins in memory. */
function fakeStore (): PeerStore {
  const pins = new Map<string, string>()
  const pin = (username: string, peerId: string): string => {
    const had = pins.get(username)
    if (had === undefined) { pins.set(username, peerId); return 'new' }
    return had === peerId ? 'same' : 'changed'
  }
  return {
    usernameForPeer: (peerId: string) => [...pins].find(([, id]) => id === peerId)?.[0],
    pin,
    pinSoon: async (username: string, peerId: string) => pin(username, peerId)
  } as unknown as PeerStore
}

const notFound = (err: unknown): boolean => is(err, ErrorCode.NotFound)
const rateLimited = (err: unknown): boolean => is(err, ErrorCode.RateLimited)

describe('Directory.usernameOf for inbound traffic', () => {
  it('remembers "no such peer" for a while: one look-up, not one per stream', async () => {
    const time = clock()
    const rv = fakeRendezvous()
    const directory = new Directory(rv.client, fakeStore(), () => {}, { now: time.now })
    for (let i = 0; i < 50; i++) await assert.rejects(directory.usernameOf('stranger'), notFound)
    assert.equal(rv.calls(), 1)
    time.advance(UNKNOWN_PEER_CACHE_MS)
    await assert.rejects(directory.usernameOf('stranger'), notFound)
    assert.equal(rv.calls(), 2, 'asked again once the entry expired (the peer may have signed up)')
  })

  it('asks once for a burst of streams from one peer', async () => {
    const rv = fakeRendezvous({ p1: 'alice' })
    const directory = new Directory(rv.client, fakeStore(), () => {})
    const names = await Promise.all(Array.from({ length: 30 }, async () => await directory.usernameOf('p1')))
    assert.deepEqual(new Set(names), new Set(['alice']))
    assert.equal(rv.calls(), 1)
    await directory.usernameOf('p1')
    assert.equal(rv.calls(), 1, 'pinned now: no look-up')
  })

  it('shares one budget for look-ups among all inbound senders, refilling over time', async () => {
    const time = clock()
    const rv = fakeRendezvous({ known: 'bob' })
    const directory = new Directory(rv.client, fakeStore(), () => {}, { now: time.now })
    for (let i = 0; i < INBOUND_LOOKUPS_BURST; i++) await assert.rejects(directory.usernameOf(`fresh-${i}`), notFound)
    await assert.rejects(directory.usernameOf('fresh-next'), rateLimited)
    await assert.rejects(directory.usernameOf('known'), rateLimited, 'a real user waits too (its sender retries)')
    assert.equal(rv.calls(), INBOUND_LOOKUPS_BURST)
    time.advance(1_000)
    assert.equal(await directory.usernameOf('known'), 'bob')
  })

  it('keeps a bounded number of unknown peer ids', async () => {
    const time = clock()
    const rv = fakeRendezvous()
    const directory = new Directory(rv.client, fakeStore(), () => {}, { now: time.now, lookupsPerSecond: 1e9, lookupsBurst: 1e9 })
    for (let i = 0; i <= MAX_UNKNOWN_PEERS; i++) await assert.rejects(directory.usernameOf(`id-${i}`), notFound)
    const calls = rv.calls()
    await assert.rejects(directory.usernameOf(`id-${MAX_UNKNOWN_PEERS}`), notFound)
    assert.equal(rv.calls(), calls, 'the newest is remembered')
    await assert.rejects(directory.usernameOf('id-0'), notFound)
    assert.equal(rv.calls(), calls + 1, 'the oldest was forgotten')
  })
})

describe('WarningThrottle', () => {
  it('a full disk here is said once a minute in all, whoever sends and whatever it was (round 11: three in 15 s)', () => {
    const time = clock()
    const throttle = new WarningThrottle(time.now)
    const said = [
      throttle.admit(ErrorCode.NoSpace, 'refused incoming data from carol: not enough disk space now: the file needs 300 kB, 0 B is free'),
      throttle.admit(ErrorCode.NoSpace, 'refused incoming data from carol: no space left on the disk for the store'),
      throttle.admit(ErrorCode.NoSpace, 'refused incoming data from frank: no space left on the disk for the store')
    ]
    assert.deepEqual(said.map(m => m !== undefined), [true, false, false])
    time.advance(60_000)
    assert.match(throttle.admit(ErrorCode.NoSpace, 'refused incoming data from frank: no space left on the disk for the store') ?? '', /\(2 similar warnings not shown\)$/)
  })

  it('a condition of our own of another code (a downloads folder that cannot be written to) is said once a minute in all too (round 25: at each try of each sender)', () => {
    const time = clock()
    const throttle = new WarningThrottle(time.now)
    const shown = ['alice', 'alice', 'bob'].map(from => throttle.admit(ErrorCode.File, `cannot save a file from ${from}: operation not permitted`, true))
    assert.deepEqual(shown, ['cannot save a file from alice: operation not permitted', undefined, undefined])
    time.advance(60_000)
    assert.equal(throttle.admit(ErrorCode.File, 'cannot save a file from bob: operation not permitted', true), 'cannot save a file from bob: operation not permitted (2 similar warnings not shown)')
  })

  it('shows the same "no such user" warning at most 3 times a minute, then says how many were left out', () => {
    const time = clock()
    const throttle = new WarningThrottle(time.now)
    const shown = Array.from({ length: 10 }, () => throttle.admit(ErrorCode.NotFound, 'no user with peer id p'))
    assert.deepEqual(shown.filter(m => m !== undefined), Array(SAME_PER_WINDOW).fill('no user with peer id p'))
    time.advance(60_000)
    assert.equal(throttle.admit(ErrorCode.NotFound, 'no user with peer id p'), 'no user with peer id p (7 similar warnings not shown)')
  })

  it('shows the same refusal of a registered sender at most 30 times a minute', () => {
    const throttle = new WarningThrottle(clock().now)
    const shown = Array.from({ length: 100 }, () => throttle.admit(ErrorCode.Integrity, 'frame MAC mismatch'))
    assert.equal(shown.filter(m => m !== undefined).length, SAME_OTHER_PER_WINDOW)
  })

  it('shows the refusal of a changed identity once a minute: each retry of the new identity is refused again', () => {
    const time = clock()
    const throttle = new WarningThrottle(time.now)
    const refusal = 'refused incoming data from bob (12D3KooW…): the identity of bob has changed'
    const shown = Array.from({ length: 7 }, () => throttle.admit(ErrorCode.IdentityChanged, refusal))
    assert.deepEqual(shown.filter(m => m !== undefined), [refusal])
    time.advance(60_000)
    assert.equal(throttle.admit(ErrorCode.IdentityChanged, refusal), `${refusal} (6 similar warnings not shown)`)
  })

  it('shows at most 10 "no such user" or "rate limited" warnings a minute, whatever the number of senders', () => {
    const time = clock()
    const throttle = new WarningThrottle(time.now)
    const shown = Array.from({ length: 500 }, (_, i) => throttle.admit(ErrorCode.NotFound, `no user with peer id p${i}`))
    assert.equal(shown.filter(m => m !== undefined).length, FLOOD_PER_WINDOW)
    assert.ok(throttle.admit(ErrorCode.Malformed, 'something else') !== undefined, 'other codes are not held back')
    time.advance(60_000)
    assert.match(throttle.admit(ErrorCode.NotFound, 'no user with peer id q') ?? '', /\(490 similar warnings not shown\)$/)
  })
})

describe('Inbox refusal warnings', () => {
  it('a flood of streams from peers with no account makes a handful of warnings and few look-ups', async () => {
    const rv = fakeRendezvous()
    const events: PeerEvent[] = []
    const directory = new Directory(rv.client, fakeStore(), () => {})
    const inbox = new Inbox(fakeStore(), directory, event => { events.push(event) })
    for (let i = 0; i < 482; i++) {
      const peerId = `stranger-${i % 40}`
      try {
        await inbox.senderOf(peerId)
        assert.fail('accepted a stranger')
      } catch (err) {
        inbox.onInboundError(peerId, err as ParleyError)
      }
    }
    const warnings = events.filter(e => e.event === 'warning')
    assert.ok(warnings.length <= 2 * FLOOD_PER_WINDOW, `${warnings.length} warnings`)
    assert.ok(rv.calls() <= 40, `${rv.calls()} look-ups`)
  })
})
