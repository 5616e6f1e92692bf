import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from 'cborg'
import { array, bytes, decodeBody, encodeBody, optional, str, uint } from '../../../common/wire/codec.ts'
import { ErrorCode, is } from '../../../common/errors.ts'

const schema = {
  op: str(16, 1),
  id: bytes(16, 16),
  count: uint(100),
  tags: optional(array(str(8), 3))
}

const isCode = (code: string) => (err: unknown): boolean => is(err) && err.code === code

test('a valid body decodes to exactly its fields', () => {
  const id = new Uint8Array(16).fill(7)
  const value = decodeBody(schema, encodeBody({ op: 'join', id, count: 3 }))
  assert.deepEqual(value, { op: 'join', id, count: 3 })
  assert.deepEqual(decodeBody(schema, encodeBody({ op: 'a', id, count: 0, tags: ['x'] })).tags, ['x'])
})

test('unknown, missing, mistyped and oversized fields are typed errors', () => {
  const id = new Uint8Array(16)
  assert.throws(() => decodeBody(schema, encodeBody({ op: 'a', id, count: 1, evil: 1 })), isCode(ErrorCode.Malformed))
  assert.throws(() => decodeBody(schema, encodeBody({ op: 'a', count: 1 })), isCode(ErrorCode.Malformed))
  assert.throws(() => decodeBody(schema, encodeBody({ op: 1, id, count: 1 })), isCode(ErrorCode.Malformed))
  assert.throws(() => decodeBody(schema, encodeBody({ op: 'a', id, count: -1 })), isCode(ErrorCode.Malformed))
  assert.throws(() => decodeBody(schema, encodeBody({ op: 'a', id, count: 1.5 })), isCode(ErrorCode.Malformed))
  assert.throws(() => decodeBody(schema, encodeBody({ op: 'a', id: new Uint8Array(15), count: 1 })), isCode(ErrorCode.Malformed))
  assert.throws(() => decodeBody(schema, encodeBody({ op: 'a'.repeat(17), id, count: 1 })), isCode(ErrorCode.TooLarge))
  assert.throws(() => decodeBody(schema, encodeBody({ op: 'a', id, count: 101 })), isCode(ErrorCode.TooLarge))
  assert.throws(() => decodeBody(schema, encodeBody({ op: 'a', id, count: 1, tags: ['a', 'b', 'c', 'd'] })), isCode(ErrorCode.TooLarge))
})

test('bytes that are not a CBOR map are malformed, not a crash', () => {
  for (const bad of [new Uint8Array(0), new Uint8Array([0xff]), encode([1, 2]), encode('text'), new Uint8Array([0xa1, 0x61])]) {
    assert.throws(() => decodeBody(schema, bad), isCode(ErrorCode.Malformed))
  }
  assert.throws(() => decodeBody(schema, new Uint8Array(100), 10), isCode(ErrorCode.TooLarge))
})
