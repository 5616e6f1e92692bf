/**
 * The direct channel's handshake (peer/transport/channel.ts) over a real in-memory libp2p stream
 * pair: both ends derive matching keys, and the dialler's header and ephemeral key leave in one
 * stream write.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
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
