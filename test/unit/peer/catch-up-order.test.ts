import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import { CatchUpOrder, MOST_HELD_MS, SETTLE_MS, WAITED_MS, inSentOrder } from '../../../peer/catch-up-order.ts'

describe('a group\'s talk that waited is shown in the order it was sent', () => {
  const START = 1_796_000_000_000
  let shown: string[]
  let order: CatchUpOrder
  /** A text of `from` called `name`, sent `late` ms before it arrives now. */
  const add = (group: string, from: string, name: string, late: number, sentAt = Date.now() - late): void => {
    order.add(group, { from, sentAt, at: Date.now(), show: () => { shown.push(name) } })
  }
  const tick = (ms: number): void => { mock.timers.tick(ms) }

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: START })
    shown = []
    order = new CatchUpOrder()
  })
  afterEach(() => { mock.timers.reset() })

  test('texts on time are shown at once', () => {
    add('club', 'bob', 'live', 30)
    add('club', 'ann', 'live too', WAITED_MS - 1)
    assert.deepEqual(shown, ['live', 'live too'])
  })

  test('a catch-up from three outboxes, one after another, is shown in the order sent once the group is quiet', () => {
    // What a member back after an absence got (round 6): each sender's queue in turn.
    const sent = (n: number): number => START - 60_000 + n * 1_000
    for (const n of [2, 5, 8]) add('club', 'bob', `${n}-bob`, 0, sent(n))
    for (const n of [1, 4, 7]) add('club', 'alice', `${n}-alice`, 0, sent(n))
    tick(SETTLE_MS - 1)
    for (const n of [3, 6]) add('club', 'erin', `${n}-erin`, 0, sent(n))
    // On time, but after held ones of its group: it waits with them, and goes last.
    add('club', 'alice', '9-alice', 10)
    assert.deepEqual(shown, [], 'held while the catch-up goes on')
    tick(SETTLE_MS - 1)
    assert.deepEqual(shown, [])
    tick(1)
    assert.deepEqual(shown, ['1-alice', '2-bob', '3-erin', '4-alice', '5-bob', '6-erin', '7-alice', '8-bob', '9-alice'])
    add('club', 'bob', 'then live again', 10)
    assert.equal(shown.at(-1), 'then live again', 'nothing is held once it settled')
  })

  test('a file joins a catch-up under way in the order it was sent, apart from its sender\'s texts; it starts none (round 44: a photo sent between two texts was shown before both)', () => {
    const sent = (n: number): number => START - 60_000 + n * 1_000
    const file = (from: string, name: string, sentAt: number): void => {
      order.add('club', { from, sentAt, at: Date.now(), show: () => { shown.push(name) }, file: true })
    }
    // A file alone, however long after it was sent it came in full, is shown at once.
    file('alice', 'video, live', START - 30_000)
    assert.deepEqual(shown, ['video, live'])
    shown = []
    add('club', 'alice', '1-alice', 0, sent(1))
    add('club', 'bob', '3-bob', 0, sent(3))
    add('club', 'alice', '4-alice', 0, sent(4))
    file('alice', '2-photo', sent(2))
    tick(SETTLE_MS)
    assert.deepEqual(shown, ['1-alice', '2-photo', '3-bob', '4-alice'])
  })

  test('a busy group is held at most MOST_HELD_MS; another group is not held by it', () => {
    add('club', 'bob', 'late', WAITED_MS)
    add('other', 'ann', 'elsewhere', 5)
    assert.deepEqual(shown, ['elsewhere'])
    for (let waited = 0; waited < MOST_HELD_MS - 100; waited += 100) {
      tick(100)
      add('club', 'bob', `more ${waited}`, 5)
    }
    assert.equal(shown.length, 1, 'still held: it never went quiet')
    tick(100)
    assert.equal(shown.length, 1 + MOST_HELD_MS / 100, 'shown at MOST_HELD_MS, however busy')
    assert.equal(shown[1], 'late')
  })

  test('a flush (sign-out) shows what is held, and nothing is held after it', () => {
    add('club', 'bob', 'late', WAITED_MS * 10)
    add('fam', 'ann', 'late too', WAITED_MS * 10)
    order.flush()
    assert.deepEqual(shown.sort(), ['late', 'late too'])
    add('club', 'bob', 'after', WAITED_MS * 10)
    assert.equal(shown.at(-1), 'after')
  })

  test('a text that cannot be shown does not stop the others', () => {
    order.add('club', { from: 'bob', sentAt: 1, at: Date.now(), show: () => { throw new Error('EPIPE') } })
    add('club', 'bob', 'next', WAITED_MS)
    tick(SETTLE_MS)
    assert.deepEqual(shown, ['next'])
  })
})

test('the merge keeps each sender\'s own order, even where its clock stepped back', () => {
  const texts = [
    { from: 'bob', sentAt: 50, name: 'b1' },
    { from: 'bob', sentAt: 10, name: 'b2' }, // bob's clock was set back between the two
    { from: 'ann', sentAt: 20, name: 'a1' },
    { from: 'ann', sentAt: 60, name: 'a2' },
    { from: 'cy', sentAt: 20, name: 'c1' } // a tie with a1: the one that came first goes first
  ]
  assert.deepEqual(inSentOrder(texts).map(t => t.name), ['a1', 'c1', 'b1', 'b2', 'a2'])
  assert.deepEqual(inSentOrder([]), [])
})
