/**
 * Everything the peer reports, as one typed union. The CLI prints each event for a person, or
 * as one JSON line with `--json` (the README's event reference lists the same fields).
 */
import type { ErrorCode } from '../common/errors.ts'

/** `joined`: we are one of its members. */
interface GroupCount { group: string, members: number, joined: boolean }
interface MemberView { username: string, online: boolean }
/** `connected`: a direct session with the member is open now (group texts go out at once). */
interface GroupMemberView extends MemberView { connected: boolean }
/** `unreadable`: stored by an earlier account of this name in this folder; its text and path
 * do not open with this account's key (text '', path null). */
/** `sentAt`: when the sender says it sent a text that came in (null otherwise), as in `message`. */
/** `unshown`: it came in as the last run stopped and was never shown (the `unshown` event of
 * this sign-in counted it). */
export interface HistoryLine { id: string, direction: 'in' | 'out', from: string, group: string | null, kind: 'text' | 'file', text: string, path: string | null, status: string, at: number, sentAt: number | null, unreadable: boolean, unshown: boolean }

/** Why a file coming in stopped: `gone` the connection to the sender was lost (its process
 * ended, its network went), `stalled` it stopped sending or sent too slowly, `invalid` what it
 * sent failed a check, `local` this side could not take it (the disk, a fault here), `no-space`
 * this side's disk is full (what came is kept for the rest), `signed-out` we signed out (QUIT, or the account signed in on another device),
 * `abandoned` the sender gave it up, `left` the sender (or we) left its group: what was kept of it is removed. */
export type FileCutCause = 'gone' | 'stalled' | 'invalid' | 'local' | 'no-space' | 'signed-out' | 'abandoned' | 'left' | 'blocked'

export type PeerEvent =
  | { event: 'ready', peerId: string, addrs: string[], rendezvous: string }
  | { event: 'signed-up', username: string, peerId: string }
  | { event: 'logged-in', username: string, peerId: string, offline: boolean, already: boolean }
  /** PASSWORD took: the new password is the account's, at the rendezvous and in this folder.
   * `late` (only then present): a PASSWORD the rendezvous did not answer in time, settled since. */
  | { event: 'password-changed', username: string, late?: true }
  /** This peer is no longer signed in as `username`: `elsewhere`, the account signed in on
   * another device (the rendezvous keeps one session per account). `pending`: deliveries left
   * in this folder's outbox, which go when the user signs in here again; `unconfirmed`: group
   * messages sent while the rendezvous was away, whose roll call is done then. */
  | { event: 'signed-out', username: string, reason: 'elsewhere' | 'switched', pending: number, unconfirmed: number }
  /** A SIGNUP or LOGIN of another account is signing `username` out, and that takes a while. */
  | { event: 'signing-out', username: string }
  /** At sign-in: messages that came in and were stored, but never shown (the peer stopped in
   * between), per conversation: `user` for a direct one, `group` for a group's; both null for
   * the conversations past the first 20 together. */
  | { event: 'unshown', conversations: Array<{ user: string | null, group: string | null, count: number }> }
  /** `at`: when it arrived here; `sentAt`: when the sender says it sent it (its clock, never
   * later than `at`): they differ for a message that waited for us. */
  | { event: 'message', id: string, from: string, text: string, at: number, sentAt: number }
  | { event: 'group-message', id: string, group: string, from: string, text: string, at: number, sentAt: number }
  /** A file's `sentAt` as a text's; null from a sender that does not say (before 2026-12-06). */
  | { event: 'file', id: string, from: string, name: string, path: string, size: number, sha256: string, at: number, sentAt: number | null }
  | { event: 'group-file', id: string, group: string, from: string, name: string, path: string, size: number, sha256: string, at: number, sentAt: number | null }
  /** A SEND, SENDFILE, SENDGROUP or SENDGROUPFILE was taken: the answer to the command, with
   * the id every later event about the message carries (`to` null for a group). */
  /** `name`: a file's name as it is sent (null for a text). */
  | { event: 'accepted', id: string, to: string | null, group: string | null, kind: 'text' | 'file', name: string | null }
  /** The outbox's events about one delivery name its file (`name`, null for a text) themselves:
   * a line made from `accepted`'s name lost it after a restart, or when `queued` came first. */
  | { event: 'sent', id: string, to: string, group: string | null, name: string | null }
  /** `code`: the error that held it back (null: `offline`), e.g. ERR_IDENTITY_CHANGED while the
   * recipient has not accepted our identity. */
  | { event: 'queued', id: string, to: string, group: string | null, name: string | null, reason: string, code: string | null }
  | { event: 'delivered', id: string, to: string, group: string | null, name: string | null }
  /** A group message's delivery to a member who left before it reached them, dropped: it is not
   * theirs any more (nothing to tell a person; what was said of it waiting ends). */
  | { event: 'withdrawn', id: string, to: string, group: string | null, name: string | null }
  /** Given up: this message will not reach `to` (the file changed after it was sent, the
   * recipient refused it five times…); `message` says why, for a person. */
  | { event: 'undelivered', id: string, to: string, group: string | null, name: string | null, code: ErrorCode, message: string }
  | { event: 'progress', id: string, direction: 'send' | 'receive' | 'read', peer: string, name: string, bytes: number, total: number }
  /** A file coming in stopped before its end: it leaves the transfers shown in the prompt at
   * once. `bytes` had arrived of `total` (0 when unknown); `cause` says why in a word a person's
   * screen can explain (FileCutCause), `reason` in the error's own words. */
  | { event: 'file-cut', id: string, from: string, group: string | null, name: string, bytes: number, total: number, cause: FileCutCause, reason: string }
  /** `cut` (only then present): the rendezvous listed as many as it lists (MAX_LISTED), and
   * there may be more: ours first, then the largest. */
  | { event: 'groups', groups: GroupCount[], cut?: true }
  /** `late` (only then present): the outcome of a CREATE, JOIN or LEAVE the rendezvous did not
   * answer in time, said once it did (app.ts #settleLater). */
  | { event: 'created', group: string, late?: true }
  | { event: 'joined', group: string, created: boolean, already: boolean, late?: true }
  /** `underWay`: deliveries of our messages already going out, which go on (each still ends in
   * `delivered` or `undelivered`); `dropped`: those still waiting, which cannot go now. */
  | { event: 'left', group: string, dropped: number, underWay: number, partsRemoved: number, late?: true }
  /** `lastKnown`: the rendezvous is away, and these are the members the group goes on with. */
  | { event: 'members', group: string, epoch: number, members: GroupMemberView[], lastKnown: boolean }
  /** `lastKnown`: the rendezvous is out of reach; `users` are our contacts, `online` those we
   * hold a connection to (the others are not known). */
  | { event: 'who', users: MemberView[], lastKnown: boolean }
  /** `earlier`: how many older messages the conversation has that were not shown. */
  /** `cut` (only then present): fewer than asked for, since HISTORY shows at most 8 MiB of
   * messages at once (HISTORY_MAX_BYTES); `earlier` counts the rest. */
  | { event: 'history', with: string, messages: HistoryLine[], earlier: number, cut?: true }
  /** `peerId` and `fingerprint`: the identity the directory shows now, the one TRUST accepts.
   * `changed`: it is not the identity pinned at first contact, which `pinnedPeerId` and
   * `pinnedFingerprint` then name (null otherwise). */
  | { event: 'verify', user: string, peerId: string, fingerprint: string, changed: boolean, pinnedPeerId: string | null, pinnedFingerprint: string | null, lastKnown: boolean }
  /** `changed`: the identity trusted now is not the one pinned before (false: TRUST of an
   * identity that never changed, which only confirms it). */
  | { event: 'trusted', user: string, peerId: string, changed: boolean }
  /** BLOCK and UNBLOCK; `already`: it was so before, nothing changed. `partsRemoved`: what was
   * kept of the user's cut files, removed (a file of theirs coming in stops: `file-cut`, `blocked`). */
  | { event: 'blocked', user: string, already: boolean, partsRemoved: number }
  | { event: 'unblocked', user: string, already: boolean }
  /** BLOCK alone: the users blocked, by name. */
  | { event: 'blocklist', users: string[] }
  | { event: 'presence', user: string, online: boolean }
  | { event: 'rendezvous', connected: boolean }
  /** `whileAway`: it happened while this user was not signed in here, said at the sign-in. */
  | { event: 'member-joined', group: string, user: string, whileAway: boolean }
  | { event: 'member-left', group: string, user: string, whileAway: boolean }
  | { event: 'key', group: string, epoch: number, from: string }
  | { event: 'warning', code: ErrorCode, message: string }
  /** `at`: set on an error that answers no command (it came on its own, later): when it happened. */
  | { event: 'error', code: ErrorCode, message: string, at?: number }
  | { event: 'help', commands: string[] }
  /** QUIT (or the end of input) waits up to `waitSeconds` for deliveries still going out. */
  | { event: 'leaving', waitSeconds: number }
  | { event: 'bye', pending: number, unconfirmed: number }

/** `shown`, if given, is called once the event's line has left this process (a line still in
 * its output buffer dies with it on a kill -9): what must not be counted as shown before (the
 * inbox's shown mark). It is not called if the line could not be written. */
export type Emit = (event: PeerEvent, shown?: () => void) => void
