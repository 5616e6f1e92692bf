/**
 * A stream for the human output to write to, in the CLI's unit tests: what was written, whole
 * or as its lines with each line's leading time (HH:MM:SS) left out.
 */
import { PassThrough } from 'node:stream'

export function capture (): { stream: NodeJS.WriteStream, text: () => string, lines: () => string[] } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream
  let text = ''
  ;(stream as unknown as PassThrough).on('data', (chunk: Buffer) => { text += chunk.toString() })
  return {
    stream,
    text: () => text,
    lines: () => text.split('\n').filter(line => line !== '').map(line => line.replace(/^\d\d:\d\d:\d\d /, ''))
  }
}
