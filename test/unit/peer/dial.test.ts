/**
 * Opening a stream to a peer at the addresses a directory look-up gave (peer/transport/dial.ts),
 * between real libp2p nodes on 127.0.0.1: the addresses are dialled as given, each bound to the
 * peer id the directory named, so an address where another peer answers reaches nobody, and an
 * address labelled with another peer's id is not dialled at all. The protocol is proposed
 * optimistically: the first frame goes with the proposal, and the first read checks the answers.
 * A dial on loopback builds our own relayed addresses (a costly list) only once it has failed.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { Socket } from 'node:net'
import type { Stream } from '@libp2p/interface'
import { loopbackNode } from '../../helpers/nodes.ts'
import type { ParleyNode } from '../../../common/node.ts'
import { ErrorCode, is } from '../../../common/errors.ts'
import { toUsername } from '../../../common/wire/names.ts'
import { openStream } from '../../../peer/transport/dial.ts'
import { withFramedStream } from '../../../common/wire/frames.ts'

const PROTOCOL = '/parley-test/dial/1.0.0'
const ECHO = '/parley-test/echo/1.0.0'
let alice: ParleyNode, bob: ParleyNode, carol: ParleyNode

/** A listen address as the directory gives it: host and port, no peer id. */
const hostPort = (node: ParleyNode): string => {
  const addr = node.getMultiaddrs()[0]?.toString()
  if (addr === undefined) throw new Error('no listen address')
  return addr.slice(0, addr.indexOf('/p2p/'))
}

before(async () => {
  ;[alice, bob, carol] = await Promise.all([loopbackNode(), loopbackNode(), loopbackNode()])
  for (const node of [bob, carol]) await node.handle(PROTOCOL, (stream: Stream) => { stream.abort(new Error('test done')) })
  await bob.handle(ECHO, (stream: Stream) => { void withFramedStream(stream, async framed => { await framed.write(await framed.read()) }) })
})

after(async () => {
  await Promise.all([alice, bob, carol].map(async node => { await node.stop() }))
})

test('the directory\'s addresses, without a peer id, reach the peer it named', async () => {
  const stream = await openStream(alice, { username: toUsername('bob'), peerId: bob.peerId.toString(), addrs: [hostPort(bob)] }, PROTOCOL)
  assert.ok(alice.getConnections(bob.peerId).length > 0)
  stream.abort(new Error('test done'))
})

test('an address where another peer answers reaches nobody: Noise wants the named peer id', async () => {
  await alice.hangUp(bob.peerId)
  await assert.rejects(
    openStream(alice, { username: toUsername('bob'), peerId: bob.peerId.toString(), addrs: [hostPort(carol)] }, PROTOCOL, AbortSignal.timeout(10_000)),
    (err: unknown) => is(err, ErrorCode.Unreachable) && (err as Error).message === 'bob is not reachable right now: another peer answers at their address')
  assert.equal(alice.getConnections(bob.peerId).length, 0)
  assert.equal(alice.getConnections(carol.peerId).length, 0, 'a connection to the wrong peer was kept')
})

test('a failed dial says why in a few words: a refused port, a silent one, no address', async () => {
  const fresh = await loopbackNode()
  const closed = hostPort(fresh)
  const target = { username: toUsername('dave'), peerId: fresh.peerId.toString() }
  await fresh.stop()
  // A listener that takes the connection and never says a word: no Noise answer ever comes.
  const silent = createServer(() => {}).listen(0, '127.0.0.1')
  await once(silent, 'listening')
  const address = silent.address()
  assert.ok(address !== null && typeof address === 'object')
  try {
    const reason = async (addrs: string[], signal?: AbortSignal): Promise<string> => {
      const err: unknown = await openStream(alice, { ...target, addrs }, PROTOCOL, signal).then(() => assert.fail('opened'), (e: unknown) => e)
      assert.ok(is(err, ErrorCode.Unreachable), String(err))
      return (err as Error).message
    }
    assert.equal(await reason([closed]), 'dave is not reachable right now: connection refused')
    assert.equal(await reason([closed, closed.replace(/tcp\/\d+/, 'tcp/1')]), 'dave is not reachable right now: connection refused', 'one reason for every address that refused')
    assert.equal(await reason([`/ip4/127.0.0.1/tcp/${address.port}`], AbortSignal.timeout(500)), 'dave is not reachable right now: no answer in time')
    assert.equal(await reason([]), 'dave is not reachable right now: no address to dial')
  } finally {
    silent.close()
  }
})

test('an address labelled with another peer\'s id is not dialled', async () => {
  const fresh = await loopbackNode()
  try {
    await assert.rejects(
      openStream(alice, { username: toUsername('fresh'), peerId: fresh.peerId.toString(), addrs: [`${hostPort(carol)}/p2p/${carol.peerId.toString()}`] }, PROTOCOL, AbortSignal.timeout(10_000)),
      (err: unknown) => is(err, ErrorCode.Unreachable))
    assert.equal(alice.getConnections(carol.peerId).length, 0, 'carol was dialled for another peer')
  } finally {
    await fresh.stop()
  }
})

test('a dial that may not use the relay tries direct addresses only: with none it gives up at once', async () => {
  const fresh = await loopbackNode()
  try {
    // Only a relayed address, through carol (who is no relay): without `relay: false` it is dialled.
    const through = `${hostPort(carol)}/p2p/${carol.peerId.toString()}/p2p-circuit`
    await assert.rejects(
      openStream(alice, { username: toUsername('fresh'), peerId: fresh.peerId.toString(), addrs: [through], relay: false }, PROTOCOL, AbortSignal.timeout(10_000)),
      (err: unknown) => is(err, ErrorCode.Unreachable) && /no direct address/.test(String((err as Error).cause)))
    assert.equal(alice.getConnections(carol.peerId).length, 0, 'the relay was dialled')
  } finally {
    await fresh.stop()
  }
})

test('a dial to a loopback address looks for our relayed addresses only when it fails', async () => {
  await alice.hangUp(bob.peerId)
  let asked = 0
  const counting = {
    getConnections: alice.getConnections.bind(alice),
    dial: alice.dial.bind(alice),
    getMultiaddrs: () => { asked++; return alice.getMultiaddrs() }
  }
  const stream = await openStream(counting, { username: toUsername('bob'), peerId: bob.peerId.toString(), addrs: [hostPort(bob)] }, PROTOCOL)
  stream.abort(new Error('test done'))
  assert.equal(asked, 0, 'our own addresses were built for a dial that needed no relay')
  // Nobody listens there any more: the direct dial fails, and only then is a relay looked for.
  const gone = await loopbackNode()
  const goneAt = hostPort(gone)
  await gone.stop()
  await assert.rejects(
    openStream(counting, { username: toUsername('gone'), peerId: gone.peerId.toString(), addrs: [goneAt] }, PROTOCOL, AbortSignal.timeout(10_000)),
    (err: unknown) => is(err, ErrorCode.Unreachable))
  assert.equal(asked, 1)
})

test('a refused address whose relay does not answer either says the refusal, not the relay\'s silence (round 21)', async () => {
  const gone = await loopbackNode()
  const goneAt = hostPort(gone)
  await gone.stop()
  // A relay that takes connections and never answers: a rendezvous frozen with SIGSTOP.
  const sockets = new Set<Socket>()
  const silent = createServer(socket => { sockets.add(socket); socket.on('error', () => {}) })
  silent.listen(0, '127.0.0.1')
  await once(silent, 'listening')
  const port = (silent.address() as { port: number }).port
  try {
    const through = `/ip4/127.0.0.1/tcp/${port}/p2p/${carol.peerId.toString()}/p2p-circuit`
    await assert.rejects(
      openStream(alice, { username: toUsername('gone'), peerId: gone.peerId.toString(), addrs: [goneAt, through] }, PROTOCOL, AbortSignal.timeout(3_000)),
      (err: unknown) => is(err, ErrorCode.Unreachable) && (err as Error).message === 'gone is not reachable right now: connection refused')
  } finally {
    for (const socket of sockets) socket.destroy()
    silent.close()
  }
})

test('the first frame goes out with the proposal; the answers are read before the echo', async () => {
  const framed = await openStream(alice, { username: toUsername('bob'), peerId: bob.peerId.toString(), addrs: [hostPort(bob)] }, ECHO)
  try {
    await framed.write(new TextEncoder().encode('hello'))
    assert.equal(new TextDecoder().decode(await framed.read()), 'hello')
  } finally {
    framed.abort(new Error('test done'))
  }
})

test('a protocol the peer does not serve: the stream opens at once and its first read says so', async () => {
  const framed = await openStream(alice, { username: toUsername('bob'), peerId: bob.peerId.toString(), addrs: [hostPort(bob)] }, '/parley-test/nobody/1.0.0')
  try {
    await framed.write(new TextEncoder().encode('hello'))
    await assert.rejects(framed.read({ signal: AbortSignal.timeout(10_000) }), (err: unknown) => is(err, ErrorCode.Unreachable) && /does not serve/.test((err as Error).message))
  } finally {
    framed.abort(new Error('test done'))
  }
})
