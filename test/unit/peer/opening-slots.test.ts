import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { OpeningSlots } from '../../../peer/direct/opening-slots.ts'

/** An opening that ends when told to. */
function opening (): { work: () => Promise<string>, end: () => void, started: () => boolean } {
  let end = (): void => {}
  let started = false
  const done = new Promise<string>(resolve => { end = () => { resolve('done') } })
  return { work: async () => { started = true; return await done }, end, started: () => started }
}

test('openings run a few at a time, first come first served; an ended one lets the next in', async () => {
  const slots = new OpeningSlots(2, 60_000, async () => 0)
  const [a, b, c, d] = [opening(), opening(), opening(), opening()]
  const runs = [a, b, c, d].map(async o => await slots.run(o.work))
  await sleep(5)
  assert.deepEqual([a, b, c, d].map(o => o.started()), [true, true, false, false])
  b.end()
  await sleep(5)
  assert.deepEqual([c.started(), d.started()], [true, false])
  a.end(); c.end()
  await sleep(5)
  assert.equal(d.started(), true)
  d.end()
  assert.deepEqual(await Promise.all(runs), ['done', 'done', 'done', 'done'])
  assert.equal(slots.held, 0)
})

test('an opening that waits on the other side past the hold gives its slot to the next, while the loop keeps up (round 46: 8 stalling members held every slot for 15 s)', async () => {
  const slots = new OpeningSlots(2, 30, async () => 0)
  const stalled = [opening(), opening()]
  const honest = opening()
  for (const o of stalled) void slots.run(o.work)
  void slots.run(honest.work)
  await sleep(5)
  assert.equal(honest.started(), false, 'waits its turn at first')
  await sleep(80)
  assert.equal(honest.started(), true, 'the stalled openings gave their slots')
  for (const o of [...stalled, honest]) o.end()
  await sleep(5)
  assert.equal(slots.held, 0, 'a slot given away is not given back twice')
})

test('while the loop is behind, a slow opening keeps its slot: the wait is ours, and the limit holds the openings\' CPU back', async () => {
  const slots = new OpeningSlots(1, 20, async () => 500)
  const slow = opening()
  const next = opening()
  void slots.run(slow.work)
  void slots.run(next.work)
  await sleep(100)
  assert.equal(next.started(), false)
  slow.end()
  await sleep(5)
  assert.equal(next.started(), true)
  next.end()
})
