/**
 * A listen address that cannot be had (common/listen-error.ts), with a real libp2p node: its
 * error says it in a person's words, ERR_USAGE, instead of libp2p's configuration advice.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { ErrorCode, is } from '../../../common/errors.ts'
import { listenError } from '../../../common/listen-error.ts'
import { createParleyNode } from '../../../common/node.ts'

async function listenOn (address: string): Promise<void> {
  const node = await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: [address] })
  await node.stop()
}

test('a port another program listens on', async () => {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  try {
    await assert.rejects(listenOn(`/ip4/127.0.0.1/tcp/${port}`), (err: unknown) =>
      is(err, ErrorCode.Usage) && err.message === `port ${port} is already in use (another peer or program listens there): choose another port`)
  } finally {
    server.close()
  }
})

test('an address this machine does not have', async () => {
  // 192.0.2.0/24 is TEST-NET-1, documentation only: no machine has it.
  await assert.rejects(listenOn('/ip4/192.0.2.1/tcp/0'), (err: unknown) =>
    is(err, ErrorCode.Usage) && err.message.startsWith('192.0.2.1 is not an address of this machine: choose another --host'))
})

test('any other failure is left as it is', () => {
  assert.equal(listenError(new Error('listen EADDRINUSE: address already in use 127.0.0.1:1')), undefined)
  const other = Object.assign(new Error('Some configured addresses failed to be listened on:\n  /ip4/127.0.0.1/tcp/1: Error: listen EMFILE: too many open files'), { name: 'UnsupportedListenAddressesError' })
  assert.equal(listenError(other), undefined)
  assert.equal(listenError('text'), undefined)
})
