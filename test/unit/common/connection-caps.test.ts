/**
 * Connection caps (common/connection-caps.ts) on a real node over loopback: idle sockets cannot
 * keep a real peer from its handshake, one address cannot hold more than its share of
 * connections, and a full node makes room by closing a connection that carries nothing. 127.0.0.2 is another address on the same loopback interface.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { SILENT_MS, STREAMLESS_GRACE_MS, addressGroup } from '../../../common/connection-caps.ts'
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

const portOf = (node: ParleyNode): number => Number(node.getMultiaddrs()[0]?.getComponents().find(c => c.name === 'tcp')?.value)

const settle = async (ms = 1_000): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('per-IP connection caps', () => {
  const sockets: Socket[] = []
  const nodes: ParleyNode[] = []
  const start = async (connectionsPerIp?: number, maxConnections?: number, keepConnection?: () => boolean): Promise<ParleyNode> => {
    const node = await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], connectionsPerIp, maxConnections, keepConnection })
    nodes.push(node)
    await node.start()
    return node
  }

  /** Every pending slot taken: PENDING_PER_IP sockets from each of `addresses`, each saying
   * `first` (or nothing), then left past SILENT_MS. */
  const fillPending = async (server: ParleyNode, addresses: string[], first?: Uint8Array): Promise<Array<Awaited<ReturnType<typeof idleSocket>>>> => {
    const held = []
    for (const from of addresses) {
      for (let i = 0; i < PENDING_PER_IP; i++) {
        const socket = await idleSocket(portOf(server), from)
        if (first !== undefined) socket.socket.write(first)
        held.push(socket)
      }
    }
    sockets.push(...held.map(i => i.socket))
    await settle(SILENT_MS + 200)
    return held
  }

  /** A real node, from 127.0.0.1, connects to `server`. */
  const dialsIn = async (server: ParleyNode): Promise<void> => {
    const client = await clientNode()
    nodes.push(client)
    await client.start()
    const connection = await client.dial(server.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connection.status, 'open')
    await connection.close()
  }

  after(async () => {
    for (const socket of sockets) socket.destroy()
    for (const node of nodes) await node.stop()
  })

  it('idle sockets from one address take only that address\'s pending slots: its next one ends its oldest silent one, and is refused while none is silent', async () => {
    const server = await start()
    const port = portOf(server)
    const idle = []
    for (let i = 0; i < PENDING_PER_IP; i++) idle.push(await idleSocket(port))
    sockets.push(...idle.map(i => i.socket))
    // Those that spoke are handshakes under way, not ended for a newcomer; nor are silent ones
    // before SILENT_MS: the newcomer is refused.
    for (const i of idle.slice(0, 2)) i.socket.write('/multistream/1.0.0\n')
    const early = await idleSocket(port)
    sockets.push(early.socket)
    await Promise.race([early.closed, settle(5_000)])
    assert.ok(early.isClosed(), 'refused while no pending socket is idle')
    await settle(SILENT_MS + 200)
    const excess = await idleSocket(port)
    sockets.push(excess.socket)
    await Promise.race([idle[2]!.closed, settle(5_000)])
    assert.ok(idle[2]!.isClosed(), 'the address\'s oldest silent socket is ended')
    assert.ok(!idle[0]!.isClosed() && !idle[1]!.isClosed(), 'not those that spoke')
    assert.ok(!excess.isClosed(), 'and its newest taken (an honest peer behind the same NAT gets in)')
    const other = await idleSocket(port, '127.0.0.2')
    sockets.push(other.socket)
    await settle()
    assert.ok(!other.isClosed(), 'another address still gets in')
    assert.ok(idle.slice(3).every(i => !i.isClosed()), 'the others wait for their upgrade deadline')

    // Closed sockets give their slots back: a real node from the same address connects.
    for (const i of idle) i.socket.destroy()
    await Promise.all(idle.map(async i => { await i.closed }))
    await dialsIn(server)
  })

  it('silent sockets from many addresses, filling every pending slot, do not keep a real peer out: the oldest is ended for it (round 48: 256 sockets from 4 addresses shut the rendezvous to everyone)', async () => {
    const server = await start()
    const idle = await fillPending(server, ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14'])
    assert.ok(idle.every(i => !i.isClosed()), 'every slot taken')
    await dialsIn(server)
    assert.ok(idle[0]!.isClosed(), 'the oldest silent socket made room')
  })

  it('sockets that each send a byte and stall, from a few addresses, do not keep a real peer out: the oldest of the address holding the most is ended (round 49)', async () => {
    const server = await start()
    const stalled = await fillPending(server, ['127.0.0.21', '127.0.0.22', '127.0.0.23', '127.0.0.24'], Buffer.from([0x13]))
    assert.ok(stalled.every(i => !i.isClosed()), 'every slot taken, none silent')
    await dialsIn(server)
    assert.equal(stalled.filter(i => i.isClosed()).length, 1, 'one made room')
  })

  it('an IPv6 address counts as its /64; an IPv4 one mapped into IPv6 as that IPv4', () => {
    assert.equal(addressGroup('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64')
    assert.equal(addressGroup('2001:db8:1:2::1'), '2001:db8:1:2::/64')
    assert.equal(addressGroup('2001:DB8::1'), '2001:db8:0:0::/64')
    assert.equal(addressGroup('::1'), '0:0:0:0::/64')
    assert.equal(addressGroup('fe80:0000:0000:0000::5'), 'fe80:0:0:0::/64')
    assert.equal(addressGroup('::ffff:192.0.2.7'), '192.0.2.7')
    assert.equal(addressGroup('192.0.2.7'), '192.0.2.7')
  })

  it('a full node makes room for a newcomer by closing the oldest connection that carries nothing, never one it keeps (round 48: 1,000 idle connections kept every newcomer out)', async () => {
    let keepAll = false
    const server = await start(undefined, 4, () => keepAll)
    const address = server.getMultiaddrs()[0]!
    const clients = await Promise.all([1, 2, 3, 4, 5, 6].map(async () => await clientNode()))
    nodes.push(...clients)
    for (const client of clients) await client.start()
    const held = []
    for (const client of clients.slice(0, 4)) held.push(await client.dial(address, { signal: AbortSignal.timeout(10_000) }))
    await settle(STREAMLESS_GRACE_MS + 500)
    // Kept (the rendezvous keeps those signed in): a newcomer is refused, as before.
    keepAll = true
    await assert.rejects(clients[4]!.dial(address, { signal: AbortSignal.timeout(10_000) }))
    keepAll = false
    const newcomer = await clients[5]!.dial(address, { signal: AbortSignal.timeout(10_000) })
    assert.equal(newcomer.status, 'open')
    await settle(500)
    assert.equal(held.filter(c => c.status !== 'open').length, 1, 'one idle connection closed for it')
    assert.equal(held.find(c => c.status !== 'open'), held[0], 'the oldest')
  })

  it('one address holds at most its share of connections, past which it is refused while none of its own can make room; a closed one frees its place', async () => {
    // Kept: none of the address's connections may be closed for its next one (another test has them make room).
    const server = await start(3, undefined, () => true)
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
