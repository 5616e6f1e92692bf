import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatBytes } from '../../../common/format-bytes.ts'
import { displayWidth, table } from '../../../peer/cli/format.ts'

test('sizes: bytes exactly, then KiB / MiB / GiB with one decimal', () => {
  assert.equal(formatBytes(0), '0 B')
  assert.equal(formatBytes(6), '6 B')
  assert.equal(formatBytes(1023), '1023 B')
  assert.equal(formatBytes(1024), '1.0 KiB')
  assert.equal(formatBytes(1536), '1.5 KiB')
  assert.equal(formatBytes(1024 * 1024 - 1), '1.0 MiB')
  assert.equal(formatBytes(5.25 * 1024 * 1024), '5.3 MiB')
  assert.equal(formatBytes(3 * 1024 ** 3), '3.0 GiB')
  assert.equal(formatBytes(2 * 1024 ** 4), '2.0 TiB')
})

test('tables align every column but the last, wide characters included', () => {
  assert.equal(table([['A', 'B', 'C'], ['long name', 'x', 'tail text'], ['b', 'yy', 'z']]),
    '  A          B   C\n  long name  x   tail text\n  b          yy  z')
  assert.equal(displayWidth('日本'), 4)
  assert.equal(table([['USER', 'STATUS'], ['日本', 'online'], ['bob', 'offline']]),
    '  USER  STATUS\n  日本  online\n  bob   offline')
})
