/**
 * Delivery notices said together, for a person. The `delivered` (or `queued` for the same
 * reason) of a group message's members that come within GATHER_MS of the first make one line,
 * `12:00:01 delivered to bob, carol and dave in club`, and any that come later another the same
 * way; names in alphabetical order. Texts delivered to the same members in that time share a
 * line too, counted: `3 messages delivered to dave in club`, `5 messages delivered to bob` for
 * direct ones. A notice still gathered is dropped when its delivery comes (a member's `queued`
 * while the group's key is handed round, held a while: output.ts). Until 2026-12-06 every
 * member and every message was a line of its own (a burst of 50 to a group of 7 printed 300
 * lines; 200 SENDs, 200 `delivered to bob`: testers' findings). `--json` keeps one event per
 * member: a script counts them.
 */

/** Long enough for the members online now to answer together (their ACKs come within a few
 * milliseconds of each other on a LAN), short enough to read as at once. */
export const GATHER_MS = 250

/** Names written out in one line; past that, "and N others". */
const NAMES_SHOWN = 4

export class DeliveryNotices {
  readonly #gatherMs: number
  /** Per key: each message's members gathered so far, in the order the messages came. */
  readonly #gathering = new Map<string, { members: Map<string, string[]>, line: Line, timer: NodeJS.Timeout }>()
  readonly #say: (line: string) => void

  /** `say` prints one line. */
  constructor (say: (line: string) => void, gatherMs = GATHER_MS) {
    this.#say = say
    this.#gatherMs = gatherMs
  }

  /**
   * One member's notice about one message: `key` names what is gathered (the event, the group,
   * and anything else the line says, such as a reason or a file's name), `line` makes the line
   * from the members' names in words and how many messages went to just those members.
   */
  add (key: string, message: string, member: string, line: Line, gatherMs = this.#gatherMs): void {
    const gathering = this.#gathering.get(key)
    if (gathering !== undefined) {
      const members = gathering.members.get(message)
      if (members === undefined) gathering.members.set(message, [member])
      else members.push(member)
      return
    }
    const timer = setTimeout(() => { this.#flush(key) }, gatherMs)
    timer.unref()
    this.#gathering.set(key, { members: new Map([[message, [member]]]), line, timer })
  }

  /** `member` got `message` after all: a notice of it still being gathered (queued) is dropped. */
  withdraw (message: string, member: string): void {
    for (const gathering of this.#gathering.values()) {
      const members = gathering.members.get(message)
      if (members === undefined) continue
      const left = members.filter(name => name !== member)
      if (left.length === 0) gathering.members.delete(message)
      else gathering.members.set(message, left)
    }
  }

  /** Every line gathered and not said yet, taken (the program is ending: its caller says them). */
  drain (): string[] {
    return [...this.#gathering.keys()].flatMap(key => this.#take(key))
  }

  #flush (key: string): void {
    for (const line of this.#take(key)) this.#say(line)
  }

  /** One line per set of members: the messages that went to the same members are counted in one
   * (a member that was frozen gets '3 messages delivered to dave in club', not the same line
   * three times: a tester's finding, until 2026-12-06). */
  #take (key: string): string[] {
    const gathering = this.#gathering.get(key)
    if (gathering === undefined) return []
    clearTimeout(gathering.timer)
    this.#gathering.delete(key)
    if (gathering.members.size === 0) return [] // all withdrawn
    const messagesTo = new Map<string, { members: string[], messages: number }>()
    for (const members of gathering.members.values()) {
      const names = namesInWords(members.sort())
      const seen = messagesTo.get(names)
      messagesTo.set(names, { members, messages: (seen?.messages ?? 0) + 1 })
    }
    return [...messagesTo].map(([names, { members, messages }]) => gathering.line(names, messages, members))
  }
}

/** A gathered line: the members' names in words, how many messages went to them, and the
 * members themselves. */
type Line = (names: string, messages: number, members: string[]) => string

/** "bob", "bob and carol", "bob, carol and dave", "bob, carol, dave, erin and 2 others". */
export function namesInWords (names: readonly string[]): string {
  if (names.length <= 1) return names.join('')
  if (names.length > NAMES_SHOWN + 1) return `${names.slice(0, NAMES_SHOWN).join(', ')} and ${names.length - NAMES_SHOWN} others`
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`
}

/**
 * Who a text was said to wait for, offline, per conversation, and since when: further texts to
 * them there are not said again, each, until they are back (a presence line, or a delivery to
 * them). A group with a member away put that line under each message (round 44: 15 messages, 15
 * such lines). Those that come within the first line's gathering are counted in it. A group's
 * line said of erin does not stand for her direct texts, nor the other way round (round 45).
 */
export class SaidWaiting {
  readonly #since = new Map<string, number>()

  /** Whether a text to `to` in `group` (null: direct) that waits was said already. */
  alreadySaid (to: string, group: string | null, now = Date.now()): boolean {
    const key = `${to}\n${group ?? ''}`
    const since = this.#since.get(key)
    if (since === undefined) this.#since.set(key, now)
    return since !== undefined && now - since >= GATHER_MS
  }

  /** `user` is back: what waits for them is news again once they are away. */
  back (user: string): void {
    for (const key of this.#since.keys()) if (key.startsWith(`${user}\n`)) this.#since.delete(key)
  }
}
