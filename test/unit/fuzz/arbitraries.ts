/**
 * Shared pieces of the fuzz tests (issue 7 item 1): run parameters, the "typed errors only"
 * check, and fast-check arbitraries for hostile strings, CBOR values and schema-shaped bodies.
 *
 * Every property runs with a fixed seed, so a run in CI is reproducible; on failure fast-check
 * prints the seed and the shrunk counterexample. To explore other inputs locally:
 *   FUZZ_SEED=1234 FUZZ_RUNS=100000 node --test test/unit/fuzz/*.test.ts
 * (FUZZ_RUNS sets the count of the 10,000-run properties; the others scale with it).
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ErrorCode, ParleyError, isErrorCode } from '../../../common/errors.ts'
import type { Field, Schema } from '../../../common/wire/codec.ts'
import { NAME_PATTERN } from '../../../common/wire/names.ts'

export { fc }

const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  assert.ok(Number.isSafeInteger(value), `${name} must be an integer, got "${raw}"`)
  return value
}

/** The seed of every property (fast-check prints it, with the path, on failure). */
export const SEED = envInt('FUZZ_SEED', 0x7a11e7)
/** The run count of a decoder property: at least 10,000 per decoder (issue 7). */
export const RUNS = Math.max(1, envInt('FUZZ_RUNS', 10_000))

/** fc.assert parameters: fixed seed, `runs` cases (RUNS unless a property says otherwise). */
export function params (runs: number = RUNS): fc.Parameters<unknown> {
  return { seed: SEED, numRuns: runs }
}

/** A run count scaled like RUNS, for the few properties that are costly per case. */
export function scaled (runs: number): number {
  return Math.max(1, Math.round(runs * RUNS / 10_000))
}

/**
 * A synchronous decoder is not pre-emptible, so a true infinite loop would stall the test file;
 * what we can and do catch is a decode that takes far too long (a quadratic blow-up, a
 * catastrophic regex). 2 s is orders of magnitude above any honest decode of these inputs and
 * well clear of GC pauses on a loaded CI machine.
 */
export const SLOW_DECODE_MS = 2_000

export type Outcome<T> = { ok: true, value: T } | { ok: false, error: ParleyError }

/**
 * Runs `decode` and returns its value, or the ParleyError it threw. Anything else fails the
 * property: a thrown value that is not a ParleyError, a ParleyError whose code is unknown or not
 * in `allowed`, or a decode slower than SLOW_DECODE_MS.
 */
export function outcome<T> (decode: () => T, allowed: readonly ErrorCode[] = Object.values(ErrorCode)): Outcome<T> {
  const started = performance.now()
  let result: Outcome<T>
  try {
    result = { ok: true, value: decode() }
  } catch (err) {
    if (!(err instanceof ParleyError)) {
      const detail = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err)
      assert.fail(`decoder threw something other than a ParleyError: ${detail}`)
    }
    assert.ok(isErrorCode(err.code), `ParleyError with an unknown code ${String(err.code)}`)
    assert.ok(allowed.includes(err.code), `unexpected code ${err.code} (allowed: ${allowed.join(', ')}): ${err.message}`)
    result = { ok: false, error: err }
  }
  const elapsed = performance.now() - started
  assert.ok(elapsed < SLOW_DECODE_MS, `decode took ${Math.round(elapsed)} ms`)
  return result
}

// ---------------------------------------------------------------------------------------------
// Strings

/** Characters that trip text handling: whitespace of every kind, C0/C1 controls, bidi
 * controls, lone surrogates, a combining mark, path separators, dots, NUL, emoji. */
export const trickyChar = fc.constantFrom(
  ' ', '\t', '\n', '\r', '\v', '\f', '\u0000', '\u0001', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f',
  '\u00a0', '\u1680', '\u2000', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', '\u200b',
  '\u061c', '\u200e', '\u200f', '\u202a', '\u202e', '\u2066', '\u2069',
  '\ud800', '\udbff', '\udc00', '\udfff', '\u0301', '\u212a', '\u0130', '\u017f',
  '/', '\\', ':', '.', '..', '*', '?', '"', '<', '>', '|', 'é', 'e\u0301', '😀', '\u{10ffff}', '\ufffd'
)

/** One UTF-16 code unit, surrogate halves included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map(unit => String.fromCharCode(unit))

/**
 * Any JavaScript string: arbitrary code points, lone surrogates and the tricky characters. Its
 * length is drawn over the whole of [minLength, maxLength] (size 'max'): fast-check's default
 * size would keep it under about 10, short of every length limit.
 */
export function anyString (constraints: { minLength?: number, maxLength?: number } = {}): fc.Arbitrary<string> {
  return fc.string({
    size: 'max',
    ...constraints,
    unit: fc.oneof(
      { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }), weight: 4 },
      { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 2 },
      { arbitrary: trickyChar, weight: 2 },
      { arbitrary: codeUnit, weight: 1 }
    )
  })
}

/** A string repeated to a large size, cheaply (fast-check draws each unit otherwise). */
export function longString (minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.tuple(anyString({ minLength: 1, maxLength: 8 }), fc.integer({ min: minLength, max: maxLength }))
    .map(([piece, length]) => piece.repeat(Math.ceil(length / piece.length)))
}

/** Bytes, mostly short but now and then of any length up to `maxLength` (past a limit). */
export function anyBytes (maxLength: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 64, size: 'max' }), weight: 6 },
    { arbitrary: fc.uint8Array({ maxLength, size: 'max' }), weight: 1 }
  )
}

/** Edits applied to a valid encoding: flip a byte, insert, delete, truncate. */
export function mutateBytes (base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate'), fc.nat(), fc.integer({ min: 0, max: 255 }))
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([input, edits]) => {
    let bytes = [...input]
    for (const [kind, at, byte] of edits) {
      const i = bytes.length === 0 ? 0 : at % bytes.length
      if (kind === 'flip' && bytes.length > 0) bytes[i] = (bytes[i] ?? 0) ^ (1 << (byte % 8))
      else if (kind === 'set' && bytes.length > 0) bytes[i] = byte
      else if (kind === 'insert') bytes.splice(i, 0, byte)
      else if (kind === 'delete') bytes.splice(i, 1)
      else if (kind === 'truncate') bytes = bytes.slice(0, i)
    }
    return new Uint8Array(bytes)
  })
}

// ---------------------------------------------------------------------------------------------
// CBOR values (what cborg's `encode` accepts)

/** Keys that mean something to one decoder or another, plus prototype-pollution bait. */
export const KNOWN_KEYS = [
  'op', 'ok', 'type', 'code', 'message', 'epoch', 'subscribe', 'username', 'group', 'peerId', 'addrs', 'salt',
  'authKey', 'identity', 'online', 'users', 'groups', 'members', 'keys', 'wrapped', 'fromEpoch', 'created',
  'rotationNeeded', 'hasKey', 'bound', 'id', 'size', 'sha256', 'mime', '__proto__', 'constructor', 'toString', ''
]
export const cborKey = fc.oneof(fc.constantFrom(...KNOWN_KEYS), anyString({ maxLength: 12 }))

/** Integers around every CBOR length boundary and the JavaScript safe-integer edge. */
const edgeInteger = fc.constantFrom(0, -1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32,
  Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, -Number.MAX_SAFE_INTEGER, 2 ** 53 + 2)
/** cborg encodes a bigint as a CBOR integer only inside the 64-bit range. */
const cborBigInt = fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n })

const { cborValue } = fc.letrec<{ cborValue: unknown }>(tie => ({
  cborValue: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.integer(),
    edgeInteger,
    cborBigInt,
    fc.double(),
    anyString({ maxLength: 24 }),
    fc.uint8Array({ maxLength: 48, size: 'max' }),
    // Now and then past a field's limit: names 32/64, peer ids 128, addresses 256, messages
    // 512 characters; wrapped keys 256, identities 512 bytes.
    longString(30, 600),
    fc.uint8Array({ minLength: 200, maxLength: 600, size: 'max' }),
    fc.array(tie('cborValue'), { maxLength: 5 }),
    fc.dictionary(cborKey, tie('cborValue'), { maxKeys: 5, noNullPrototype: true }),
    // Maps with non-string keys: valid CBOR, which the strict decoders must refuse.
    fc.array(fc.tuple(fc.oneof(fc.integer(), fc.boolean(), anyString({ maxLength: 6 })), tie('cborValue')), { maxLength: 3 })
      .map(entries => new Map(entries))
  )
}))
export { cborValue }

/** A map whose `key` field is drawn from `values` (real discriminators plus junk), with other
 * arbitrary fields around it. */
export function cborMapWith (key: string, values: readonly unknown[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(
    fc.oneof({ arbitrary: fc.constantFrom(...values), weight: 4 }, { arbitrary: cborValue, weight: 1 }),
    fc.dictionary(cborKey, cborValue, { maxKeys: 5, noNullPrototype: true })
  ).map(([value, rest]) => ({ ...rest, [key]: value }))
}

// ---------------------------------------------------------------------------------------------
// Schema-driven bodies (common/wire/codec.ts)

const ABSENT = Symbol('absent')

/** Building an arbitrary (fc.stringMatching above all) costs far more than drawing from it, so
 * each field's is built once. */
const fieldCache = new WeakMap<Field, fc.Arbitrary<unknown>>()

/** A value the schema field accepts. Strings with a pattern come from fc.stringMatching; a
 * branded name (a field with `make`) is one its constructor keeps as it is, so it round-trips. */
export function validField (field: Field): fc.Arbitrary<unknown> {
  let arbitrary = fieldCache.get(field)
  if (arbitrary === undefined) {
    arbitrary = buildValidField(field)
    fieldCache.set(field, arbitrary)
  }
  return arbitrary
}

function buildValidField (field: Field): fc.Arbitrary<unknown> {
  switch (field.kind) {
    case 'string': {
      // Text that survives CBOR unchanged. A lone surrogate has no UTF-8 form (cborg sends
      // U+FFFD), and cborg's decoder (a default TextDecoder) drops one leading U+FEFF.
      const base = field.pattern === undefined
        ? anyString({ minLength: field.min, maxLength: Math.min(field.max, 40) })
          .map(text => text.replace(/\p{Cs}/gu, '\ufffd').replace(/^\ufeff+/, ''))
        // fc.stringMatching has no `i` flag: the lower-case matches are valid all the same.
        : fc.stringMatching(new RegExp(field.pattern.source, field.pattern.flags.replace('i', '')))
      if (field.make === undefined) return base.filter(text => text.length >= field.min && text.length <= field.max)
      const make = field.make
      return fc.stringMatching(field.pattern ?? NAME_PATTERN).filter(text => {
        try {
          return text.length <= field.max && make(text) === text
        } catch {
          return false
        }
      })
    }
    case 'bytes':
      return fc.uint8Array({ minLength: field.min, maxLength: Math.min(field.max, Math.max(field.min, 40)) })
    case 'uint':
      return fc.oneof(fc.integer({ min: 0, max: Math.min(field.max, 1000) }), fc.integer({ min: 0, max: field.max }), fc.constant(field.max))
    case 'bool':
      return fc.boolean()
    case 'array':
      return fc.array(validField(field.of as Field), { maxLength: Math.min(field.max, 4) })
    case 'object':
      return validBody(field.fields as Schema)
  }
}

/** Per-field generators that replace validField for top-level keys (a discriminator, names a
 * later check lower-cases, multiaddrs). */
export type Overrides = Record<string, fc.Arbitrary<unknown>>

/** A body that passes `schema` (optional fields now present, now left out). */
export function validBody (schema: Schema, overrides: Overrides = {}): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(schema).map(([key, field]) => {
    const value = overrides[key] ?? validField(field)
    return [key, field.optional === true ? fc.option(value, { nil: ABSENT }) : value] as const
  })
  return fc.record(Object.fromEntries(entries)).map(record => withoutAbsent(record))
}

/**
 * A body that is mostly right: each field is valid, junk or missing, and now and then an
 * unknown field is added. This reaches the checks after the schema (names, multiaddrs, codes)
 * far more often than arbitrary maps do.
 */
export function nearlyValidBody (schema: Schema, overrides: Overrides = {}): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(schema).map(([key, field]) => [key, fc.oneof(
    { arbitrary: overrides[key] ?? validField(field), weight: 8 },
    { arbitrary: cborValue, weight: 1 },
    { arbitrary: fc.constant(ABSENT), weight: 1 }
  )] as const)
  return fc.tuple(
    fc.record(Object.fromEntries(entries)),
    // One body in eight gets an extra field (mostly an unknown one, sometimes a real field again).
    fc.oneof({ arbitrary: fc.constant(null), weight: 7 }, { arbitrary: fc.tuple(cborKey, cborValue), weight: 1 })
  ).map(([record, extra]) => {
    const body = withoutAbsent(record)
    // defineProperty, not `=`: a `__proto__` key must become a field, not a prototype.
    if (extra !== null) Object.defineProperty(body, extra[0], { value: extra[1], enumerable: true, writable: true, configurable: true })
    return body
  })
}

/** Fails if a decoded value holds a null anywhere: no schema type includes null, so a decoder
 * that lets one through hands its caller a value its type does not allow. */
export function assertNoNull (value: unknown, path = 'value'): void {
  assert.notEqual(value, null, `${path} is null`)
  if (Array.isArray(value)) value.forEach((item, i) => { assertNoNull(item, `${path}[${i}]`) })
  else if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
    for (const [key, item] of Object.entries(value)) assertNoNull(item, `${path}.${key}`)
  }
}

function withoutAbsent (record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(record)) {
    if (value !== ABSENT) out[key] = value
  }
  return out
}
