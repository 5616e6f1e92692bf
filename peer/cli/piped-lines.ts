/**
 * The lines of piped input (stdin not a terminal). A line ends at `\n` alone, and a `\r` just
 * before it goes with it (a file written on Windows). readline also ends a line at a lone `\r`,
 * which suits a terminal (Enter sends one) but not a script: `SEND bob a\rb` from a pipe ran as
 * `SEND bob a` and a command `b` (until 2026-12-06). A lone `\r` is now part of its line; shown
 * on a terminal it is escaped like any control character (safe-text.ts).
 */
import type { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'

/**
 * Every line of `input`, in order; the text after the last `\n`, if any, is the last line.
 * Aborting `signal` ends the lines at once (QUIT, a signal), also while waiting for input that
 * may never come: the input is destroyed, as readline's close leaves it no use either.
 */
export async function * pipedLines (input: Readable, signal?: AbortSignal): AsyncGenerator<string> {
  const aborted = (): boolean => signal?.aborted === true
  if (aborted()) return
  const decoder = new StringDecoder('utf8')
  const stop = (): void => { input.destroy() }
  signal?.addEventListener('abort', stop, { once: true })
  let pending = ''
  try {
    for await (const chunk of input) {
      // Only the new text can hold a line end: searching from there keeps a long line linear.
      let searchFrom = pending.length
      pending += typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer)
      let start = 0
      for (let end = pending.indexOf('\n', searchFrom); end !== -1; end = pending.indexOf('\n', searchFrom)) {
        yield withoutReturn(pending.slice(start, end))
        start = end + 1
        searchFrom = start
      }
      pending = pending.slice(start)
    }
  } catch (err) {
    // Destroyed by the abort: the stream says it closed early, which is what was asked.
    if (aborted()) return
    throw err
  } finally {
    signal?.removeEventListener('abort', stop)
  }
  pending += decoder.end()
  if (pending !== '') yield withoutReturn(pending)
}

/** A line without the `\r` of a `\r\n` end. */
function withoutReturn (line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line
}
