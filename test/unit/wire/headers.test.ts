import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatHeader, parseHeader } from '../../../common/wire/headers.ts'
import type { SignalHeader } from '../../../common/wire/headers.ts'
import { ErrorCode, is } from '../../../common/errors.ts'
import type { GroupName } from '../../../common/wire/names.ts'

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

test('every signal header round-trips, file names with spaces included', () => {
  const headers: SignalHeader[] = [
    { kind: 'MSG' },
    { kind: 'FILE', name: 'holiday photo 1.png', size: 1234567 },
    { kind: 'FILE', name: 'x', size: 0 },
    { kind: 'KEY', group: 'friends', epoch: 3 },
    { kind: 'GROUP', group: 'friends' },
    { kind: 'GROUP_FILE', group: 'friends', name: 'a song.wav' }
  ]
  for (const header of headers) assert.deepEqual(parseHeader(formatHeader(header)), header)
})

test('a parsed header\'s group is a GroupName; one not sent lower-cased is malformed, not put right', () => {
  const header = parseHeader(utf8('KEY friends 3'))
  assert.ok(header.kind === 'KEY')
  const group: GroupName = header.group
  assert.equal(group, 'friends')
  assert.throws(() => parseHeader(utf8('GROUP Friends')), (err: unknown) => is(err, ErrorCode.Malformed))
})

test('the wire text is exactly the customer\'s signal syntax', () => {
  assert.equal(new TextDecoder().decode(formatHeader({ kind: 'GROUP', group: 'xyz' })), 'GROUP xyz')
  assert.equal(new TextDecoder().decode(formatHeader({ kind: 'GROUP_FILE', group: 'xyz', name: 'abc' })), 'GROUP xyz abc')
  assert.equal(new TextDecoder().decode(formatHeader({ kind: 'FILE', name: 'a b', size: 9 })), 'FILE a b 9')
})

test('malformed headers are typed errors, never crashes', () => {
  const bad = ['', 'HELLO', 'MSG extra', 'FILE', 'FILE name', 'FILE name -1', 'FILE name 1e9', 'FILE name 01',
    'FILE  9', 'KEY g', 'KEY g x', 'KEY g 1 2', 'GROUP', 'GROUP BAD!', 'GROUP g ', 'msg', 'MSG\n', 'GROUP a\u0000b']
  for (const line of bad) {
    assert.throws(() => parseHeader(utf8(line)), (err: unknown) => is(err, ErrorCode.Malformed), line)
  }
  assert.throws(() => parseHeader(new Uint8Array([0xff, 0xfe])), (err: unknown) => is(err, ErrorCode.Malformed))
})

test('C1 controls are refused like C0 (U+009B is CSI to some terminals); other non-ASCII is kept', () => {
  for (const line of ['FILE a\u0085b 1', 'FILE \u009b2Jx 1', 'GROUP g file\u0080.txt', 'FILE x\u009f 3']) {
    assert.throws(() => parseHeader(utf8(line)), (err: unknown) => is(err, ErrorCode.Malformed) && /control characters/.test(err.message), line)
  }
  assert.deepEqual(parseHeader(utf8('FILE caf\u00e9 \u00a0\u00ff.txt 1')), { kind: 'FILE', name: 'caf\u00e9 \u00a0\u00ff.txt', size: 1 })
})

test('oversized headers, file names and sizes are refused as too large', () => {
  assert.throws(() => parseHeader(utf8('GROUP g ' + 'a'.repeat(600))), (err: unknown) => is(err, ErrorCode.TooLarge))
  assert.throws(() => parseHeader(utf8('FILE ' + 'a'.repeat(300) + ' 1')), (err: unknown) => is(err, ErrorCode.TooLarge))
  assert.throws(() => parseHeader(utf8('FILE a 99999999999999999')), (err: unknown) => is(err, ErrorCode.Malformed))
  assert.throws(() => parseHeader(utf8('FILE a 999999999999999')), (err: unknown) => is(err, ErrorCode.TooLarge))
})
