/**
 * Schema-checked binary bodies. Bodies are CBOR (cborg, strict: no tags, no undefined, no
 * indefinite lengths, no duplicate keys), then checked against a schema: an unknown, missing,
 * mistyped or oversized field is a ParleyError, so nothing past the decoder ever sees a value
 * it did not ask for. The schema also gives the decoded value its TypeScript type.
 */
import { decode, encode } from 'cborg'
import { malformed, tooLarge } from '../errors.ts'
import { MAX_FRAME_BYTES } from './limits.ts'

interface Opt { optional?: boolean }
/** `T`: the string type the decoded value has; a branded name (common/wire/names.ts) only with
 * `make`, its constructor, which the check runs and whose result replaces the string. */
export interface StringField<T extends string = string> extends Opt { kind: 'string', min: number, max: number, pattern?: RegExp, make?: (raw: string) => T }
export interface BytesField extends Opt { kind: 'bytes', min: number, max: number }
export interface UintField extends Opt { kind: 'uint', max: number }
export interface BoolField extends Opt { kind: 'bool' }
export interface ArrayField<F extends Field = Field> extends Opt { kind: 'array', of: F, max: number }
export interface ObjectField<S extends Schema = Schema> extends Opt { kind: 'object', fields: S }
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- recursive field types need the wide form here
export type Field = StringField | BytesField | UintField | BoolField | ArrayField<any> | ObjectField<any>
export type Schema = Record<string, Field>

type Infer<F> =
  F extends StringField<infer T> ? T
    : F extends BytesField ? Uint8Array
      : F extends UintField ? number
        : F extends BoolField ? boolean
          : F extends ArrayField<infer E> ? Array<Infer<E>>
            : F extends ObjectField<infer S> ? InferSchema<S>
              : never
type RequiredKeys<S> = { [K in keyof S]: S[K] extends { optional: true } ? never : K }[keyof S]
type OptionalKeys<S> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S]
export type InferSchema<S> =
  { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }

/** Field builders: `str(32)`, `bytes(32, 32)`, `uint()`, `optional(str(10))`, … */
export const str = (max: number, min = 0, pattern?: RegExp): StringField => ({ kind: 'string', min, max, pattern })
/** A string of 1 to `max` characters (and `pattern`, checked first) that `make` turns into its
 * branded type: the decoded value is what `make` returned, or `make`'s error. */
export const named = <T extends string>(make: (raw: string) => T, max: number, pattern?: RegExp): StringField<T> => ({ kind: 'string', min: 1, max, pattern, make })
export const bytes = (max: number, min = 0): BytesField => ({ kind: 'bytes', min, max })
export const uint = (max = Number.MAX_SAFE_INTEGER): UintField => ({ kind: 'uint', max })
export const bool = (): BoolField => ({ kind: 'bool' })
export const array = <F extends Field>(of: F, max: number): ArrayField<F> => ({ kind: 'array', of, max })
export const object = <S extends Schema>(fields: S): ObjectField<S> => ({ kind: 'object', fields })
export const optional = <F extends Field>(field: F): F & { optional: true } => ({ ...field, optional: true })

const decodeOptions = {
  strict: true,
  allowUndefined: false,
  allowIndefinite: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false
}

export function encodeBody (value: Record<string, unknown>): Uint8Array {
  return encode(value, { ignoreUndefinedProperties: true })
}

export function decodeBody<S extends Schema> (schema: S, data: Uint8Array, maxBytes = MAX_FRAME_BYTES): InferSchema<S> {
  return checkObject(schema, decodeMap(data, maxBytes, 'body'), 'body') as InferSchema<S>
}

/**
 * Strict CBOR to a plain map, size-checked first; for decoders whose schema depends on a field
 * (a request's `op`, an event's `type`), which then check the map with `checkObject`.
 */
export function decodeMap (data: Uint8Array, maxBytes: number, what: string): Record<string, unknown> {
  if (data.byteLength > maxBytes) throw tooLarge(`${what} of ${data.byteLength} bytes is over the limit of ${maxBytes}`)
  let value: unknown
  try {
    value = decode(data, decodeOptions)
  } catch (err) {
    throw malformed(`${what} is not valid CBOR: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw malformed(`${what} must be a map`)
  }
  return value as Record<string, unknown>
}

/** Check an already-decoded value against a schema (also used for CLI JSON and stored rows). A
 * `named` field is replaced, in place, by its constructor's result. */
export function checkObject (schema: Schema, value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw malformed(`${path} must be a map`)
  }
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(schema, key)) throw malformed(`${path} has an unknown field "${key.slice(0, 40)}"`)
  }
  for (const [key, field] of Object.entries(schema)) {
    const present = Object.hasOwn(record, key) && record[key] !== null
    if (!present) {
      if (field.optional === true) {
        // Fuzzing fix (issue 7): an optional field sent as null counts as absent, so drop it. Left
        // in, the checked value carried a null where its type says `T | undefined` (a META
        // `mime: null` reached ReceivedFile.mime; `epoch: null` reached RendezvousError.epoch).
        if (Object.hasOwn(record, key)) delete record[key]
        continue
      }
      throw malformed(`${path}.${key} is missing`)
    }
    record[key] = checkField(field, record[key], `${path}.${key}`)
  }
  return record
}

/** The value, checked: itself, or for a `named` field its constructor's result. */
function checkField (field: Field, value: unknown, path: string): unknown {
  switch (field.kind) {
    case 'string':
      if (typeof value !== 'string') throw malformed(`${path} must be a string`)
      if (value.length < field.min) throw malformed(`${path} is too short`)
      if (value.length > field.max) throw tooLarge(`${path} is longer than ${field.max}`)
      if (field.pattern !== undefined && !field.pattern.test(value)) throw malformed(`${path} has characters that are not allowed`)
      return field.make === undefined ? value : field.make(value)
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw malformed(`${path} must be bytes`)
      if (value.byteLength < field.min) throw malformed(`${path} is too short`)
      if (value.byteLength > field.max) throw tooLarge(`${path} is longer than ${field.max} bytes`)
      return value
    case 'uint':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw malformed(`${path} must be a whole number >= 0`)
      if (value > field.max) throw tooLarge(`${path} is over ${field.max}`)
      return value
    case 'bool':
      if (typeof value !== 'boolean') throw malformed(`${path} must be true or false`)
      return value
    case 'array':
      if (!Array.isArray(value)) throw malformed(`${path} must be a list`)
      if (value.length > field.max) throw tooLarge(`${path} has more than ${field.max} items`)
      value.forEach((item, i) => { value[i] = checkField(field.of as Field, item, `${path}[${i}]`) })
      return value
    case 'object':
      return checkObject(field.fields as Schema, value, path)
  }
}
