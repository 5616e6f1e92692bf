/**
 * Persistent command history in the data folder (one line per command, newest last, owner-only
 * permissions). A password never lands in it: neither a line answered at the hidden prompt nor
 * a SIGNUP/LOGIN line that carries one.
 */
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { logger } from '../log.ts'

export const HISTORY_LINES = 1000

const log = logger('parley:history')

/** True for a line that must not be remembered: SIGNUP or LOGIN with a password on it. */
export function holdsPassword (line: string): boolean {
  return /^\s*(signup|login)\s+\S+\s+\S/i.test(line)
}

export class HistoryFile {
  readonly #path: string

  constructor (path: string) {
    this.#path = path
  }

  /** The remembered lines, newest first (as readline wants them); a missing file is none. */
  load (): string[] {
    let text: string
    try {
      text = readFileSync(this.#path, 'utf8')
    } catch {
      return []
    }
    const lines = text.split('\n').filter(line => line !== '' && !holdsPassword(line))
    const kept = lines.slice(-HISTORY_LINES)
    // Keep the file from growing without end: rewrite it when it holds twice what is kept.
    if (lines.length > 2 * HISTORY_LINES) this.#write(kept.join('\n') + '\n')
    return kept.reverse()
  }

  /** Remember one command line (never one holding a password); failures only cost the history. */
  add (line: string): void {
    if (line.trim() === '' || holdsPassword(line) || line.includes('\n')) return
    try {
      mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 })
      appendFileSync(this.#path, line + '\n', { mode: 0o600 })
    } catch (err) {
      // A read-only data folder loses the history, not the command.
      log.warn('could not save the command to the history file', err)
    }
  }

  #write (text: string): void {
    try {
      writeFileSync(this.#path, text, { mode: 0o600 })
      chmodSync(this.#path, 0o600)
    } catch (err) {
      // as in add
      log.warn('could not rewrite the history file', err)
    }
  }
}
