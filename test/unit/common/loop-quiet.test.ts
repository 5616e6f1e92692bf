/**
 * Is the event loop keeping up? (common/loop-quiet.ts): the lag a backlog of callbacks puts on
 * a zero-delay timer, and the wait of background work for a loop that keeps up.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loopLag, loopQuiet } from '../../../common/loop-quiet.ts'
import { busyFor } from '../../helpers/loop.ts'

test('a zero-delay timer is late by what runs in front of it', async () => {
  // A timer due at the same time, set first, runs first (Node keeps timers of one duration in order).
  setTimeout(() => { busyFor(60) }, 0)
  assert.ok(await loopLag() >= 50, 'a 60 ms callback in front of it delays it')
})

test('background work waits for a loop that keeps up, and gives up on one that stays busy', async () => {
  const never = new AbortController().signal
  const lags = [80, 60, 5]
  assert.equal(await loopQuiet(never, 10_000, async () => lags.shift() ?? 0), true)
  assert.deepEqual(lags, [], 'asked until the lag fell under the mark')
  const started = performance.now()
  assert.equal(await loopQuiet(never, 600, async () => 100), false)
  assert.ok(performance.now() - started >= 600)
})

test('a sign-out ends the wait at once', async () => {
  const signOut = new AbortController()
  const waiting = loopQuiet(signOut.signal, 60_000, async () => 100)
  setTimeout(() => { signOut.abort() }, 50)
  const started = performance.now()
  assert.equal(await waiting, false)
  assert.ok(performance.now() - started < 1_000)
})
