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
 * A line longer than `keep` characters comes cut to `keep` (the reader, told the longest line it
 * takes, refuses it whole): what a pipe sends without a line end is not held without bound.
 * Aborting `signal` ends the lines at once (QUIT, a signal), also while waiting for input that
 * may never come: the input is destroyed, as readline's close leaves it no use either.
 */
export async function * pipedLines (input: Readable, keep: number, signal?: AbortSignal): AsyncGenerator<string> {
  const aborted = (): boolean => signal?.aborted === true
  if (aborted()) return
  const decoder = new StringDecoder('utf8')
  const stop = (): void => { input.destroy() }
  signal?.addEventListener('abort', stop, { once: true })
  const cut = (text: string): string => text.length > keep ? text.slice(0, keep) : text
  // The start of the line being read: at most `keep` characters, whatever came of it.
  let pending = ''
  try {
    for await (const chunk of input) {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer)
      let start = 0
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        yield withoutReturn(cut(pending + text.slice(start, end)))
        pending = ''
        start = end + 1
      }
      pending = cut(pending + text.slice(start))
    }
  } catch (err) {
    // Destroyed by the abort: the stream says it closed early, which is what was asked.
    if (aborted()) return
    throw err
  } finally {
    signal?.removeEventListener('abort', stop)
  }
  pending = cut(pending + decoder.end())
  if (pending !== '') yield withoutReturn(pending)
}

/** A line without the `\r` of a `\r\n` end. */
function withoutReturn (line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line
}
