/**
 * Unexpected failures (bugs, not user errors): one line for the person, the whole story in
 * `<data>/errors.log`. Bounded on purpose: a fault that repeats in a loop (a terminal gone,
 * every write failing and reported again) once grew this log to 40 GiB and filled a disk.
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { ErrorCode } from '../../common/errors.ts'
import { LOG_MAX_BYTES, fileSize } from '../log.ts'
import type { Output } from './output.ts'

/** At most this many one-line reports a minute reach the person; the log has the rest. */
const ERROR_LINES_PER_MINUTE = 5

/**
 * One line for the person, the whole story in the log; the program carries on. Guarded against
 * itself: a failure while reporting (the terminal gone: EPIPE) is not reported again, and a fault
 * that repeats in a loop is written a bounded number of times.
 */
export function unexpectedErrors (output: Output, logFile: string): (err: unknown) => void {
  let reporting = false
  let windowStart = 0
  let linesInWindow = 0
  return err => {
    if (reporting) return
    reporting = true
    try {
      logError(logFile, err)
      const now = Date.now()
      if (now - windowStart > 60_000) {
        windowStart = now
        linesInWindow = 0
      }
      if (++linesInWindow > ERROR_LINES_PER_MINUTE) return
      const message = err instanceof Error ? err.message : String(err)
      output.print({ event: 'error', code: ErrorCode.Internal, message: `unexpected failure: ${message.split('\n')[0] ?? ''} (details in ${logFile})`, at: now })
    } catch {
      // The terminal itself is gone (EPIPE): the log has it.
    } finally {
      reporting = false
    }
  }
}

export function logError (file: string, err: unknown): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    if (fileSize(file) >= LOG_MAX_BYTES) return
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err)
    appendFileSync(file, `${new Date().toISOString()} ${detail.slice(0, 16 * 1024)}\n`, { mode: 0o600 })
  } catch {
    // Nowhere to log: the one line on the terminal is all there is.
  }
}
