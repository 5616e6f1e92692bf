/**
 * Our name card (common/crypto/name-card.ts), kept fresh for the session's life: asked of the
 * rendezvous at sign-in and again at half its lifetime; shown in our hellos only while it has
 * more than NAME_CARD_SHOWN_UNTIL_MS left (by our clock, from when it arrived), so a receiver
 * whose clock runs a little ahead still takes it. Without a fresh card our hellos carry none and
 * receivers ask the rendezvous who we are (`whois`), as before cards.
 */
import { NAME_CARD_TTL_MS } from '../common/crypto/name-card.ts'
import type { RendezvousClient } from './rendezvous-client.ts'
import { logger } from './log.ts'

const log = logger('parley:name-card')

/** A card is no longer shown in its last minutes. */
const NAME_CARD_SHOWN_UNTIL_MS = 5 * 60_000
/** After a failed ask (the rendezvous busy or away), the next one. */
const RETRY_MS = 60_000

export class NameCardHolder {
  readonly #rendezvous: Pick<RendezvousClient, 'card'>
  readonly #now: () => number
  #card: { bytes: Uint8Array, showUntil: number } | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor (rendezvous: Pick<RendezvousClient, 'card'>, now: () => number = Date.now) {
    this.#rendezvous = rendezvous
    this.#now = now
  }

  /** The card to show now, if we hold one fresh enough. */
  current (): Uint8Array | undefined {
    const card = this.#card
    return card !== undefined && this.#now() < card.showUntil ? card.bytes : undefined
  }

  /** Ask for a new card now (a sign-in, a reconnect), and again at half its life. A failure
   * keeps the card we hold and asks again in a minute; it is never thrown: a card only saves
   * receivers a question. */
  async renew (): Promise<void> {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    let next = RETRY_MS
    try {
      const asked = this.#now()
      const bytes = await this.#rendezvous.card()
      this.#card = { bytes, showUntil: asked + NAME_CARD_TTL_MS - NAME_CARD_SHOWN_UNTIL_MS }
      next = NAME_CARD_TTL_MS / 2
    } catch (err) {
      log.warn('could not get a name card from the rendezvous; peers will ask it who we are', err)
    }
    if (this.#stopped) return
    this.#timer = setTimeout(() => { void this.renew() }, next)
    this.#timer.unref()
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }
}
