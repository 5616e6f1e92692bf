import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from 'cborg'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import {
  MAX_REQUEST_BYTES, RendezvousError, decodeEvent, decodeRequest, decodeResponse, decodeSubscribe, decodeSubscribed,
  encodeError, encodeEvent, encodeRequest, encodeResult, encodeSubscribe, encodeSubscribed
} from '../../../common/protocol/rendezvous.ts'
import { encodeBody } from '../../../common/wire/codec.ts'

const isCode = (code: string, message?: string) => (err: unknown): boolean =>
  is(err) && err.code === code && (message === undefined || err.message === message)

const signup = {
  username: 'Alice',
  salt: new Uint8Array(16),
  kdf: { logN: 17, r: 8, p: 1 },
  authKey: new Uint8Array(32),
  identity: new Uint8Array(128),
  addrs: ['/ip4/0.0.0.0/tcp/5000']
}

describe('rendezvous requests', () => {
  it('decode to exactly their fields, with names lower-cased', () => {
    assert.deepEqual(decodeRequest(encodeRequest('signup', signup)), { op: 'signup', ...signup, username: 'alice' })
    assert.deepEqual(decodeRequest(encodeRequest('join', { group: 'Team.One' })), { op: 'join', group: 'team.one' })
    assert.deepEqual(decodeRequest(encodeRequest('who', {})), { op: 'who' })
    const wrapped = new Uint8Array(88).fill(7)
    const proof = { commitment: new Uint8Array(32).fill(1), signature: new Uint8Array(64).fill(2) }
    assert.deepEqual(decodeRequest(encodeRequest('rotate', { group: 'g', fromEpoch: 3, wrapped, ...proof })), { op: 'rotate', group: 'g', fromEpoch: 3, wrapped, ...proof })
    assert.throws(() => decodeRequest(encodeRequest('rotate', { group: 'g', fromEpoch: 3, wrapped, ...proof, signature: new Uint8Array(63) })), isCode(ErrorCode.Malformed))
  })

  it('refuse an unknown or missing operation', () => {
    assert.throws(() => decodeRequest(encodeBody({ op: 'drop' })), isCode(ErrorCode.Malformed, 'unknown operation "drop"'))
    assert.throws(() => decodeRequest(encodeBody({ group: 'g' })), isCode(ErrorCode.Malformed, 'unknown operation'))
    assert.throws(() => decodeRequest(encodeBody({ op: 7 })), isCode(ErrorCode.Malformed, 'unknown operation'))
    assert.throws(() => decodeRequest(encodeBody({ op: 'toString' })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeRequest(encodeBody({ op: '__proto__' })), isCode(ErrorCode.Malformed))
  })

  it('refuse missing, unknown, mistyped and oversized fields', () => {
    assert.throws(() => decodeRequest(encodeBody({ op: 'join' })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeRequest(encodeBody({ op: 'join', group: 'g', admin: true })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeRequest(encodeBody({ op: 'rotate', group: 'g', fromEpoch: -1 })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeRequest(encodeBody({ op: 'rotate', group: 'g', fromEpoch: '1' })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeRequest(encodeRequest('signup', { ...signup, salt: new Uint8Array(15) })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeRequest(encodeRequest('signup', { ...signup, authKey: new Uint8Array(33) })), isCode(ErrorCode.TooLarge))
    assert.throws(() => decodeRequest(encodeRequest('signup', { ...signup, identity: new Uint8Array(513) })), isCode(ErrorCode.TooLarge))
    assert.throws(() => decodeRequest(encodeRequest('signup', { ...signup, addrs: new Array<string>(9).fill('/ip4/1.2.3.4/tcp/1') })), isCode(ErrorCode.TooLarge))
    assert.throws(() => decodeRequest(encodeRequest('put-key', { group: 'g', epoch: 1, wrapped: new Uint8Array(257) })), isCode(ErrorCode.TooLarge))
    assert.throws(() => decodeRequest(new Uint8Array(MAX_REQUEST_BYTES + 1)), isCode(ErrorCode.TooLarge))
  })

  it('refuse bytes that are not a CBOR map', () => {
    for (const bad of [new Uint8Array(0), Uint8Array.of(0xff), encode([1, 2]), encode('salt'), Uint8Array.of(0xa1, 0x61)]) {
      assert.throws(() => decodeRequest(bad), isCode(ErrorCode.Malformed))
    }
  })

  it('refuse invalid names and addresses', () => {
    for (const group of ['../x', "a'; DROP TABLE users;--", '..', 'a b', 'x'.repeat(33), 'é']) {
      assert.throws(() => decodeRequest(encodeRequest('join', { group })), isCode(ErrorCode.InvalidName), group)
    }
    assert.throws(() => decodeRequest(encodeRequest('join', { group: '' })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeRequest(encodeRequest('lookup', { username: 'bob/..' })), isCode(ErrorCode.InvalidName))
    assert.throws(() => decodeRequest(encodeRequest('signin', { username: 'a', authKey: new Uint8Array(32), addrs: ['/nope/1'] })),
      isCode(ErrorCode.Malformed, 'signin.addrs[0] is not a multiaddr'))
  })
})

describe('rendezvous responses', () => {
  it('decode a success to its result', () => {
    const result = { group: 'g', created: true, epoch: 0 }
    assert.deepEqual(decodeResponse('join', encodeResult('join', result)), result)
  })

  it('throw the server\'s error with its code, message and epoch', () => {
    const frame = encodeError(new RendezvousError(ErrorCode.Conflict, 'group "g" is at epoch 4, not 3', 4), 4)
    assert.throws(() => decodeResponse('rotate', frame), (err: unknown) =>
      err instanceof RendezvousError && err instanceof ParleyError && err.code === ErrorCode.Conflict &&
      err.epoch === 4 && err.message === 'group "g" is at epoch 4, not 3')
    assert.throws(() => decodeResponse('list', encodeError(new ParleyError(ErrorCode.NotSignedIn, 'sign in first'))),
      (err: unknown) => err instanceof RendezvousError && err.code === ErrorCode.NotSignedIn && err.epoch === undefined)
  })

  it('treat an unknown error code as a protocol error and bad answers as malformed', () => {
    assert.throws(() => decodeResponse('list', encodeBody({ ok: false, code: 'ERR_WHATEVER', message: 'x' })), isCode(ErrorCode.Protocol))
    assert.throws(() => decodeResponse('list', encodeBody({ groups: [] })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeResponse('list', encodeBody({ ok: true, groups: [], extra: 1 })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeResponse('list', encodeBody({ ok: true, groups: [{ group: 'G!', members: 1 }] })), isCode(ErrorCode.Malformed))
  })

  it('are checked before the server sends them', () => {
    assert.throws(() => encodeResult('lookup', { username: 'Not Normalised', peerId: 'p', addrs: [], online: true }), isCode(ErrorCode.Malformed))
  })
})

describe('rendezvous events', () => {
  it('round-trip every event type', () => {
    const events = [
      { type: 'presence', username: 'bob', online: false },
      { type: 'member-joined', group: 'g', username: 'bob' },
      { type: 'member-left', group: 'g', username: 'bob' },
      { type: 'key-needed', group: 'g', epoch: 2, username: 'bob' },
      { type: 'rotation-needed', group: 'g' },
      { type: 'session-replaced' },
      { type: 'ping' }
    ] as const
    for (const event of events) assert.deepEqual(decodeEvent(encodeEvent(event)), event)
  })

  it('refuse unknown types and fields', () => {
    assert.throws(() => decodeEvent(encodeBody({ type: 'reboot' })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeEvent(encodeBody({ type: 'rotation-needed', group: 'g', x: 1 })), isCode(ErrorCode.Malformed))
    assert.throws(() => decodeEvent(encodeBody({ group: 'g' })), isCode(ErrorCode.Malformed))
  })

  it('subscribe with exactly { subscribe: true } and get { ok: true }', () => {
    decodeSubscribe(encodeSubscribe())
    decodeSubscribed(encodeSubscribed())
    assert.throws(() => { decodeSubscribe(encodeBody({ subscribe: false })) }, isCode(ErrorCode.Malformed))
    assert.throws(() => { decodeSubscribe(encodeBody({ subscribe: true, all: true })) }, isCode(ErrorCode.Malformed))
  })
})
