import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { ArrivalOrder, MAX_TAKING_PER_SENDER } from '../../../peer/arrival-order.ts'
import { ErrorCode, is } from '../../../common/errors.ts'

test('a text waits at most 30 s for the one it follows: then it is refused for a passing reason (to come again), whatever that one does', async () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    const order = new ArrivalOrder(() => false)
    const [stuck, next] = [randomBytes(16), randomBytes(16)]
    // Its checks never end (a hostile sender can make a text wait; round 46).
    void order.take('bob', stuck, undefined, async () => await new Promise(() => {}))
    let outcome: unknown
    const waiting = order.take('bob', next, stuck, async () => ({ stored: Promise.resolve() })).then(() => 'taken', (err: unknown) => err)
    void waiting.then(result => { outcome = result })
    await new Promise(resolve => setImmediate(resolve))
    mock.timers.tick(29_999)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(outcome, undefined, 'still waiting')
    mock.timers.tick(1)
    const settled = (): unknown => outcome // (set by the callback above, which the compiler does not see)
    for (let turn = 0; turn < 10 && settled() === undefined; turn++) await new Promise(resolve => setImmediate(resolve))
    const result = settled()
    assert.ok(is(result, ErrorCode.Unreachable) && result.retryable, String(result))
  } finally {
    mock.timers.reset()
  }
})

test(`one sender's texts being taken at once are at most ${MAX_TAKING_PER_SENDER}: the next is refused for a passing reason, another sender's is not (round 46: 300 MB held)`, async () => {
  const order = new ArrivalOrder(() => false)
  let release = (): void => {}
  const held = new Promise<void>(resolve => { release = resolve })
  const taking = Array.from({ length: MAX_TAKING_PER_SENDER }, async () => {
    await order.take('mallory', randomBytes(16), undefined, async () => { await held; return { stored: Promise.resolve() } })
  })
  await new Promise(resolve => setImmediate(resolve))
  const refused = await order.take('mallory', randomBytes(16), undefined, async () => ({ stored: Promise.resolve() })).then(() => undefined, (err: unknown) => err)
  assert.ok(is(refused, ErrorCode.RateLimited) && refused.retryable, String(refused))
  await order.take('bob', randomBytes(16), undefined, async () => ({ stored: Promise.resolve() }))
  release()
  await Promise.all(taking)
  await order.take('mallory', randomBytes(16), undefined, async () => ({ stored: Promise.resolve() }))
})
