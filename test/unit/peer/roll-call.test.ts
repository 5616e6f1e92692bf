import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lateDeliveries, rollCall } from '../../../peer/groups/roll-call.ts'
import type { JoinTime, RollCallDeps } from '../../../peer/groups/roll-call.ts'
import type { NewOutboxItem, UnconfirmedSend } from '../../../peer/store/store.ts'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import { toGroupName, toMessageId, toUsername } from '../../../common/wire/names.ts'

const group = toGroupName('club')
const self = toUsername('alice')
const joined = (name: string, joinedAt: number): JoinTime => ({ username: toUsername(name), joinedAt })
const sent = (id: string, created: number, recipients: string[], over: Partial<UnconfirmedSend> = {}): UnconfirmedSend => ({
  id: toMessageId(id.padStart(32, '0')), group, kind: 'text', body: `text ${id}`, created, recipients: recipients.map(toUsername), ...over
})

test('a roll call sends a kept-list send to the members who had joined by then and were not sent it, and to nobody else', () => {
  const sends = [
    sent('1', 1_000, ['bob']),
    sent('2', 3_000, ['bob'], { kind: 'file', body: '/tmp/a.bin', sha256: 'cd'.repeat(32) })
  ]
  const members = [
    joined('alice', 0), // ourselves
    joined('bob', 0), // sent it already
    joined('carol', 500), // joined before both
    joined('dave', 2_000), // joined between them: the second only
    joined('erin', 1_000) // joined as the first was sent: counts as in
  ]
  const late = lateDeliveries(sends, members, self)
  assert.deepEqual(late.map(item => `${item.id.slice(-1)} ${item.recipient}`), ['1 carol', '1 erin', '2 carol', '2 dave', '2 erin'])
  assert.deepEqual(late[0], { id: sends[0]!.id, recipient: 'carol', group, kind: 'text', body: 'text 1', created: 1_000 })
  assert.deepEqual(late[3], { id: sends[1]!.id, recipient: 'dave', group, kind: 'file', body: '/tmp/a.bin', sha256: 'cd'.repeat(32), created: 3_000 })
  assert.deepEqual(lateDeliveries(sends, [joined('alice', 0), joined('bob', 0), joined('gus', 5_000)], self), [])
})

/** A roll call's surroundings, recording what it settled. */
function deps (sends: UnconfirmedSend[], answer: () => Promise<Array<{ username: string, joinedAgoMs: number }>>): RollCallDeps & { settled: Array<{ late: NewOutboxItem[], settled: UnconfirmedSend[] }> } {
  const settled: Array<{ late: NewOutboxItem[], settled: UnconfirmedSend[] }> = []
  return {
    self,
    unconfirmed: () => sends,
    due: () => [group],
    joinTimes: async () => ({ group, members: (await answer()).map(m => ({ username: toUsername(m.username), joinedAgoMs: m.joinedAgoMs })) }),
    settle: async (_group, late, those) => { settled.push({ late, settled: those }) },
    away: err => is(err, ErrorCode.Unreachable),
    settled
  }
}

test('a roll call takes the join times as how long ago, on this clock; away, it settles nothing and says to ask again; a rendezvous that does not know the request, or a group we left, settles the sends as they went', async () => {
  const sends = [sent('1', Date.now() - 10_000, ['bob'])]
  const answered = deps(sends, async () => [{ username: 'carol', joinedAgoMs: 60_000 }, { username: 'dave', joinedAgoMs: 1_000 }])
  assert.equal(await rollCall(answered, group), true)
  assert.deepEqual(answered.settled.map(s => [s.late.map(i => i.recipient), s.settled]), [[['carol'], sends]])

  const away = deps(sends, async () => { throw new ParleyError(ErrorCode.Unreachable, 'the rendezvous is not reachable') })
  assert.equal(await rollCall(away, group), false)
  assert.deepEqual(away.settled, [])

  for (const code of [ErrorCode.Malformed, ErrorCode.Forbidden, ErrorCode.NotFound]) {
    const refused = deps(sends, async () => { throw new ParleyError(code, 'refused') })
    assert.equal(await rollCall(refused, group), true)
    assert.deepEqual(refused.settled, [{ late: [], settled: sends }], code)
  }
  const broken = deps(sends, async () => { throw new ParleyError(ErrorCode.Internal, 'a bug') })
  await assert.rejects(rollCall(broken, group), (err: unknown) => is(err, ErrorCode.Internal))
  assert.equal(await rollCall(deps([], async () => { throw new Error('not asked') }), group), true, 'nothing to call')
})

test('a roll call counts the join times back from when it asked: an answer slow on its way does not make a member who joined just before a send look later and miss it (a unit test of the session flaked so under load)', async () => {
  const created = Date.now()
  const sends = [sent('1', created, ['bob'])]
  // carol joined 1 ms before the send; the rendezvous answers at once, and the answer takes 50 ms.
  const slow = deps(sends, async () => {
    const answer = [{ username: 'carol', joinedAgoMs: Math.max(0, Date.now() - (created - 1)) }]
    const arrives = Date.now() + 50
    while (Date.now() < arrives) await new Promise(resolve => setImmediate(resolve))
    return answer
  })
  assert.equal(await rollCall(slow, group), true)
  assert.deepEqual(slow.settled.map(s => s.late.map(i => i.recipient)), [['carol']])
})
