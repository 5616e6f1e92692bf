/**
 * The one way both programs open SQLite (DESIGN §7, issue 15 item 4): WAL with
 * synchronous=FULL, so a committed change survives kill -9 and power loss; a busy timeout; an
 * owner-only file; schema migrations keyed on `PRAGMA user_version`, refusing a database a newer
 * version wrote; and the one transaction helper.
 */
import { DatabaseSync } from 'node:sqlite'
import type { StatementSync } from 'node:sqlite'
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { ErrorCode, ParleyError } from './errors.ts'
import { WeakMemo } from './weak-memo.ts'

/** A throwaway database that lives and dies with its connection (unit tests). */
export const IN_MEMORY = ':memory:'

/** How long a write waits for another connection's lock before failing (SQLITE_BUSY). Each
 * program has one connection per file, so this only covers a second process opened on the same
 * data folder by mistake, or a backup tool reading it. */
const BUSY_TIMEOUT_MS = 5_000

export interface OpenOptions {
  /**
   * Schema steps, in order: `migrations[i]` takes user_version i to i + 1 (so the step that makes
   * version 3 is `migrations[2]`). Never edit a released step; append a new one.
   */
  migrations: readonly string[]
  /** Who reads this database, for the error a newer schema gets ("rendezvous server", "peer"). */
  owner: string
}

/**
 * Open `file` (or IN_MEMORY), creating it and its folder if missing, and bring its schema up to
 * date. A file is owner-only (0600) whatever the umask, and so are the WAL and shared-memory
 * files SQLite makes beside it (they take the database file's mode); its folder, if made here,
 * is 0700. ERR_INTERNAL for a database whose schema is newer than `migrations`.
 */
export function openDatabase (file: string, options: OpenOptions): DatabaseSync {
  if (file !== IN_MEMORY) createOwnerOnly(file)
  const db = new DatabaseSync(file)
  try {
    db.exec('PRAGMA journal_mode = WAL')
    // FULL: fsync the WAL on every commit, so an acknowledged change survives power loss too
    // (NORMAL may lose the last commits then).
    db.exec('PRAGMA synchronous = FULL')
    db.exec('PRAGMA foreign_keys = ON')
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
    migrate(db, options.migrations, options.owner)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/** Created with mode 0600 before SQLite opens it, so it is never readable by others, not even
 * for a moment; an existing file is tightened to 0600. Its folder, if made here, is 0700. */
export function createOwnerOnly (file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  closeSync(openSync(file, 'a', 0o600))
  chmodSync(file, 0o600)
}

/**
 * Bring `db` up to `migrations.length`, one transaction per step (a step that fails leaves the
 * database at the version before it); returns the version reached. A database at a higher
 * version than `migrations` knows was written by a newer release: it is refused rather than
 * read and written with a schema this code does not understand.
 */
export function migrate (db: DatabaseSync, migrations: readonly string[], owner: string): number {
  let version = userVersion(db)
  if (version > migrations.length) {
    throw new ParleyError(ErrorCode.Internal,
      `database schema version ${version} is newer than this ${owner} knows (${migrations.length}): ` +
      `upgrade the ${owner}, or use a data folder this version made`)
  }
  for (; version < migrations.length; version++) {
    const step = migrations[version] ?? ''
    transaction(db, () => {
      db.exec(step)
      db.exec(`PRAGMA user_version = ${version + 1}`)
    })
  }
  return version
}

export function userVersion (db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number } | undefined
  return row?.user_version ?? 0
}

/**
 * Run `work` in one transaction: all of its writes or none. IMMEDIATE takes the write lock at
 * BEGIN, so a read-then-write inside (a compare-and-set) cannot be overtaken between the two.
 */
export function transaction<T> (db: DatabaseSync, work: () => T): T {
  const statements = statementsOf(db)
  statements.get('BEGIN IMMEDIATE').run()
  try {
    const result = work()
    statements.get('COMMIT').run()
    return result
  } catch (err) {
    // SQLite may have rolled back by itself (some errors end the transaction).
    if (db.isTransaction) statements.get('ROLLBACK').run()
    throw err
  }
}

/**
 * Prepared statements by SQL text, compiled on first use: compiling one costs more than running
 * it (~15 µs a statement), and each message, look-up or sign-in runs several. Transaction
 * control (BEGIN, COMMIT, savepoints) too: `exec` compiled those again every time, two to four
 * per group commit or pin. One set per database (`statementsOf`).
 */
export class Statements {
  readonly #db: DatabaseSync
  readonly #bySql = new Map<string, StatementSync>()

  constructor (db: DatabaseSync) {
    this.#db = db
  }

  get (sql: string): StatementSync {
    let statement = this.#bySql.get(sql)
    if (statement === undefined) {
      statement = this.#db.prepare(sql)
      this.#bySql.set(sql, statement)
    }
    return statement
  }
}

const perDatabase = new WeakMemo<DatabaseSync, Statements>(db => new Statements(db))

/** The prepared statements of `db`, shared by everything that uses it. */
export function statementsOf (db: DatabaseSync): Statements {
  return perDatabase.get(db)
}
