/**
 * A group message's roll call (2026-12-07).
 *
 * While the rendezvous does not answer, a group message goes to the members of the list kept
 * here (GroupKeyring.lastKnown). A member who joined while this peer was not running is not on
 * it, and until this day never got such a message, while the sender's HISTORY showed it
 * `delivered` (round 21). So each such send is kept (UnconfirmedSend) until the rendezvous
 * answers the group's list again. That answer says how long ago each member joined, and those
 * who had joined by the time the message was sent, and were not sent it, are sent it then. Those
 * who joined later are not: the message was sent before they were in the group.
 */
import type { NewOutboxItem, UnconfirmedSend } from '../store/store.ts'
import type { Username } from '../../common/wire/names.ts'
import type { GroupInfo } from './keyring.ts'

/** The deliveries an answered list adds to sends made with a kept one. A member whose joining
 * time the answer does not give (a rendezvous from before this) is left as it was. */
export function lateDeliveries (sends: readonly UnconfirmedSend[], answer: GroupInfo, self: Username): NewOutboxItem[] {
  const items: NewOutboxItem[] = []
  for (const send of sends) {
    const sentTo = new Set<string>(send.recipients)
    for (const member of answer.members) {
      if (member.username === self || sentTo.has(member.username)) continue
      if (member.joinedAt === undefined || member.joinedAt > send.created) continue
      items.push({
        id: send.id,
        recipient: member.username,
        group: send.group,
        kind: send.kind,
        body: send.body,
        ...(send.sha256 === undefined ? {} : { sha256: send.sha256 }),
        created: send.created
      })
    }
  }
  return items
}
