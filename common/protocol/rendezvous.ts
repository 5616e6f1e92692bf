/**
 * The rendezvous wire contract (DESIGN.md §3, §5): protocol ids, every request, response and
 * event body as a schema (common/wire/codec.ts), and the validated decoders both sides use.
 *
 * `/parley/rendezvous/1.0.0` carries one request per stream: the client writes one frame
 * `{ op, ...args }`, the server answers one frame `{ ok: true, ...result }` or
 * `{ ok: false, code, message, epoch? }`, and both close.
 *
 * `/parley/rendezvous/1.1.0` is the same exchange repeated on one stream: after each answer the
 * client may write its next request, one at a time, and closes its half when done; the server
 * closes a stream idle for REQUEST_STREAM_IDLE_MS. A stream per request cost both sides a
 * protocol negotiation, two peer-store writes and four yamux frames more than the request itself
 * (issue 11). A client offers both and keeps a stream only when 1.1.0 was agreed, so either side
 * may be the older.
 *
 * `/parley/events/1.0.0` is opened by a signed-in client, which writes `{ subscribe: true }`;
 * the server answers `{ ok: true }` (or an error response) and then pushes event frames
 * `{ type, ... }` until the session ends.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, ParleyError, isErrorCode, malformed } from '../errors.ts'
import { array, bool, bytes, checkObject, decodeMap, encodeBody, named, object, optional, str, uint } from '../wire/codec.ts'
import type { InferSchema, Schema } from '../wire/codec.ts'
import { MAX_FRAME_BYTES, MAX_NAME_LENGTH } from '../wire/limits.ts'
import { COMMITMENT_BYTES, SIGNATURE_BYTES } from '../crypto/epoch.ts'
import { MAX_NAME_CARD_BYTES } from '../crypto/name-card.ts'
import { NAME_PATTERN, toGroupName, toUsername } from '../wire/names.ts'
import type { Plain } from '../wire/names.ts'

export const RENDEZVOUS_PROTOCOL = '/parley/rendezvous/1.0.0'
export const RENDEZVOUS_REQUESTS_PROTOCOL = '/parley/rendezvous/1.1.0'
/** How long the server keeps a 1.1.0 stream that carries no request open. A client drops its
 * idle streams well before (REQUEST_STREAM_KEEP_MS), so it never writes to one being closed. */
export const REQUEST_STREAM_IDLE_MS = 60_000
export const EVENTS_PROTOCOL = '/parley/events/1.0.0'
/** The server writes an event, or a ping, on every events stream at least this often: well under
 * the 120 s stream idle limit (DESIGN §2), so a dead subscriber is found within a minute. */
export const EVENTS_HEARTBEAT_MS = 30_000
/** A client that hears nothing on its events stream for this long takes its connection to the
 * rendezvous as dead and reconnects (peers do not ping their connections: common/node.ts).
 * Three heartbeats, so a server slowed by load is not dropped for being late. */
export const EVENTS_SILENCE_LIMIT_MS = 3 * EVENTS_HEARTBEAT_MS

/** Largest request: signup with a 512-byte identity blob and 8 addresses of 256 characters is
 * about 2.7 KiB of CBOR; 4 KiB leaves room and keeps what a stranger can make us buffer small. */
export const MAX_REQUEST_BYTES = 4 * 1024
/** Responses and events share the project-wide frame limit (a full `who` or `list` is ~55 KiB). */
export const MAX_RESPONSE_BYTES = MAX_FRAME_BYTES
/** At most this many entries in `who`, `list` (sorted, the rest left off). Keeps a response
 * under MAX_RESPONSE_BYTES: 1000 × ~55 bytes. */
export const MAX_LISTED = 1000
/** Members in one group: group sends fan out one stream per member (DESIGN §1). */
export const MAX_GROUP_MEMBERS = 256
/** Wrapped key copies returned by `get-keys` (and kept per user and group). */
export const MAX_KEYS_RETURNED = 64
/** Addresses a peer may register, and the length of each. */
export const MAX_ADDRS = 8
const MAX_ADDR_LENGTH = 256
/** The identity blob: an Ed25519 private key protobuf (68 bytes) wrapped (+56 bytes). */
const MAX_IDENTITY_BYTES = 512
/** A wrapped 24-byte group key is 88 bytes; room for a future wrap format. */
const MAX_WRAPPED_KEY_BYTES = 256
const SALT_BYTES = 16
const AUTH_KEY_BYTES = 32

// ---------------------------------------------------------------------------------------------
// Field shapes

/** A name as a client may send it: checked and lower-cased by `toUsername` / `toGroupName`, so a
 * bad name gets ERR_INVALID_NAME, not a generic schema error, and a decoded request carries a
 * Username or GroupName. */
const rawUsername = named(toUsername, MAX_NAME_LENGTH * 2)
const rawGroup = named(toGroupName, MAX_NAME_LENGTH * 2)
/** A name as the server sends it, already normalised (anything else is ERR_MALFORMED); decoded,
 * a Username or GroupName. */
const username = named(toUsername, MAX_NAME_LENGTH, NAME_PATTERN)
const group = named(toGroupName, MAX_NAME_LENGTH, NAME_PATTERN)
const peerId = str(128, 1)
const epoch = uint()
const addrs = array(str(MAX_ADDR_LENGTH, 1), MAX_ADDRS)
const salt = bytes(SALT_BYTES, SALT_BYTES)
const authKey = bytes(AUTH_KEY_BYTES, AUTH_KEY_BYTES)
/** An account's scrypt parameters (common/crypto/password.ts checks their range). */
const kdf = object({ logN: uint(64), r: uint(1024), p: uint(1024) })
/** The account key wrapped under the wrapKey of the account's current password parameters
 * (present once an account's scrypt cost was raised; peer/account.ts). */
const dataKey = bytes(MAX_WRAPPED_KEY_BYTES, 1)
/** A sign-in's ticket: what a signed-in peer shows when it signs in again by itself. */
export const TICKET_BYTES = 16
/** Why a resume is refused (ERR_CONFLICT): a person signed the account in since. */
export const SIGNED_IN_SINCE = 'the account was signed in since, on another device or by LOGIN'
const ticket = bytes(TICKET_BYTES, TICKET_BYTES)
/** An epoch's maker commits to the key and signs it (common/crypto/epoch.ts). */
const commitment = bytes(COMMITMENT_BYTES, COMMITMENT_BYTES)
const signature = bytes(SIGNATURE_BYTES, SIGNATURE_BYTES)

// ---------------------------------------------------------------------------------------------
// Requests (without the `op` field)

export const REQUEST_SCHEMAS = {
  salt: { username: rawUsername },
  signup: { username: rawUsername, salt, kdf, authKey, identity: bytes(MAX_IDENTITY_BYTES, 1), addrs },
  /** `resume`: a sign-in the peer makes by itself (the rendezvous came back), with the ticket of
   * the sign-in it renews: refused (ERR_CONFLICT) once the account has signed in again since, on
   * this device or another. Absent: a person's sign-in, which takes the account over. */
  signin: { username: rawUsername, authKey, addrs, resume: optional(ticket) },
  /** The signed-in owner raises its account's scrypt cost: `authKey` proves the password again;
   * the new salt, parameters and verifier replace the old, with the account key wrapped anew. */
  rekey: { authKey, salt, kdf, newAuthKey: authKey, dataKey },
  lookup: { username: rawUsername },
  /** The reverse lookup: who is behind a Noise-authenticated remote peer id (DESIGN §5). */
  whois: { peerId },
  /** The signed-in caller's name card (common/crypto/name-card.ts): shown to peers instead of
   * their asking `whois`. */
  card: {},
  who: {},
  list: {},
  create: { group: rawGroup },
  join: { group: rawGroup },
  leave: { group: rawGroup },
  members: { group: rawGroup },
  /** `wrapped`: the caller's copy of the new epoch's key (epoch fromEpoch + 1), stored atomically;
   * `commitment` and `signature`: the caller's signed commitment to that key. */
  rotate: { group: rawGroup, fromEpoch: epoch, wrapped: bytes(MAX_WRAPPED_KEY_BYTES, 1), commitment, signature },
  'put-key': { group: rawGroup, epoch, wrapped: bytes(MAX_WRAPPED_KEY_BYTES, 1) },
  'get-keys': { group: rawGroup },
  groups: {},
  /** How long ago each member joined (2026-12-07): the roll call of group messages sent with a
   * list kept while the rendezvous was away (peer/groups/roll-call.ts). An op of its own, not a
   * field of `members`: a client of before would refuse an answer with a field it does not know,
   * and one asking a rendezvous of before is refused (ERR_MALFORMED) and goes on without. */
  'join-times': { group: rawGroup }
} satisfies Record<string, Schema>

export type Op = keyof typeof REQUEST_SCHEMAS
/** A request as decoded (decodeRequest): its names are a Username and a GroupName. */
type DecodedArgs<O extends Op> = InferSchema<typeof REQUEST_SCHEMAS[O]>
/** A request as a client writes it: names as plain strings (the server checks and lower-cases
 * them), so a client may send what the user typed. */
export type RequestArgs<O extends Op> = { [K in keyof DecodedArgs<O>]: Plain<DecodedArgs<O>[K]> }
export type RequestOf<O extends Op> = { op: O } & DecodedArgs<O>
export type Request = { [O in Op]: RequestOf<O> }[Op]

// ---------------------------------------------------------------------------------------------
// Responses (without the `ok` field)

export const RESPONSE_SCHEMAS = {
  salt: { salt, kdf },
  /** `ticket`: this sign-in's, for the peer to sign in again with by itself (`resume`). */
  signup: { username, peerId, ticket: optional(ticket) },
  /** `failedSignIns`: sign-ins to the account from other devices that failed (a wrong password)
   * since it last signed in, while this server ran; absent when none. */
  signin: { username, peerId, identity: bytes(MAX_IDENTITY_BYTES, 1), bound: bool(), dataKey: optional(dataKey), failedSignIns: optional(uint()), ticket: optional(ticket) },
  rekey: { username },
  lookup: { username, peerId, addrs, online: bool() },
  whois: { username, peerId, addrs, online: bool() },
  card: { card: bytes(MAX_NAME_CARD_BYTES, 1) },
  who: { users: array(object({ username, online: bool() }), MAX_LISTED) },
  list: { groups: array(object({ group, members: uint() }), MAX_LISTED) },
  create: { group, epoch },
  /** `already`: the caller was a member before this request (nothing changed). */
  join: { group, created: bool(), epoch, already: optional(bool()) },
  leave: { group },
  members: {
    group,
    epoch,
    rotationNeeded: bool(),
    members: array(object({ username, peerId, online: bool(), hasKey: bool() }), MAX_GROUP_MEMBERS),
    /** Who made the current epoch and its signed key commitment (absent at epoch 0). */
    maker: optional(object({ username, peerId, commitment, signature })),
    /** How long ago the current epoch began, by the server's clock (a stalled epoch is replaced). */
    epochAgeMs: uint()
  },
  rotate: { group, epoch },
  'put-key': { group, epoch },
  'get-keys': {
    group,
    epoch,
    keys: array(object({ epoch, wrapped: bytes(MAX_WRAPPED_KEY_BYTES, 1) }), MAX_KEYS_RETURNED)
  },
  groups: { groups: array(object({ group, epoch }), MAX_LISTED) },
  /** `joinedAgoMs`: by the server's clock, how long ago rather than when: the asker's clock
   * need not agree with it. */
  'join-times': { group, members: array(object({ username, joinedAgoMs: uint() }), MAX_GROUP_MEMBERS) }
} satisfies Record<Op, Schema>

/** A result as decoded (decodeResponse): its names are Usernames and GroupNames. */
export type Result<O extends Op> = InferSchema<typeof RESPONSE_SCHEMAS[O]>
/** A result as the server writes it: names as plain strings (encodeResult checks them). */
export type ResultArgs<O extends Op> = { [K in keyof Result<O>]: Plain<Result<O>[K]> }

/** `{ ok: false, ... }`; `epoch` tells a client that lost a rotate race where the group is. */
export const ERROR_SCHEMA = { ok: bool(), code: str(32, 1), message: str(512), epoch: optional(epoch) }

/** A server error as the client sees it: a ParleyError with the server's code and message, plus
 * the group's current epoch when the server sent one (ERR_CONFLICT on rotate / put-key).
 * Retryable as its code is by default (common/errors.ts): the wire carries no more. */
export class RendezvousError extends ParleyError {
  readonly epoch: number | undefined

  constructor (code: ErrorCode, message: string, epoch?: number) {
    super(code, message)
    this.name = 'RendezvousError'
    this.epoch = epoch
  }
}

// ---------------------------------------------------------------------------------------------
// Events

const SUBSCRIBE_SCHEMA = { subscribe: bool() }

export const EVENT_SCHEMAS = {
  presence: { username, online: bool() },
  'member-joined': { group, username },
  'member-left': { group, username },
  /** To online members holding the current key, when `username` (a member) lacks it. */
  'key-needed': { group, epoch, username },
  /** A member left: the next sender rotates (DESIGN §4). */
  'rotation-needed': { group },
  /** This account signed in again elsewhere; the stream closes after this event. */
  'session-replaced': {},
  /** Heartbeat, so an idle events stream is never mistaken for a dead one; not delivered. */
  ping: {}
} satisfies Record<string, Schema>

export type EventType = keyof typeof EVENT_SCHEMAS
/** An event as decoded (decodeEvent): its names are Usernames and GroupNames. */
type DecodedEvent = { [T in EventType]: { type: T } & InferSchema<typeof EVENT_SCHEMAS[T]> }[EventType]
/** An event as the server writes it: names as plain strings (encodeEvent checks them). */
export type WireEvent = Plain<DecodedEvent>
/** An event the server pushes to an application. */
export type ServerEvent = Exclude<WireEvent, { type: 'ping' }>
/** What a subscriber's callback receives: the server's events as decoded, and the local-only
 * `disconnected` when the events stream ends (for any reason). */
export type RendezvousEvent = Exclude<DecodedEvent, { type: 'ping' }> | { type: 'disconnected' }

// ---------------------------------------------------------------------------------------------
// Encoding and decoding

function isOp (value: unknown): value is Op {
  return typeof value === 'string' && Object.hasOwn(REQUEST_SCHEMAS, value)
}

export function encodeRequest<O extends Op> (op: O, args: RequestArgs<O>): Uint8Array {
  return encodeBody({ op, ...args })
}

/**
 * A request frame, fully checked: known op, exactly its fields, names valid and lower-cased,
 * addresses parseable as multiaddrs. Anything else is a ParleyError (never a crash).
 */
export function decodeRequest (data: Uint8Array): Request {
  const value = decodeMap(data, MAX_REQUEST_BYTES, 'request')
  const op = value.op
  if (!isOp(op)) {
    throw malformed(typeof op === 'string' ? `unknown operation "${op.slice(0, 16)}"` : 'unknown operation')
  }
  checkObject({ op: str(16, 1), ...REQUEST_SCHEMAS[op] }, value, op)
  if (Array.isArray(value.addrs)) {
    value.addrs.forEach((addr: string, i) => {
      try {
        multiaddr(addr)
      } catch {
        throw malformed(`${op}.addrs[${i}] is not a multiaddr`)
      }
    })
  }
  return value as Request
}

/** The server's success frame; checked against the schema first, so the server never sends what
 * a client would refuse to read. */
export function encodeResult<O extends Op> (op: O, result: ResultArgs<O>): Uint8Array {
  const body = { ok: true, ...result }
  checkObject({ ok: bool(), ...RESPONSE_SCHEMAS[op] }, body, `${op} response`)
  return encodeBody(body)
}

export function encodeError (err: ParleyError, epoch?: number): Uint8Array {
  return encodeBody({ ok: false, code: err.code, message: err.message.slice(0, 512), epoch })
}

/** The server's answer to `op`: its result, or the server's error thrown as a RendezvousError. */
export function decodeResponse<O extends Op> (op: O, data: Uint8Array): Result<O> {
  return decodeAnswer(RESPONSE_SCHEMAS[op], data, `${op} response`) as Result<O>
}

/** The answer to `{ subscribe: true }` on the events stream: `{ ok: true }` or an error. */
export function decodeSubscribed (data: Uint8Array): void {
  decodeAnswer({}, data, 'subscribe response')
}

export function encodeSubscribed (): Uint8Array {
  return encodeBody({ ok: true })
}

function decodeAnswer (schema: Schema, data: Uint8Array, what: string): Record<string, unknown> {
  const value = decodeMap(data, MAX_RESPONSE_BYTES, what)
  if (value.ok === false) {
    const error = checkObject(ERROR_SCHEMA, value, what) as InferSchema<typeof ERROR_SCHEMA>
    const code = isErrorCode(error.code) ? error.code : ErrorCode.Protocol
    throw new RendezvousError(code, error.message, error.epoch)
  }
  if (value.ok !== true) throw malformed(`${what}.ok must be true or false`)
  checkObject({ ok: bool(), ...schema }, value, what)
  const { ok: _ok, ...result } = value
  return result
}

export function encodeEvent (event: WireEvent): Uint8Array {
  checkObject({ type: str(32, 1), ...EVENT_SCHEMAS[event.type] }, event, `${event.type} event`)
  return encodeBody(event)
}

export function decodeEvent (data: Uint8Array): DecodedEvent {
  const value = decodeMap(data, MAX_RESPONSE_BYTES, 'event')
  const type = value.type
  if (typeof type !== 'string' || !Object.hasOwn(EVENT_SCHEMAS, type)) {
    throw malformed(typeof type === 'string' ? `unknown event "${type.slice(0, 32)}"` : 'event has no type')
  }
  checkObject({ type: str(32, 1), ...EVENT_SCHEMAS[type as EventType] }, value, `${type} event`)
  return value as DecodedEvent
}

export function decodeSubscribe (data: Uint8Array): void {
  const value = decodeMap(data, MAX_REQUEST_BYTES, 'subscribe')
  checkObject(SUBSCRIBE_SCHEMA, value, 'subscribe')
  if (value.subscribe !== true) throw malformed('subscribe must be true')
}

export function encodeSubscribe (): Uint8Array {
  return encodeBody({ subscribe: true })
}
