/**
 * Fuzz: schema-checked CBOR bodies (common/wire/codec.ts). decodeBody must answer a value that
 * fits the schema, or ERR_MALFORMED / ERR_TOO_LARGE (ERR_INVALID_NAME for a name field): never
 * a cborg exception, never a value of another shape. 10,000 cases per property, over four schemas.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from 'cborg'
import { ErrorCode } from '../../../common/errors.ts'
import { array, bool, bytes, checkObject, decodeBody, encodeBody, object, optional, str, uint } from '../../../common/wire/codec.ts'
import type { Schema } from '../../../common/wire/codec.ts'
import { NAME_PATTERN } from '../../../common/wire/names.ts'
import { REQUEST_SCHEMAS, RESPONSE_SCHEMAS } from '../../../common/protocol/rendezvous.ts'
import { fileMetaBody as metaSchema } from '../../../common/protocol/peer.ts'
import { anyBytes, assertNoNull, cborValue, fc, mutateBytes, nearlyValidBody, outcome, params, validBody } from './arbitraries.ts'

/** ERR_INVALID_NAME: a name field's constructor (common/wire/names.ts) refused it. */
const BODY_ERRORS: readonly ErrorCode[] = [ErrorCode.Malformed, ErrorCode.TooLarge, ErrorCode.InvalidName]

/** Every field kind, nesting, optional fields and a pattern. */
const kitchenSink = {
  name: str(32, 1, NAME_PATTERN),
  note: optional(str(20)),
  blob: bytes(16, 4),
  count: uint(1000),
  flag: bool(),
  list: array(object({ id: uint(), tag: optional(bytes(8)) }), 3),
  nested: optional(object({ deep: object({ ok: bool() }) }))
} satisfies Schema

const SCHEMAS: Array<[string, Schema]> = [
  ['kitchen sink', kitchenSink],
  ['file META', metaSchema],
  ['signup request', REQUEST_SCHEMAS.signup],
  ['members response', RESPONSE_SCHEMAS.members]
]

/** A decoded body must itself pass its schema: the decoder never lets a wrong shape through. */
function checkDecode (schema: Schema, data: Uint8Array, maxBytes?: number): void {
  const result = outcome(() => decodeBody(schema, data, maxBytes), BODY_ERRORS)
  if (!result.ok) return
  assertNoNull(result.value)
  checkObject(schema, result.value, 'decoded')
}

const anyCborBytes = cborValue.map(value => encode(value))
const anySchema = fc.constantFrom(...SCHEMAS)

// Arbitrary input hardly ever gets past the first check of any schema, so these two draw the
// schema per case; the nearly-valid and round-trip properties below run per schema.
test('decodeBody answers arbitrary bytes with a fitting value or ERR_MALFORMED / ERR_TOO_LARGE', () => {
  fc.assert(fc.property(anySchema, anyBytes(256), ([, schema], data) => { checkDecode(schema, data) }), params())
})

test('decodeBody answers arbitrary CBOR values (nested maps, byte strings, big ints, floats, undefined) with a typed error or a fitting value', () => {
  fc.assert(fc.property(anySchema, anyCborBytes, ([, schema], data) => { checkDecode(schema, data) }), params())
})

for (const [label, schema] of SCHEMAS) {
  test(`decodeBody (${label}) answers nearly valid bodies, and byte edits of them, with a typed error or a fitting value`, () => {
    const nearly = nearlyValidBody(schema).map(body => encode(body))
    fc.assert(fc.property(fc.oneof(nearly, mutateBytes(nearly)), data => { checkDecode(schema, data) }), params())
  })

  test(`decodeBody (${label}) round-trips every valid body`, () => {
    fc.assert(fc.property(validBody(schema), body => {
      assert.deepEqual(decodeBody(schema, encodeBody(body)), body)
    }), params())
  })
}

test('decodeBody refuses a body over its byte limit as too large, whatever the bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat({ max: 63 }), (data, slack) => {
    const limit = Math.max(0, data.length - 1 - slack)
    const result = outcome(() => decodeBody(kitchenSink, data, limit), BODY_ERRORS)
    assert.ok(!result.ok && result.error.code === ErrorCode.TooLarge)
  }), params())
})

test('decodeBody refuses CBOR the strict options forbid (tags, indefinite lengths, duplicate keys, NaN, bigints) as malformed', () => {
  const forbidden = fc.constantFrom(
    [0xc1, 0x00], // tag 1 (epoch time)
    [0xbf, 0x61, 0x61, 0xf5, 0xff], // indefinite-length map
    [0x5f, 0x41, 0x00, 0xff], // indefinite-length byte string
    [0xa2, 0x61, 0x61, 0xf5, 0x61, 0x61, 0xf4], // duplicate key "a"
    [0xa1, 0x61, 0x61, 0xf9, 0x7e, 0x00], // NaN
    [0xa1, 0x61, 0x61, 0xf9, 0x7c, 0x00], // Infinity
    [0xa1, 0x61, 0x61, 0xf7], // undefined
    [0xa1, 0x61, 0x61, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // 2^64 - 1
    [0xa1, 0x61, 0x61, 0x18, 0x01] // non-minimal integer (strict)
  ).map(list => new Uint8Array(list))
  fc.assert(fc.property(forbidden, data => {
    const result = outcome(() => decodeBody({ a: optional(bool()) }, data), BODY_ERRORS)
    assert.ok(!result.ok && result.error.code === ErrorCode.Malformed, 'refused as malformed')
  }), params(500))
})
