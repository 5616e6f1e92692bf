/**
 * Fuzz: the rendezvous wire contract (common/protocol/rendezvous.ts). The server decodes
 * requests and subscriptions from strangers; clients decode responses and events from the
 * server. Each decoder answers a checked value or a ParleyError with a known code: requests
 * ERR_MALFORMED / ERR_TOO_LARGE / ERR_INVALID_NAME, events and subscriptions ERR_MALFORMED /
 * ERR_TOO_LARGE, responses those or the server's own error as a RendezvousError.
 *
 * Cases: decodeRequest 10,000 per property (4 properties, 40,000); decodeResponse 10,000 per
 * property over all ops plus 2,000 nearly-valid bodies per op (70,000); decodeEvent 10,000 per
 * property (40,000); decodeSubscribe and decodeSubscribed 10,000 each; and 10,000 arbitrary CBOR
 * values through all of them.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decode, encode } from 'cborg'
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, ParleyError, isErrorCode } from '../../../common/errors.ts'
import {
  ERROR_SCHEMA, EVENT_SCHEMAS, MAX_ADDRS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, REQUEST_SCHEMAS, RESPONSE_SCHEMAS, RendezvousError,
  decodeEvent, decodeRequest, decodeResponse, decodeSubscribe, decodeSubscribed, encodeError, encodeEvent, encodeRequest,
  encodeResult, encodeSubscribe, encodeSubscribed
} from '../../../common/protocol/rendezvous.ts'
import type { EventType, Op, Result, WireEvent } from '../../../common/protocol/rendezvous.ts'
import { checkObject, encodeBody } from '../../../common/wire/codec.ts'
import { NAME_PATTERN, isValidName } from '../../../common/wire/names.ts'
import {
  anyBytes, anyString, assertNoNull, cborMapWith, cborValue, fc, longString, mutateBytes, nearlyValidBody, outcome, params, scaled, validBody
} from './arbitraries.ts'
import type { Overrides } from './arbitraries.ts'

const OPS = Object.keys(REQUEST_SCHEMAS) as Op[]
const EVENT_TYPES = Object.keys(EVENT_SCHEMAS) as EventType[]
const KNOWN_CODES = Object.values(ErrorCode)
/** ERR_INVALID_NAME: a name of the right characters its constructor refuses ("." or ".."). */
const SCHEMA_ERRORS: readonly ErrorCode[] = [ErrorCode.Malformed, ErrorCode.TooLarge, ErrorCode.InvalidName]
const REQUEST_ERRORS: readonly ErrorCode[] = [ErrorCode.Malformed, ErrorCode.TooLarge, ErrorCode.InvalidName]
/** Discriminators near the real ones: wrong case, padded, prefixes, other types. */
const JUNK_TAGS = ['SALT', 'salt ', 'sal', 'put_key', 'get-key', 'unknown', '', '__proto__', 'toString', 'hasOwnProperty', 1, 0, true, null]

/** Names as a client might type them: valid in mixed case, or anything. */
const validName = fc.stringMatching(NAME_PATTERN)
const clientName = fc.oneof(
  { arbitrary: fc.mixedCase(validName), weight: 3 },
  { arbitrary: anyString({ minLength: 1, maxLength: 40 }), weight: 1 }
)
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map(parts => parts.join('.'))
const port = fc.integer({ min: 0, max: 70_000 })
/** Multiaddrs: real ones, and near misses (bad octets, ports, protocols, no leading slash). */
const addr = fc.oneof(
  fc.tuple(ipv4, port).map(([ip, p]) => `/ip4/${ip}/tcp/${p}`),
  fc.tuple(ipv4, port).map(([ip, p]) => `/ip4/${ip}/udp/${p}/quic-v1`),
  port.map(p => `/ip6/::1/tcp/${p}`),
  fc.tuple(fc.stringMatching(/^[a-z0-9-]{1,20}(\.[a-z]{2,6})?$/), port).map(([host, p]) => `/dns4/${host}/tcp/${p}`),
  fc.constantFrom('/ip4/999.1.1.1/tcp/1', '/ip4/1.2.3.4/tcp/x', '/nope/1', 'ip4/1.2.3.4/tcp/1', '/', '/ip4', '/ip6/zz::/tcp/1',
    '/p2p/not-a-peer-id', '/ip4/1.2.3.4/tcp/1/p2p/12D3KooW', '/unix/%2F', '/dns4//tcp/1'),
  anyString({ minLength: 1, maxLength: 30 })
)
const REQUEST_OVERRIDES: Overrides = {
  username: clientName,
  group: clientName,
  addrs: fc.array(addr, { maxLength: MAX_ADDRS + 1 })
}

// --- requests ------------------------------------------------------------------------------------

/** A decoded request is fully checked: known op, exactly its fields, valid lower-case names,
 * multiaddrs; and decoding its own encoding gives it back. */
function checkRequest (data: Uint8Array): void {
  const result = outcome(() => decodeRequest(data), REQUEST_ERRORS)
  if (!result.ok) return
  const request = result.value as unknown as Record<string, unknown>
  assertNoNull(request)
  const op = request.op as Op
  assert.ok(OPS.includes(op), `unknown op ${String(op)}`)
  const { op: _op, ...args } = request
  checkObject(REQUEST_SCHEMAS[op], args, op)
  for (const key of ['username', 'group']) {
    if (key in request) assert.ok(isValidName(request[key] as string), `${key} not normalised: ${String(request[key])}`)
  }
  for (const a of (request.addrs as string[] | undefined) ?? []) multiaddr(a)
  assert.deepEqual(decodeRequest(encodeBody(request)), request)
}

const nearlyValidRequest = fc.oneof(...OPS.map(op =>
  nearlyValidBody({ op: REQUEST_SCHEMAS.salt.username, ...REQUEST_SCHEMAS[op] }, { ...REQUEST_OVERRIDES, op: fc.constant(op) })))

test('decodeRequest answers arbitrary bytes with a checked request or ERR_MALFORMED / ERR_TOO_LARGE / ERR_INVALID_NAME', () => {
  fc.assert(fc.property(anyBytes(MAX_REQUEST_BYTES + 64), data => { checkRequest(data) }), params())
})

test('decodeRequest answers arbitrary CBOR maps whose op is real or junk with a checked request or a typed error', () => {
  fc.assert(fc.property(cborMapWith('op', [...OPS, ...JUNK_TAGS]), value => { checkRequest(encode(value)) }), params())
})

test('decodeRequest answers nearly valid requests of every op (names in any case, near-miss multiaddrs), and byte edits of them, with a checked request or a typed error', () => {
  const encoded = nearlyValidRequest.map(body => encode(body))
  fc.assert(fc.property(fc.oneof(encoded, mutateBytes(encoded)), data => { checkRequest(data) }), params())
})

test('every valid request round-trips through encodeRequest and decodeRequest, names lower-cased', () => {
  const validAddrs = fc.array(fc.tuple(ipv4, port).map(([ip, p]) => `/ip4/${ip}/tcp/${p % 65_536}`), { maxLength: MAX_ADDRS })
  const mixedCaseName = fc.mixedCase(validName.filter(isValidName))
  const request = fc.oneof(...OPS.map(op => validBody(REQUEST_SCHEMAS[op], { username: mixedCaseName, group: mixedCaseName, addrs: validAddrs })
    .map(args => ({ op, args }))))
  fc.assert(fc.property(request, ({ op, args }) => {
    const decoded = decodeRequest(encodeRequest(op, args as never)) as unknown as Record<string, unknown>
    const expected: Record<string, unknown> = { op, ...args }
    for (const key of ['username', 'group']) {
      if (typeof expected[key] === 'string') expected[key] = expected[key].toLowerCase()
    }
    assert.deepEqual(decoded, expected)
  }), params())
})

// --- responses -----------------------------------------------------------------------------------

/**
 * A response decodes to its result (which passes the op's schema, without `ok`), or throws: a
 * RendezvousError exactly when the body is a well-formed `{ ok: false }` error, with the server's
 * code when it is a known one and ERR_PROTOCOL otherwise; ERR_MALFORMED / ERR_TOO_LARGE else.
 */
function checkResponse (op: Op, data: Uint8Array): void {
  const result = outcome(() => decodeResponse(op, data), KNOWN_CODES)
  if (result.ok) {
    assertNoNull(result.value)
    assert.ok(!('ok' in result.value), 'result without ok')
    checkObject(RESPONSE_SCHEMAS[op], result.value, `${op} result`)
    return
  }
  const err = result.error
  if (err instanceof RendezvousError) {
    // The body as it travelled (strings as UTF-8, integers as numbers): lenient cborg decodes it.
    const sent = decode(data) as Record<string, unknown>
    assert.equal(sent.ok, false, 'a RendezvousError only for ok: false')
    assert.equal(err.code, isErrorCode(sent.code) ? sent.code : ErrorCode.Protocol)
    assert.equal(err.message, sent.message)
    assert.equal(err.epoch, sent.epoch ?? undefined)
  } else {
    assert.ok(SCHEMA_ERRORS.includes(err.code), `${err.code} that is not the server's: ${err.message}`)
  }
}

const errorBody = nearlyValidBody(ERROR_SCHEMA, {
  ok: fc.constant(false),
  code: fc.oneof(fc.constantFrom(...KNOWN_CODES), fc.constantFrom('ERR_NOPE', 'err_malformed', 'ERR_', 'x'.repeat(33)), anyString({ minLength: 1, maxLength: 8 }))
})
const responseBody = (op: Op): fc.Arbitrary<Record<string, unknown>> => fc.oneof(
  { arbitrary: nearlyValidBody({ ok: ERROR_SCHEMA.ok, ...RESPONSE_SCHEMAS[op] }, { ok: fc.constant(true) }), weight: 3 },
  { arbitrary: errorBody, weight: 2 },
  { arbitrary: cborMapWith('ok', [true, false, 0, 1, 'true', null]), weight: 1 }
)

test('decodeResponse answers arbitrary bytes, for any op, with a result or a typed error', () => {
  fc.assert(fc.property(fc.constantFrom(...OPS), anyBytes(512), (op, data) => { checkResponse(op, data) }), params())
})

test('decodeResponse answers oversized frames as too large', () => {
  const big = fc.tuple(fc.constantFrom(...OPS), fc.integer({ min: 1, max: 1024 }))
  fc.assert(fc.property(big, ([op, extra]) => {
    const result = outcome(() => decodeResponse(op, new Uint8Array(MAX_RESPONSE_BYTES + extra)), SCHEMA_ERRORS)
    assert.ok(!result.ok && result.error.code === ErrorCode.TooLarge)
  }), params(200))
})

test('decodeResponse answers arbitrary CBOR maps with ok true, false or junk, for any op, with a result or a typed error', () => {
  fc.assert(fc.property(fc.constantFrom(...OPS), cborMapWith('ok', [true, false, 0, 1, 'true', null]), (op, body) => {
    checkResponse(op, encode(body))
  }), params())
})

// 2,000 per op, 30,000 in all: with the 10,000-run properties above and below, decodeResponse
// sees 70,000 cases, and every op's schema gets its own nearly-valid run.
for (const op of OPS) {
  test(`decodeResponse(${op}) answers nearly valid results and error bodies, and byte edits of them, with a result or a typed error`, () => {
    const encoded = responseBody(op).map(body => encode(body))
    fc.assert(fc.property(fc.oneof(encoded, mutateBytes(encoded)), data => { checkResponse(op, data) }), params(scaled(2_000)))
  })
}

test('every valid result round-trips through encodeResult and decodeResponse, for every op', () => {
  const valid = fc.oneof(...OPS.map(op => validBody(RESPONSE_SCHEMAS[op]).map(result => ({ op, result }))))
  fc.assert(fc.property(valid, ({ op, result }) => {
    assert.deepEqual(decodeResponse(op, encodeResult(op, result as Result<typeof op>)), result)
  }), params())
})

test('every server error reaches the client as a RendezvousError with its code, message and epoch', () => {
  const errors = fc.record({
    op: fc.constantFrom(...OPS),
    code: fc.constantFrom(...KNOWN_CODES),
    // Short messages, and long ones past the 512 characters encodeError keeps.
    message: fc.oneof(anyString({ maxLength: 40 }), longString(400, 700))
      .map(text => text.replace(/\p{Cs}/gu, '\ufffd').replace(/^\ufeff+/, '')),
    epoch: fc.option(fc.maxSafeNat(), { nil: undefined })
  })
  fc.assert(fc.property(errors, ({ op, code, message, epoch }) => {
    const result = outcome(() => decodeResponse(op, encodeError(new ParleyError(code, message), epoch)), KNOWN_CODES)
    assert.ok(!result.ok && result.error instanceof RendezvousError, 'a RendezvousError')
    assert.equal(result.error.code, code)
    // encodeError cuts at 512 UTF-16 units; a cut between the halves of a pair sends U+FFFD.
    assert.equal(result.error.message, message.slice(0, 512).replace(/\p{Cs}/gu, '\ufffd'))
    assert.equal(result.error.epoch, epoch)
  }), params())
})

// --- events and the subscription handshake -------------------------------------------------------

function checkEvent (data: Uint8Array): void {
  const result = outcome(() => decodeEvent(data), SCHEMA_ERRORS)
  if (!result.ok) return
  assertNoNull(result.value)
  const { type, ...fields } = result.value as unknown as Record<string, unknown>
  assert.ok(EVENT_TYPES.includes(type as EventType), `unknown type ${String(type)}`)
  checkObject(EVENT_SCHEMAS[type as EventType], fields, `${String(type)} event`)
}

test('decodeEvent answers arbitrary bytes with a checked event or ERR_MALFORMED / ERR_TOO_LARGE', () => {
  fc.assert(fc.property(anyBytes(512), data => { checkEvent(data) }), params())
})

test('decodeEvent answers arbitrary CBOR maps whose type is real or junk with a checked event or a typed error', () => {
  fc.assert(fc.property(cborMapWith('type', [...EVENT_TYPES, ...JUNK_TAGS]), value => { checkEvent(encode(value)) }), params())
})

test('decodeEvent answers nearly valid events of every type, and byte edits of them, with a checked event or a typed error', () => {
  const nearly = fc.oneof(...EVENT_TYPES.map(type =>
    nearlyValidBody({ type: ERROR_SCHEMA.code, ...EVENT_SCHEMAS[type] }, { type: fc.constant(type) })))
    .map(body => encode(body))
  fc.assert(fc.property(fc.oneof(nearly, mutateBytes(nearly)), data => { checkEvent(data) }), params())
})

test('every valid event round-trips through encodeEvent and decodeEvent', () => {
  const valid = fc.oneof(...EVENT_TYPES.map(type => validBody(EVENT_SCHEMAS[type]).map(fields => ({ type, ...fields }) as WireEvent)))
  fc.assert(fc.property(valid, event => { assert.deepEqual(decodeEvent(encodeEvent(event)), event) }), params())
})

test('decodeSubscribe accepts exactly { subscribe: true } and answers anything else with ERR_MALFORMED / ERR_TOO_LARGE', () => {
  assert.equal(decodeSubscribe(encodeSubscribe()), undefined)
  const input = fc.oneof(
    anyBytes(MAX_REQUEST_BYTES + 64),
    cborMapWith('subscribe', [true, false, 1, 'true', null]).map(body => encode(body)),
    mutateBytes(fc.constant(encodeSubscribe()))
  )
  fc.assert(fc.property(input, data => {
    const result = outcome(() => decodeSubscribe(data), SCHEMA_ERRORS)
    if (result.ok) assert.deepEqual(data, encodeSubscribe(), 'only the one valid body is accepted')
  }), params())
})

test('decodeSubscribed accepts exactly { ok: true }, turns a server error into a RendezvousError, and answers anything else with ERR_MALFORMED / ERR_TOO_LARGE', () => {
  assert.equal(decodeSubscribed(encodeSubscribed()), undefined)
  const input = fc.oneof(
    anyBytes(512),
    fc.oneof(cborMapWith('ok', [true, false, 1, null]), errorBody).map(body => encode(body)),
    mutateBytes(fc.constant(encodeSubscribed()))
  )
  fc.assert(fc.property(input, data => {
    const result = outcome(() => decodeSubscribed(data), KNOWN_CODES)
    if (result.ok) {
      assert.deepEqual(data, encodeSubscribed(), 'only the one valid body is accepted')
    } else if (result.error instanceof RendezvousError) {
      assert.equal((decode(data) as Record<string, unknown>).ok, false, 'a RendezvousError only for ok: false')
    } else {
      assert.ok(SCHEMA_ERRORS.includes(result.error.code), result.error.message)
    }
  }), params())
})

test('arbitrary CBOR values of any shape are never mistaken for a request, response, event or subscription', () => {
  fc.assert(fc.property(cborValue, fc.constantFrom(...OPS), (value, op) => {
    const data = encode(value)
    checkRequest(data)
    checkResponse(op, data)
    checkEvent(data)
    outcome(() => decodeSubscribe(data), SCHEMA_ERRORS)
  }), params())
})
