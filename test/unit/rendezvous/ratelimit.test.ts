import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, is } from '../../../common/errors.ts'
import { RequestLimiter, SignInThrottle } from '../../../rendezvous/ratelimit.ts'

const rateLimited = (err: unknown): boolean => is(err, ErrorCode.RateLimited)

function clock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: ms => { time += ms } }
}

describe('SignInThrottle', () => {
  const options = { freeFailures: 5, windowMs: 600_000, backoffBaseMs: 2_000, backoffMaxMs: 60_000 }

  it('lets the first failures through, then makes the next attempt wait', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    for (let i = 0; i < 5; i++) {
      throttle.check(['user:alice'])
      throttle.fail(['user:alice'])
    }
    assert.throws(() => { throttle.check(['user:alice']) }, (err: unknown) =>
      rateLimited(err) && (err as Error).message === 'too many attempts, try again in 2 s')
    time.advance(2_000)
    throttle.check(['user:alice'])
  })

  it('doubles the wait with every further failure, up to the cap', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    const waits: number[] = []
    for (let i = 0; i < 12; i++) {
      throttle.fail(['k'])
      waits.push(throttle.waitFor(['k']))
    }
    assert.deepEqual(waits, [0, 0, 0, 0, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
  })

  it('forgets failures older than the window', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    for (let i = 0; i < 6; i++) throttle.fail(['k'])
    assert.ok(throttle.waitFor(['k']) > 0)
    time.advance(600_001)
    assert.equal(throttle.waitFor(['k']), 0)
    throttle.fail(['k'])
    assert.equal(throttle.waitFor(['k']), 0, 'counting starts again')
  })

  it('takes the longest wait of the username and the peer', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    for (let i = 0; i < 5; i++) throttle.fail(['user:a', 'peer:p'])
    throttle.fail(['user:b', 'peer:p'])
    assert.equal(throttle.waitFor(['user:c', 'peer:p']), 4_000)
    assert.equal(throttle.waitFor(['user:a', 'peer:q']), 2_000)
    assert.equal(throttle.waitFor(['user:c', 'peer:q']), 0)
  })

  it('resets a key on success', () => {
    const time = clock()
    const throttle = new SignInThrottle({ ...options, now: time.now })
    for (let i = 0; i < 7; i++) throttle.fail(['user:a', 'peer:p'])
    throttle.reset('user:a')
    assert.equal(throttle.waitFor(['user:a']), 0)
    assert.ok(throttle.waitFor(['peer:p']) > 0, 'the peer stays slowed')
  })

  it('keeps a bounded number of keys', () => {
    const throttle = new SignInThrottle({ ...options, maxKeys: 3, now: clock().now })
    for (const key of ['a', 'b', 'c', 'd']) for (let i = 0; i < 6; i++) throttle.fail([key])
    assert.equal(throttle.waitFor(['a']), 0, 'the stalest key was dropped')
    assert.ok(throttle.waitFor(['d']) > 0)
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
