/**
 * The rendezvous store (DESIGN §7): one node:sqlite file opened through common/sqlite.ts (WAL,
 * synchronous=FULL so a kill -9 loses no committed change, owner-only, schema migrations in code
 * that refuse a newer schema), every change in a transaction. Callers see only the
 * RendezvousStore interface.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { DatabaseSync } from 'node:sqlite'
import { ErrorCode, ParleyError } from '../common/errors.ts'
import { IN_MEMORY, openDatabase, statementsOf, transaction } from '../common/sqlite.ts'
import type { Statements } from '../common/sqlite.ts'
import { MAX_KEYS_RETURNED } from '../common/protocol/rendezvous.ts'
import { DATABASE_FILE } from './constants.ts'
import type { KdfParams } from '../common/crypto/password.ts'

interface UserRecord {
  username: string
  peerId: string
  salt: Uint8Array
  /** The scrypt parameters that go with the salt (accounts from before issue 12: N=2^15). */
  kdf: KdfParams
  verifier: Uint8Array
  /** The account key wrapped under the current wrapKey, once the account's scrypt cost was
   * raised (peer/account.ts): opaque here. */
  dataKey?: Uint8Array
  /** The identity private key wrapped under the user's wrapKey: opaque here. */
  identity: Uint8Array
  addrs: string[]
  created: number
}

export interface GroupRecord {
  name: string
  /** 0 = no key yet; each rotation adds one. */
  epoch: number
  rotationNeeded: boolean
  created: number
}

interface MemberRecord {
  username: string
  peerId: string
  /** A wrapped key for the group's current epoch is stored for this member. */
  hasKey: boolean
  /** When they joined (ms since the epoch, this server's clock). */
  joined: number
}

type RotateResult = { ok: true, epoch: number } | { ok: false, epoch: number }

/** Who made an epoch and their signed commitment to its key (common/crypto/epoch.ts). */
interface EpochRecord {
  epoch: number
  maker: string
  makerPeerId: string
  commitment: Uint8Array
  signature: Uint8Array
  /** When the epoch began (server clock, ms). */
  created: number
}

type EpochProof = Pick<EpochRecord, 'commitment' | 'signature'>

export interface RendezvousStore {
  /** 32 random bytes made on first open: keys the fake salts of unknown usernames. */
  readonly serverSecret: Uint8Array
  getUser (username: string): UserRecord | undefined
  getUserByPeerId (peerId: string): UserRecord | undefined
  /** ERR_EXISTS if the username or the peer id is taken. */
  createUser (user: Omit<UserRecord, 'created'>): void
  setAddrs (username: string, addrs: string[]): void
  /** The ticket of the account's latest sign-in (undefined: none issued yet), and a new one. */
  ticketOf (username: string): Uint8Array | undefined
  setTicket (username: string, ticket: Uint8Array): void
  /** Replace the account's salt, scrypt parameters, verifier and wrapped account key at once. */
  rekey (username: string, change: Pick<UserRecord, 'salt' | 'kdf' | 'verifier'> & { dataKey: Uint8Array }): void
  getGroup (name: string): GroupRecord | undefined
  /** The `limit` largest groups with their member counts, the largest first (then by name). */
  listGroups (limit: number): Array<{ name: string, members: number }>
  /** ERR_EXISTS if it exists; the creator becomes its first member. */
  createGroup (name: string, creator: string): GroupRecord
  /** Creates the group if missing; idempotent for an existing member. */
  joinGroup (name: string, username: string): { group: GroupRecord, created: boolean, joined: boolean }
  /** Removes the member (and their wrapped keys) and flags a rotation; a group left empty is
   * deleted with its keys. */
  leaveGroup (name: string, username: string): { left: boolean, deleted: boolean }
  isMember (group: string, username: string): boolean
  memberCount (group: string): number
  members (group: string): MemberRecord[]
  groupsOf (username: string): GroupRecord[]
  /** Distinct usernames that share at least one group with `username` (not itself). */
  groupmatesOf (username: string): string[]
  /** Compare-and-set: epoch fromEpoch → fromEpoch + 1, clearing rotationNeeded; the winner's
   * wrapped copy of the new key and its signed commitment are stored with it. */
  rotate (group: string, fromEpoch: number, username: string, wrapped: Uint8Array, proof: EpochProof, forced?: boolean, replacesStalled?: boolean): RotateResult
  /** The group's current epoch as its maker made it; undefined at epoch 0 or for an epoch made
   * before epochs were signed (such a group is rotated by its next sender). */
  currentEpoch (group: string): EpochRecord | undefined
  /** When `username` last replaced an epoch of `group` without a reason (ms), if recently. */
  lastForcedRotationBy (group: string, username: string): number | undefined
  /** Whether a member other than its maker stored the key of `group`'s `epoch`. */
  heldByOthers (group: string, epoch: number): boolean
  /** When an epoch `username` made of `group` was last replaced held by nobody else (ms). */
  lastStalledEpochBy (group: string, username: string): number | undefined
  putKey (group: string, username: string, epoch: number, wrapped: Uint8Array): void
  hasKey (group: string, username: string, epoch: number): boolean
  /** The user's wrapped copies for the group, newest epoch first. */
  getKeys (group: string, username: string, limit: number): Array<{ epoch: number, wrapped: Uint8Array }>
  close (): void
}

/**
 * Schema migrations, in order (common/sqlite.ts): MIGRATIONS[i] takes user_version i to i + 1.
 * Never edit a released entry; append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    username TEXT PRIMARY KEY,
    peer_id TEXT NOT NULL UNIQUE,
    salt BLOB NOT NULL,
    verifier BLOB NOT NULL,
    identity BLOB NOT NULL,
    addrs TEXT NOT NULL DEFAULT '[]',
    created INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE groups (
    name TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL DEFAULT 0,
    rotation_needed INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE members (
    group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    joined INTEGER NOT NULL,
    PRIMARY KEY (group_name, username)
  ) STRICT;
  CREATE INDEX members_by_username ON members(username);
  CREATE TABLE wrapped_keys (
    group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    PRIMARY KEY (group_name, username, epoch)
  ) STRICT;
  CREATE TABLE server_secret (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
  ) STRICT;
  `,
  // Each account's scrypt parameters (issue 12 item 4): existing accounts were made with N=2^15;
  // data_key is the account key wrapped under the wrapKey of raised parameters.
  `
  ALTER TABLE users ADD COLUMN kdf_log_n INTEGER NOT NULL DEFAULT 15;
  ALTER TABLE users ADD COLUMN kdf_r INTEGER NOT NULL DEFAULT 8;
  ALTER TABLE users ADD COLUMN kdf_p INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE users ADD COLUMN data_key BLOB;
  `,
  // 3: signed group epochs (issue 12 item 1). The last few epochs of each group are kept, so a
  // member's recent rotations can be counted.
  `
  CREATE TABLE epochs (
    group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    maker TEXT NOT NULL,
    maker_peer_id TEXT NOT NULL,
    commitment BLOB NOT NULL,
    signature BLOB NOT NULL,
    created INTEGER NOT NULL,
    -- 1: started without a reason (to replace an epoch whose key never came); rate-limited.
    forced INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_name, epoch)
  ) STRICT;
  `,
  // 4: when an epoch was replaced with its key held by no member but its maker (round 43: a
  // member who made such epochs again and again, after a leave of their own, froze the group).
  `
  ALTER TABLE epochs ADD COLUMN stalled_at INTEGER;
  `,
  // 5: the account's latest sign-in that a person made (its ticket): a device signing in again
  // by itself must hold it, so that one waking from sleep does not take the account back from
  // the device signed in since (round 46).
  `
  ALTER TABLE users ADD COLUMN ticket BLOB;
  `
]

/** Epoch records kept per group (the newest). */
const EPOCHS_KEPT = 16

/** Open (creating if needed) the store in `dir`; `':memory:'` gives a throwaway store. */
export function openStore (dir: string): RendezvousStore {
  return new SqliteStore(dir === IN_MEMORY ? IN_MEMORY : join(dir, DATABASE_FILE))
}

type Row = Record<string, unknown>

const str = (row: Row, key: string): string => row[key] as string
const num = (row: Row, key: string): number => row[key] as number
const blob = (row: Row, key: string): Uint8Array => row[key] as Uint8Array

function toUser (row: Row): UserRecord {
  return {
    username: str(row, 'username'),
    peerId: str(row, 'peer_id'),
    salt: blob(row, 'salt'),
    kdf: { logN: num(row, 'kdf_log_n'), r: num(row, 'kdf_r'), p: num(row, 'kdf_p') },
    verifier: blob(row, 'verifier'),
    ...(row.data_key === null || row.data_key === undefined ? {} : { dataKey: blob(row, 'data_key') }),
    identity: blob(row, 'identity'),
    addrs: parseAddrs(str(row, 'addrs')),
    created: num(row, 'created')
  }
}

function parseAddrs (json: string): string[] {
  const value: unknown = JSON.parse(json)
  return Array.isArray(value) ? value.filter((a): a is string => typeof a === 'string') : []
}

function toGroup (row: Row): GroupRecord {
  return {
    name: str(row, 'name'),
    epoch: num(row, 'epoch'),
    rotationNeeded: num(row, 'rotation_needed') !== 0,
    created: num(row, 'created')
  }
}

class SqliteStore implements RendezvousStore {
  readonly serverSecret: Uint8Array
  readonly #db: DatabaseSync
  readonly #statements: Statements

  constructor (path: string) {
    // Verifiers and wrapped identities: owner-only (openDatabase), whatever the umask.
    this.#db = openDatabase(path, { migrations: MIGRATIONS, owner: 'rendezvous server' })
    this.#statements = statementsOf(this.#db)
    try {
      this.serverSecret = this.#loadServerSecret()
    } catch (err) {
      this.#db.close()
      throw err
    }
  }

  #loadServerSecret (): Uint8Array {
    return transaction(this.#db, () => {
      const row = this.#statements.get('SELECT value FROM server_secret WHERE key = ?').get('fake-salt') as Row | undefined
      if (row !== undefined) return blob(row, 'value')
      const secret = new Uint8Array(randomBytes(32))
      this.#statements.get('INSERT INTO server_secret (key, value) VALUES (?, ?)').run('fake-salt', secret)
      return secret
    })
  }

  getUser (username: string): UserRecord | undefined {
    const row = this.#statements.get('SELECT * FROM users WHERE username = ?').get(username) as Row | undefined
    return row === undefined ? undefined : toUser(row)
  }

  getUserByPeerId (peerId: string): UserRecord | undefined {
    const row = this.#statements.get('SELECT * FROM users WHERE peer_id = ?').get(peerId) as Row | undefined
    return row === undefined ? undefined : toUser(row)
  }

  createUser (user: Omit<UserRecord, 'created'>): void {
    transaction(this.#db, () => {
      if (this.getUser(user.username) !== undefined) throw new ParleyError(ErrorCode.Exists, 'username already taken')
      if (this.getUserByPeerId(user.peerId) !== undefined) {
        throw new ParleyError(ErrorCode.Exists, 'this peer id already belongs to another account')
      }
      this.#statements.get(`INSERT INTO users (username, peer_id, salt, kdf_log_n, kdf_r, kdf_p, verifier, data_key, identity, addrs, created)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(user.username, user.peerId, user.salt, user.kdf.logN, user.kdf.r, user.kdf.p,
        user.verifier, user.dataKey ?? null, user.identity, JSON.stringify(user.addrs), Date.now())
    })
  }

  setAddrs (username: string, addrs: string[]): void {
    transaction(this.#db, () => {
      this.#statements.get('UPDATE users SET addrs = ? WHERE username = ?').run(JSON.stringify(addrs), username)
    })
  }

  ticketOf (username: string): Uint8Array | undefined {
    const row = this.#statements.get('SELECT ticket FROM users WHERE username = ?').get(username) as { ticket: Uint8Array | null } | undefined
    return row?.ticket === null || row?.ticket === undefined ? undefined : new Uint8Array(row.ticket)
  }

  setTicket (username: string, ticket: Uint8Array): void {
    transaction(this.#db, () => {
      this.#statements.get('UPDATE users SET ticket = ? WHERE username = ?').run(ticket, username)
    })
  }

  rekey (username: string, change: Pick<UserRecord, 'salt' | 'kdf' | 'verifier'> & { dataKey: Uint8Array }): void {
    transaction(this.#db, () => {
      const result = this.#statements.get(`UPDATE users SET salt = ?, kdf_log_n = ?, kdf_r = ?, kdf_p = ?, verifier = ?, data_key = ?
        WHERE username = ?`).run(change.salt, change.kdf.logN, change.kdf.r, change.kdf.p, change.verifier, change.dataKey, username)
      if (result.changes === 0) throw new ParleyError(ErrorCode.NotFound, `no user "${username}"`)
    })
  }

  getGroup (name: string): GroupRecord | undefined {
    const row = this.#statements.get('SELECT * FROM groups WHERE name = ?').get(name) as Row | undefined
    return row === undefined ? undefined : toGroup(row)
  }

  listGroups (limit: number): Array<{ name: string, members: number }> {
    const rows = this.#statements.get(`SELECT g.name AS name, COUNT(m.username) AS members FROM groups g
      LEFT JOIN members m ON m.group_name = g.name GROUP BY g.name ORDER BY members DESC, g.name LIMIT ?`).all(limit) as Row[]
    return rows.map(row => ({ name: str(row, 'name'), members: num(row, 'members') }))
  }

  createGroup (name: string, creator: string): GroupRecord {
    return transaction(this.#db, () => {
      if (this.getGroup(name) !== undefined) throw new ParleyError(ErrorCode.Exists, `group "${name}" already exists`)
      return this.#insertGroup(name, creator)
    })
  }

  #insertGroup (name: string, creator: string): GroupRecord {
    const now = Date.now()
    this.#statements.get('INSERT INTO groups (name, epoch, rotation_needed, created) VALUES (?, 0, 0, ?)').run(name, now)
    this.#statements.get('INSERT INTO members (group_name, username, joined) VALUES (?, ?, ?)').run(name, creator, now)
    return { name, epoch: 0, rotationNeeded: false, created: now }
  }

  joinGroup (name: string, username: string): { group: GroupRecord, created: boolean, joined: boolean } {
    return transaction(this.#db, () => {
      const existing = this.getGroup(name)
      if (existing === undefined) return { group: this.#insertGroup(name, username), created: true, joined: true }
      const result = this.#statements.get('INSERT OR IGNORE INTO members (group_name, username, joined) VALUES (?, ?, ?)')
        .run(name, username, Date.now())
      return { group: existing, created: false, joined: result.changes > 0 }
    })
  }

  leaveGroup (name: string, username: string): { left: boolean, deleted: boolean } {
    return transaction(this.#db, () => {
      const removed = this.#statements.get('DELETE FROM members WHERE group_name = ? AND username = ?').run(name, username)
      if (removed.changes === 0) return { left: false, deleted: false }
      this.#statements.get('DELETE FROM wrapped_keys WHERE group_name = ? AND username = ?').run(name, username)
      if (this.memberCount(name) === 0) {
        // ON DELETE CASCADE removes every remaining wrapped key of the group.
        this.#statements.get('DELETE FROM groups WHERE name = ?').run(name)
        return { left: true, deleted: true }
      }
      this.#statements.get('UPDATE groups SET rotation_needed = 1 WHERE name = ?').run(name)
      return { left: true, deleted: false }
    })
  }

  isMember (group: string, username: string): boolean {
    return this.#statements.get('SELECT 1 FROM members WHERE group_name = ? AND username = ?').get(group, username) !== undefined
  }

  memberCount (group: string): number {
    const row = this.#statements.get('SELECT COUNT(*) AS n FROM members WHERE group_name = ?').get(group) as Row
    return num(row, 'n')
  }

  members (group: string): MemberRecord[] {
    const rows = this.#statements.get(`SELECT m.username AS username, u.peer_id AS peer_id, m.joined AS joined,
        EXISTS (SELECT 1 FROM wrapped_keys k WHERE k.group_name = m.group_name AND k.username = m.username
                AND k.epoch = g.epoch) AS has_key
      FROM members m JOIN users u ON u.username = m.username JOIN groups g ON g.name = m.group_name
      WHERE m.group_name = ? ORDER BY m.username`).all(group) as Row[]
    return rows.map(row => ({ username: str(row, 'username'), peerId: str(row, 'peer_id'), hasKey: num(row, 'has_key') !== 0, joined: num(row, 'joined') }))
  }

  groupsOf (username: string): GroupRecord[] {
    const rows = this.#statements.get(`SELECT g.* FROM groups g JOIN members m ON m.group_name = g.name
      WHERE m.username = ? ORDER BY g.name`).all(username) as Row[]
    return rows.map(toGroup)
  }

  groupmatesOf (username: string): string[] {
    const rows = this.#statements.get(`SELECT DISTINCT other.username AS username FROM members mine
      JOIN members other ON other.group_name = mine.group_name
      WHERE mine.username = ? AND other.username <> ? ORDER BY other.username`).all(username, username) as Row[]
    return rows.map(row => str(row, 'username'))
  }

  rotate (group: string, fromEpoch: number, username: string, wrapped: Uint8Array, proof: EpochProof, forced = false, replacesStalled = false): RotateResult {
    // One transaction: a new epoch never exists without a member holding its key, nor without
    // its maker's signed commitment, so nobody who looks in between sees a keyless epoch.
    return transaction(this.#db, () => {
      const result = this.#statements.get('UPDATE groups SET epoch = epoch + 1, rotation_needed = 0 WHERE name = ? AND epoch = ?')
        .run(group, fromEpoch)
      const current = this.getGroup(group)?.epoch ?? 0
      if (result.changes === 0) return { ok: false, epoch: current }
      if (replacesStalled) this.#statements.get('UPDATE epochs SET stalled_at = ? WHERE group_name = ? AND epoch = ?').run(Date.now(), group, fromEpoch)
      this.#storeKey(group, username, current, wrapped)
      const peerId = this.getUser(username)?.peerId ?? ''
      this.#statements.get(`INSERT OR REPLACE INTO epochs (group_name, epoch, maker, maker_peer_id, commitment, signature, created, forced)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(group, current, username, peerId, proof.commitment, proof.signature, Date.now(), forced ? 1 : 0)
      this.#statements.get('DELETE FROM epochs WHERE group_name = ? AND epoch <= ?').run(group, current - EPOCHS_KEPT)
      return { ok: true, epoch: current }
    })
  }

  currentEpoch (group: string): EpochRecord | undefined {
    const row = this.#statements.get(`SELECT e.* FROM epochs e JOIN groups g ON g.name = e.group_name AND g.epoch = e.epoch
      WHERE e.group_name = ?`).get(group) as Row | undefined
    if (row === undefined) return undefined
    return {
      epoch: num(row, 'epoch'),
      maker: str(row, 'maker'),
      makerPeerId: str(row, 'maker_peer_id'),
      commitment: blob(row, 'commitment'),
      signature: blob(row, 'signature'),
      created: num(row, 'created')
    }
  }

  lastForcedRotationBy (group: string, username: string): number | undefined {
    const row = this.#statements.get('SELECT MAX(created) AS at FROM epochs WHERE group_name = ? AND maker = ? AND forced = 1').get(group, username) as Row | undefined
    const at = row?.at
    return typeof at === 'number' ? at : undefined
  }

  heldByOthers (group: string, epoch: number): boolean {
    return this.#statements.get(`SELECT 1 FROM wrapped_keys k JOIN epochs e ON e.group_name = k.group_name AND e.epoch = k.epoch
      WHERE k.group_name = ? AND k.epoch = ? AND k.username <> e.maker LIMIT 1`).get(group, epoch) !== undefined
  }

  lastStalledEpochBy (group: string, username: string): number | undefined {
    const row = this.#statements.get('SELECT MAX(stalled_at) AS at FROM epochs WHERE group_name = ? AND maker = ?').get(group, username) as Row | undefined
    const at = row?.at
    return typeof at === 'number' ? at : undefined
  }

  putKey (group: string, username: string, epoch: number, wrapped: Uint8Array): void {
    transaction(this.#db, () => { this.#storeKey(group, username, epoch, wrapped) })
  }

  #storeKey (group: string, username: string, epoch: number, wrapped: Uint8Array): void {
    this.#statements.get(`INSERT INTO wrapped_keys (group_name, username, epoch, wrapped) VALUES (?, ?, ?, ?)
      ON CONFLICT (group_name, username, epoch) DO UPDATE SET wrapped = excluded.wrapped`).run(group, username, epoch, wrapped)
    // Keep only the newest copies: what get-keys can return is all a member ever needs.
    this.#statements.get(`DELETE FROM wrapped_keys WHERE group_name = ? AND username = ? AND epoch NOT IN (
      SELECT epoch FROM wrapped_keys WHERE group_name = ? AND username = ? ORDER BY epoch DESC LIMIT ?)`)
      .run(group, username, group, username, MAX_KEYS_RETURNED)
  }

  hasKey (group: string, username: string, epoch: number): boolean {
    return this.#statements.get('SELECT 1 FROM wrapped_keys WHERE group_name = ? AND username = ? AND epoch = ?')
      .get(group, username, epoch) !== undefined
  }

  getKeys (group: string, username: string, limit: number): Array<{ epoch: number, wrapped: Uint8Array }> {
    const rows = this.#statements.get(`SELECT epoch, wrapped FROM wrapped_keys WHERE group_name = ? AND username = ?
      ORDER BY epoch DESC LIMIT ?`).all(group, username, limit) as Row[]
    return rows.map(row => ({ epoch: num(row, 'epoch'), wrapped: blob(row, 'wrapped') }))
  }

  close (): void {
    if (this.#db.isOpen) this.#db.close()
  }
}
