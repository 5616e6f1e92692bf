/**
 * Per-IP connection caps (common/connection-caps.ts) on a real node over loopback: idle sockets
 * from one address cannot take every pending-upgrade slot, and one address cannot hold more
 * than its share of connections. 127.0.0.2 is another address on the same loopback interface.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createParleyNode } from '../../../common/node.ts'
import type { ParleyNode } from '../../../common/node.ts'
import { clientNode } from '../../helpers/rendezvous.ts'

/** PENDING_CONNECTIONS_PER_IP in common/node.ts. */
const PENDING_PER_IP = 64

/** A raw TCP socket that never says a word (no Noise): it stays pending on the server. */
async function idleSocket (port: number, from = '127.0.0.1'): Promise<{ socket: Socket, closed: Promise<void>, isClosed: () => boolean }> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: from })
  let closed = false
  const done = new Promise<void>(resolve => { socket.once('close', () => { closed = true; resolve() }) })
  socket.on('error', () => {})
  // A refused socket may be reset before it even reports its connection: that counts as closed.
  await Promise.race([new Promise(resolve => socket.once('connect', resolve)), done])
  return { socket, closed: done, isClosed: () => closed }
}

const settle = async (ms = 1_000): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('per-IP connection caps', () => {
  const sockets: Socket[] = []
  const nodes: ParleyNode[] = []
  const start = async (connectionsPerIp?: number): Promise<ParleyNode> => {
    const node = await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], connectionsPerIp })
    nodes.push(node)
    await node.start()
    return node
  }

  after(async () => {
    for (const socket of sockets) socket.destroy()
    for (const node of nodes) await node.stop()
  })

  it('idle sockets from one address fill only that address\'s pending slots', async () => {
    const server = await start()
    const port = Number(server.getMultiaddrs()[0]?.getComponents().find(c => c.name === 'tcp')?.value)
    const idle = []
    for (let i = 0; i < PENDING_PER_IP; i++) idle.push(await idleSocket(port))
    sockets.push(...idle.map(i => i.socket))
    const excess = await idleSocket(port)
    sockets.push(excess.socket)
    await Promise.race([excess.closed, settle(5_000)])
    assert.ok(excess.isClosed(), 'the address\'s next socket is refused at once')
    const other = await idleSocket(port, '127.0.0.2')
    sockets.push(other.socket)
    await settle()
    assert.ok(!other.isClosed(), 'another address still gets in')
    assert.ok(idle.every(i => !i.isClosed()), 'the pending ones wait for their upgrade deadline')

    // Closed sockets give their slots back: a real node from the same address connects.
    for (const i of idle) i.socket.destroy()
    await Promise.all(idle.map(async i => { await i.closed }))
    const client = await clientNode()
    nodes.push(client)
    await client.start()
    const connection = await client.dial(server.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connection.status, 'open')
    await connection.close()
  })

  it('one address holds at most its share of connections; a closed one frees its place', async () => {
    const server = await start(3)
    const clients = await Promise.all([1, 2, 3, 4].map(async () => await clientNode()))
    nodes.push(...clients)
    for (const client of clients) await client.start()
    const address = server.getMultiaddrs()[0]!
    for (const client of clients.slice(0, 3)) await client.dial(address, { signal: AbortSignal.timeout(10_000) })
    await assert.rejects(clients[3]!.dial(address, { signal: AbortSignal.timeout(10_000) }))
    await clients[0]!.hangUp(server.peerId)
    await settle()
    const connection = await clients[3]!.dial(address, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connection.status, 'open')
  })
})
