import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { completeEveryTab, cutAfterTab } from '../../../peer/cli/tab-keys.ts'

test('a read is cut after its first Tab, unless the Tab ends it or an escape (a paste mark, a key sequence) is in it', () => {
  const cut = (text: string): number | undefined => cutAfterTab(Buffer.from(text))
  assert.equal(cut('\t\t'), 1)
  assert.equal(cut('hi\tthere'), 3)
  assert.equal(cut('héllo\tx'), Buffer.byteLength('héllo\t'), 'after the Tab byte, never inside a character')
  assert.equal(cut('hi\t'), undefined)
  assert.equal(cut('\t'), undefined)
  assert.equal(cut('no tab'), undefined)
  assert.equal(cut('\x1b[200~a\tb\x1b[201~'), undefined)
})

test('the listeners get each Tab at the end of a read of its own, the rest after, and nothing is cut while a paste is under way', async () => {
  const input = new PassThrough() as unknown as NodeJS.ReadStream
  let pasting = false
  completeEveryTab(input, () => pasting)
  const reads: string[] = []
  input.on('data', (read: Buffer) => { reads.push(read.toString()) })
  input.write('ab\t\tcd')
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(reads, ['ab\t', '\t', 'cd'])
  pasting = true
  input.write('x\ty')
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(reads.slice(3), ['x\ty'])
})
