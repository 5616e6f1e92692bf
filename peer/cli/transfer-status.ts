/**
 * The file transfers in progress as one short status the prompt carries:
 * `↑ clip.mp4 40% → alice, carol  ↓ song.mp3 7% ← bob`, and a file being read for its hash
 * before SENDFILE takes it: `reading film.mkv 35%`.
 *
 * One status for all transfers, drawn with the prompt, rather than a progress bar each: a bar
 * saves the cursor when it starts and restores it (and clears that line) when it ends, so the
 * lines printed meanwhile — a message that arrived during the transfer, the other member's
 * "delivered" of a group file — were wiped off the screen.
 */
import type { PeerEvent } from '../events.ts'
import { cutToWidth, displayWidth } from './format.ts'

type Progress = Extract<PeerEvent, { event: 'progress' }>

/** A live transfer reports every chunk it moves, and one with no chunk for 15 s is cut (the idle
 * watch, files/progress.ts). Every end names its transfer (delivered, queued, file, file-cut), so
 * this is the safety net: one silent for this long has ended unsaid and leaves the status. */
export const STALE_MS = 20_000

interface Transfer {
  direction: Progress['direction']
  name: string
  /** Bytes done and in all, by the peer at the other end (a group file has several). */
  peers: Map<string, { bytes: number, total: number }>
  at: number
}

/** A name cut shorter than this says too little: an ellipsis stands for it instead. */
const MIN_NAME_CHARS = 4

export class TransferStatus {
  readonly #transfers = new Map<string, Transfer>()

  get active (): boolean {
    return this.#transfers.size > 0
  }

  /** Take a progress event; true when the status reads differently now. */
  update (event: Progress, now = Date.now()): boolean {
    const key = `${event.direction}/${event.id}`
    if (event.bytes >= event.total) return this.#end(key, event.peer)
    const before = this.#describe(key)
    let transfer = this.#transfers.get(key)
    if (transfer === undefined) {
      transfer = { direction: event.direction, name: event.name, peers: new Map(), at: now }
      this.#transfers.set(key, transfer)
    }
    transfer.peers.set(event.peer, { bytes: event.bytes, total: event.total })
    transfer.at = now
    return before !== this.#describe(key)
  }

  /** The transfer of message `id` to or from `peer` is over (delivered, queued for later, or
   * received): true when that changed the status. */
  end (direction: Progress['direction'], id: string, peer: string): boolean {
    return this.#end(`${direction}/${id}`, peer)
  }

  /** Drop transfers silent for STALE_MS; true when any was dropped. */
  expire (now = Date.now()): boolean {
    let dropped = false
    for (const [key, transfer] of this.#transfers) {
      if (now - transfer.at < STALE_MS) continue
      this.#transfers.delete(key)
      dropped = true
    }
    return dropped
  }

  clear (): void {
    this.#transfers.clear()
  }

  /** A command failed: a file it was reading (one command runs at a time) is not going out. */
  endReading (): void {
    for (const [key, transfer] of this.#transfers) {
      if (transfer.direction === 'read') this.#transfers.delete(key)
    }
  }

  /** The status in at most `maxLength` characters, or undefined when idle. What does not fit is
   * counted, not cut off mid-word: `↑ clip.mp4 40% → alice  +2 more` (until 2026-12-06 a third
   * transfer read `↓ song.mp3 7% ← b…`). A first transfer too long on its own has its name cut
   * ("…"), so its percentage and peer stay (until 2026-12-06 they were what went); with too
   * little room even for that, an ellipsis stands for the whole name (until 2026-12-06 the part
   * was cut at its end, and `↑ big100.bin 3…` read as 3 %: a tester's finding). */
  text (maxLength: number): string | undefined {
    const keys = [...this.#transfers.keys()]
    const parts = keys.map(key => this.#describe(key))
    if (parts.length === 0) return undefined
    for (let shown = parts.length; shown > 0; shown--) {
      const more = parts.length - shown
      const text = parts.slice(0, shown).join('  ') + (more === 0 ? '' : `  +${more} more`)
      if (displayWidth(text) <= maxLength) return text
    }
    const first = keys[0] ?? ''
    // The count of the others gives way before the first one's percentage and peer: with little
    // room it took its 9 columns first, and `↓ … 7% …  +1 more` said neither whose file nor, a
    // little narrower, how far (until 2026-12-07: round 30). Shorter, it still counts them; with
    // no room even for that, the first transfer shows alone until it ends.
    const others = parts.length - 1
    const essentials = displayWidth(this.#describe(first, '…', true))
    const more = others === 0 ? '' : [`  +${others} more`, ` +${others} more`].find(text => essentials + displayWidth(text) <= maxLength) ?? ''
    const room = maxLength - displayWidth(more)
    // Its peers counted after the first (`→ carol +1`) before its name is cut: a name cut to "…"
    // beside `carol, da…` said neither (until 2026-12-06: round 7).
    const counted = this.#describe(first, undefined, true)
    if (displayWidth(counted) <= room) return counted + more
    const nameRoom = room - displayWidth(this.#describe(first, '', true))
    const shortened = this.#describe(first, nameRoom >= MIN_NAME_CHARS ? cutToWidth(this.#transfers.get(first)?.name ?? '', nameRoom) : '…', true)
    if (displayWidth(shortened) <= room) return shortened + more
    // Too narrow even for "…" in the name's place: the name goes, and then the peer is cut, never
    // the percentage (until 2026-12-07 the peer went first: `↓ … 30% ←…` at 30 columns: round 31).
    return cutToWidth(this.#describe(first, null, true), room) + more
  }

  #end (key: string, peer: string): boolean {
    const transfer = this.#transfers.get(key)
    if (transfer?.peers.delete(peer) !== true) return false
    if (transfer.peers.size === 0) this.#transfers.delete(key)
    return true
  }

  /** One transfer's part of the status; `name` in place of its own (shortened) if given, none
   * if null; its peers as the first and a count of the others if `countPeers`. */
  #describe (key: string, name?: string | null, countPeers = false): string {
    const transfer = this.#transfers.get(key)
    if (transfer === undefined) return ''
    let bytes = 0
    let total = 0
    for (const peer of transfer.peers.values()) {
      bytes += peer.bytes
      total += peer.total
    }
    const percent = total === 0 ? 100 : Math.floor(100 * bytes / total)
    const named = name === null ? '' : ` ${name ?? transfer.name}`
    if (transfer.direction === 'read') return `reading${named} ${percent}%`
    const [arrow, towards] = transfer.direction === 'send' ? ['↑', '→'] : ['↓', '←']
    // In name order, not the order their first progress came in (round 10).
    const peers = [...transfer.peers.keys()].sort()
    const toWhom = countPeers && peers.length > 1 ? `${peers[0] ?? ''} +${peers.length - 1}` : peers.join(', ')
    return `${arrow}${named} ${percent}% ${towards} ${toWhom}`
  }
}
