/**
 * A group message's roll call (2026-12-07).
 *
 * While the rendezvous does not answer, a group message goes to the members of the list kept
 * here (GroupKeyring.lastKnown). A member who joined while this peer was not running is not on
 * it, and until this day never got such a message, while the sender's HISTORY showed it
 * `delivered` (round 21). So each such send is kept (UnconfirmedSend) until the rendezvous says
 * how long ago each member joined (`join-times`). Those who had joined by the time the message
 * was sent, and were not sent it, are sent it then. Those who joined later are not: the message
 * was sent before they were in the group.
 */
import { ErrorCode, is } from '../../common/errors.ts'
import type { Result } from '../../common/protocol/rendezvous.ts'
import type { GroupName, Username } from '../../common/wire/names.ts'
import type { NewOutboxItem, UnconfirmedSend } from '../store/store.ts'
import { logger } from '../log.ts'

const log = logger('parley:roll-call')

/** A member and when they joined, on this peer's clock. */
export interface JoinTime {
  username: Username
  joinedAt: number
}

export interface RollCallDeps {
  self: Username
  /** The sends awaiting their roll call in a group (PeerStore.unconfirmedSends), and the groups
   * with any (PeerStore.groupsUnconfirmed). */
  unconfirmed: (group: GroupName) => UnconfirmedSend[]
  due: () => GroupName[]
  joinTimes: (group: GroupName) => Promise<Result<'join-times'>>
  /** Queue the late deliveries and settle the sends, in one commit. */
  settle: (group: GroupName, late: NewOutboxItem[], settled: UnconfirmedSend[]) => Promise<void>
  /** The rendezvous is away (or signing us in again): the roll call waits for another time. */
  away: (err: unknown) => boolean
}

/** Group sends whose roll call the rendezvous did not answer (away, frozen) are asked for again
 * this often. */
const SWEEP_MS = 30_000

/**
 * The roll calls of one signed-in session: asked for at a send with a kept list (`soon`), at a
 * sign-in there and every SWEEP_MS while any is due (`all`). One at a time per group, and once
 * more after one under way if asked meanwhile (a send committed after it read the group's
 * sends). Quietly: the rendezvous may well still be away, and the next sweep asks again.
 */
export class RollCalls {
  readonly #deps: RollCallDeps
  readonly #signal: AbortSignal
  readonly #underWay = new Map<string, Promise<void>>()
  readonly #again = new Set<string>()

  /** `signal`: the sign-out, after which nothing is asked (the store is closed). */
  constructor (deps: RollCallDeps, signal: AbortSignal) {
    this.#deps = deps
    this.#signal = signal
    const sweep = setInterval(() => { this.all() }, SWEEP_MS).unref()
    signal.addEventListener('abort', () => { clearInterval(sweep) }, { once: true })
  }

  /** Every group's roll call that is due. */
  all (): void {
    if (this.#signal.aborted) return
    for (const group of this.#deps.due()) this.soon(group)
  }

  soon (group: GroupName): void {
    if (this.#signal.aborted) return
    if (this.#underWay.has(group)) {
      this.#again.add(group)
      return
    }
    const call = rollCall(this.#deps, group).then(() => {}, (err: unknown) => {
      if (!this.#signal.aborted) log.warn(`the roll call of ${group} failed`, err)
    }).finally(() => {
      this.#underWay.delete(group)
      if (this.#again.delete(group)) this.soon(group)
    })
    this.#underWay.set(group, call)
  }
}

/** The group's roll call: false when the rendezvous did not answer (it is to be asked again). */
export async function rollCall (deps: RollCallDeps, group: GroupName): Promise<boolean> {
  const sends = deps.unconfirmed(group)
  if (sends.length === 0) return true
  let members: JoinTime[]
  try {
    // "How long ago" counted back from when it was asked, not from when the answer came: the
    // answer's time on the way (seconds, on a loaded machine or link) would make every join look
    // that much later, and a member who joined just before a send would not be sent it (it never
    // would be). Counted from the asking, a join can look earlier by that time instead: one who
    // joined just after a send is sent it, which loses nothing.
    const asked = Date.now()
    const answer = await deps.joinTimes(group)
    members = answer.members.map(m => ({ username: m.username, joinedAt: asked - m.joinedAgoMs }))
  } catch (err) {
    if (deps.away(err)) return false
    // A rendezvous from before join-times (it does not know the request), or a group we are no
    // longer in, or one gone: nobody can be added, and what the sends went to stands.
    if (!is(err, ErrorCode.Malformed) && !is(err, ErrorCode.Forbidden) && !is(err, ErrorCode.NotFound)) throw err
    members = []
  }
  await deps.settle(group, lateDeliveries(sends, members, deps.self), sends)
  return true
}

/** The deliveries the members' join times add to sends made with a kept list. */
export function lateDeliveries (sends: readonly UnconfirmedSend[], members: readonly JoinTime[], self: Username): NewOutboxItem[] {
  const items: NewOutboxItem[] = []
  for (const send of sends) {
    const sentTo = new Set<string>(send.recipients)
    for (const member of members) {
      if (member.username === self || sentTo.has(member.username) || member.joinedAt > send.created) continue
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
