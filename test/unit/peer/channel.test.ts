/**
 * The direct channel's handshake (peer/transport/channel.ts) over a real in-memory libp2p stream
 * pair: both ends derive matching keys, and the dialler's header and ephemeral key leave in one
 * stream write; a sender the listener's user knows by another identity is told so, any other
 * refusal is not explained.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
import { ErrorCode, ParleyError } from '../../../common/errors.ts'
import { decodeFileAck, decodeHandshakeAnswer } from '../../../common/protocol/peer.ts'
import { encodeBody } from '../../../common/wire/codec.ts'
import { FramedStream } from '../../../common/wire/frames.ts'
import { acceptDirectChannel, initiateDirectChannel } from '../../../peer/transport/channel.ts'

test('the handshake: one write from the dialler (header and key), matching keys on both ends', async () => {
  const [outbound, inbound] = await streamPair()
  let writes = 0
  const send = outbound.send.bind(outbound)
  outbound.send = data => { writes++; return send(data) }
  const header = new TextEncoder().encode('MSG')
  const dialler = initiateDirectChannel(new FramedStream(outbound), header, 'peer-a', 'peer-b')
  const listening = new FramedStream(inbound)
  assert.deepEqual(await listening.read(), header)
  assert.equal(writes, 1, 'the header and the key went in separate writes')
  const accepted = await acceptDirectChannel(listening, header, 'peer-b', 'peer-a', async () => undefined)
  const initiated = await dialler
  assert.deepEqual(initiated.keys.send, accepted.keys.receive)
  assert.deepEqual(initiated.keys.receive, accepted.keys.send)
  assert.deepEqual(initiated.keys.fileSecret, accepted.keys.peerFileSecret)
  assert.notDeepEqual(initiated.keys.send, initiated.keys.receive)
  for (const end of [outbound, inbound]) end.abort(new Error('done'))
})

async function refusedHandshake (refusal: Error): Promise<{ dialler: unknown, listener: unknown }> {
  const [outbound, inbound] = await streamPair()
  const header = new TextEncoder().encode('SESSION')
  const dialler = initiateDirectChannel(new FramedStream(outbound), header, 'peer-a', 'peer-b').then(() => undefined, (err: unknown) => err)
  const listening = new FramedStream(inbound)
  await listening.read()
  const listener = await acceptDirectChannel(listening, header, 'peer-b', 'peer-a', async () => { throw refusal }).then(() => undefined, (err: unknown) => err)
  inbound.abort(new Error('refused'))
  return { dialler: await dialler, listener }
}

test('a sender the user knows by another identity is told why, with the VERIFY and TRUST it waits for', async () => {
  const changed = new ParleyError(ErrorCode.IdentityChanged, 'the identity of peer-a has changed')
  const { dialler, listener } = await refusedHandshake(changed)
  assert.equal(listener, changed, 'the listener reports its own error')
  assert.ok(dialler instanceof ParleyError, String(dialler))
  assert.equal(dialler.code, ErrorCode.IdentityChanged)
  assert.equal(dialler.retryable, true, 'what waits stays queued for when the identity is accepted')
  assert.match(dialler.message, /^refused by the recipient: its user knows you by another identity .*\(VERIFY\).*\(TRUST\)$/)
})

test('any other refusal of a sender closes the stream without a word', async () => {
  const { dialler } = await refusedHandshake(new ParleyError(ErrorCode.RateLimited, 'slow down'))
  assert.ok(dialler instanceof Error)
  assert.doesNotMatch(dialler.message, /refused by the recipient|slow down/)
})

test('the answer to a hello is a key or a refusal, never both nor anything else', () => {
  const eph = new Uint8Array(32).fill(1)
  assert.deepEqual(decodeHandshakeAnswer(encodeBody({ eph })).eph, eph)
  const refusal = (body: Record<string, unknown>): unknown => { try { return decodeHandshakeAnswer(encodeBody(body)) } catch (err) { return err } }
  const unknown = refusal({ code: 'ERR_FROM_THE_FUTURE', why: '?' })
  assert.ok(unknown instanceof ParleyError && unknown.code === ErrorCode.Protocol, 'an unknown code reads as a protocol error')
  for (const body of [{ eph, code: ErrorCode.IdentityChanged, why: 'x' }, { code: ErrorCode.IdentityChanged }, { eph: new Uint8Array(31) }, { why: 'x' }]) {
    const err = refusal(body)
    assert.ok(err instanceof ParleyError && err.code === ErrorCode.Malformed, `${JSON.stringify(Object.keys(body))}: ${String(err)}`)
  }
})

test('a file\'s last word is its ACK or a refusal, never both nor anything else', () => {
  const ack = new Uint8Array(16).fill(7)
  assert.deepEqual(decodeFileAck(encodeBody({ ack })).ack, ack)
  const failure = (body: Record<string, unknown>): unknown => { try { return decodeFileAck(encodeBody(body)) } catch (err) { return err } }
  const blocked = failure({ code: ErrorCode.Forbidden, why: 'you are blocked: nothing of yours is taken' })
  assert.ok(blocked instanceof ParleyError && blocked.code === ErrorCode.Forbidden)
  assert.equal(blocked.message, 'refused by the recipient: you are blocked: nothing of yours is taken')
  for (const body of [{ ack, code: ErrorCode.Forbidden, why: 'x' }, { code: ErrorCode.Forbidden }, { ack: new Uint8Array(15) }, { why: 'x' }]) {
    const err = failure(body)
    assert.ok(err instanceof ParleyError && err.code === ErrorCode.Malformed, `${JSON.stringify(Object.keys(body))}: ${String(err)}`)
  }
  const long = failure({ code: ErrorCode.Forbidden, why: 'x'.repeat(201) })
  assert.ok(long instanceof ParleyError && long.code === ErrorCode.TooLarge, String(long))
})
