/**
 * Group commit (issue 11): writes asked for in the same turn of the event loop are committed
 * together, in one transaction and so one fsync (WAL, synchronous=FULL kept). A burst of
 * arrivals is stored with one sync before its one ACK goes back, and a burst of typed SENDs
 * costs one sync, not one each. Every write runs in its own savepoint, so one that fails is
 * rolled back alone and fails only its own caller.
 */
import type { DatabaseSync } from 'node:sqlite'
import { ErrorCode, ErrorMark, ParleyError } from '../../common/errors.ts'
import { statementsOf, transaction } from '../../common/sqlite.ts'

/** Writes per transaction. A burst larger than this (2,000 pasted SENDs, each sealing two
 * rows) is committed in slices, one per turn of the event loop, so the first messages are
 * already on the wire while the rest are still being sealed and stored: one 2,000-write commit
 * held the event loop for ~0.5 s before anything was sent. */
const MAX_BATCH = 256

interface Pending {
  work: () => unknown
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

export class GroupCommit {
  readonly #db: DatabaseSync
  /** Throws if what is committed could no longer be kept (PeerStore: its file was removed). */
  readonly #beforeCommit: () => void
  #pending: Pending[] = []
  #scheduled = false
  #committing = false

  constructor (db: DatabaseSync, beforeCommit: () => void = () => {}) {
    this.#db = db
    this.#beforeCommit = beforeCommit
  }

  /** Run `work` (synchronous store writes) in the next group commit; resolves once it is durable. */
  async run<T> (work: () => T): Promise<T> {
    return await new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, resolve: resolve as (value: unknown) => void, reject })
      this.#schedule()
    })
  }

  #schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    // setImmediate, not a microtask: it runs after the I/O callbacks of this turn, so every
    // frame that one socket read delivered joins the same commit.
    setImmediate(() => {
      this.#scheduled = false
      this.#commitSome(MAX_BATCH)
      if (this.#pending.length > 0) this.#schedule()
    })
  }

  /** Before a read: commit what waits now, so a read sees every write asked for before it (a
   * HISTORY right after a SEND shows it). No-op inside a commit or with nothing waiting. */
  settle (): void {
    if (!this.#committing) this.commitNow()
  }

  /** Commit everything that waits, now (also used when the store closes). */
  commitNow (): void {
    while (this.#pending.length > 0) this.#commitSome(this.#pending.length)
  }

  #commitSome (limit: number): void {
    const batch = this.#pending.splice(0, limit)
    if (batch.length === 0) return
    if (!this.#db.isOpen) {
      for (const entry of batch) entry.reject(new ParleyError(ErrorCode.Internal, 'the local store is closed'))
      return
    }
    this.#committing = true
    try {
      this.#commit(batch)
    } finally {
      this.#committing = false
    }
  }

  #commit (batch: Pending[]): void {
    const outcomes: Array<{ ok: true, value: unknown } | { ok: false, error: unknown }> = []
    try {
      this.#beforeCommit()
      const statements = statementsOf(this.#db)
      transaction(this.#db, () => {
        for (const entry of batch) {
          statements.get('SAVEPOINT one_write').run()
          try {
            outcomes.push({ ok: true, value: entry.work() })
            statements.get('RELEASE one_write').run()
          } catch (error) {
            // A full disk may have ended the whole transaction (SQLite rolls back by itself):
            // every write in it failed, and each caller is told so.
            if (isDiskFull(error)) throw error
            statements.get('ROLLBACK TO one_write').run()
            statements.get('RELEASE one_write').run()
            outcomes.push({ ok: false, error })
          }
        }
      })
    } catch (err) {
      const error = commitError(err)
      for (const entry of batch) entry.reject(error)
      return
    }
    batch.forEach((entry, i) => {
      const outcome = outcomes[i]
      if (outcome?.ok === true) entry.resolve(outcome.value)
      else entry.reject(outcome?.error)
    })
  }
}

/** SQLite's primary result codes (an extended code carries one in its low byte): the disk
 * has no room left (SQLITE_FULL); the file is damaged, or not a database (SQLITE_CORRUPT,
 * SQLITE_NOTADB). */
const SQLITE_FULL = 13
const SQLITE_DAMAGED = new Set([11, 26])

function sqliteCode (err: unknown): number | undefined {
  return err instanceof Error && 'errcode' in err && typeof err.errcode === 'number' ? err.errcode & 0xff : undefined
}

function isDiskFull (err: unknown): boolean {
  return sqliteCode(err) === SQLITE_FULL
}

/** Commits refused because the store's file is damaged. */
const damaged = new ErrorMark()

/** A commit that failed because the store's file is damaged: nothing can be kept until it is
 * replaced, whoever sends (inbox.ts says so once a minute, with what to do). */
export function storeDamaged (err: unknown): boolean {
  return damaged.has(err)
}

/** A commit's failure as a sender is told of it and the person warned: a full disk said as one,
 * and passing (until 2026-12-06 every refusal read "the local store could not commit", 30 of
 * them in 2 s: round 10). */
function commitError (err: unknown): ParleyError {
  if (err instanceof ParleyError) return err
  if (isDiskFull(err)) return new ParleyError(ErrorCode.NoSpace, 'no space left on the disk for the store', { cause: err })
  // (Said without the file's path: a sender is told this too.)
  if (SQLITE_DAMAGED.has(sqliteCode(err) ?? -1)) return damaged.add(new ParleyError(ErrorCode.Internal, `the local store is damaged (${(err as Error).message})`, { cause: err }))
  return new ParleyError(ErrorCode.Internal, 'the local store could not commit', { cause: err })
}
