/**
 * A group text inside a direct session (DESIGN §1, §4; issue 11): sealed once under the group
 * key — a fresh message nonce, keys derived from it — and the same envelope posted to every
 * member under the signal header `GROUP <group>` (common/protocol/peer.ts, groupEnvelopeBody).
 */
import { equals } from 'uint8arrays/equals'
import { groupMessageKeys, newMessageNonce } from '../../common/crypto/group.ts'
import { openFrame, sealFrame } from '../../common/crypto/tdes.ts'
import { ErrorCode, ParleyError, is } from '../../common/errors.ts'
import { groupEnvelopeBody, textBody } from '../../common/protocol/peer.ts'
import { decodeBody, encodeBody } from '../../common/wire/codec.ts'
import type { InferSchema } from '../../common/wire/codec.ts'
import { formatHeader } from '../../common/wire/headers.ts'
import type { SessionMessage, SessionPeer } from '../direct/session.ts'
import type { SignedInUser } from '../signed-in.ts'
import type { IncomingText } from '../inbox.ts'
import { leftGroupRefusal } from './membership-races.ts'

export type GroupEnvelope = InferSchema<typeof groupEnvelopeBody>

export interface GroupText {
  group: string
  id: Uint8Array
  text: string
  sentAt: number
}

export function sealGroupText (message: GroupText, epoch: number, key: Uint8Array): GroupEnvelope {
  const nonce = newMessageNonce()
  const header = formatHeader({ kind: 'GROUP', group: message.group })
  const sealed = sealFrame(groupMessageKeys(key, nonce, message.group, epoch), 0n, header, encodeBody({ id: message.id, text: message.text, sentAt: message.sentAt }))
  return { epoch, nonce, sealed }
}

/** A group text that arrived on a session from `from`, opened: a member's, under a key we hold. */
export async function openGroupText (keys: SignedInUser['keys'], from: SessionPeer, message: SessionMessage): Promise<IncomingText> {
  const { header } = message
  if (header.kind !== 'GROUP') throw new ParleyError(ErrorCode.Protocol, 'not a group message')
  const envelope = decodeBody(groupEnvelopeBody, message.body)
  await checkSender(keys, header.group, from.username)
  const key = await keyOfSender(keys, header.group, envelope.epoch, from.username)
  const plain = openFrame(groupMessageKeys(key, envelope.nonce, header.group, envelope.epoch), 0n, message.headerBytes, envelope.sealed)
  const body = decodeBody(textBody, plain)
  if (!equals(body.id, message.id)) throw new ParleyError(ErrorCode.Protocol, 'message id differs from its frame')
  return { from: from.username, group: header.group, id: body.id, text: body.text, sentAt: body.sentAt }
}

/** The key a sender's text or file names (keyForSender); refused as no member, it is we who
 * left, as at checkSender (round 50: `refused incoming data from s1 (…): you are not a member
 * of "g"` on the member who had just left). */
export async function keyOfSender (keys: SignedInUser['keys'], group: string, epoch: number, from: string): Promise<Uint8Array> {
  try {
    return await keys.keyForSender(group, epoch, from)
  } catch (err) {
    if (is(err, ErrorCode.Forbidden)) throw leftGroupRefusal(group)
    throw err
  }
}

/** Only members send to a group; a cached list may predate the sender's join, so refuse only on a fresh one (listForSender). */
export async function checkSender (keys: SignedInUser['keys'], group: string, from: string): Promise<void> {
  let info
  try {
    info = await keys.listForSender(group, from)
  } catch (err) {
    // We left: the rendezvous's "you are not a member" is about us, and read as about the sender
    // once it reached them ("refused by the recipient: you are not a member of big", a tester's
    // finding, until 2026-12-06).
    if (is(err, ErrorCode.Forbidden)) throw leftGroupRefusal(group)
    throw err
  }
  if (!info.members.some(m => m.username === from)) {
    throw new ParleyError(ErrorCode.Forbidden, `${from} is not a member of ${group}`)
  }
}
