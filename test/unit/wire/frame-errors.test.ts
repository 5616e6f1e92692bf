/**
 * How a failed read or write of a framed stream is said (common/wire/frames.ts frameError): a
 * person reads these words in `queued` and `undelivered` events, so they say what happened, not
 * libp2p's wording.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode } from '../../../common/errors.ts'
import { frameError } from '../../../common/wire/frames.ts'

test('a stream closed under a read or write is the other side closing the connection', () => {
  // libp2p rejects with the stream's close Event itself: a recipient who quit or signed in
  // elsewhere mid-delivery. Until 2026-12-06: "the stream was closed by the other side".
  const closed = frameError(new Event('close'))
  assert.equal(closed.code, ErrorCode.Unreachable)
  assert.equal(closed.message, 'the other side closed the connection')
  assert.equal(frameError(new Event('reset')).message, 'the connection ended (reset)')
})

test('libp2p\'s stream errors are said in a person\'s words, not libp2p\'s (until 2026-12-06 "stream failed: The stream has been reset")', () => {
  for (const [name, message, said] of [
    ['StreamResetError', 'The stream has been reset', 'the other side closed the connection'],
    ['ConnectionClosedError', 'The connection is closed', 'the other side closed the connection'],
    ['MuxerClosedError', 'Muxer already closed', 'the other side closed the connection'],
    // One cause, one wording: a recipient who quit mid-file was said to two senders in two ways (round 7).
    ['StreamStateError', 'Cannot write to a stream that is closed', 'the other side closed the connection']
  ]) {
    const error = frameError(Object.assign(new Error(message), { name }))
    assert.equal(error.code, ErrorCode.Unreachable, name)
    assert.equal(error.message, said, name)
  }
})

test('a close Event carrying an error is said as that error', () => {
  const timedOut = Object.assign(new Event('close'), { error: Object.assign(new Error('too slow'), { name: 'TimeoutError' }) })
  const said = frameError(timedOut)
  assert.equal(said.code, ErrorCode.Unreachable)
  assert.equal(said.message, 'timed out')
})
