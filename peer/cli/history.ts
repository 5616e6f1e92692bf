/**
 * Persistent command history in the data folder (one line per command, newest last, owner-only
 * permissions). A password never lands in it: neither a line answered at the hidden prompt nor
 * a SIGNUP/LOGIN line that carries one. Nor does what the store seals (README, Security design):
 * a message's text or a file's path. The file is one per data folder, in the clear, and read by
 * whichever account signs in there next; until 2026-12-06 it kept `SEND alice my secret is 42`
 * for the next account's Up arrow (a tester's finding, round 7). This run's own lines stay whole
 * in the prompt's memory until another account signs in (prompt.ts).
 */
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { logger } from '../log.ts'
import { verbMeant } from './commands.ts'

export const HISTORY_LINES = 1000

const log = logger('parley:history')

/**
 * True for a line that must not be remembered: SIGNUP or LOGIN with a password on it, PASSWORD
 * with anything after it, or a line whose first word is taken for one of them (`SIGNIN dave
 * pass…`, `LGOIN dave pass…`: a word another messenger uses, or a typo, commands.ts verbMeant).
 * Such a line is refused as unknown, and until 2026-12-07 its password stayed for Up and Ctrl-R
 * (round 43).
 */
export function holdsPassword (line: string): boolean {
  const words = /^\s*(\S+)\s+\S+(\s+\S)?/.exec(line)
  if (words === null) return false
  const verb = verbMeant(words[1] ?? '')
  // A word no command is, that names a password (`CHANGEPASSWORD old new`, `passwd …`): the rest
  // is taken for passwords too (round 48: Ctrl-R at `Password:` found one).
  if (verb === undefined && /pass|pwd/i.test(words[1] ?? '')) return true
  return verb === 'PASSWORD' || ((verb === 'SIGNUP' || verb === 'LOGIN') && words[2] !== undefined)
}

/**
 * What of a command line the file keeps (undefined: nothing). A SEND or SENDGROUP keeps its verb
 * and address (`SEND bob`: Up still brings back whom it went to), a SENDFILE or SENDGROUPFILE
 * nothing (its path comes first), a line with a password nothing; any other line as it is.
 */
export function keptOnDisk (line: string): string | undefined {
  if (line.trim() === '' || holdsPassword(line) || line.includes('\n')) return undefined
  if (/^\s*(sendfile|sendgroupfile)(\s|$)/i.test(line)) return undefined
  const message = /^\s*(send|sendgroup)\s+(\S+)\s+\S/i.exec(line)
  return message === null ? line : `${message[1] ?? ''} ${message[2] ?? ''}`
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
    const written = text.split('\n').filter(line => line !== '')
    // A line the same as the one before it once its text is gone (`SEND bob` ten times) is one.
    const lines = written.map(keptOnDisk).filter((line, at, all): line is string => line !== undefined && line !== all[at - 1])
    const kept = lines.slice(-HISTORY_LINES)
    // Keep the file from growing without end: rewrite it when it holds twice what is kept. And
    // a file an older version wrote, with texts and paths in it, is rewritten without them.
    const scrubbed = lines.length !== written.length || lines.some((line, at) => line !== written[at])
    if (lines.length > 2 * HISTORY_LINES || scrubbed) this.#write(kept.join('\n') + '\n')
    return kept.reverse()
  }

  /** Remember what the file keeps of one command line; failures only cost the history. */
  add (line: string): void {
    const kept = keptOnDisk(line)
    if (kept === undefined) return
    try {
      mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 })
      appendFileSync(this.#path, kept + '\n', { mode: 0o600 })
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
