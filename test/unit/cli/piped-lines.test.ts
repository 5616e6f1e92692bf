/**
 * Piped input's lines (peer/cli/piped-lines.ts): `\n` ends a line, with or without a `\r`
 * before it; a lone `\r` is part of its line, wherever the chunks of the pipe fall.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough, Readable } from 'node:stream'
import { pipedLines } from '../../../peer/cli/piped-lines.ts'

async function linesOf (chunks: Array<string | Buffer>): Promise<string[]> {
  const lines: string[] = []
  for await (const line of pipedLines(Readable.from(chunks))) lines.push(line)
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
  const lines = pipedLines(input, stop.signal)
  input.write('LOGIN alice pw\n')
  assert.deepEqual(await lines.next(), { done: false, value: 'LOGIN alice pw' })
  const waiting = lines.next()
  stop.abort()
  assert.deepEqual(await waiting, { done: true, value: undefined })
  assert.equal(input.destroyed, true)
})
