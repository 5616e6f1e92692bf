/**
 * Who is told what (DESIGN §5 events): presence to the users who share a group with someone or
 * looked them up; membership changes and rotation requests to a group's online members;
 * key-needed to the online members who hold a group's current key when a member lacks it.
 */
import type { GroupRecord, RendezvousStore } from './store.ts'
import type { Session, Sessions } from './sessions.ts'

/** A key-needed for one member, group and epoch goes to its holders at most this often: every
 * subscription and join of a member who lacks a key asks them, and an account that subscribed
 * again and again (or left and re-joined) had every holder asked, and ask the rendezvous in
 * turn, hundreds of times a second (round 43). A hand-over that failed is asked for again by
 * the member's own sends (keyForDelivery) and its next subscription after this. */
export const KEY_NEEDED_REPEAT_MS = 10_000
const MAX_KEY_NEEDED_KEPT = 10_000

export class Notifier {
  readonly #store: RendezvousStore
  readonly #sessions: Sessions
  /** When each (group, epoch, member) key-needed last went out. */
  readonly #keyNeededAt = new Map<string, number>()
  readonly #now: () => number

  constructor (store: RendezvousStore, sessions: Sessions, now: () => number = Date.now) {
    this.#store = store
    this.#sessions = sessions
    this.#now = now
  }

  /** `username` signed in: presence to interested users (unless `announce` is false: the same
   * connection signed in again). Its missing keys are asked for when it subscribes. */
  online (username: string, announce: boolean): void {
    if (announce) this.#presence(username, true)
  }

  offline (username: string): void {
    this.#presence(username, false)
  }

  /** A new events subscriber that holds current keys is told which online members lack them
   * (their key-needed went out while no holder was listening); the key holders of its groups
   * are asked to hand over any current key it lacks itself (a restarted or new machine may not
   * have it). That request waits for the subscription, not the sign-in: a peer subscribes once
   * its protocol handlers are up, and holders asked at sign-in dialled a peer not yet listening
   * (the hand-over failed and nothing asked again). */
  subscribed (session: Session): void {
    for (const group of this.#store.groupsOf(session.username)) {
      this.#keyNeeded(group, session.username)
      if (group.epoch < 1 || !this.#store.hasKey(group.name, session.username, group.epoch)) continue
      for (const member of this.#store.members(group.name)) {
        if (member.hasKey || member.username === session.username || !this.#sessions.isOnline(member.username)) continue
        session.sink?.send({ type: 'key-needed', group: group.name, epoch: group.epoch, username: member.username })
      }
    }
  }

  joined (group: GroupRecord, username: string): void {
    this.#sessions.notify(this.#othersIn(group.name, username), { type: 'member-joined', group: group.name, username })
    this.#keyNeeded(group, username)
  }

  left (group: string, username: string): void {
    const others = this.#othersIn(group, username)
    this.#sessions.notify(others, { type: 'member-left', group, username })
    this.#sessions.notify(others, { type: 'rotation-needed', group })
  }

  #presence (username: string, online: boolean): void {
    const interested = [...this.#store.groupmatesOf(username), ...this.#sessions.watchersOf(username)]
    this.#sessions.notify(interested.filter(name => name !== username), { type: 'presence', username, online })
  }

  /** If `username` lacks `group`'s current key, ask the online members who hold it. */
  #keyNeeded (group: GroupRecord, username: string): void {
    if (group.epoch < 1 || this.#store.hasKey(group.name, username, group.epoch)) return
    if (!this.#mayAsk(`${group.name}\n${group.epoch}\n${username}`)) return
    const holders = this.#store.members(group.name)
      .filter(member => member.hasKey && member.username !== username)
      .map(member => member.username)
    this.#sessions.notify(holders, { type: 'key-needed', group: group.name, epoch: group.epoch, username })
  }

  /** Whether a key-needed for `id` may go out now (KEY_NEEDED_REPEAT_MS), and note that it does. */
  #mayAsk (id: string): boolean {
    const now = this.#now()
    const last = this.#keyNeededAt.get(id)
    if (last !== undefined && now - last < KEY_NEEDED_REPEAT_MS) return false
    if (this.#keyNeededAt.size >= MAX_KEY_NEEDED_KEPT) this.#keyNeededAt.clear()
    this.#keyNeededAt.set(id, now)
    return true
  }

  #othersIn (group: string, username: string): string[] {
    return this.#store.members(group).map(member => member.username).filter(name => name !== username)
  }
}
