import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, is } from '../../../common/errors.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { RequestLimiter, SignInThrottle, isLoopback, sourceOf } from '../../../rendezvous/ratelimit.ts'
import type { Attempt } from '../../../rendezvous/ratelimit.ts'

const rateLimited = (err: unknown): boolean => is(err, ErrorCode.RateLimited)

function clock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: ms => { time += ms } }
}

describe('SignInThrottle', () => {
  const options = {
    freeFailures: 5,
    sourceFreeFailures: 10,
    userUnderAttack: 10,
    globalFailuresPerHour: 1_000,
    windowMs: 24 * 3_600_000,
    backoffBaseMs: 2_000,
    backoffMaxMs: 900_000
  }
  const from = (username: string, source: string, peerId = `fresh-${Math.random()}`, trusted = false): Attempt =>
    ({ username, peerId, source, trusted })
  const owner = (username: string, source: string): Attempt => ({ username, peerId: `owner-of-${username}`, source, trusted: true })

  it('lets the first failures of a (username, network) pair through, then makes the next attempt wait', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    for (let i = 0; i < 5; i++) {
      throttle.check(from('alice', 'net-a'))
      throttle.fail(from('alice', 'net-a'))
    }
    assert.throws(() => { throttle.check(from('alice', 'net-a')) }, (err: unknown) =>
      rateLimited(err) && (err as Error).message === 'too many attempts, try again in 2 s')
    time.advance(2_000)
    throttle.check(from('alice', 'net-a'))
  })

  it('never holds the owner\'s own device back for failures made elsewhere, even from its own network', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    // 50 guesses from fresh peer ids (each a new "device") on the owner's network, and 500 from
    // other networks, and the global budget spent by guesses at other names.
    for (let i = 0; i < 50; i++) throttle.fail(from('alice', 'net-a'))
    for (let i = 0; i < 500; i++) throttle.fail(from('alice', `net-${i}`))
    for (let i = 0; i < 1_000; i++) throttle.fail(from(`user${i}`, `botnet-${i}`))
    assert.equal(throttle.waitFor(owner('alice', 'net-a')), 0)
    throttle.check(owner('alice', 'net-a'))
    assert.ok(throttle.waitFor(from('alice', 'net-a')) > 0, 'the attacking network is refused')
  })

  it('slows the owner\'s device only by its own failures', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    for (let i = 0; i < 5; i++) throttle.fail(owner('alice', 'net-a'))
    assert.equal(throttle.waitFor(owner('alice', 'net-a')), 2_000)
    assert.equal(throttle.waitFor(from('alice', 'net-a')), 0, 'a device\'s failures do not count against its network')
    throttle.succeed(owner('alice', 'net-a'))
    assert.equal(throttle.waitFor(owner('alice', 'net-a')), 0)
  })

  it('doubles the wait with every further failure, up to the 15-minute cap, which applies (window > cap)', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, userUnderAttack: Infinity, now: time.now })
    const waits: number[] = []
    for (let i = 0; i < 16; i++) {
      throttle.fail(from('k', 'net'))
      const wait = throttle.waitFor(from('k', 'net'))
      waits.push(wait)
      time.advance(wait) // the attacker waits out every backoff
    }
    assert.deepEqual(waits, [0, 0, 0, 0, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000,
      900_000, 900_000, 900_000])
    // Waiting the cap out does not start the count again: only 24 h without a failure does.
    assert.equal(throttle.waitFor(from('k', 'net')), 0)
    throttle.fail(from('k', 'net'))
    assert.equal(throttle.waitFor(from('k', 'net')), 900_000)
    time.advance(24 * 3_600_000 + 1)
    throttle.fail(from('k', 'net'))
    assert.equal(throttle.waitFor(from('k', 'net')), 0, 'counting starts again after a whole window')
  })

  it('slows a network that guesses many names, across names', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    for (let i = 0; i < 10; i++) throttle.fail(from(`name${i}`, 'net-a'))
    assert.equal(throttle.waitFor(from('other', 'net-a')), 2_000)
    assert.equal(throttle.waitFor(from('other', 'net-b')), 0)
  })

  it('once a name is under attack, only clean networks may try it: the owner on a new machine gets in', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    // Ten networks, one guess each (no pair or network backoff reached).
    for (let i = 0; i < 10; i++) throttle.fail(from('alice', `net-${i}`))
    time.advance(60_000)
    const refused = throttle.waitFor(from('alice', 'net-3'))
    assert.ok(refused > 23 * 3_600_000, `a failing network waits until it is clean (${refused} ms)`)
    assert.equal(throttle.waitFor(from('alice', 'home')), 0, 'a clean network gets its attempt')
    assert.equal(throttle.waitFor(from('bob', 'net-3')), 0, 'other names are not under attack')
    // Each attacking network now has one guess per window at most.
    throttle.fail(from('alice', 'net-new'))
    assert.ok(throttle.waitFor(from('alice', 'net-new')) > 0)
  })

  it('once the global failed-sign-in budget is spent, only clean networks may try', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, globalFailuresPerHour: 100, now: time.now })
    for (let i = 0; i < 100; i++) throttle.fail(from(`name${i}`, `net-${i}`))
    assert.equal(throttle.globalFailures(), 100)
    assert.ok(throttle.waitFor(from('someone', 'net-7')) > 0, 'a network that failed waits')
    assert.equal(throttle.waitFor(from('someone', 'clean')), 0)
    time.advance(3_600_000)
    assert.equal(throttle.globalFailures(), 0, 'the budget is per hour')
    assert.equal(throttle.waitFor(from('someone', 'net-7')), 0)
  })

  it('refuses the right password from a throttled network too (a refusal says nothing about the guess)', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    for (let i = 0; i < 6; i++) throttle.fail(from('alice', 'net-a'))
    // The check comes before any comparison: the caller's password is not even looked at.
    assert.throws(() => { throttle.check(from('alice', 'net-a')) }, rateLimited)
  })

  it('a success clears its own pair, never the network or the name', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    for (let i = 0; i < 5; i++) throttle.fail(from('alice', 'net-a'))
    for (let i = 0; i < 5; i++) throttle.fail(from('bob', 'net-a'))
    throttle.succeed(from('alice', 'net-a'))
    assert.equal(throttle.waitFor(from('alice', 'net-a')), 2_000, 'the network (10 failures) still waits')
    time.advance(2_000)
    assert.equal(throttle.waitFor(from('alice', 'net-a')), 0)
    assert.ok(throttle.waitFor(from('bob', 'net-a')) === 0)
  })

  it('keeps a bounded number of keys', () => {
    const throttle = new SignInThrottle({ ...options, maxKeys: 3, now: clock().now })
    for (const name of ['a', 'b', 'c', 'd']) for (let i = 0; i < 6; i++) throttle.fail(owner(name, 'net'))
    assert.equal(throttle.waitFor(owner('a', 'net')), 0, 'the stalest key was dropped')
    assert.ok(throttle.waitFor(owner('d', 'net')) > 0)
  })
})

describe('sourceOf', () => {
  it('groups IPv4 by /24 and IPv6 by /64; IPv4-mapped IPv6 counts as IPv4', () => {
    assert.equal(sourceOf(multiaddr('/ip4/203.0.113.7/tcp/1')), '203.0.113.0/24')
    assert.equal(sourceOf(multiaddr('/ip4/203.0.113.200/tcp/9')), '203.0.113.0/24')
    assert.notEqual(sourceOf(multiaddr('/ip4/203.0.114.7/tcp/1')), '203.0.113.0/24')
    assert.equal(sourceOf(multiaddr('/ip6/2001:db8:1:2:aaaa::1/tcp/1')), '2001:db8:1:2::/64')
    assert.equal(sourceOf(multiaddr('/ip6/2001:0db8:0001:0002:ffff:1:2:3/tcp/1')), '2001:db8:1:2::/64')
    assert.equal(sourceOf(multiaddr('/ip6/2001:db8::1/tcp/1')), '2001:db8:0:0::/64')
    assert.equal(sourceOf(multiaddr('/ip6/::ffff:198.51.100.9/tcp/1')), '198.51.100.0/24')
    assert.equal(sourceOf(undefined), 'unknown')
  })
})

describe('isLoopback', () => {
  it('is this machine: 127.0.0.0/8, ::1 and IPv4-mapped loopback; nothing else', () => {
    for (const addr of ['/ip4/127.0.0.1/tcp/1', '/ip4/127.9.8.7/tcp/1', '/ip6/::1/tcp/1', '/ip6/::ffff:127.0.0.1/tcp/1']) assert.equal(isLoopback(multiaddr(addr)), true, addr)
    for (const addr of ['/ip4/10.0.0.1/tcp/1', '/ip4/128.0.0.1/tcp/1', '/ip6/::2/tcp/1', '/ip6/2001:db8::1/tcp/1', '/ip6/::ffff:10.0.0.1/tcp/1']) assert.equal(isLoopback(multiaddr(addr)), false, addr)
    assert.equal(isLoopback(undefined), false)
  })
})

describe('RequestLimiter', () => {
  it('allows a burst, then refuses until tokens refill at the sustained rate', () => {
    const time = clock()
    const limiter = new RequestLimiter({ perSecond: 50, burst: 100, now: time.now })
    for (let i = 0; i < 100; i++) limiter.take('p')
    assert.throws(() => { limiter.take('p') }, (err: unknown) => rateLimited(err) && (err as Error).message === 'too many requests, slow down')
    limiter.take('q')
    time.advance(100) // 5 tokens
    for (let i = 0; i < 5; i++) limiter.take('p')
    assert.throws(() => { limiter.take('p') }, rateLimited)
  })

  it('does not hand a fresh burst to a peer that reconnects', () => {
    const time = clock()
    const limiter = new RequestLimiter({ perSecond: 50, burst: 100, now: time.now })
    for (let i = 0; i < 100; i++) limiter.take('p')
    limiter.forget('p')
    assert.throws(() => { limiter.take('p') }, rateLimited)
    time.advance(3_000)
    limiter.forget('p')
    for (let i = 0; i < 100; i++) limiter.take('p')
  })
})
