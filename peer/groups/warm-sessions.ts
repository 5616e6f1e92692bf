/**
 * Sessions with the members of our groups, opened before the first group message needs them
 * (issue 11). Without them a SENDGROUP to members we have not talked to since sign-in waits,
 * member by member, for a dial, Noise and the session's X25519, and under load that wait is
 * most of a group message's latency. So at sign-in (and after a reconnect to the rendezvous) and
 * on JOIN, the peer opens a direct session with every online member of those groups it has none
 * with, in the background. At sign-in the same goes for the users of our recent direct
 * conversations, after the members: the first SEND to them need not wait for a dial either.
 *
 * The peer that arrives dials; members already there do not answer its presence or its
 * `member-joined` with dials of their own, so each pair opens one session, not two. A few open
 * at a time, since they share the opening slots with real sends, and at most WARM_SESSIONS_MAX
 * members per round, so a member of many large groups does not dial hundreds of peers.
 *
 * Each opening waits until the event loop keeps up (common/loop-quiet.ts): on a loaded peer it
 * is background work and gives way to messages; a loop busy for WARM_BUSY_GIVE_UP_MS ends the
 * round (the messages open what they need). Direct addresses only: a member behind a NAT is
 * reached through the rendezvous's relay when there is a message for it, not ahead, since a
 * relayed connection costs the rendezvous a circuit and lapses at the relay's limits. A member
 * that cannot be reached is no one's concern yet: a message for it dials again (through the
 * relay if need be), and its failure is reported then.
 *
 * A round ends quietly at sign-out: an opening under way then fails because the session's store
 * closed under it, which says nothing about the member (until 2026-12-06 it was logged as
 * "no session with alice ahead of a message: ERR_INTERNAL database is not open").
 */
import type { Username } from '../../common/wire/names.ts'
import type { PeerContact } from '../directory.ts'
import type { Dialable } from '../transport/dial.ts'
import type { GroupMember } from './keyring.ts'
import { logger } from '../log.ts'

const log = logger('parley:warm-sessions')

/** Members a round opens sessions with, at most. */
export const WARM_SESSIONS_MAX = 64
/** Sessions a round opens at once: real sends keep the other opening slots (MAX_SESSIONS_OPENING). */
export const WARM_SESSIONS_AT_ONCE = 2
/** A round waits this long at most for a busy event loop to keep up, then ends. */
export const WARM_BUSY_GIVE_UP_MS = 60_000

export interface WarmSessionsDeps {
  /** Who we are: never dialled. */
  self: Username
  /** A group's members as the rendezvous lists them now, with who is online. */
  members: (group: string) => Promise<readonly GroupMember[]>
  /** Is a session with this peer open already? */
  connected: (peerId: string) => boolean
  /** The member's contact through the directory, which checks it against our pin. */
  resolve: (username: Username) => Promise<PeerContact>
  /** Open a session (resolves once it is open). */
  open: (to: Dialable) => Promise<void>
  /** Resolves true when there is time to spare for the next opening, false to end the round. */
  quiet: () => Promise<boolean>
  /** Sign-out: the round stops opening, and what fails after it is not news. */
  signal: AbortSignal
}

/** Whom to open sessions with: the online members of these groups, then these users (recent
 * conversations; the directory says whether they are online). */
export interface WarmTargets {
  groups: readonly string[]
  contacts?: readonly Username[]
}

/** A user to open a session with; the peer id when a member list gave it. */
interface Candidate { username: Username, peerId?: string }

/** Open sessions with the targets; resolves with how many opened. */
export async function warmSessions (deps: WarmSessionsDeps, targets: WarmTargets): Promise<number> {
  const wanted = new Map<Username, Candidate>()
  const want = (candidate: Candidate): void => {
    if (wanted.size < WARM_SESSIONS_MAX && candidate.username !== deps.self && !wanted.has(candidate.username)) wanted.set(candidate.username, candidate)
  }
  for (const group of targets.groups) {
    if (deps.signal.aborted) return 0
    let members: readonly GroupMember[]
    try {
      members = await deps.members(group)
    } catch (err) {
      if (deps.signal.aborted) return 0
      log.warn(`no members of ${group} to open sessions with`, err)
      continue
    }
    for (const member of members) {
      if (member.online && !deps.connected(member.peerId)) want({ username: member.username, peerId: member.peerId })
    }
  }
  for (const username of targets.contacts ?? []) want({ username })
  const queue = [...wanted.values()]
  let opened = 0
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined && !deps.signal.aborted; next = queue.shift()) {
      if (next.peerId !== undefined && deps.connected(next.peerId)) continue // opened meanwhile, by either side
      if (!await deps.quiet()) return
      try {
        const contact = await deps.resolve(next.username)
        // A member list and the directory must agree (as for a key hand-over): a rendezvous that
        // swapped a member's peer id gets no session opened to the impostor on our own initiative.
        if (next.peerId !== undefined && contact.peerId !== next.peerId) continue
        if (!contact.online || deps.connected(contact.peerId)) continue
        await deps.open({ username: contact.username, peerId: contact.peerId, addrs: contact.addrs, relay: false })
        opened++
      } catch (err) {
        if (deps.signal.aborted) return
        log.warn(`no session with ${next.username} ahead of a message`, err)
      }
    }
  }
  await Promise.all(Array.from({ length: WARM_SESSIONS_AT_ONCE }, worker))
  return opened
}
