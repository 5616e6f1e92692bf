import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lateDeliveries } from '../../../peer/groups/roll-call.ts'
import type { GroupInfo, GroupMember } from '../../../peer/groups/keyring.ts'
import type { UnconfirmedSend } from '../../../peer/store/store.ts'
import { toGroupName, toMessageId, toUsername } from '../../../common/wire/names.ts'

const group = toGroupName('club')
const member = (name: string, joinedAt?: number): GroupMember => ({
  username: toUsername(name), peerId: `peer-${name}`, online: true, hasKey: true, ...(joinedAt === undefined ? {} : { joinedAt })
})
const answer = (members: GroupMember[]): GroupInfo => ({ group, epoch: 1, rotationNeeded: false, members, maker: undefined, epochAgeMs: 0 })
const sent = (id: string, created: number, recipients: string[], over: Partial<UnconfirmedSend> = {}): UnconfirmedSend => ({
  id: toMessageId(id.padStart(32, '0')), group, kind: 'text', body: `text ${id}`, created, recipients: recipients.map(toUsername), ...over
})

test('a roll call sends a message kept-list send to the members who had joined by then and were not sent it, and to nobody else', () => {
  const sends = [
    sent('1', 1_000, ['bob']),
    sent('2', 3_000, ['bob'], { kind: 'file', body: '/tmp/a.bin', sha256: 'cd'.repeat(32) })
  ]
  const members = [
    member('alice', 0), // ourselves
    member('bob', 0), // sent it already
    member('carol', 500), // joined before both
    member('dave', 2_000), // joined between them: the second only
    member('erin', 1_000), // joined as the first was sent: counts as in
    member('fay') // the rendezvous did not say when: left as it was
  ]
  const late = lateDeliveries(sends, answer(members), toUsername('alice'))
  assert.deepEqual(late.map(item => `${item.id.slice(-1)} ${item.recipient}`), ['1 carol', '1 erin', '2 carol', '2 dave', '2 erin'])
  assert.deepEqual(late[0], { id: sends[0]!.id, recipient: 'carol', group, kind: 'text', body: 'text 1', created: 1_000 })
  assert.deepEqual(late[3], { id: sends[1]!.id, recipient: 'dave', group, kind: 'file', body: '/tmp/a.bin', sha256: 'cd'.repeat(32), created: 3_000 })
  assert.deepEqual(lateDeliveries(sends, answer([member('alice', 0), member('bob', 0), member('gus', 5_000)]), toUsername('alice')), [])
})
