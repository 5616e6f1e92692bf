/**
 * Piped input's lines (peer/cli/piped-lines.ts): `\n` ends a line, with or without a `\r`
 * before it; a lone `\r` is part of its line, wherever the chunks of the pipe fall; a line over
 * the limit comes cut to it, and the next line is whole.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough, Readable } from 'node:stream'
import { pipedLines } from '../../../peer/cli/piped-lines.ts'

async function linesOf (chunks: Array<string | Buffer>, keep = 1000): Promise<string[]> {
  const lines: string[] = []
  for await (const line of pipedLines(Readable.from(chunks), keep)) lines.push(line)
  return lines
}

test('a lone \\r is part of its line; \\n and \\r\\n end one', async () => {
  assert.deepEqual(await linesOf(['SEND bob hello\rworld\nWHO\r\nHELP\n']), ['SEND bob hello\rworld', 'WHO', 'HELP'])
  assert.deepEqual(await linesOf(['a\r\rb\n\r\n\n']), ['a\r\rb', '', ''])
})

test('lines are the same wherever the chunks fall: a \\r\\n, or a character, cut in two', async () => {
  const text = 'SEND bob a\rb\r\nSEND bob ümlaut 😀\nlast without an end'
  const bytes = Buffer.from(text)
  const whole = await linesOf([bytes])
  assert.deepEqual(whole, ['SEND bob a\rb', 'SEND bob ümlaut 😀', 'last without an end'])
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(await linesOf([bytes.subarray(0, cut), bytes.subarray(cut)]), whole, `cut at byte ${cut}`)
  }
  assert.deepEqual(await linesOf([...bytes].map(byte => Buffer.from([byte]))), whole, 'a byte at a time')
})

test('an abort ends the lines while the input is still open, and nothing more is read', async () => {
  const input = new PassThrough()
  const stop = new AbortController()
  const lines = pipedLines(input, 1000, stop.signal)
  input.write('LOGIN alice pw\n')
  assert.deepEqual(await lines.next(), { done: false, value: 'LOGIN alice pw' })
  const waiting = lines.next()
  stop.abort()
  assert.deepEqual(await waiting, { done: true, value: undefined })
  assert.equal(input.destroyed, true)
})

test('a line over the limit comes cut to it, the rest of it is dropped, and the next line is whole', async () => {
  const long = 'SEND bob ' + 'x'.repeat(50)
  const expected = [long.slice(0, 20), 'HELP', 'WHO', 'y'.repeat(20)]
  // In one chunk, a chunk per character, and with the long line's end far from its start.
  const text = `${long}\nHELP\nWHO\n${'y'.repeat(30)}`
  assert.deepEqual(await linesOf([text], 20), expected)
  assert.deepEqual(await linesOf([...text], 20), expected)
  assert.deepEqual(await linesOf([long.slice(0, 10), long.slice(10, 40), long.slice(40) + '\nHELP\n', 'WHO\n', 'y'.repeat(30)], 20), expected)
  // Exactly at the limit is not cut.
  assert.deepEqual(await linesOf(['a'.repeat(20) + '\n'], 20), ['a'.repeat(20)])
})
