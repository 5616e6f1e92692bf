import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { OutgoingActivity } from '../../../peer/outgoing-activity.ts'
import type { PeerEvent } from '../../../peer/events.ts'

const MiB = 1024 * 1024

describe('what QUIT waits for: deliveries that move', () => {
  /** An activity on a clock the test moves; the wait starts at 0 and may last `waitMs`. */
  function waiting (waitMs = 25_000): { activity: OutgoingActivity, at: (ms: number) => void } {
    let now = 0
    const activity = new OutgoingActivity(() => now)
    activity.start(waitMs)
    return { activity, at: ms => { now = ms } }
  }
  const progress = (bytes: number, total: number, direction: 'send' | 'receive' = 'send', peer = 'bob'): PeerEvent =>
    ({ event: 'progress', id: 'f1', direction, peer, name: 'big.bin', bytes, total })

  test('an ACK, a failure or a parked delivery is movement; time without any is not', () => {
    const { activity, at } = waiting()
    at(3_000)
    assert.equal(activity.stillFor(), 3_000)
    activity.observe({ event: 'delivered', id: 'm1', to: 'bob', group: null, name: null })
    at(4_000)
    assert.equal(activity.stillFor(), 1_000)
    activity.observe({ event: 'queued', id: 'm2', to: 'carol', group: null, name: null, reason: 'offline', code: null })
    assert.equal(activity.stillFor(), 0)
    // What comes in is not what QUIT waits for.
    at(9_000)
    activity.observe({ event: 'message', id: 'm3', from: 'dave', text: 'hi', at: 0, sentAt: 0 })
    activity.observe(progress(MiB, 4 * MiB, 'receive'))
    assert.equal(activity.stillFor(), 5_000)
  })

  test('a file moves while it can finish before the wait ends, and not once it cannot', () => {
    const { activity, at } = waiting(25_000)
    activity.observe(progress(0, 40 * MiB))
    // 2 MiB/s: 20 s for the rest, within the 25 s.
    at(2_000)
    activity.observe(progress(4 * MiB, 40 * MiB))
    assert.equal(activity.stillFor(), 0)
    // Slowed to a pace at which the rest would take past the end: no longer movement.
    at(12_000)
    activity.observe(progress(6 * MiB, 40 * MiB))
    assert.equal(activity.stillFor(), 10_000)
  })

  test('a file that cannot finish in the time is not waited for, but each recipient is judged alone', () => {
    const { activity, at } = waiting(25_000)
    activity.observe(progress(0, 400 * MiB))
    activity.observe(progress(0, 8 * MiB, 'send', 'carol'))
    at(1_500)
    activity.observe(progress(3 * MiB, 400 * MiB)) // 2 MiB/s: 200 s for the rest
    assert.equal(activity.stillFor(), 1_500)
    activity.observe(progress(3 * MiB, 8 * MiB, 'send', 'carol')) // the same pace: 2.5 s for the rest
    assert.equal(activity.stillFor(), 0)
  })

  test('its first second is taken as movement: the first chunks fill buffers faster than the pace', () => {
    const { activity, at } = waiting(25_000)
    activity.observe(progress(0, 400 * MiB))
    at(900)
    activity.observe(progress(MiB, 400 * MiB))
    assert.equal(activity.stillFor(), 0)
  })
})
