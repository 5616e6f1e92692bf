/**
 * The disk budget of received files (issue 12 item 6): a ledger of every transfer in progress in
 * this process, checked against the file system's free space before an offer is accepted.
 *
 * A live transfer holds a reservation of the bytes it still has to write (its remaining size,
 * less what it has written since: those bytes already show in statfs). A new transfer of R bytes
 * is accepted only if
 *
 *   R <= free space (statfs) - DISK_MARGIN_BYTES - what the other live transfers on that file
 *        system still reserve
 *
 * and, per sender (the Noise-authenticated username, per downloads folder):
 *   - its live transfers and kept prefixes together stay within MAX_PARTIALS_PER_SENDER: a
 *     transfer beyond that many live ones is refused, kept prefixes beyond it are dropped, oldest
 *     first (so concurrent transfers no longer bypass the cap on kept prefixes);
 *   - the full size of its live transfers plus the bytes of its kept prefixes stay within
 *     SENDER_QUOTA_BYTES: kept prefixes go first (oldest first), then the transfer is refused.
 *
 * The check and the reservation are one step (serialised), so offers that arrive together cannot
 * all pass the same check. A reservation is released when its transfer ends in any way (done,
 * failed, cut, aborted): receive.ts releases it in a `finally`.
 *
 * Refusals are ParleyErrors: ERR_NO_SPACE when the disk cannot take the file now (the sender
 * tries again later: space is freed, transfers end), ERR_TOO_LARGE when it never could (larger
 * than the file system less its margin), ERR_RATE_LIMITED when the sender's own transfers in
 * progress are in the way (it may retry once they end).
 */
import { stat, statfs } from 'node:fs/promises'
import { formatBytes } from '../../common/format-bytes.ts'
import { ErrorCode, ParleyError } from '../../common/errors.ts'
import { MAX_PARTIALS_PER_SENDER, SENDER_QUOTA_BYTES, diskMarginFor } from './constants.ts'
import { fileError } from './disk.ts'

/** A kept prefix of the same sender's, other than the transfer asking (partial.ts). */
export interface KeptPrefix {
  key: string
  bytes: number
  mtimeMs: number
}

/** What a sender keeps, and how to drop some of it (PartialTransfer supplies both). */
export interface KeptPrefixes {
  list: () => Promise<KeptPrefix[]>
  drop: (key: string) => Promise<void>
}

export interface ReserveRequest {
  downloadsDir: string
  /** The sender's username; without it only the disk is checked. */
  sender?: string
  /** Transfer key (`<sender>-<id hex>`): another attempt at the same transfer is not "another". */
  key?: string
  /** Bytes still to write. */
  bytes: number
  /** Bytes of this transfer already on disk (a kept prefix being resumed): for the sender's quota. */
  alreadyKept?: number
  kept?: KeptPrefixes
}

export interface Reservation {
  /** Bytes still reserved: falls as the transfer writes. */
  readonly outstanding: number
  /** `n` more bytes were written to disk. */
  consume: (n: number) => void
  /** The transfer ended, whichever way; idempotent. */
  release: () => void
}

/** A file system's room: bytes an unprivileged process may still write, and its whole size. */
export interface DiskSpace {
  free: number
  size: number
}

export interface DiskBudgetOptions {
  /** The room in `dir`'s file system (default: statfs, bavail and blocks × bsize). */
  space?: (dir: string) => Promise<DiskSpace>
  /** Which file system `dir` is on (default: stat's dev): reservations add up per file system. */
  deviceOf?: (dir: string) => Promise<string>
  /** Kept free of received files (default: diskMarginFor the file system's size). */
  marginBytes?: number
  senderQuotaBytes?: number
  maxPerSender?: number
}

interface Entry {
  device: string
  downloadsDir: string
  sender: string | undefined
  key: string | undefined
  /** Full size this transfer holds on disk once done (kept prefix + remaining). */
  total: number
  outstanding: number
}

async function spaceIn (dir: string): Promise<DiskSpace> {
  try {
    const stats = await statfs(dir)
    return { free: stats.bavail * stats.bsize, size: stats.blocks * stats.bsize }
  } catch (err) {
    throw fileError(err, `cannot check the free space in ${dir}`)
  }
}

async function deviceOf (dir: string): Promise<string> {
  try {
    return String((await stat(dir, { bigint: true })).dev)
  } catch (err) {
    throw fileError(err, `cannot look at ${dir}`)
  }
}

export class DiskBudget {
  readonly #entries = new Set<Entry>()
  readonly #space: (dir: string) => Promise<DiskSpace>
  readonly #deviceOf: (dir: string) => Promise<string>
  readonly #margin: number | undefined
  readonly #quota: number
  readonly #maxPerSender: number
  /** Check-and-reserve runs one at a time. */
  #queue: Promise<unknown> = Promise.resolve()

  constructor (options: DiskBudgetOptions = {}) {
    this.#space = options.space ?? spaceIn
    this.#deviceOf = options.deviceOf ?? deviceOf
    this.#margin = options.marginBytes
    this.#quota = options.senderQuotaBytes ?? SENDER_QUOTA_BYTES
    this.#maxPerSender = options.maxPerSender ?? MAX_PARTIALS_PER_SENDER
  }

  /** Bytes the live transfers still reserve (all file systems; tests and diagnostics). */
  get reserved (): number {
    let sum = 0
    for (const entry of this.#entries) sum += entry.outstanding
    return sum
  }

  /** Live transfers (optionally of one sender). */
  live (sender?: string): number {
    let n = 0
    for (const entry of this.#entries) if (sender === undefined || entry.sender === sender) n++
    return n
  }

  /** Reserve `bytes` for a transfer, or throw the refusal (see the top of this file). */
  async reserve (request: ReserveRequest): Promise<Reservation> {
    const run = this.#queue.then(async () => await this.#reserve(request))
    this.#queue = run.catch(() => undefined) // a refusal is this caller's (run); the next goes on
    return await run
  }

  async #reserve (request: ReserveRequest): Promise<Reservation> {
    const { downloadsDir, sender, key, bytes } = request
    const device = await this.#deviceOf(downloadsDir)
    if (sender !== undefined) await this.#checkSender(request)
    const { free, size } = await this.#space(downloadsDir)
    const margin = this.#margin ?? diskMarginFor(size)
    let reserved = 0
    for (const entry of this.#entries) if (entry.device === device && entry.key !== key) reserved += entry.outstanding
    const kept = `${formatBytes(margin)} is kept free for the rest of the system`
    if (bytes > size - margin) {
      throw new ParleyError(ErrorCode.TooLarge, `the file (${formatBytes(bytes)}) is larger than this disk can take: ${formatBytes(size)} in all, and ${kept}`)
    }
    // Said in bytes that exist (until 2026-12-06 "-1043132416 B are free": round 10).
    const usable = Math.max(0, free - margin)
    if (bytes > usable) {
      throw new ParleyError(ErrorCode.NoSpace, `not enough disk space now: the file needs ${formatBytes(bytes)}, ${formatBytes(free)} is free and ${kept}`)
    }
    if (bytes > usable - reserved) {
      throw new ParleyError(ErrorCode.NoSpace, `not enough disk space now: the file needs ${formatBytes(bytes)}, ${formatBytes(usable)} can be used but transfers in progress hold ${formatBytes(reserved)} of it`)
    }
    const entry: Entry = { device, downloadsDir, sender, key, total: bytes + (request.alreadyKept ?? 0), outstanding: bytes }
    this.#entries.add(entry)
    return {
      get outstanding () { return entry.outstanding },
      consume: n => { entry.outstanding = Math.max(0, entry.outstanding - n) },
      release: () => { this.#entries.delete(entry) }
    }
  }

  /** The sender's share: count of live + kept, bytes of live + kept (kept ones go first). */
  async #checkSender (request: ReserveRequest): Promise<void> {
    const { downloadsDir, sender, key, bytes, kept } = request
    let liveCount = 0
    let liveBytes = 0
    for (const entry of this.#entries) {
      if (entry.downloadsDir !== downloadsDir || entry.sender !== sender || entry.key === key) continue
      liveCount++
      liveBytes += entry.total
    }
    if (liveCount + 1 > this.#maxPerSender) {
      throw new ParleyError(ErrorCode.RateLimited, `${liveCount} transfers from ${sender ?? '?'} are already in progress (at most ${this.#maxPerSender} at once)`)
    }
    const own = bytes + (request.alreadyKept ?? 0)
    if (liveBytes + own > this.#quota) {
      throw new ParleyError(ErrorCode.RateLimited, `transfers from ${sender ?? '?'} in progress already hold ${formatBytes(liveBytes)} of their ${formatBytes(this.#quota)} quota; this one needs ${formatBytes(own)}`)
    }
    if (kept === undefined) return
    // Newest first: keep those that fit beside the live transfers and this one; from the first
    // that does not, drop it and every older one.
    const prefixes = (await kept.list()).sort((a, b) => b.mtimeMs - a.mtimeMs)
    let count = liveCount + 1
    let held = liveBytes + own
    let full = false
    for (const prefix of prefixes) {
      full ||= count + 1 > this.#maxPerSender || held + prefix.bytes > this.#quota
      if (full) {
        await kept.drop(prefix.key)
        continue
      }
      count++
      held += prefix.bytes
    }
  }
}

/** The budget of this process (every peer in it shares the disk). */
export const diskBudget = new DiskBudget()
