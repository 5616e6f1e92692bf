/**
 * Presence lines, at most one per user every PRESENCE_HOLD_MS: a change within that time is held,
 * and said when it ends if it still stands. Nothing limits sign-ins that succeed, and each is a
 * line on every contact's screen: an account signing in and out in a loop put 248 lines in 30 s
 * on each of its group-mates' (round 48); a contact whose network blinks is said to go and come
 * back once, not at every blink.
 */
import { PRESENCE_HOLD_MS } from './constants.ts'

interface Held {
  /** What was said last, and the latest change since, if any. */
  said: boolean
  latest: boolean
  timer: NodeJS.Timeout
}

export class PresenceLines {
  readonly #say: (user: string, online: boolean) => void
  readonly #muted: (user: string) => boolean
  readonly #holdMs: number
  readonly #held = new Map<string, Held>()

  /** `muted`: users whose coming and going is not said (blocked), asked when a line is due, so
   * a change held while the user was blocked is not said either (round 49). */
  constructor (say: (user: string, online: boolean) => void, muted: (user: string) => boolean = () => false, holdMs = PRESENCE_HOLD_MS) {
    this.#say = say
    this.#muted = muted
    this.#holdMs = holdMs
  }

  /** `user` is now `online` (a change from what is known: the caller decides what is news). */
  change (user: string, online: boolean): void {
    const held = this.#held.get(user)
    if (held !== undefined) {
      held.latest = online
      return
    }
    if (!this.#muted(user)) this.#say(user, online)
    const timer = setTimeout(() => {
      this.#held.delete(user)
      const ended = entry.latest
      if (ended !== entry.said) this.change(user, ended)
    }, this.#holdMs)
    timer.unref()
    const entry: Held = { said: online, latest: online, timer }
    this.#held.set(user, entry)
  }

  /** Signed out: nothing held is said. */
  stop (): void {
    for (const held of this.#held.values()) clearTimeout(held.timer)
    this.#held.clear()
  }
}
