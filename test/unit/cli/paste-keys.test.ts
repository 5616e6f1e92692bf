import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { emitKeypressEvents } from 'node:readline'
import type { Key } from 'node:readline'
import { batchPastedKeys } from '../../../peer/cli/paste-keys.ts'

/** A terminal's input as readline reads it, batched; the keys its listeners get, as text or name. */
function keysOf (): { input: NodeJS.ReadStream, keys: string[], read: (text: string) => Promise<void> } {
  const input = new PassThrough() as unknown as NodeJS.ReadStream
  emitKeypressEvents(input)
  batchPastedKeys(input)
  const keys: string[] = []
  input.on('keypress', (text: string | undefined, key: Key | undefined) => {
    keys.push(key?.name !== undefined && key.name.length > 1 ? `<${key.name}>` : String(text))
  })
  const read = async (text: string): Promise<void> => {
    input.write(text)
    await new Promise(resolve => setImmediate(resolve))
  }
  return { input, keys, read }
}

test('inside a paste, the plain characters of a read come as one text; Enter, Tab and escapes alone, in order', async () => {
  const { keys, read } = keysOf()
  await read('\x1b[200~SEND bob héllo ☕\tthere\rsecond line\x1b[201~')
  assert.deepEqual(keys, ['<paste-start>', 'SEND bob héllo ☕', '<tab>', 'there', '<return>', 'second line', '<paste-end>'])
})

test('a paste over several reads comes as one text a read, and typing outside a paste key by key', async () => {
  const { keys, read } = keysOf()
  await read('ab')
  await read('\x1b[200~' + 'x'.repeat(5000))
  await read('y'.repeat(3000) + '\x1b[201~')
  await read('cd')
  assert.deepEqual(keys, ['a', 'b', '<paste-start>', 'x'.repeat(5000), 'y'.repeat(3000), '<paste-end>', 'c', 'd'])
})

test('a paste whose end mark never comes still hands on what it held, at the end of each read', async () => {
  const { keys, read } = keysOf()
  await read('\x1b[200~lost end')
  assert.deepEqual(keys, ['<paste-start>', 'lost end'])
})
