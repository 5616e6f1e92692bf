/**
 * A group's talk that waited for us is shown in the order it was sent, not in the order its
 * senders' outboxes delivered it. A member back after an absence gets each sender's queued
 * messages from that sender's outbox, one outbox after another, within some milliseconds: the
 * screen showed `2-bob 5-bob 8-bob 1-alice 4-alice 7-alice 3-erin 6-erin` (a tester's finding,
 * round 6; HISTORY already sorted them by their sent time).
 *
 * So a group text that waited (it arrives WAITED_MS or more after its sender says it sent it) is
 * held a moment, with every text of that group that comes after it, until the group has been
 * quiet for SETTLE_MS (at most MOST_HELD_MS after the first was held); then they are shown
 * together, in the order they were sent. Each sender's own texts keep the order they came in,
 * which is the order that sender sent them (peer/arrival-order.ts): the texts are merged sender
 * by sender, by sent time, not sorted, so a sender's clock that stepped back cannot swap two of
 * its own messages. A text on time, in a group with nothing held, is shown at once: live talk
 * pays nothing. Direct conversations have one sender, whose order they already have. A group
 * file joins a catch-up under way, in its sent order, but starts none: its arrival is its last
 * byte, long after it was sent, however live.
 *
 * A held text is stored and acknowledged already; only its showing waits. The caller moves the
 * store's shown mark past it when it is shown, so a text held when the process is killed is told
 * of at the next sign-in (store/shown-mark.ts), and `flush` shows what is held at a sign-out.
 */
import { logger } from './log.ts'

const log = logger('parley:inbox')

/** A text this late waited in its sender's outbox (or on a slow path): it may be part of a catch-up. */
export const WAITED_MS = 2_000
/** The quiet after which a group's held texts are shown: catch-ups from several senders arrive
 * within tens of milliseconds of one another on one machine, within a dial's time on a network. */
export const SETTLE_MS = 300
/** The longest a text is held, however busy its group. */
export const MOST_HELD_MS = 1_500

interface HeldText {
  from: string
  sentAt: number
  show: () => void
  /** A file: it joins a catch-up under way, in its sent order, but starts none (it came in
   * full only after its transfer, however live it is), and it is ordered apart from its
   * sender's texts, which do not wait behind its files (round 44: a photo sent between two
   * texts was shown before both). */
  file?: boolean
}

interface HeldGroup {
  texts: HeldText[]
  /** When the first was held. */
  since: number
  timer: ReturnType<typeof setTimeout>
}

export class CatchUpOrder {
  readonly #held = new Map<string, HeldGroup>()
  /** Flushed at a sign-out: from then on nothing is held (the store closes behind it). */
  #flushed = false

  /** Show a text of `group` (`show`) now, or once its group's catch-up has settled. */
  add (group: string, text: HeldText & { at: number }): void {
    const held = this.#held.get(group)
    if (this.#flushed || (held === undefined && (text.file === true || text.at - text.sentAt < WAITED_MS))) {
      text.show()
      return
    }
    const now = Date.now()
    const since = held?.since ?? now
    if (held !== undefined) clearTimeout(held.timer)
    const texts = held?.texts ?? []
    texts.push(text)
    const timer = setTimeout(() => { this.#show(group) }, Math.max(0, Math.min(SETTLE_MS, since + MOST_HELD_MS - now)))
    // Its own timer must not keep alive a process that is otherwise done: a sign-out flushes.
    timer.unref()
    this.#held.set(group, { texts, since, timer })
  }

  /** Show everything held now, and hold nothing from then on (a sign-out: nothing is left
   * unshown behind it). */
  flush (): void {
    this.#flushed = true
    for (const group of [...this.#held.keys()]) this.#show(group)
  }

  #show (group: string): void {
    const held = this.#held.get(group)
    if (held === undefined) return
    clearTimeout(held.timer)
    this.#held.delete(group)
    for (const text of inSentOrder(held.texts)) {
      try {
        text.show()
      } catch (err) {
        // From a timer, nobody else would catch it; the next text is still shown.
        log.error('a held text could not be shown', err)
      }
    }
  }
}

/** Each sender's texts in the order they came (and its files, apart), merged by sent time (the
 * earliest head first; a tie goes to the one that came first). */
export function inSentOrder<T extends { from: string, sentAt: number, file?: boolean }> (texts: T[]): T[] {
  const queues = new Map<string, Array<{ text: T, came: number }>>()
  texts.forEach((text, came) => {
    const lane = text.file === true ? `${text.from}\0file` : text.from
    const queue = queues.get(lane) ?? []
    queue.push({ text, came })
    queues.set(lane, queue)
  })
  const merged: T[] = []
  while (merged.length < texts.length) {
    let next: Array<{ text: T, came: number }> | undefined
    for (const queue of queues.values()) {
      const head = queue[0]
      const best = next?.[0]
      if (head !== undefined && (best === undefined || head.text.sentAt < best.text.sentAt || (head.text.sentAt === best.text.sentAt && head.came < best.came))) next = queue
    }
    const taken = next?.shift()
    if (taken === undefined) break
    merged.push(taken.text)
  }
  return merged
}
