/**
 * Group commit (issue 11): writes asked for in the same turn of the event loop are committed
 * together, in one transaction and so one fsync (WAL, synchronous=FULL kept). A burst of
 * arrivals is stored with one sync before its one ACK goes back, and a burst of typed SENDs
 * costs one sync, not one each. Every write runs in its own savepoint, so one that fails is
 * rolled back alone and fails only its own caller.
 */
import type { DatabaseSync } from 'node:sqlite'
import { ErrorCode, ParleyError } from '../../common/errors.ts'

interface Pending {
  work: () => unknown
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

export class GroupCommit {
  readonly #db: DatabaseSync
  #pending: Pending[] = []
  #scheduled = false

  constructor (db: DatabaseSync) {
    this.#db = db
  }

  /** Run `work` (synchronous store writes) in the next group commit; resolves once it is durable. */
  async run<T> (work: () => T): Promise<T> {
    return await new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, resolve: resolve as (value: unknown) => void, reject })
      if (this.#scheduled) return
      this.#scheduled = true
      // setImmediate, not a microtask: it runs after the I/O callbacks of this turn, so every
      // frame that one socket read delivered joins the same commit.
      setImmediate(() => { this.commitNow() })
    })
  }

  /** Commit what waits now (also used when the store closes). */
  commitNow (): void {
    this.#scheduled = false
    const batch = this.#pending
    this.#pending = []
    if (batch.length === 0) return
    if (!this.#db.isOpen) {
      for (const entry of batch) entry.reject(new ParleyError(ErrorCode.Internal, 'the local store is closed'))
      return
    }
    const outcomes: Array<{ ok: true, value: unknown } | { ok: false, error: unknown }> = []
    try {
      this.#db.exec('BEGIN IMMEDIATE')
      for (const entry of batch) {
        this.#db.exec('SAVEPOINT one_write')
        try {
          outcomes.push({ ok: true, value: entry.work() })
          this.#db.exec('RELEASE one_write')
        } catch (error) {
          this.#db.exec('ROLLBACK TO one_write')
          this.#db.exec('RELEASE one_write')
          outcomes.push({ ok: false, error })
        }
      }
      this.#db.exec('COMMIT')
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK')
      const error = new ParleyError(ErrorCode.Internal, 'the local store could not commit', { cause: err })
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
