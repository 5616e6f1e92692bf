/**
 * Fuzz: signal headers (common/wire/headers.ts). parseHeader sees the first frame of every
 * peer-to-peer stream, from anyone: it must answer a header or ERR_MALFORMED / ERR_TOO_LARGE.
 * 10,000 cases per property.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode } from '../../../common/errors.ts'
import { formatHeader, parseHeader } from '../../../common/wire/headers.ts'
import type { SignalHeader } from '../../../common/wire/headers.ts'
import { MAX_FILE_BYTES, MAX_FILE_NAME_BYTES, MAX_HEADER_BYTES } from '../../../common/wire/limits.ts'
import { NAME_PATTERN } from '../../../common/wire/names.ts'
import { anyBytes, anyString, fc, longString, mutateBytes, outcome, params, trickyChar } from './arbitraries.ts'

const PARSE_ERRORS: readonly ErrorCode[] = [ErrorCode.Malformed, ErrorCode.TooLarge]
const utf8 = new TextEncoder()

/** A parsed header is canonical: formatting it gives back exactly the bytes that were parsed. */
function checkParse (bytes: Uint8Array): void {
  const result = outcome(() => parseHeader(bytes), PARSE_ERRORS)
  if (result.ok) assert.deepEqual(formatHeader(result.value), bytes)
}

// --- the grammar, for inputs close to valid ------------------------------------------------------

const groupName = fc.stringMatching(NAME_PATTERN).filter(name => name !== '.' && name !== '..')
/** File names as parseHeader accepts them: no C0/DEL/C1 controls, no edge whitespace, ≤ 255 bytes,
 * and well-formed (a lone surrogate has no UTF-8 form: TextEncoder sends it as U+FFFD). */
const fileName = anyString({ minLength: 1, maxLength: 60 })
  .map(name => name.replace(/[\u0000-\u001f\u007f-\u009f]|\p{Cs}/gu, '').trim())
  .filter(name => name !== '' && utf8.encode(name).byteLength <= MAX_FILE_NAME_BYTES)
const decimal = (max: number): fc.Arbitrary<number> =>
  fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max }), fc.constant(max))

const validHeader: fc.Arbitrary<SignalHeader> = fc.oneof(
  fc.constant({ kind: 'MSG' as const }),
  fc.record({ kind: fc.constant('FILE' as const), name: fileName, size: decimal(MAX_FILE_BYTES) }, { noNullPrototype: true }),
  fc.record({ kind: fc.constant('KEY' as const), group: groupName, epoch: decimal(Number.MAX_SAFE_INTEGER) }, { noNullPrototype: true }),
  fc.record({ kind: fc.constant('GROUP' as const), group: groupName }, { noNullPrototype: true }),
  fc.record({ kind: fc.constant('GROUP_FILE' as const), group: groupName, name: fileName }, { noNullPrototype: true })
)

const verb = fc.constantFrom('MSG', 'FILE', 'KEY', 'GROUP', 'msg', 'File', 'GROUPS', 'KEYS', 'MSG ', '', 'GROUP\u0000')
const numberText = fc.oneof(
  fc.nat().map(String),
  fc.constantFrom('-1', '01', '00', '1e3', '0x10', '1.5', ' 1', '١٢', '9'.repeat(17), String(MAX_FILE_BYTES),
    String(MAX_FILE_BYTES + 1), String(Number.MAX_SAFE_INTEGER), String(Number.MAX_SAFE_INTEGER + 1), 'Infinity', 'NaN')
)
/** Long file names reach the 255-byte name limit and the 512-byte header limit. */
const word = fc.oneof(groupName, groupName.map(name => name.toUpperCase()), fileName, numberText, anyString({ maxLength: 12 }), longString(200, 520))
const separator = fc.constantFrom(' ', ' ', ' ', '  ', '\t', '', '\u00a0')
/** Before the verb, now and then: a byte-order mark (which TextDecoder drops unless told not to),
 * a space, a NUL. */
const lead = fc.constantFrom('', '', '', '', '', '\ufeff', '\ufeff\ufeff', ' ', '\u0000')
/** `verb word…` from the grammar, then a few character edits. */
const grammarLine = fc.tuple(
  lead.chain(before => verb.map(v => before + v)),
  fc.array(fc.tuple(separator, word), { maxLength: 4 }),
  fc.array(fc.tuple(fc.constantFrom('insert', 'delete', 'replace'), fc.nat(), fc.oneof(trickyChar, fc.constantFrom(' ', '.', '0', 'a'))), { maxLength: 3 })
).map(([head, parts, edits]) => {
  let line = head + parts.map(([sep, text]) => sep + text).join('')
  for (const [kind, at, char] of edits) {
    const i = line.length === 0 ? 0 : at % (line.length + 1)
    if (kind === 'insert') line = line.slice(0, i) + char + line.slice(i)
    else if (kind === 'delete') line = line.slice(0, i) + line.slice(i + 1)
    else line = line.slice(0, i) + char + line.slice(i + 1)
  }
  return line
})

// --- properties --------------------------------------------------------------------------------

test('parseHeader answers arbitrary bytes with a header or ERR_MALFORMED / ERR_TOO_LARGE', () => {
  fc.assert(fc.property(anyBytes(MAX_HEADER_BYTES + 64), bytes => { checkParse(bytes) }), params())
})

test('parseHeader answers arbitrary unicode strings (lone surrogates included) with a header or a typed error', () => {
  fc.assert(fc.property(anyString({ maxLength: 80 }), line => { checkParse(utf8.encode(line)) }), params())
})

test('parseHeader answers grammar-shaped lines with edits with a header or a typed error, and a header it accepts re-formats to the same bytes', () => {
  fc.assert(fc.property(grammarLine, line => { checkParse(utf8.encode(line)) }), params())
})

test('parseHeader answers byte-level mutations of valid headers (broken UTF-8 included) with a header or a typed error', () => {
  const validBytes = validHeader.map(header => formatHeader(header))
  fc.assert(fc.property(mutateBytes(validBytes), bytes => { checkParse(bytes) }), params())
})

test('parseHeader refuses every header over MAX_HEADER_BYTES as too large', () => {
  const oversized = fc.tuple(validHeader, fc.integer({ min: 1, max: 64 }))
    .map(([header, extra]) => new Uint8Array([...formatHeader(header), ...new Uint8Array(MAX_HEADER_BYTES + extra)]))
  fc.assert(fc.property(oversized, bytes => {
    const result = outcome(() => parseHeader(bytes), PARSE_ERRORS)
    assert.ok(!result.ok && result.error.code === ErrorCode.TooLarge)
  }), params())
})

test('every valid header round-trips through formatHeader and parseHeader (file names with spaces, unicode, dots)', () => {
  fc.assert(fc.property(validHeader, header => {
    // A file name near 255 bytes plus the verb and group can pass 512 bytes: then formatHeader
    // must refuse it as too large rather than send it.
    const sent = outcome(() => formatHeader(header), [ErrorCode.TooLarge])
    if (!sent.ok) return
    assert.deepEqual(parseHeader(sent.value), header)
  }), params())
})

test('formatHeader never emits a header that parseHeader refuses, whatever fields it is given', () => {
  const anyHeader: fc.Arbitrary<SignalHeader> = fc.oneof(
    fc.constant({ kind: 'MSG' as const }),
    fc.record({ kind: fc.constant('FILE' as const), name: word, size: fc.oneof(fc.integer(), fc.double()) }, { noNullPrototype: true }),
    fc.record({ kind: fc.constant('KEY' as const), group: word, epoch: fc.oneof(fc.integer(), fc.double()) }, { noNullPrototype: true }),
    fc.record({ kind: fc.constant('GROUP' as const), group: word }, { noNullPrototype: true }),
    fc.record({ kind: fc.constant('GROUP_FILE' as const), group: word, name: word }, { noNullPrototype: true })
  )
  fc.assert(fc.property(anyHeader, header => {
    const sent = outcome(() => formatHeader(header), PARSE_ERRORS)
    if (sent.ok) assert.deepEqual(formatHeader(parseHeader(sent.value)), sent.value)
  }), params())
})
