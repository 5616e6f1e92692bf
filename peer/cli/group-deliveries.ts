/**
 * A group message's deliveries said together, for a person: the members' ACKs that come within
 * GATHER_MS of the first make one line, `12:00:01 delivered to bob, carol and dave in club`, and
 * any that come later another the same way. Until 2026-12-06 every member's ACK was a line of its
 * own (a tester's finding: a burst of 50 to a group of 7 printed 300 lines). `--json` keeps one
 * `delivered` event per member: a script counts them.
 */

/** Long enough for the members online now to answer together (their ACKs come within a few
 * milliseconds of each other on a LAN), short enough to read as at once. */
export const GATHER_MS = 250

/** Names written out in one line; past that, "and N others". */
const NAMES_SHOWN = 4

export interface GroupDelivery {
  id: string
  to: string
  group: string
  /** The file's name, or null for a text. */
  name: string | null
}

/** One line's worth: a message's deliveries gathered. */
export interface Gathered { group: string, name: string | null, to: string[] }

export class GroupDeliveries {
  readonly #say: (gathered: Gathered) => void
  readonly #gatherMs: number
  readonly #gathering = new Map<string, { group: string, name: string | null, to: string[], timer: NodeJS.Timeout }>()

  /** `say` prints one line for a message's deliveries gathered. */
  constructor (say: (gathered: Gathered) => void, gatherMs = GATHER_MS) {
    this.#say = say
    this.#gatherMs = gatherMs
  }

  add (delivery: GroupDelivery): void {
    const gathering = this.#gathering.get(delivery.id)
    if (gathering !== undefined) {
      gathering.to.push(delivery.to)
      return
    }
    const timer = setTimeout(() => { this.#flush(delivery.id) }, this.#gatherMs)
    timer.unref()
    this.#gathering.set(delivery.id, { group: delivery.group, name: delivery.name, to: [delivery.to], timer })
  }

  /** Everything gathered and not said yet, taken (the program is ending: its caller says it). */
  drain (): Gathered[] {
    return [...this.#gathering.keys()].flatMap(id => this.#take(id) ?? [])
  }

  #flush (id: string): void {
    const gathered = this.#take(id)
    if (gathered !== undefined) this.#say(gathered)
  }

  #take (id: string): Gathered | undefined {
    const gathering = this.#gathering.get(id)
    if (gathering === undefined) return undefined
    clearTimeout(gathering.timer)
    this.#gathering.delete(id)
    return { group: gathering.group, name: gathering.name, to: gathering.to }
  }
}

/** "bob", "bob and carol", "bob, carol and dave", "bob, carol, dave, erin and 2 others". */
export function namesInWords (names: readonly string[]): string {
  if (names.length <= 1) return names.join('')
  if (names.length > NAMES_SHOWN + 1) return `${names.slice(0, NAMES_SHOWN).join(', ')} and ${names.length - NAMES_SHOWN} others`
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`
}
