/**
 * The peer's own log, `<data>/parley.log`: failures the program gets over by itself and that
 * nobody would otherwise see (a delivery that stays queued, a reconnect attempt, a key hand-over,
 * a store write, a rendezvous request given up). One line each: ISO time, namespace, level,
 * message. Modules take a namespaced logger, as js-libp2p's do (`logger('parley:outbox')`);
 * main.ts points them all at the data folder once, at start. Until then (tests, the benchmark,
 * the load test) lines go nowhere.
 *
 * What goes in: our own words, names and error codes and messages; never a password, a key or
 * a message body. Every line passes through safeText, so a remote string (a name, an error the
 * other side sent) cannot carry terminal escapes or start a fake line into the file.
 *
 * Logging never throws into the caller and never waits for the disk: lines are queued and
 * appended in batches, one append at a time.
 */
import { statSync } from 'node:fs'
import { appendFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { asParleyError } from '../common/errors.ts'
import { safeText } from './cli/safe-text.ts'

/** A log file in the data folder stops growing here: a fault that repeats in a loop must not
 * fill the disk (errors.log once grew to 40 GiB). Shared by errors.log and parley.log. */
export const LOG_MAX_BYTES = 1024 * 1024
/** Room kept for the one line that says the file is full. */
const FULL_NOTE_ROOM = 160
/** One line at most this long: an error message is a sentence, not a payload. */
const MAX_LINE_CHARS = 2_000
/** The same line again within this long is counted, not written: a retry every 30 s to a peer
 * that stays away says nothing new, and would fill the capped file in a day. */
const REPEAT_WINDOW_MS = 10 * 60_000
/** Lines remembered for that count (the oldest is forgotten first). */
const REPEATS_KEPT = 256

export interface Log {
  /** Something failed and the program carries on as designed (a retry, a fallback). */
  warn: (message: string, err?: unknown) => void
  /** Something failed that should not have (a store write, a broken invariant). */
  error: (message: string, err?: unknown) => void
}

type Level = 'warn' | 'error'

/** The size of `file`, 0 when there is none yet (or it cannot be read: then writing fails too). */
export function fileSize (file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

/** A capped file that lines are appended to in the background. */
class LogFile {
  readonly #file: string
  /** Bytes in the file plus those queued for it. */
  #size: number
  #queued: string[] = []
  #writing: Promise<void> | undefined
  #folderMade = false
  #full = false

  constructor (file: string) {
    this.#file = file
    this.#size = fileSize(file) // once, at start; from then on counted
    this.#full = this.#size > LOG_MAX_BYTES - FULL_NOTE_ROOM // an earlier run filled it, and said so
  }

  add (line: string): void {
    const bytes = Buffer.byteLength(line)
    if (this.#size + bytes > LOG_MAX_BYTES - FULL_NOTE_ROOM) {
      if (this.#full) return
      this.#full = true
      const note = formatLine('parley:log', 'warn', `this file is full (${LOG_MAX_BYTES} bytes): later lines are not written`)
      if (this.#size + Buffer.byteLength(note) > LOG_MAX_BYTES) return
      this.#enqueue(note)
      return
    }
    this.#enqueue(line)
  }

  #enqueue (line: string): void {
    this.#size += Buffer.byteLength(line)
    this.#queued.push(line)
    this.#writing ??= this.#drain()
  }

  async #drain (): Promise<void> {
    while (this.#queued.length > 0) {
      const batch = this.#queued.splice(0).join('')
      try {
        if (!this.#folderMade) await mkdir(dirname(this.#file), { recursive: true, mode: 0o700 })
        this.#folderMade = true
        await appendFile(this.#file, batch, { mode: 0o600 })
      } catch {
        // A log that cannot be written has nowhere to say so; the program goes on without it.
        this.#size -= Buffer.byteLength(batch)
      }
    }
    this.#writing = undefined
  }

  async flushed (): Promise<void> {
    while (this.#writing !== undefined) await this.#writing
  }
}

let sink: LogFile | undefined
/** Recent lines (namespace, level, text) → when last written and how often repeated since. */
const recent = new Map<string, { at: number, repeats: number }>()

/** From now on every logger writes to `file` (undefined: nowhere). Called once, at start. */
export function writeLogTo (file: string | undefined): void {
  sink = file === undefined ? undefined : new LogFile(file)
  recent.clear()
}

/** Resolves when every line logged so far is in the file (or given up): before the process exits. */
export async function flushLog (): Promise<void> {
  await sink?.flushed()
}

export function logger (namespace: string): Log {
  return {
    warn: (message, err) => { write(namespace, 'warn', message, err) },
    error: (message, err) => { write(namespace, 'error', message, err) }
  }
}

function write (namespace: string, level: Level, message: string, err: unknown): void {
  if (sink === undefined) return
  try {
    let text = err === undefined ? message : `${message}: ${describe(err)}`
    const key = `${namespace} ${level} ${text}`
    const now = Date.now()
    const seen = recent.get(key)
    if (seen !== undefined && now - seen.at < REPEAT_WINDOW_MS) {
      seen.repeats++
      return
    }
    if (seen !== undefined && seen.repeats > 0) text += ` (and ${seen.repeats} times more in the ${REPEAT_WINDOW_MS / 60_000} minutes before)`
    recent.delete(key) // re-inserted last: the Map's order is then oldest first
    recent.set(key, { at: now, repeats: 0 })
    if (recent.size > REPEATS_KEPT) recent.delete(recent.keys().next().value ?? '')
    sink.add(formatLine(namespace, level, text))
  } catch {
    // Logging is never the caller's failure.
  }
}

/** An error as its code and message: the message says what failed; a stack is errors.log's. */
function describe (err: unknown): string {
  const error = asParleyError(err)
  return `${error.code} ${error.message}`
}

function formatLine (namespace: string, level: Level, text: string): string {
  // safeText shows a newline as \x0a: a message can never start a line of its own.
  return `${new Date().toISOString()} ${safeText(namespace)} ${level} ${safeText(text.slice(0, MAX_LINE_CHARS))}\n`
}
