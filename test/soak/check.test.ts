/**
 * The soak's checks themselves (check.ts, protocol.ts), on hand-made records: a verdict that
 * cannot see a loss, a duplicate or a stranger's copy would let the soak pass anything.
 * Pure and fast: no process, no node.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { analyse, percentile } from './check.ts'
import type { Records } from './check.ts'
import { groupName, makeText, parseText, peerName, planContacts, planGroups, seededRandom } from './protocol.ts'
import type { DeliveredRecord, ReceiptRecord, SendRecord, SoakPlan } from './protocol.ts'

const plan: SoakPlan = { peers: 4, groups: [[0, 1, 2]], contacts: null }
const G = groupName(0)

function send (msgId: string, from: number, to: number | null, group: string | null = null): SendRecord {
  return { msgId, from, to, group, sentAt: 1_000, phase: 'run' }
}
function receipt (msgId: string, at: number, from: number, group: string | null = null, parleyId = `p-${msgId}`): ReceiptRecord {
  return { at, from: peerName(from), group, parleyId, msgId, sentAt: 1_000, receivedAt: 1_050, intact: true }
}
function ack (msgId: string, from: number, to: number, group: string | null = null, parleyId = `p-${msgId}`): DeliveredRecord {
  return { from, to: peerName(to), group, parleyId, at: 1_060 }
}
function records (partial: Partial<Records>): Records {
  return { plan, sends: [], receipts: [], delivered: [], notices: [], ...partial }
}

describe('soak checks', () => {
  test('a clean run: every pair arrived once and was acknowledged', () => {
    const result = analyse(records({
      sends: [send('0-1', 0, 3), send('1-1', 1, null, G)],
      receipts: [receipt('0-1', 3, 0), receipt('1-1', 0, 1, G), receipt('1-1', 2, 1, G)],
      delivered: [ack('0-1', 0, 3), ack('1-1', 1, 0, G), ack('1-1', 1, 2, G)]
    }))
    assert.equal(result.expected, 3)
    assert.equal(result.received, 3)
    for (const key of ['lost', 'duplicated', 'misdelivered', 'corrupted', 'unacknowledged', 'strayDelivered', 'errors'] as const) {
      assert.equal(result[key], 0, key)
    }
    assert.equal(result.latency['run/all']?.p50, 50)
    assert.equal(result.ackLatency.run?.max, 60)
  })

  test('a group member who got nothing is a loss; the sender never expects itself', () => {
    const result = analyse(records({
      sends: [send('1-1', 1, null, G)],
      receipts: [receipt('1-1', 0, 1, G)],
      delivered: [ack('1-1', 1, 0, G)]
    }))
    assert.equal(result.expected, 2)
    assert.equal(result.lost, 1)
    assert.match(result.examples.find(e => e.kind === 'lost')?.detail ?? '', /to soak0002 in soakgroup000/)
  })

  test('duplicates, strangers, wrong senders and altered texts are each caught', () => {
    const altered = { ...receipt('0-1', 3, 0), intact: false }
    const result = analyse(records({
      sends: [send('0-1', 0, 3), send('0-2', 0, 1)],
      receipts: [
        receipt('0-1', 3, 0), receipt('0-1', 3, 0, null, 'p-again'), // the same message twice
        receipt('0-1', 2, 0), // a non-recipient
        receipt('0-2', 1, 3), // the right recipient, the wrong sender
        altered,
        { ...receipt('x', 1, 0), msgId: undefined } // not a soak text at all
      ],
      delivered: [ack('0-1', 0, 3)]
    }))
    assert.equal(result.duplicated, 1)
    assert.equal(result.misdelivered, 2)
    assert.equal(result.corrupted, 2)
    assert.equal(result.lost, 1) // 0-2 never reached soak0001 from soak0000
  })

  test('an arrival without its delivered, and a delivered without an arrival, both count', () => {
    const result = analyse(records({
      sends: [send('0-1', 0, 3), send('0-2', 0, 1)],
      receipts: [receipt('0-1', 3, 0), receipt('0-2', 1, 0)],
      delivered: [ack('0-1', 0, 3), ack('0-1', 0, 3), ack('0-9', 0, 2)]
    }))
    assert.equal(result.unacknowledged, 1) // 0-2
    assert.equal(result.strayDelivered, 2) // the repeat of 0-1 and the unknown 0-9
  })

  test('refused sends expect nothing; errors and warnings are counted apart', () => {
    const result = analyse(records({
      sends: [{ ...send('0-1', 0, 3), error: 'ERR_UNREACHABLE: no' }],
      notices: [
        { peer: 0, event: 'error', code: 'ERR_INTERNAL', message: 'x', at: 1 },
        { peer: 1, event: 'warning', code: 'ERR_PROTOCOL', message: 'y', at: 1 },
        { peer: 1, event: 'rendezvous', code: 'DISCONNECTED', message: '', at: 1 }
      ]
    }))
    assert.equal(result.sent.failed, 1)
    assert.equal(result.expected, 0)
    assert.equal(result.errors, 1)
    assert.equal(result.warnings, 1)
  })
})

describe('soak texts and plan', () => {
  test('a text carries its id and time, keeps every word and case, and shows any change', () => {
    const text = makeText('12-34', 1_700_000_000_000, seededRandom(7))
    const parsed = parseText(text)
    assert.deepEqual(parsed, { msgId: '12-34', sentAt: 1_700_000_000_000, intact: true })
    assert.equal(parseText(text.toLowerCase())?.intact ?? false, text === text.toLowerCase())
    const firstWordOnly = text.split(' ').slice(0, 4).join(' ') + ' ' + text.split(' ').at(-1)
    assert.equal(parseText(firstWordOnly)?.intact, false)
    assert.equal(parseText('hello'), undefined)
  })

  test('groups overlap their neighbours and wrap around; contacts never include oneself', () => {
    const groups = planGroups(200, 20, 12)
    assert.equal(groups.length, 20)
    assert.deepEqual(groups[0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    assert.deepEqual(groups[19]?.slice(-2), [0, 1])
    const covered = new Set(groups.flat())
    assert.equal(covered.size, 200)
    const contacts = planContacts(50, 5, 1)
    assert.ok(contacts !== null)
    contacts.forEach((list, i) => {
      assert.equal(new Set(list).size, 5)
      assert.ok(!list.includes(i))
    })
    assert.equal(planContacts(6, 5, 1), null)
  })

  test('a pair\'s messages sent before anything arrived between them are first meetings, in either direction', () => {
    const at = (msgId: string, sentAt: number, receivedAt: number, to: number, from: number, group: string | null = null): [SendRecord, ReceiptRecord] =>
      [{ ...send(msgId, from, group === null ? to : null, group), sentAt }, { ...receipt(msgId, to, from, group), sentAt, receivedAt }]
    const pairs = [
      at('0-1', 0, 500, 1, 0), // 0 meets 1: arrives at 500
      at('1-1', 100, 400, 0, 1), // 1 → 0 sent at 100, before anything arrived: also a first meeting (it arrives first)
      at('0-2', 450, 460, 1, 0), // sent after 1 → 0 arrived (400): they had met
      at('2-1', 0, 300, 0, 2, G), // group: 2 meets 0 …
      at('2-2', 350, 360, 0, 2, G) // … and has met 0 since 300
    ]
    const result = analyse(records({ sends: pairs.map(p => p[0]), receipts: pairs.map(p => p[1]) }))
    assert.equal(result.meetings.pairs, 2)
    const first = result.meetings.latency['run/first meeting']
    const met = result.meetings.latency['run/met before']
    assert.deepEqual([first?.count, first?.max], [3, 500])
    assert.deepEqual([met?.count, met?.max], [2, 10])
  })

  test('percentiles interpolate between ranks', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2.5)
    assert.equal(percentile([5], 99), 5)
    assert.ok(Number.isNaN(percentile([], 50)))
  })
})
