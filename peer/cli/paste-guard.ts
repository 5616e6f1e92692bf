/**
 * A paste of several lines is not several commands. At the prompt every line is a command, so a
 * pasted paragraph ran line by line, and a line of it that began with LEAVE, QUIT or SEND was one
 * (until 2026-12-05). The terminal is asked for bracketed paste: it then marks where a paste
 * starts and ends, and readline reports the marks as `paste-start` and `paste-end` keys. A line
 * that ended inside a paste of more than one line is not run, and the person is told once per
 * paste, and the line on the prompt is put back as it was before the paste: neither what was typed
 * before it nor the paste's last line is left there to be run by the next Enter (until
 * 2026-12-06 `SEND bob ` typed, then a paste of two lines, lost `SEND bob ` and left the second
 * line on the prompt as a command: a tester's finding). A paste of one line (with or without its
 * newline) is typed input like any other.
 * Terminals without bracketed paste send no marks, and every line runs as before.
 */
import type { Interface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'

const BRACKETED_PASTE_ON = '\x1b[?2004h'
const BRACKETED_PASTE_OFF = '\x1b[?2004l'
/** A paste whose end mark never comes (a terminal that lost it) holds a line no longer than this. */
const PASTE_END_WAIT_MS = 1_000

interface Paste {
  /** What the prompt held when it started, and where its cursor was: put back after a paste
   * of several lines. */
  before: { line: string, cursor: number }
  /** Lines that ended inside it. */
  lines: number
  /** Text left on the prompt after its last newline. */
  remainder: boolean
  ended: Promise<void>
  end: () => void
  told: boolean
}

export type PasteVerdict = { run: true } | { run: false, notice?: string }

export class PasteGuard {
  readonly #out: NodeJS.WriteStream
  #current: Paste | undefined
  /** Where each line read so far came from (its paste, or undefined: typed), in order. */
  readonly #origins: Array<Paste | undefined> = []

  /** Call before anything reads `rl`'s lines: each line is noted before it is handed on. */
  constructor (rl: Interface, input: NodeJS.ReadStream, out: NodeJS.WriteStream) {
    this.#out = out
    out.write(BRACKETED_PASTE_ON)
    input.on('keypress', (_text: string | undefined, key: { name?: string } | undefined) => {
      if (key?.name === 'paste-start') {
        let end = (): void => {}
        const ended = new Promise<void>(resolve => { end = resolve })
        this.#current = { before: { line: rl.line, cursor: rl.cursor }, lines: 0, remainder: false, ended, end, told: false }
      } else if (key?.name === 'paste-end' && this.#current !== undefined) {
        const paste = this.#current
        paste.remainder = rl.line !== ''
        if (paste.lines + (paste.remainder ? 1 : 0) > 1) restore(rl, paste.before)
        paste.end()
        this.#current = undefined
      }
    })
    rl.on('line', () => {
      this.#origins.push(this.#current)
      if (this.#current !== undefined) this.#current.lines++
    })
  }

  /** A paste is under way (its start mark came, its end mark not yet). */
  get pasting (): boolean {
    return this.#current !== undefined
  }

  /** The next line read is dropped unrun whatever it came in: its place here goes with it. */
  passOver (): void {
    this.#origins.shift()
  }

  /** Whether the next line read may run; for the first line of a paste that may not, what to say. */
  async verdict (): Promise<PasteVerdict> {
    const paste = this.#origins.shift()
    if (paste === undefined) return { run: true }
    await Promise.race([paste.ended, sleep(PASTE_END_WAIT_MS, undefined, { ref: false })])
    const lines = paste.lines + (paste.remainder ? 1 : 0)
    if (lines <= 1) return { run: true }
    if (paste.told) return { run: false }
    paste.told = true
    return {
      run: false,
      notice: `a paste of ${lines} lines was not run: each line would have been a command. Paste or type one command at a time` +
        (paste.before.line === '' ? '' : ' (the line is back as you had typed it)')
    }
  }

  /** Back in the foreground (fg after Ctrl-Z, or continued after a stop from outside): the
   * shell turned bracketed paste off to run us again, so it is asked for anew (until 2026-12-06
   * a paste of several lines after `fg` ran line by line, a pasted QUIT too: round 13). */
  resume (): void {
    this.#out.write(BRACKETED_PASTE_ON)
  }

  /** Give the terminal back as it was. */
  close (): void {
    this.#out.write(BRACKETED_PASTE_OFF)
  }
}

/** Put the prompt's line back as `before`, through readline's own keys (Ctrl-E, Ctrl-U, typed
 * text, Left) so that it redraws what it shows as it would for a person. */
function restore (rl: Interface, before: { line: string, cursor: number }): void {
  rl.write(null, { ctrl: true, name: 'e' })
  rl.write(null, { ctrl: true, name: 'u' })
  if (before.line !== '') rl.write(before.line)
  for (let left = before.line.length - before.cursor; left > 0; left--) rl.write(null, { name: 'left' })
}
