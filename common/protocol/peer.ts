/**
 * The peer-to-peer wire contract: the two protocols, what opens their streams, and every body
 * that travels on them (as common/protocol/rendezvous.ts is the rendezvous's). Every stream
 * starts with its signal header (common/wire/headers.ts); the sender is named by the
 * Noise-authenticated peer id, never by anything it writes.
 *
 * `/parley/direct/1.0.0` (DIRECT_PROTOCOL), two kinds of stream:
 *   SESSION            a direct session (issue 11): a fresh X25519 exchange
 *                      (peer/transport/channel.ts), then session frames (below) for as long as
 *                      it lives, carrying every text, group text and group-key hand-over
 *   FILE <name> <size> one file: a fresh X25519 exchange, then the file hand-off (below)
 *
 * `/parley/group/1.0.0` (GROUP_PROTOCOL), one kind of stream:
 *   GROUP <group> <file name>  one group file: the intro in the clear
 *                      { epoch, nonce, id } (groupFileIntroBody), then the file hand-off under
 *                      keys from the group key and that nonce (common/crypto/group.ts)
 *
 * Both kinds of direct stream start, after their header, with the handshake: each side's
 * ephemeral X25519 public key in the clear (helloBody, handshakeBody), from which both derive the stream's
 * keys (common/crypto/session.ts). The dialler's hello may carry its name card: the receiver
 * then knows its username without asking the rendezvous `whois` (common/crypto/name-card.ts).
 * A receiver whose user knows the sender by another identity (a changed identity not yet
 * accepted with TRUST) answers with handshakeRefusalBody instead of its key, and closes.
 *
 * Inside a session, one long-lived stream. Every frame after the handshake is sealed under the
 * session's keys for its direction (3DES + HMAC, one sequence number per direction), and its
 * body is one of:
 *
 *   message  { t: 'm', h, id, b, p? }  h: the message's own signal header (`MSG`, `KEY <group>
 *                                   <epoch>` or `GROUP <group>`), id: its 16-byte message id,
 *                                   b: the body that header announces (CBOR, checked by the
 *                                   receiver against that header's schema):
 *                                     MSG            textBody
 *                                     KEY <g> <e>    keyBody
 *                                     GROUP <g>      groupEnvelopeBody: textBody sealed under the
 *                                                    group key (sequence 0, `GROUP <g>` as
 *                                                    associated data)
 *                                   p: the id of the text (MSG or GROUP) this one follows in
 *                                   its conversation, when the sender names one; the receiver
 *                                   takes that one first (peer/arrival-order.ts)
 *   ack      { t: 'a', ok, no }     ok: ids stored (or already had); no: ids refused, each with
 *                                   an error code and a short reason. One ack frame answers
 *                                   every message that arrived together (group commit).
 *   end      { t: 'x' }             the sender retires this session (re-key): no new messages
 *                                   follow from it; acks still do. Both sides close their half
 *                                   once both said end and nothing is outstanding.
 *
 * Messages are pipelined: a side may have up to SESSION_WINDOW messages unacknowledged.
 *
 * The file hand-off, the same on both protocols, on a channel sealed in both directions:
 *   sender → receiver    fileOfferBody { id }             the transfer id
 *   receiver → sender    fileAnswerBody { have, resume? } it has it already (a lost ACK), or
 *                                                         not, maybe with a verified prefix kept
 *   then, unless `have`, the file's frames, each authenticating fileAssociatedData(header, id)
 *   and sealed as peer/files/wire.ts describes:
 *     sender → receiver    META (fileMetaBody), then the chunks
 *     receiver → sender    VERDICT (empty, or fileRefusalBody), then the credits (empty)
 *   receiver → sender    ackBody { ack: id }              stored (before it is sent, DESIGN §6),
 *                        or fileRefusalBody in its place: stopped by its user (BLOCK) in the
 *                        last chunks, where no credit is left for a STOP (decodeFileAck)
 * On the group protocol the intro carries the id and the sender writes no offer.
 */
import { ErrorCode, ParleyError, isErrorCode, malformed } from '../errors.ts'
import { CHUNK_SIZE } from '../crypto/chunks.ts'
import { MAX_NAME_CARD_BYTES } from '../crypto/name-card.ts'
import { array, bool, bytes, checkObject, decodeMap, object, optional, str, uint } from '../wire/codec.ts'
import type { InferSchema, Schema } from '../wire/codec.ts'
import { MAX_FILE_BYTES, MAX_FRAME_BYTES, MAX_HEADER_BYTES, MAX_TEXT_BYTES } from '../wire/limits.ts'

export const DIRECT_PROTOCOL = '/parley/direct/1.0.0'
export const GROUP_PROTOCOL = '/parley/group/1.0.0'

/**
 * Messages one side may have in flight (sent, not acknowledged) on one session.
 * @alias MAX_ACKS_PER_FRAME is the same number on purpose (knip: not a duplicate export).
 */
export const SESSION_WINDOW = 256

/** At most this many ids in one ack frame: SESSION_WINDOW fits in one. */
export const MAX_ACKS_PER_FRAME = SESSION_WINDOW

const MESSAGE_ID = bytes(16, 16)
const NONCE = bytes(16, 16)
const SHA256 = bytes(32, 32)

/** The listener's answer in the handshake of a direct stream: its ephemeral X25519 public key. */
export const handshakeBody = { eph: bytes(32, 32) }
/** The listener's answer instead of its key when it will not open a channel with this sender:
 * a code (ParleyError's) and a short reason for the sender's person. Said only where the sender
 * can do something about it (peer/transport/channel.ts); any other refusal closes the stream. */
const handshakeRefusalBody = { code: str(32, 1), why: str(200) }
/** The dialler's hello: its ephemeral key, and its name card when it has one
 * (common/crypto/name-card.ts). */
export const helloBody = { ...handshakeBody, card: optional(bytes(MAX_NAME_CARD_BYTES, 1)) }

/** `MSG`, and a group text once opened: the sender's own time, for display only. */
export const textBody = { id: MESSAGE_ID, text: str(MAX_TEXT_BYTES, 1), sentAt: uint() }
/** `KEY <group> <epoch>`: the group key (3DES, 24 bytes). */
export const keyBody = { key: bytes(24, 24) }
/** `GROUP <group>`: its epoch, its message nonce, and the textBody sealed under the keys they give. */
export const groupEnvelopeBody = { epoch: uint(), nonce: NONCE, sealed: bytes(MAX_FRAME_BYTES) }

/** The most chunks a file can have: chunk indices and resume points are below this. */
export const MAX_CHUNKS = Math.ceil(MAX_FILE_BYTES / CHUNK_SIZE)

/** A receiver's offer to resume: it holds the verified chunks [0, from) of the file `sha256`
 * (peer/files/wire.ts, "Resuming"). */
const resumeSchema = object({
  from: uint(MAX_CHUNKS),
  sha256: SHA256
})

/** Before a file's bytes: its id, so the receiver can say it already has it (a lost ACK). */
export const fileOfferBody = { id: MESSAGE_ID }
/** The receiver's answer: it has the file already, or not; if not, maybe a verified prefix of it
 * kept from an attempt that was cut, to resume from. Optional, so an answer without it (an older
 * receiver's) still reads, and means "from the start". */
export const fileAnswerBody = { have: bool(), resume: optional(resumeSchema) }
/** The end of a file stream: the receiver has stored this transfer. */
export const ackBody = { ack: MESSAGE_ID }
/** A group file stream's intro, in the clear after its header: what its keys derive from. */
export const groupFileIntroBody = { epoch: uint(), nonce: NONCE, id: MESSAGE_ID }

/** A MIME type as sent in META: "type/subtype" (RFC 6838 caps each half at 127, we need far
 * less), from the token alphabet of RFC 6838 §4.2, no parameters: safe to print. */
const MAX_MIME_LENGTH = 100
const MIME_PATTERN = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i

/** META, the sender's first file frame: the transfer id, the file's size and SHA-256, its type. */
export const fileMetaBody = {
  id: MESSAGE_ID,
  size: uint(MAX_FILE_BYTES),
  sha256: SHA256,
  mime: optional(str(MAX_MIME_LENGTH, 3, MIME_PATTERN)),
  /** The first chunk sent (resuming); absent when 0, so a transfer from the start is unchanged. */
  from: optional(uint(MAX_CHUNKS)),
  /** When its sender's person sent it (SENDFILE's time, the sender's clock), for display only,
   * as a text's `sentAt`. Optional: a META without it (an older sender's) still reads. */
  sentAt: optional(uint())
}
export type FileMeta = InferSchema<typeof fileMetaBody>

/** A VERDICT that refuses the file: a code (ParleyError's) and a short reason for the sender's person. */
export const fileRefusalBody = { code: str(32, 1), why: str(200) }
/** ABANDON, the sender's last frame when it gives a file up mid-way: a short reason for the
 * receiver's person (never the sender's path: peer/files/send.ts). */
export const fileAbandonBody = { why: str(200) }

/** Associated data of a file's frames: the stream's signal header and the transfer id. */
export function fileAssociatedData (header: Uint8Array, id: Uint8Array): Uint8Array {
  const ad = new Uint8Array(header.length + id.length)
  ad.set(header, 0)
  ad.set(id, header.length)
  return ad
}

const messageFrame = {
  t: str(1, 1),
  h: bytes(MAX_HEADER_BYTES, 1),
  id: MESSAGE_ID,
  b: bytes(MAX_FRAME_BYTES),
  p: optional(MESSAGE_ID)
}
const ackFrame = {
  t: str(1, 1),
  ok: array(MESSAGE_ID, MAX_ACKS_PER_FRAME),
  no: array(object({ id: MESSAGE_ID, code: str(32, 1), why: str(200) }), MAX_ACKS_PER_FRAME)
}
const endFrame = { t: str(1, 1) }

export interface Refusal { id: Uint8Array, code: string, why: string }
export type SessionFrame =
  | { t: 'm', h: Uint8Array, id: Uint8Array, b: Uint8Array, p?: Uint8Array }
  | { t: 'a', ok: Uint8Array[], no: Refusal[] }
  | { t: 'x' }

export function decodeSessionFrame (data: Uint8Array): SessionFrame {
  const map = decodeMap(data, MAX_FRAME_BYTES, 'session frame')
  switch (map.t) {
    case 'm': return checkObject(messageFrame, map, 'message') as SessionFrame
    case 'a': return checkObject(ackFrame, map, 'ack') as SessionFrame
    case 'x': return checkObject(endFrame, map, 'end') as SessionFrame
    default: throw malformed('unknown session frame type')
  }
}

/** The listener's answer to a hello: its key, or (a map with a `code`) its refusal, thrown. */
export function decodeHandshakeAnswer (data: Uint8Array): InferSchema<typeof handshakeBody> {
  return answerOrRefusal(data, handshakeBody, handshakeRefusalBody, 'handshake answer')
}

/** The receiver's last word on a file: its ACK, or (a map with a `code`) its refusal, thrown. */
export function decodeFileAck (data: Uint8Array): InferSchema<typeof ackBody> {
  return answerOrRefusal(data, ackBody, fileRefusalBody, 'file acknowledgement')
}

/** An answer of `schema`, or (a map with a `code`) a refusal of `refusal`'s, thrown as the
 * remote's error. */
function answerOrRefusal<S extends Schema> (data: Uint8Array, schema: S, refusal: typeof fileRefusalBody, what: string): InferSchema<S> {
  const map = decodeMap(data, MAX_FRAME_BYTES, what)
  if (Object.hasOwn(map, 'code')) {
    const { code, why } = checkObject(refusal, map, `${what} refusal`) as InferSchema<typeof fileRefusalBody>
    throw refused(code, why)
  }
  return checkObject(schema, map, what) as InferSchema<S>
}

/** The error a refused message (or handshake) carries back to its sender, as a ParleyError there.
 * Only known codes come through; anything else reads as a protocol error of the remote. The wire
 * carries no retryability: the sender takes the code's default (common/errors.ts), not the
 * remote's word. */
export function refusalError (refusal: Refusal): ParleyError {
  return refused(refusal.code, refusal.why)
}

/** How the text of a refusal the recipient sent back begins (a person's screen tells it from
 * a refusal of our own by it). */
export const REFUSED_BY_RECIPIENT = 'refused by the recipient: '

function refused (code: string, why: string): ParleyError {
  return new ParleyError(isErrorCode(code) ? code : ErrorCode.Protocol, `${REFUSED_BY_RECIPIENT}${why}`)
}
