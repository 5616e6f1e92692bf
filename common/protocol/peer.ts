/**
 * The peer-to-peer session contract (issue 11): what travels inside one direct session, a
 * long-lived `/parley/direct/1.0.0` stream opened with the signal header `SESSION` and a fresh
 * X25519 exchange. Every frame after the handshake is sealed under the session's keys for its
 * direction (3DES + HMAC, one sequence number per direction), and its body is one of:
 *
 *   message  { t: 'm', h, id, b }   h: the message's own signal header (`MSG`, `KEY <group>
 *                                   <epoch>` or `GROUP <group>`), id: its 16-byte message id,
 *                                   b: the body that header announces (CBOR, checked by the
 *                                   receiver against that header's schema)
 *   ack      { t: 'a', ok, no }     ok: ids stored (or already had); no: ids refused, each with
 *                                   an error code and a short reason. One ack frame answers
 *                                   every message that arrived together (group commit).
 *   end      { t: 'x' }             the sender retires this session (re-key): no new messages
 *                                   follow from it; acks still do. Both sides close their half
 *                                   once both said end and nothing is outstanding.
 *
 * Messages are pipelined: a side may have up to SESSION_WINDOW messages unacknowledged.
 */
import { ErrorCode, ParleyError, malformed } from '../errors.ts'
import { array, bytes, checkObject, decodeMap, object, str } from '../wire/codec.ts'
import { MAX_FRAME_BYTES, MAX_HEADER_BYTES } from '../wire/limits.ts'

/**
 * Messages one side may have in flight (sent, not acknowledged) on one session.
 * @alias MAX_ACKS_PER_FRAME is the same number on purpose (knip: not a duplicate export).
 */
export const SESSION_WINDOW = 256

/** At most this many ids in one ack frame: SESSION_WINDOW fits in one. */
export const MAX_ACKS_PER_FRAME = SESSION_WINDOW

const MESSAGE_ID = bytes(16, 16)

const messageFrame = {
  t: str(1, 1),
  h: bytes(MAX_HEADER_BYTES, 1),
  id: MESSAGE_ID,
  b: bytes(MAX_FRAME_BYTES)
}
const ackFrame = {
  t: str(1, 1),
  ok: array(MESSAGE_ID, MAX_ACKS_PER_FRAME),
  no: array(object({ id: MESSAGE_ID, code: str(32, 1), why: str(200) }), MAX_ACKS_PER_FRAME)
}
const endFrame = { t: str(1, 1) }

export interface Refusal { id: Uint8Array, code: string, why: string }
export type SessionFrame =
  | { t: 'm', h: Uint8Array, id: Uint8Array, b: Uint8Array }
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

/** The error a refused message carries back to its sender, as a ParleyError there. Only known
 * codes come through; anything else reads as a protocol error of the remote. */
export function refusalError (refusal: Refusal): ParleyError {
  const known = (Object.values(ErrorCode) as string[]).includes(refusal.code)
  return new ParleyError(known ? refusal.code as ErrorCode : ErrorCode.Protocol, `refused by the recipient: ${refusal.why}`)
}
