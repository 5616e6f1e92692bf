/**
 * A group message's notices about its members said together, for a person: the `delivered`
 * (or `queued` for the same reason) of the members that come within GATHER_MS of the first make
 * one line, `12:00:01 delivered to bob, carol and dave in club`, and any that come later another
 * the same way; names in alphabetical order. Until 2026-12-06 every member was a line of its own
 * (a tester's finding: a burst of 50 to a group of 7 printed 300 lines). `--json` keeps one event
 * per member: a script counts them.
 */

/** Long enough for the members online now to answer together (their ACKs come within a few
 * milliseconds of each other on a LAN), short enough to read as at once. */
export const GATHER_MS = 250

/** Names written out in one line; past that, "and N others". */
const NAMES_SHOWN = 4

export class GroupDeliveries {
  readonly #gatherMs: number
  readonly #gathering = new Map<string, { names: string[], line: (names: string) => string, timer: NodeJS.Timeout }>()
  readonly #say: (line: string) => void

  /** `say` prints one line. */
  constructor (say: (line: string) => void, gatherMs = GATHER_MS) {
    this.#say = say
    this.#gatherMs = gatherMs
  }

  /**
   * One member's notice: `key` names what is gathered (the event, the message, and anything else
   * the line says, such as a reason), `line` makes the line from the members' names in words.
   */
  add (key: string, member: string, line: (names: string) => string): void {
    const gathering = this.#gathering.get(key)
    if (gathering !== undefined) {
      gathering.names.push(member)
      return
    }
    const timer = setTimeout(() => { this.#flush(key) }, this.#gatherMs)
    timer.unref()
    this.#gathering.set(key, { names: [member], line, timer })
  }

  /** Every line gathered and not said yet, taken (the program is ending: its caller says them). */
  drain (): string[] {
    return [...this.#gathering.keys()].flatMap(key => this.#take(key) ?? [])
  }

  #flush (key: string): void {
    const line = this.#take(key)
    if (line !== undefined) this.#say(line)
  }

  #take (key: string): string | undefined {
    const gathering = this.#gathering.get(key)
    if (gathering === undefined) return undefined
    clearTimeout(gathering.timer)
    this.#gathering.delete(key)
    return gathering.line(namesInWords(gathering.names.sort()))
  }
}

/** "bob", "bob and carol", "bob, carol and dave", "bob, carol, dave, erin and 2 others". */
export function namesInWords (names: readonly string[]): string {
  if (names.length <= 1) return names.join('')
  if (names.length > NAMES_SHOWN + 1) return `${names.slice(0, NAMES_SHOWN).join(', ')} and ${names.length - NAMES_SHOWN} others`
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`
}
