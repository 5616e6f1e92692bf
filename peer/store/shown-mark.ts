/**
 * Up to where the messages that came in were shown. A message is stored, and its ACK sent,
 * before it is shown (DESIGN §6), so a peer killed in between (kill -9, a crash, a power cut in
 * the fsync) kept a message it never showed; its sender's copy, sent again, is a duplicate and
 * is not shown twice, so the person never saw it (a tester's finding, 2026-12-06). The mark
 * says that every message row up to it that came in was shown; the next sign-in tells of
 * those after it (PeerStore.takeUnshown).
 *
 * The mark is a file beside the store, overwritten in place with one write and no fsync: a
 * process killed keeps what it wrote (the page cache outlives it). After an OS crash it may be
 * behind, and messages that were shown are named again: the safe side.
 */
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs'

/** The mark's file: 19 digits (a row number is at most 2^63 - 1) and a newline, always the
 * same length, so each write replaces the whole of the one before. */
const WIDTH = 20

export class ShownMark {
  /** The mark's file, open for the store's life (undefined: kept in memory only). */
  readonly #fd: number | undefined
  /** The mark the last run left: undefined without one (a store new, or older than the mark). */
  readonly previous: number | undefined
  /** Rows stored and not yet shown, nor given up: the mark stays below the lowest. */
  readonly #pending = new Set<number>()
  /** The highest row stored (or there when the store opened). */
  #highest: number
  #written: number | undefined
  #closed = false
  /** Waiting for every row stored so far to be shown (`settled`). */
  readonly #settling: Array<() => void> = []

  /** `file`: where the mark is kept (undefined: in memory only). `last`: the store's last row. */
  constructor (file: string | undefined, last: number) {
    this.#highest = last
    if (file === undefined) return
    this.#fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600)
    const bytes = Buffer.alloc(WIDTH)
    const text = bytes.toString('latin1', 0, readSync(this.#fd, bytes, 0, WIDTH, 0)).trim()
    // Anything else (an empty file: a crash between its creation and first write) is no mark.
    if (/^\d{1,19}$/.test(text) && Number.isSafeInteger(Number(text))) this.previous = Number(text)
  }

  /** A message that came in is stored as `row` (call inside the write, before it commits). */
  stored (row: number): void {
    this.#pending.add(row)
    this.#highest = Math.max(this.#highest, row)
  }

  /** `row` was shown, or will never be (its commit failed): the mark moves past it. */
  done (row: number): void {
    if (!this.#pending.delete(row)) return
    this.#write()
    if (this.#pending.size === 0) for (const resolve of this.#settling.splice(0)) resolve()
  }

  /** Resolves once every row stored so far was shown or given up (a sign-out waits a moment for
   * the lines still leaving the process, which would be told of again at the next sign-in). */
  async settled (): Promise<void> {
    if (this.#pending.size === 0) return
    await new Promise<void>(resolve => { this.#settling.push(resolve) })
  }

  /** Everything stored so far counts as shown (told of at sign-in): the mark moves past it. */
  caughtUp (): void {
    this.#write()
  }

  close (): void {
    if (this.#fd !== undefined && !this.#closed) closeSync(this.#fd)
    this.#closed = true
  }

  #write (): void {
    // Closed, its descriptor's number may be another file's by now.
    if (this.#closed) return
    let mark = this.#highest
    for (const row of this.#pending) mark = Math.min(mark, row - 1)
    if (mark === this.#written) return
    this.#written = mark
    if (this.#fd !== undefined) writeSync(this.#fd, String(mark).padStart(WIDTH - 1, '0') + '\n', 0)
  }
}
