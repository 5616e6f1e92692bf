/**
 * The peer's local store (DESIGN §7): one node:sqlite file per user with history, the durable
 * outbox, trust-on-first-use pins and the user's group keys (kept wrapped under the user's
 * wrapKey, never in the clear). Message texts, file paths and outbox bodies are sealed under a
 * key derived from the wrapKey, each bound to its row (./sealing.ts), so a copied database file
 * reads as metadata only: who, when, which group — not what. Every method is synchronous and
 * each write is one statement or one transaction, so a kill -9 leaves either the old or the new
 * state, never half of one.
 */
import { statSync } from 'node:fs'
import type { DatabaseSync } from 'node:sqlite'
import { ErrorCode, ParleyError, is } from '../../common/errors.ts'
import { IN_MEMORY, openDatabase, statementsOf, transaction } from '../../common/sqlite.ts'
import type { Statements } from '../../common/sqlite.ts'
import { toGroupName, toMessageId, toUsername } from '../../common/wire/names.ts'
import type { GroupName, MessageId, Username } from '../../common/wire/names.ts'
import { GroupCommit } from './group-commit.ts'
import { SEALED_AES_GCM, StoreSealer } from './sealing.ts'
import { ShownMark } from './shown-mark.ts'

export type Direction = 'in' | 'out'
export type MessageStatus = 'queued' | 'sent' | 'delivered' | 'received' | 'failed'
type MessageKind = 'text' | 'file'

export interface MessageRecord {
  /** Hex of the 16-byte random message id, the same on both ends. */
  id: MessageId
  direction: Direction
  /** The other user (direct) or the sender/recipient (group). */
  peer: Username
  group: GroupName | null
  kind: MessageKind
  /** The text, or for files the file name. */
  body: string
  /** For received files: where the file was saved. */
  path: string | null
  status: MessageStatus
  at: number
  /** A text that came in: when its sender says it sent it (never later than `at`). */
  sentAt?: number
  /** Read back, its text and path did not open with this account's key (history only). */
  unreadable?: true
  /** Read back, it came in as the last run stopped and was never shown: this sign-in told of
   * it (takeUnshown; history only). */
  unshown?: true
}

export type OutboxKind = 'text' | 'file'

/** A delivery dropped because this account cannot read it (takeUnsendable). */
export interface Unsendable { id: MessageId, recipient: Username, group: GroupName | null, kind: OutboxKind }

export interface OutboxItem {
  /** The message id this delivery belongs to. */
  id: MessageId
  recipient: Username
  group: GroupName | null
  kind: OutboxKind
  /** The text, or the path of the file to send. */
  body: string
  /** A file's SHA-256 (hex) when SENDFILE took it: delivered only while the file still has that
   * content (fileToDeliver). Absent for texts and for files queued before the store kept it. */
  sha256?: string
  created: number
  attempts: number
  /** Its place in the queue: later items have larger numbers (never reused while the store is
   * open), so a delivery run reads on from the last one it took (`outboxFor`). */
  seq: number
}

/** What `enqueue` is given: the store numbers the item and counts its attempts. */
export type NewOutboxItem = Omit<OutboxItem, 'attempts' | 'seq'>

/** A group message sent with the member list kept here, the rendezvous not answering: whoever
 * else had joined by `created` is only known from its next answer (peer/groups/roll-call.ts).
 * Each delivery it then adds is this, to that member. */
export interface UnconfirmedSend {
  id: MessageId
  group: GroupName
  kind: OutboxKind
  /** As its outbox items: the text, or the file's path. */
  body: string
  sha256?: string
  created: number
  /** The members it was queued for. */
  recipients: Username[]
}

/** Sends awaiting a roll call, at most, per group: past it the oldest are confirmed as sent (a
 * rendezvous away that long has no list to give soon, and what they were sent to stands). */
const UNCONFIRMED_PER_GROUP = 10_000

export type PinResult = 'new' | 'same' | 'changed'

/** The store's database, opened and read as far as a start needs. One that cannot be says which
 * file, with SQLite's words after it (until 2026-12-07 those alone: `database disk image is
 * malformed`, round 29); a schema this version does not know says so itself (migrate). */
function openStoreFile (file: string): { db: DatabaseSync, nextSeq: number, lastAtOpen: number } {
  let db: DatabaseSync | undefined
  try {
    db = openDatabase(file, { migrations: MIGRATIONS, owner: 'peer' })
    const nextSeq = Number((db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM outbox').get() as { next: number }).next)
    const lastAtOpen = Number((db.prepare('SELECT COALESCE(MAX(rowid), 0) AS last FROM messages').get() as { last: number }).last)
    return { db, nextSeq, lastAtOpen }
  } catch (err) {
    if (db?.isOpen === true) db.close()
    if (err instanceof ParleyError) throw err
    throw new ParleyError(ErrorCode.File, `cannot open this account's local store ${file}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * A check, before each commit, that the store's file is still the one opened. Removed while the
 * peer runs (its data folder deleted), SQLite went on writing to the open, unlinked file: every
 * message was taken, acknowledged and then lost with the process, queued ones too, without a
 * word (round 33). Now nothing more is committed, so nothing more is acknowledged or taken: the
 * senders keep what they send, and each command says why. One stat a commit.
 */
function stillThere (file: string): () => void {
  const opened = statSync(file)
  return () => {
    const now = statSync(file, { throwIfNoEntry: false })
    if (now?.ino === opened.ino && now.dev === opened.dev) return
    // ERR_INTERNAL, passing: a sender refused so keeps the message and tries again later.
    throw new ParleyError(ErrorCode.Internal, `this account's local store ${file} was removed while Parley ran: nothing more can be kept here, ` +
      'so nothing more is taken (senders keep what they send); QUIT, and start Parley again', { cause: new StoreRemoved(file) })
  }
}

/** The cause of a commit refused because the store's file was removed (stillThere): a sender is
 * told so without our folder's path. */
export class StoreRemoved extends Error {}

/** Messages of one conversation that came in and were never shown (PeerStore.takeUnshown):
 * `user` for a direct conversation, `group` for a group's (the other null). */
export interface UnshownCount { user: Username | null, group: GroupName | null, count: number }

/** Conversations takeUnshown names one by one; the rest are counted together. */
const UNSHOWN_CONVERSATIONS = 20

/** A direct conversation (with a user) or a group's. */
type Conversation = { user: string } | { group: string }

/** The messages of a conversation: a WHERE clause and its one parameter. A group send is one
 * 'out' row (peer = ourselves); its deliveries per member live in the outbox. */
function conversationRows (conversation: Conversation): [string, string] {
  return 'group' in conversation ? ['grp = ?', conversation.group] : ['peer = ? AND grp IS NULL', conversation.user]
}

/** Schema steps (common/sqlite.ts): MIGRATIONS[i] takes user_version i to i + 1. Never edit a
 * released step; append a new one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     id TEXT NOT NULL, direction TEXT NOT NULL, peer TEXT NOT NULL, grp TEXT, kind TEXT NOT NULL,
     body BLOB NOT NULL, path BLOB, status TEXT NOT NULL, at INTEGER NOT NULL,
     PRIMARY KEY (id, direction, peer));
   CREATE INDEX messages_by_peer ON messages (peer, grp, at);
   CREATE INDEX messages_by_group ON messages (grp, at);
   CREATE TABLE outbox (
     id TEXT NOT NULL, recipient TEXT NOT NULL, grp TEXT, kind TEXT NOT NULL, body BLOB NOT NULL,
     created INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (id, recipient));
   CREATE TABLE pins (username TEXT PRIMARY KEY, peer_id TEXT NOT NULL UNIQUE, first_seen INTEGER NOT NULL);
   CREATE TABLE group_keys (grp TEXT NOT NULL, epoch INTEGER NOT NULL, wrapped BLOB NOT NULL,
     PRIMARY KEY (grp, epoch));`,
  // 2: where each pinned contact was last seen, to reach known contacts while the rendezvous is
  // out of reach, also after a restart (issue 13 item 3).
  "ALTER TABLE pins ADD COLUMN addrs TEXT NOT NULL DEFAULT '[]';",
  // 3: each group's members and epoch as the rendezvous last gave them, so a peer restarted while
  // it is out of reach still sends to its groups (issue 13 item 3).
  'CREATE TABLE group_info (grp TEXT PRIMARY KEY, info TEXT NOT NULL);',
  // 4: the outbox is read by recipient (every delivery run), and its key starts with the message
  // id: without this index each read scanned the whole outbox, so the cost of a delivery grew
  // with the backlog, the slower the more there was to catch up on (issue 11).
  'CREATE INDEX outbox_by_recipient ON outbox (recipient, created);',
  // 5: which format a row's sealed values are in (./sealing.ts): rows written before this step
  // keep theirs (1), new ones are AES-256-GCM (2).
  `ALTER TABLE messages ADD COLUMN sealing INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE outbox ADD COLUMN sealing INTEGER NOT NULL DEFAULT 1;`,
  // 6: each item's place in its queue (OutboxItem.seq). A delivery run read the recipient's whole
  // queue again each time it had sent what it read, the items still in flight included (up to
  // the window's 256, bodies and all) only to skip them: a cost per message that grew with the
  // backlog (issue 11). rowid will not do: SQLite hands a deleted top rowid out again. Items
  // queued before keep the order they had (by time queued, then rowid).
  `ALTER TABLE outbox ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
   UPDATE outbox SET seq = ranked.n
     FROM (SELECT rowid AS r, ROW_NUMBER() OVER (ORDER BY created, rowid) AS n FROM outbox) AS ranked
     WHERE outbox.rowid = ranked.r;
   DROP INDEX outbox_by_recipient;
   CREATE INDEX outbox_by_recipient ON outbox (recipient, seq);`,
  // 7: a queued file's content as SENDFILE saw it (OutboxItem.sha256), sealed like the path: a
  // file changed or replaced before its delivery is refused, not sent as it has become.
  'ALTER TABLE outbox ADD COLUMN sha256 BLOB;',
  // 8: when the sender of a text that came in says it sent it (MessageRecord.sentAt): a message
  // that waited for us in its sender's outbox is shown with that time too.
  'ALTER TABLE messages ADD COLUMN sent_at INTEGER;',
  // 9: group messages sent with the member list kept here while the rendezvous was away, until
  // its next answer says who else was in the group then (UnconfirmedSend, peer/groups/roll-call.ts).
  `CREATE TABLE unconfirmed_sends (grp TEXT NOT NULL, id TEXT NOT NULL, created INTEGER NOT NULL,
     kind TEXT NOT NULL, body BLOB NOT NULL, sha256 BLOB, recipients TEXT NOT NULL, PRIMARY KEY (grp, id));`,
  // 10: the users this account takes nothing from (BLOCK).
  'CREATE TABLE blocked (username TEXT PRIMARY KEY, since INTEGER NOT NULL);'
]

const PINS_CACHED = 10_000

export class PeerStore {
  readonly #db: DatabaseSync
  readonly #sealer: StoreSealer
  readonly #commits: GroupCommit
  readonly #statements: Statements
  /** The pins as read, both ways (null: no pin): every send and every delivery run asks, and a
   * query each time was 2 % of a loaded peer's CPU (issue 11). A new pin forgets the answers
   * it changes, a re-pin all of them; emptied too when it holds PINS_CACHED answers (inbound
   * peer ids are anyone's choice). */
  readonly #peerIdOf = new Map<string, string | null>()
  readonly #usernameOf = new Map<string, Username | null>()
  /** The blocked users as read (undefined: read them at the next question). */
  #blockedNow: Set<string> | undefined
  /** Deliveries outboxFor dropped, not yet taken (takeUnsendable). */
  readonly #unsendable: Unsendable[] = []
  /** The next outbox item's `seq`: one more than any in the queue when the store opened. */
  #nextSeq: number
  /** Up to which row the messages that came in were shown (the inbox moves it). */
  readonly shown: ShownMark
  /** The rows takeUnshown told of: after `after`, up to `upTo`. */
  #unshownRows = { after: 0, upTo: 0 }
  /** The last message row when the store opened. */
  readonly #lastAtOpen: number

  /** `file`: the database file (its folder is made if missing), or IN_MEMORY (common/sqlite.ts)
   * for a store that lives as long as this object (unit tests). `wrapKey`: the user's key from
   * their password; the store derives its own key from it. */
  /** The store's file (IN_MEMORY for the tests'). */
  readonly path: string

  constructor (file: string, wrapKey: Uint8Array) {
    this.path = file
    this.#sealer = new StoreSealer(wrapKey)
    const { db, nextSeq, lastAtOpen } = openStoreFile(file)
    this.#db = db
    this.#statements = statementsOf(this.#db)
    this.#commits = new GroupCommit(this.#db, file === IN_MEMORY ? undefined : stillThere(file))
    this.#nextSeq = nextSeq
    this.#lastAtOpen = lastAtOpen
    this.shown = new ShownMark(file === IN_MEMORY ? undefined : `${file}.shown`, this.#lastAtOpen)
  }

  /**
   * Run synchronous writes of this store (`addMessage`, `enqueue`, `removeFromOutbox`, …) in the
   * next group commit: everything asked for in this turn of the event loop becomes durable in one
   * transaction. Resolves with `work`'s result once it is on disk (issue 11).
   */
  async commitSoon<T> (work: () => T): Promise<T> {
    return await this.#commits.run(work)
  }

  /** Store a message: its row, or undefined when the same (id, direction, peer) is already
   * there (a duplicate). */
  addMessage (message: MessageRecord): number | undefined {
    const row = `msg:${message.id}:${message.direction}:${message.peer}`
    const result = this.#statements.get(`INSERT OR IGNORE INTO messages (id, direction, peer, grp, kind, body, path, status, at, sent_at, sealing)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(message.id, message.direction, message.peer, message.group,
      message.kind, this.#sealer.seal(`${row}:body`, message.body), message.path === null ? null : this.#sealer.seal(`${row}:path`, message.path),
      message.status, message.at, message.sentAt ?? null, SEALED_AES_GCM)
    return result.changes > 0 ? Number(result.lastInsertRowid) : undefined
  }

  /** The messages that came in after the shown mark the last run left, per conversation in the
   * order they came (the first UNSHOWN_CONVERSATIONS, then one count of the rest with both
   * names null); the mark then moves past them: each is told of once. */
  takeUnshown (): UnshownCount[] {
    const previous = this.shown.previous
    const rows = previous === undefined
      ? []
      : this.#statements.get("SELECT CASE WHEN grp IS NULL THEN peer END AS user, grp, COUNT(*) AS n FROM messages WHERE rowid > ? AND direction = 'in' " +
        'GROUP BY user, grp ORDER BY MIN(rowid)').all(previous) as Array<{ user: string | null, grp: string | null, n: number }>
    const counts: UnshownCount[] = rows.map(r => r.grp === null
      ? { user: toUsername(String(r.user)), group: null, count: Number(r.n) }
      : { user: null, group: toGroupName(r.grp), count: Number(r.n) })
    this.shown.caughtUp()
    if (previous !== undefined) this.#unshownRows = { after: previous, upTo: this.#lastAtOpen }
    if (counts.length <= UNSHOWN_CONVERSATIONS) return counts
    const rest = counts.slice(UNSHOWN_CONVERSATIONS).reduce((sum, c) => sum + c.count, 0)
    return [...counts.slice(0, UNSHOWN_CONVERSATIONS), { user: null, group: null, count: rest }]
  }

  hasMessage (id: string, direction: Direction, peer: string): boolean {
    return this.#statements.get('SELECT 1 FROM messages WHERE id = ? AND direction = ? AND peer = ?').get(id, direction, peer) !== undefined
  }

  setStatus (id: string, peer: string, status: MessageStatus): void {
    this.#statements.get("UPDATE messages SET status = ? WHERE id = ? AND direction = 'out' AND peer = ?").run(status, id, peer)
  }

  /** A group message of ours whose last member's delivery was acknowledged (none left queued,
   * none given up: that one made it `failed`) is `delivered`, as a direct message is. */
  markGroupDeliveredIfDone (id: string): void {
    // Nor while a roll call may still add members (UnconfirmedSend).
    this.#statements.get("UPDATE messages SET status = 'delivered' WHERE id = ? AND direction = 'out' AND grp IS NOT NULL AND status = 'sent' " +
      'AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.id = messages.id) ' +
      'AND NOT EXISTS (SELECT 1 FROM unconfirmed_sends u WHERE u.id = messages.id AND u.grp = messages.grp)').run(id)
  }

  /** Keep a send for the next roll call of its group (in the commit that queues it). */
  keepUnconfirmed (send: UnconfirmedSend): void {
    const row = `unconfirmed:${send.group}:${send.id}`
    this.#statements.get('INSERT OR IGNORE INTO unconfirmed_sends (grp, id, created, kind, body, sha256, recipients) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(send.group, send.id, send.created, send.kind, this.#sealer.seal(`${row}:body`, send.body),
        send.sha256 === undefined ? null : this.#sealer.seal(`${row}:sha256`, send.sha256), JSON.stringify(send.recipients))
    const over = this.#statements.get('SELECT id FROM unconfirmed_sends WHERE grp = ? ORDER BY created DESC, id LIMIT -1 OFFSET ?')
      .all(send.group, UNCONFIRMED_PER_GROUP) as Array<{ id: string }>
    if (over.length > 0) this.confirmSends(send.group, over.map(r => r.id))
  }

  /** The group's sends awaiting a roll call, oldest first. */
  unconfirmedSends (group: string): UnconfirmedSend[] {
    const rows = this.#statements.get('SELECT * FROM unconfirmed_sends WHERE grp = ? ORDER BY created, id').all(group) as Array<Record<string, string | number | null>>
    const sends: UnconfirmedSend[] = []
    for (const r of rows) {
      const row = `unconfirmed:${String(r.grp)}:${String(r.id)}`
      try {
        sends.push({
          id: toMessageId(String(r.id)),
          group: toGroupName(String(r.grp)),
          kind: r.kind as OutboxKind,
          body: this.#open(`${row}:body`, r.body, SEALED_AES_GCM),
          ...(r.sha256 === null ? {} : { sha256: this.#open(`${row}:sha256`, r.sha256, SEALED_AES_GCM) }),
          created: Number(r.created),
          recipients: (JSON.parse(String(r.recipients)) as string[]).map(toUsername)
        })
      } catch {
        // A row that does not open or read back (tampered with, damaged): nothing can be added
        // from it, and it must not hold every later roll call of the group.
        this.confirmSends(group, [String(r.id)])
      }
    }
    return sends
  }

  /** Groups with sends awaiting a roll call. */
  groupsUnconfirmed (): GroupName[] {
    return (this.#statements.get('SELECT DISTINCT grp FROM unconfirmed_sends').all() as Array<{ grp: string }>).map(r => toGroupName(r.grp))
  }

  /** How many sends await a roll call, in every group. */
  unconfirmedCount (): number {
    this.#commits.settle()
    return Number((this.#statements.get('SELECT COUNT(*) AS n FROM unconfirmed_sends').get() as { n: number }).n)
  }

  /** The roll call is done for these sends: each is `delivered` once its deliveries all are. */
  confirmSends (group: string, ids: readonly string[]): void {
    for (const id of ids) {
      this.#statements.get('DELETE FROM unconfirmed_sends WHERE grp = ? AND id = ?').run(group, id)
      this.markGroupDeliveredIfDone(id)
    }
  }

  /** A group delivery to a member who left before it reached them: out of the outbox, and the
   * message delivered if the other members have it (outbox.ts). */
  withdrawFromLeaver (id: string, recipient: string): void {
    this.removeFromOutbox(id, recipient)
    this.markGroupDeliveredIfDone(id)
  }

  /** A delivery that will never be made (refused for good, unreadable here, dropped by LEAVE):
   * out of the outbox, and its message `failed` (a group message once any member will not get it). */
  giveUp (id: string, recipient: string, group: string | null): void {
    this.removeFromOutbox(id, recipient)
    if (group === null) this.setStatus(id, recipient, 'failed')
    else this.#statements.get("UPDATE messages SET status = 'failed' WHERE id = ? AND direction = 'out' AND grp IS NOT NULL").run(id)
  }

  /** The last `limit` messages with a user (direct) or in a group, oldest first, in the order
   * they were sent: a text by when its sender says it sent it. Messages that waited for us come
   * together, each sender's in order but the senders one after the other (each outbox sends when
   * we are back), and until 2026-12-06 HISTORY showed a group's talk in that order (a tester's
   * finding). Files, and texts stored before the sent time was, go by when they arrived. */
  history (conversation: Conversation, limit: number, maxBytes = Number.MAX_SAFE_INTEGER): MessageRecord[] {
    this.#commits.settle()
    const [where, key] = conversationRows(conversation)
    // The latest `limit`, and of those only as many as fit in `maxBytes` of stored bodies (the
    // latest always): 10,000 texts of 16 KiB made a HISTORY too long for one string (round 48).
    const rows = this.#statements.get(`SELECT * FROM (SELECT *, rowid AS row, SUM(length(body)) OVER (ORDER BY COALESCE(sent_at, at) DESC, rowid DESC) AS upto
      FROM messages WHERE ${where} ORDER BY COALESCE(sent_at, at) DESC, rowid DESC LIMIT ?) WHERE upto - length(body) < ?`).all(key, limit, maxBytes)
    return rows.map(row => this.#toReadableMessage(row)).reverse()
  }

  /** How many messages a conversation has (HISTORY says how many it did not show). */
  historySize (conversation: Conversation): number {
    this.#commits.settle()
    const [where, key] = conversationRows(conversation)
    return Number((this.#statements.get(`SELECT COUNT(*) AS n FROM messages WHERE ${where}`).get(key) as { n: number }).n)
  }

  /** A row of history, or when its values do not open with this account's key (sealed by an
   * earlier account of this name, in this folder before the rendezvous lost its accounts and the
   * user signed up again) the row without them, marked `unreadable`: one such row failed every
   * HISTORY with "stored value does not open" (a tester's finding, until 2026-12-06). */
  #toReadableMessage (row: unknown): MessageRecord {
    const r = row as { row: number, direction: string }
    const unshown = r.direction === 'in' && r.row > this.#unshownRows.after && r.row <= this.#unshownRows.upTo ? { unshown: true as const } : {}
    try {
      return { ...this.#toMessage(row), ...unshown }
    } catch (err) {
      if (!is(err, ErrorCode.Integrity)) throw err
      return { ...this.#toMessage(row, false), unreadable: true, ...unshown }
    }
  }

  /** Queue one delivery (a message id to one recipient); queuing it twice is a no-op. */
  enqueue (item: NewOutboxItem): void {
    const row = `outbox:${item.id}:${item.recipient}`
    this.#statements.get('INSERT OR IGNORE INTO outbox (id, recipient, grp, kind, body, sha256, created, sealing, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(item.id, item.recipient, item.group, item.kind, this.#sealer.seal(row, item.body),
        item.sha256 === undefined ? null : this.#sealer.seal(`${row}:sha256`, item.sha256), item.created, SEALED_AES_GCM, this.#nextSeq++)
  }

  /** What waits for `recipient`, in queue order; with `after`, only the items queued after the
   * one of that `seq` (a delivery run reading on); with `kind`, only texts or only files (the
   * outbox delivers them on lanes of their own). Only committed items: writes run inside
   * their group commit, so nothing half-written is ever due for delivery. */
  outboxFor (recipient: string, after = 0, kind?: OutboxKind): OutboxItem[] {
    const items: OutboxItem[] = []
    const rows = kind === undefined
      ? this.#statements.get('SELECT * FROM outbox WHERE recipient = ? AND seq > ? ORDER BY seq').all(recipient, after)
      : this.#statements.get('SELECT * FROM outbox WHERE recipient = ? AND seq > ? AND kind = ? ORDER BY seq').all(recipient, after, kind)
    for (const row of rows) {
      try {
        items.push(this.#toOutboxItem(row))
      } catch (err) {
        if (!is(err, ErrorCode.Integrity)) throw err
        // Queued by an earlier account of this name in this folder (the rendezvous lost its
        // accounts; the user signed up again here): this account cannot read it, so it can never
        // send it, and it stopped every delivery to its recipient (until 2026-12-06). Dropped,
        // its message `failed` (it stayed `queued` for ever) and kept for the outbox to say so
        // (takeUnsendable); HISTORY shows it as unreadable.
        const dropped = { id: toMessageId(String(row.id)), recipient: toUsername(String(row.recipient)), group: row.grp === null ? null : toGroupName(String(row.grp)), kind: row.kind === 'file' ? 'file' as const : 'text' as const }
        this.giveUp(dropped.id, dropped.recipient, dropped.group)
        this.#unsendable.push(dropped)
      }
    }
    return items
  }

  /** The deliveries outboxFor dropped since the last call because they do not open with this
   * account's key (queued by an earlier account of this name in this folder). */
  takeUnsendable (): Unsendable[] {
    return this.#unsendable.splice(0)
  }

  /** The users of the direct conversations with a message since `since` (ms), the latest first,
   * at most `limit` (read through messages_by_group: grp IS NULL, then the time). */
  recentContacts (since: number, limit: number): Username[] {
    this.#commits.settle()
    return this.#statements.get('SELECT peer, MAX(at) AS last FROM messages WHERE grp IS NULL AND at >= ? GROUP BY peer ORDER BY last DESC LIMIT ?')
      .all(since, limit).map(row => toUsername(String((row as { peer: string }).peer)))
  }

  outboxRecipients (): Username[] {
    return this.#statements.get('SELECT DISTINCT recipient FROM outbox ORDER BY recipient').all()
      .map(row => toUsername(String((row as { recipient: string }).recipient)))
  }

  outboxSize (): number {
    this.#commits.settle()
    return Number((this.#statements.get('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n)
  }

  removeFromOutbox (id: string, recipient: string): void {
    this.#statements.get('DELETE FROM outbox WHERE id = ? AND recipient = ?').run(id, recipient)
  }

  /** We left `group` (only members send to a group): drop the deliveries of its messages still
   * queued, but those `kept` says go on (the outbox's, in flight). Each message that lost one is
   * `failed`, as when a delivery is given up: some member will not get it (until 2026-12-06 it
   * stayed `sent`, or became `delivered` once the members still served had it). The dropped
   * (message, recipient) pairs. */
  dropGroupDeliveries (group: string, kept: (id: MessageId, recipient: Username) => boolean = () => false): Array<{ id: MessageId, recipient: Username }> {
    const queued = this.#statements.get('SELECT id, recipient FROM outbox WHERE grp = ?').all(group)
      .map(row => ({ id: toMessageId(String(row.id)), recipient: toUsername(String(row.recipient)) }))
    const dropped = queued.filter(({ id, recipient }) => !kept(id, recipient))
    for (const { id, recipient } of dropped) this.giveUp(id, recipient, group)
    return dropped
  }

  countAttempt (id: string, recipient: string): void {
    this.#statements.get('UPDATE outbox SET attempts = attempts + 1 WHERE id = ? AND recipient = ?').run(id, recipient)
  }

  /** Trust on first use: remember the first peer id seen for a username, report changes. */
  pin (username: string, peerId: string): PinResult {
    return transaction(this.#db, () => this.#pin(username, peerId))
  }

  /** `pin`, with a new pin written in the next group commit: a first contact's pin shares the
   * fsync of whatever else is written then instead of paying a transaction of its own on the
   * event loop. A pin we hold already is answered from memory. */
  async pinSoon (username: string, peerId: string): Promise<PinResult> {
    const pinned = this.pinnedPeerId(username)
    if (pinned !== undefined) return pinned === peerId ? 'same' : 'changed'
    return await this.commitSoon(() => this.#pin(username, peerId))
  }

  /** The pin's read and write; the caller runs it in a transaction. */
  #pin (username: string, peerId: string): PinResult {
    const row = this.#statements.get('SELECT peer_id FROM pins WHERE username = ?').get(username) as { peer_id: string } | undefined
    if (row === undefined) {
      // A peer id belongs to one username (UNIQUE): a stale pin of another name for it goes.
      const stale = this.#statements.get('DELETE FROM pins WHERE peer_id = ? RETURNING username').get(peerId) as { username: string } | undefined
      this.#statements.get('INSERT INTO pins (username, peer_id, first_seen) VALUES (?, ?, ?)').run(username, peerId, Date.now())
      // Only the answers this pin changes are forgotten: emptying both caches on every new
      // pin (a first contact) left them cold wherever contacts are new all the time.
      this.#peerIdOf.delete(username)
      this.#usernameOf.delete(peerId)
      if (stale !== undefined) this.#peerIdOf.delete(stale.username)
      return 'new'
    }
    return row.peer_id === peerId ? 'same' : 'changed'
  }

  /** Remember where a pinned contact was last seen (written only when it changed). */
  rememberAddrs (username: string, addrs: string[]): void {
    const json = JSON.stringify(addrs)
    const row = this.#statements.get('SELECT addrs FROM pins WHERE username = ?').get(username) as { addrs: string } | undefined
    if (row === undefined || row.addrs === json) return
    this.#statements.get('UPDATE pins SET addrs = ? WHERE username = ?').run(json, username)
  }

  /** A pinned contact's identity and the addresses it was last seen at, if any. */
  lastSeen (username: string): { peerId: string, addrs: string[] } | undefined {
    this.#commits.settle() // where a look-up just said the contact is joins the next commit
    const row = this.#statements.get('SELECT peer_id, addrs FROM pins WHERE username = ?').get(username) as { peer_id: string, addrs: string } | undefined
    if (row === undefined) return undefined
    let addrs: unknown
    try {
      addrs = JSON.parse(row.addrs)
    } catch {
      addrs = [] // a damaged list is no list: no last-seen addresses to try
    }
    const list = Array.isArray(addrs) ? addrs.filter((a): a is string => typeof a === 'string') : []
    return list.length === 0 ? undefined : { peerId: row.peer_id, addrs: list }
  }

  /** BLOCK: true if `username` was not blocked before. */
  block (username: Username): boolean {
    const added = this.#statements.get('INSERT OR IGNORE INTO blocked (username, since) VALUES (?, ?)').run(username, Date.now()).changes > 0
    this.#blockedNow = undefined
    return added
  }

  /** UNBLOCK: true if `username` was blocked. */
  unblock (username: Username): boolean {
    const removed = this.#statements.get('DELETE FROM blocked WHERE username = ?').run(username).changes > 0
    this.#blockedNow = undefined
    return removed
  }

  /** The users blocked, by name. */
  blocked (): Username[] {
    return [...this.#blockedSet()].sort().map(toUsername)
  }

  /** Whether `username` is blocked: asked of every text and stream that comes in, so from memory. */
  isBlocked (username: string): boolean {
    return this.#blockedSet().has(username)
  }

  #blockedSet (): ReadonlySet<string> {
    this.#blockedNow ??= new Set((this.#statements.get('SELECT username FROM blocked').all() as Array<{ username: string }>).map(row => row.username))
    return this.#blockedNow
  }

  pinnedPeerId (username: string): string | undefined {
    return this.#pinLookup(this.#peerIdOf, 'SELECT peer_id AS answer FROM pins WHERE username = ?', username, String)
  }

  /** The name pinned for a peer id (kept as it was pinned, valid then: branded as it is read). */
  usernameForPeer (peerId: string): Username | undefined {
    return this.#pinLookup(this.#usernameOf, 'SELECT username AS answer FROM pins WHERE peer_id = ?', peerId, toUsername)
  }

  /** One side of the pins, answered from `cache` when it was asked before (see #peerIdOf). */
  #pinLookup<T extends string> (cache: Map<string, T | null>, sql: string, key: string, brand: (raw: string) => T): T | undefined {
    let answer = cache.get(key)
    if (answer === undefined) {
      const row = this.#statements.get(sql).get(key) as { answer: string } | undefined
      answer = row === undefined ? null : brand(row.answer)
      if (cache.size >= PINS_CACHED) cache.clear()
      cache.set(key, answer)
    }
    return answer ?? undefined
  }

  /** Accept a changed identity after the user verified it (VERIFY … then TRUST). */
  repin (username: string, peerId: string): void {
    this.#forgetPins()
    transaction(this.#db, () => {
      this.#statements.get('DELETE FROM pins WHERE username = ? OR peer_id = ?').run(username, peerId)
      this.#statements.get('INSERT INTO pins (username, peer_id, first_seen) VALUES (?, ?, ?)').run(username, peerId, Date.now())
    })
  }

  saveGroupKey (group: string, epoch: number, wrapped: Uint8Array): void {
    this.#statements.get('INSERT OR REPLACE INTO group_keys (grp, epoch, wrapped) VALUES (?, ?, ?)').run(group, epoch, wrapped)
  }

  groupKey (group: string, epoch: number): Uint8Array | undefined {
    const row = this.#statements.get('SELECT wrapped FROM group_keys WHERE grp = ? AND epoch = ?').get(group, epoch) as { wrapped: Uint8Array } | undefined
    return row === undefined ? undefined : new Uint8Array(row.wrapped)
  }

  forgetGroup (group: string): void {
    transaction(this.#db, () => {
      this.#statements.get('DELETE FROM group_keys WHERE grp = ?').run(group)
      this.#statements.get('DELETE FROM group_info WHERE grp = ?').run(group)
      // No roll call comes for a group we left: what they were sent to stands.
      const unconfirmed = this.#statements.get('SELECT id FROM unconfirmed_sends WHERE grp = ?').all(group) as Array<{ id: string }>
      this.confirmSends(group, unconfirmed.map(r => r.id))
    })
  }

  /** Keep a group's last member list and epoch (JSON, peer/groups/keyring.ts). Not sealed: who
   * is in which group is metadata, like the pins. */
  rememberGroupInfo (group: string, info: string): void {
    this.#statements.get('INSERT OR REPLACE INTO group_info (grp, info) VALUES (?, ?)').run(group, info)
  }

  /** The groups whose members and epoch are kept (rememberGroupInfo). */
  groupsRemembered (): string[] {
    return (this.#statements.get('SELECT grp FROM group_info').all() as Array<{ grp: string }>).map(row => row.grp)
  }

  lastGroupInfo (group: string): string | undefined {
    const row = this.#statements.get('SELECT info FROM group_info WHERE grp = ?').get(group) as { info: string } | undefined
    return row?.info
  }

  close (): void {
    this.#commits.commitNow()
    if (this.#db.isOpen) {
      this.#db.close()
      this.shown.close()
    }
  }

  #forgetPins (): void {
    this.#peerIdOf.clear()
    this.#usernameOf.clear()
  }

  /** A sealed column of a row as read: `sealing` is the row's format. */
  #open (context: string, sealed: unknown, sealing: unknown): string {
    return this.#sealer.open(context, new Uint8Array(sealed as Uint8Array), Number(sealing))
  }

  /** `open` false: the row without its sealed values (body '', path null). */
  #toMessage (row: unknown, open = true): MessageRecord {
    const r = row as Record<string, string | number | null>
    const context = `msg:${String(r.id)}:${String(r.direction)}:${String(r.peer)}`
    return {
      id: toMessageId(String(r.id)),
      direction: r.direction as Direction,
      peer: toUsername(String(r.peer)),
      group: r.grp === null ? null : toGroupName(String(r.grp)),
      kind: r.kind as MessageKind,
      body: open ? this.#open(`${context}:body`, r.body, r.sealing) : '',
      path: !open || r.path === null ? null : this.#open(`${context}:path`, r.path, r.sealing),
      status: r.status as MessageStatus,
      at: Number(r.at),
      ...(r.sent_at === null ? {} : { sentAt: Number(r.sent_at) })
    }
  }

  #toOutboxItem (row: unknown): OutboxItem {
    const r = row as Record<string, string | number | null>
    const context = `outbox:${String(r.id)}:${String(r.recipient)}`
    return {
      id: toMessageId(String(r.id)),
      recipient: toUsername(String(r.recipient)),
      group: r.grp === null ? null : toGroupName(String(r.grp)),
      kind: r.kind as OutboxKind,
      body: this.#open(context, r.body, r.sealing),
      ...(r.sha256 === null ? {} : { sha256: this.#open(`${context}:sha256`, r.sha256, r.sealing) }),
      created: Number(r.created),
      attempts: Number(r.attempts),
      seq: Number(r.seq)
    }
  }
}
