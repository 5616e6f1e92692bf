/**
 * One process per data folder. Two peers (or two rendezvous servers) started on the same --data
 * would share one outbox and one SQLite store: both deliver the same queued messages, and each
 * sees the other's writes under its feet. The second one is refused at startup, before it touches
 * anything else in the folder.
 *
 * The lock is SQLite's own: `<data>/lock`, an empty database held in exclusive locking mode for
 * the life of the process. Underneath it is an OS file lock (fcntl on Unix, LockFileEx on
 * Windows), which the OS drops when the process ends however it ends: a peer killed with kill -9
 * or a power cut leaves no stale lock to clear, and a pid reused by another program never blocks a
 * start (both are the trouble with a pid file). A second process is refused at once (no busy
 * wait), and so is a second lock in the same process. The holder's pid goes to `<data>/lock.pid`,
 * only for the message a refused start prints.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { ErrorCode, ParleyError } from './errors.ts'
import { createOwnerOnly } from './sqlite.ts'

const LOCK_FILE = 'lock'
const PID_FILE = 'lock.pid'

/** SQLite's "database is locked" (SQLITE_BUSY): another connection holds the lock. */
const SQLITE_BUSY = 5

export interface DataLock {
  /** Let the folder go (a process that ends lets it go anyway). */
  release: () => void
}

/** Locks held: kept referenced here, since a connection that is garbage-collected is closed, and
 * its lock with it. */
const held = new Set<DatabaseSync>()

/**
 * Take `dir` for this process, creating it (0700) if missing. ERR_USAGE if another process (or
 * another lock here) holds it, naming its pid when known; ERR_FILE if the lock cannot be made.
 * `owner` names the program in the message: "in use by another peer".
 */
export function lockDataFolder (dir: string, owner: string): DataLock {
  const file = join(dir, LOCK_FILE)
  let db: DatabaseSync
  try {
    createOwnerOnly(file)
    db = new DatabaseSync(file, { timeout: 0 })
  } catch (err) {
    throw cannotLock(dir, err)
  }
  try {
    // EXCLUSIVE locking mode keeps the lock that the first write transaction takes until the
    // connection closes. Nothing is ever written, so the journal needs no file beside it.
    db.exec('PRAGMA journal_mode = MEMORY')
    db.exec('PRAGMA locking_mode = EXCLUSIVE')
    db.exec('BEGIN EXCLUSIVE')
    db.exec('COMMIT')
  } catch (err) {
    db.close()
    if ((err as { errcode?: unknown }).errcode === SQLITE_BUSY) {
      const pid = holderPid(dir)
      throw new ParleyError(ErrorCode.Usage,
        `the data folder ${dir} is in use by another ${owner}${pid === undefined ? '' : ` (pid ${pid})`}: stop it or use --data DIR`)
    }
    throw cannotLock(dir, err)
  }
  held.add(db)
  // Only a hint for the message above: the lock is what counts, so failing to write it is no failure.
  try {
    writeFileSync(join(dir, PID_FILE), `${process.pid}\n`, { mode: 0o600 })
  } catch {}
  return {
    release: () => {
      if (!held.delete(db)) return
      db.close()
    }
  }
}

function holderPid (dir: string): number | undefined {
  try {
    const text = readFileSync(join(dir, PID_FILE), 'utf8').trim()
    return /^[0-9]{1,10}$/.test(text) ? Number(text) : undefined
  } catch {
    return undefined
  }
}

function cannotLock (dir: string, err: unknown): ParleyError {
  return new ParleyError(ErrorCode.File, `cannot lock the data folder ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}
