/**
 * The dependency patches in patches/ (applied by npm's postinstall, patch-package): each is
 * checked by what it changes, so an install that lost one (a version bump, a skipped script)
 * fails here rather than only costing CPU in the soak.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { readFileSync } from 'node:fs'
import crypto from 'node:crypto'
import { createRequire } from 'node:module'
import { Socket, createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { noise, pureJsCrypto } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { LengthPrefixedDecoder, Queue, multiaddrConnectionPair } from '@libp2p/utils'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { loopbackNode, withLoopbackPair } from '../../helpers/nodes.ts'
import { FramedStream } from '../../../common/wire/frames.ts'

describe('dependency patches', () => {
  it('yamux grants its receive window back once half is used, not after every data frame', async () => {
    const [outbound, inbound] = multiaddrConnectionPair()
    const client = yamux({ enableKeepAlive: false })().createStreamMuxer(outbound)
    const server = yamux({ enableKeepAlive: false })().createStreamMuxer(inbound)
    let received = 0
    const allIn = new Promise<void>(resolve => {
      server.addEventListener('stream', event => {
        const stream: Stream = event.detail
        stream.addEventListener('message', message => {
          received += message.data.byteLength
          if (received === 100 * 64) resolve()
        })
      })
    })
    // Frames the receiving side sends back: its stream's opening ack and window updates.
    let framesBack = 0
    const send = inbound.send.bind(inbound)
    inbound.send = data => { framesBack++; return send(data) }
    const stream = await client.createStream()
    for (let i = 0; i < 100; i++) {
      stream.send(new Uint8Array(64))
      await new Promise(resolve => setImmediate(resolve))
    }
    await allIn
    // 6.4 KB of a 256 KiB window: the ack of the stream's opening, and an update each time
    // yamux doubles the window (at most 6 times, to 16 MiB). Unpatched: one per data frame.
    assert.ok(framesBack <= 12, `the receiver sent ${framesBack} frames back for 100 small data frames`)
    for (const end of [client, server, outbound, inbound]) end.abort(new Error('done'))
  })

  it('a length-prefixed decoder does not ask for a length when every byte was consumed', () => {
    let asked = 0
    const decoder = new LengthPrefixedDecoder({
      lengthDecoder: (data: Uint8Array | { getUint16: (at: number) => number, length: number }) => {
        asked++
        if (data.length < 2) throw new RangeError('no length yet')
        return data instanceof Uint8Array ? (data[0]! << 8) + data[1]! : data.getUint16(0)
      },
      encodingLength: () => 2
    })
    const frames = [...decoder.decode(Uint8Array.of(0, 3, 1, 2, 3, 0, 1, 9))]
    assert.deepEqual(frames.map(frame => [...frame.subarray()]), [[1, 2, 3], [9]])
    // Unpatched: a third call, on the empty buffer, that throws (a stack trace each time).
    assert.equal(asked, 2)
  })

  it('a queue job that completed makes no AbortError for its callers; one who gave up is still refused', async () => {
    const queue = new Queue({ concurrency: 1 })
    const caller = new AbortController()
    // The rejection that completion makes a no-op is built from the caller's abort reason, else
    // a new AbortError (a stack trace): count the reads of the reason.
    let reasonRead = 0
    Object.defineProperty(caller.signal, 'reason', { get: () => { reasonRead++ } })
    assert.equal(await queue.add(async () => 42, { signal: caller.signal }), 42)
    assert.equal(reasonRead, 0)
    const gaveUp = new AbortController()
    const pending = queue.add(async () => { await new Promise(resolve => setTimeout(resolve, 50)) }, { signal: gaveUp.signal })
    gaveUp.abort()
    await assert.rejects(pending, { name: 'AbortError' })
    await queue.onIdle()
  })

  it('libp2p lists all its connections in one pass, not a concatenation per peer (quadratic; on every connection opened)', async () => {
    const require = createRequire(import.meta.url)
    const source = readFileSync(join(dirname(require.resolve('libp2p')), 'connection-manager', 'index.js'), 'utf8')
    assert.doesNotMatch(source, /conns = conns\.concat\(/)
    const nodes = await Promise.all([1, 2, 3, 4].map(loopbackNode))
    const [hub, ...others] = nodes as [typeof nodes[0], ...typeof nodes]
    try {
      for (const other of others) await hub.dial(other.getMultiaddrs())
      assert.deepEqual(hub.getConnections().map(c => c.remotePeer.toString()).sort(), others.map(o => o.peerId.toString()).sort())
    } finally {
      await Promise.all(nodes.map(async node => { await node.stop() }))
    }
  })

  it('multistream-select proposes one protocol without waiting for its answer when asked (negotiateFully: false)', async () => {
    await withLoopbackPair(async (a, b) => {
      const connection = await a.dial(b.getMultiaddrs())
      // Nobody serves this protocol: the full negotiation refuses it, the optimistic one hands
      // the stream back at once (its first read would meet the "na").
      await assert.rejects(connection.newStream('/parley-test/nobody/1.0.0'), (err: Error) => err.name === 'UnsupportedProtocolError')
      const stream = await connection.newStream('/parley-test/nobody/1.0.0', { negotiateFully: false })
      assert.equal(stream.protocol, '/parley-test/nobody/1.0.0')
      stream.abort(new Error('test done'))
    })
  })

  it('a write that waits for the stream to drain leaves no listener on its signal (p-event)', async () => {
    await withLoopbackPair(async (a, b) => {
      const frames = 64
      const frame = new Uint8Array(60 * 1024)
      const { allIn } = await sink(b, frames * frame.byteLength)
      const connection = await a.dial(b.getMultiaddrs())
      const stream = await connection.newStream('/parley-test/sink/1.0.0')
      let full = 0
      const send = stream.send.bind(stream)
      stream.send = data => { const more = send(data); if (!more) full++; return more }
      const framed = new FramedStream(stream)
      // One signal for the whole stream, as a file transfer passes its own to every chunk.
      const transfer = new AbortController()
      for (let i = 0; i < frames; i++) await framed.write(frame, { signal: transfer.signal })
      await allIn
      assert.ok(full > 0, 'no write waited for the stream to drain: this test shows nothing')
      assert.equal(getEventListeners(transfer.signal, 'abort').length, 0, `after ${full} waits for drain`)
      stream.abort(new Error('test done'))
    })
  })

  it('@libp2p/tcp sends what one tick sends on a connection in one write', async () => {
    await withLoopbackPair(async (a, b) => {
      const frames = 10
      let writes: SocketWrites | undefined
      try {
        const { allIn } = await sink(b, frames * 64)
        const connection = await a.dial(b.getMultiaddrs())
        const stream = await connection.newStream('/parley-test/sink/1.0.0')
        await new Promise(resolve => setTimeout(resolve, 50))
        writes = socketWritesTo(portOf(connection.remoteAddr))
        // Ten yamux frames, each its own Noise frame: unpatched, a writev each.
        for (let i = 0; i < frames; i++) stream.send(new Uint8Array(64))
        await allIn
        assert.equal(writes.sizes.length, 1, `${frames} frames sent in one tick went out in ${writes.sizes.length} writes`)
        stream.abort(new Error('test done'))
      } finally {
        writes?.restore()
      }
    })
  })

  it('a dialer proposes Noise and sends its first handshake message without waiting for the answer', async () => {
    await withLoopbackPair(async (a, b) => {
      const writes = socketWritesTo(portOf(b.getMultiaddrs()[0]!))
      try {
        const connection = await a.dial(b.getMultiaddrs())
        // multistream-select's header and "/noise" (28 bytes), then Noise's first message (its
        // 2-byte length and a 32-byte ephemeral key), in the connection's first write. Unpatched:
        // 28 bytes, and the Noise message only once the answer is back.
        assert.equal(writes.sizes[0], 28 + 34, `the dialer's writes: ${writes.sizes.join(', ')}`)
        // The connection works: a stream both ways.
        await b.handle('/parley-test/echo/1.0.0', (stream: Stream) => {
          stream.addEventListener('message', message => { stream.send(message.data) })
        })
        const stream = await connection.newStream('/parley-test/echo/1.0.0')
        const framed = new FramedStream(stream)
        await framed.write(new TextEncoder().encode('hello'))
        assert.equal(new TextDecoder().decode(await framed.read()), 'hello')
        stream.abort(new Error('test done'))
      } finally {
        writes.restore()
      }
    })
  })

  it('a proposed Noise that the remote refuses fails the dial with the reason', async () => {
    // A listener that speaks multistream-select but not Noise: it answers the header and "na".
    const server = createServer(socket => {
      socket.once('data', () => { socket.write(Buffer.from('\x13/multistream/1.0.0\n\x03na\n', 'latin1')) })
      socket.on('error', () => {})
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const a = await loopbackNode()
    try {
      await assert.rejects(a.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}`), { signal: AbortSignal.timeout(10_000) }),
        (err: Error) => /does not serve \/noise/.test(`${err.message} ${String((err as { cause?: Error }).cause?.message)}`))
    } finally {
      await a.stop()
      server.close()
    }
  })

  it('a Noise handshake imports no private key and each received public key once, from a string', async () => {
    const [a, b] = await Promise.all([1, 2].map(loopbackNode))
    const imports = { private: 0, public: 0 }
    // What each import and HKDF was given: Node 24 throws and catches an exception per
    // KeyObject/CryptoKey question about an object or bytes, not about a string or a KeyObject.
    const importedFrom = new Set<string>()
    const hkdfKeys = new Set<string>()
    const { createPrivateKey, createPublicKey, hkdfSync } = crypto
    try {
      // The first handshake meets each node's own static and identity keys.
      await a!.dial(b!.getMultiaddrs()[0]!)
      await a!.hangUp(b!.peerId)
      crypto.createPrivateKey = (...args: Parameters<typeof createPrivateKey>) => { imports.private++; return createPrivateKey(...args) }
      crypto.createPublicKey = (...args: Parameters<typeof createPublicKey>) => {
        imports.public++
        importedFrom.add(typeof args[0])
        return createPublicKey(...args)
      }
      crypto.hkdfSync = (...args: Parameters<typeof hkdfSync>) => {
        hkdfKeys.add(args[1] instanceof crypto.KeyObject ? 'KeyObject' : typeof args[1])
        return hkdfSync(...args)
      }
      await a!.dial(b!.getMultiaddrs()[0]!)
    } finally {
      crypto.createPrivateKey = createPrivateKey
      crypto.createPublicKey = createPublicKey
      crypto.hkdfSync = hkdfSync
      await Promise.all([a!.stop(), b!.stop()])
    }
    // Unpatched: each side imports its keys for each of its three DHs and its signature (8 in
    // all), and the peer's ephemeral key for each of the two DHs it is in (6 public, plus 2 for
    // the signature checks).
    assert.equal(imports.private, 0)
    assert.equal(imports.public, 6)
    assert.deepEqual([...importedFrom], ['string'])
    assert.deepEqual([...hkdfKeys], ['KeyObject'])
  })

  it('an Ed25519 signature check imported from a string still refuses a wrong message or key', async () => {
    const [signer, other] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const message = new TextEncoder().encode('parley')
    const signature = await signer.sign(message)
    assert.equal(await signer.publicKey.verify(message, signature), true)
    assert.equal(await signer.publicKey.verify(new TextEncoder().encode('parlez'), signature), false)
    assert.equal(await other.publicKey.verify(message, signature), false)
  })

  it('a patched Noise agrees with Noise\'s own pure-JS crypto (X25519, HKDF), dialling and dialled', async () => {
    // A handshake completes only if both sides derive the same keys, and the echo crosses the
    // transport keys of both ends (HKDF's split).
    const echo = '/parley-test/echo/1.0.0'
    for (const patchedDials of [true, false]) {
      const patched = await loopbackNode()
      const reference = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise({ crypto: pureJsCrypto })],
        streamMuxers: [yamux()]
      })
      try {
        const [from, to] = patchedDials ? [patched, reference] : [reference, patched]
        await to.handle(echo, stream => { stream.addEventListener('message', event => { stream.send(event.data) }) })
        const stream = await from.dialProtocol(to.getMultiaddrs()[0]!, echo)
        const back = new Promise<Uint8Array>(resolve => { stream.addEventListener('message', event => { resolve(event.data.subarray()) }, { once: true }) })
        stream.send(Uint8Array.of(1, 2, 3))
        assert.deepEqual([...await back], [1, 2, 3])
      } finally {
        await Promise.all([patched.stop(), reference.stop()])
      }
    }
  })
})

interface SocketWrites { sizes: number[], restore: () => void }

/** The sizes of the writes (system calls) of every socket connected to `port`, in order. */
function socketWritesTo (port: number): SocketWrites {
  const prototype = Socket.prototype
  const [write, writev] = [prototype._write, prototype._writev] // eslint-disable-line @typescript-eslint/unbound-method -- called with their socket below
  const sizes: number[] = []
  prototype._write = function (this: Socket, chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void) {
    if (this.remotePort === port) sizes.push(chunk.byteLength)
    write.call(this, chunk, encoding, callback)
  }
  prototype._writev = function (this: Socket, chunks: Array<{ chunk: Buffer, encoding: BufferEncoding }>, callback: (err?: Error | null) => void) {
    if (this.remotePort === port) sizes.push(chunks.reduce((sum, { chunk }) => sum + chunk.byteLength, 0))
    writev!.call(this, chunks, callback)
  }
  return { sizes, restore: () => { Object.assign(prototype, { _write: write, _writev: writev }) } }
}

function portOf (address: Multiaddr): number {
  return Number(address.getComponents().find(c => c.name === 'tcp')?.value)
}

/** Serve /parley-test/sink/1.0.0 on `node`; `allIn` resolves once `bytes` have arrived on a stream. */
async function sink (node: Libp2p, bytes: number): Promise<{ allIn: Promise<void> }> {
  let arrived = (): void => {}
  const promise = new Promise<void>(resolve => { arrived = resolve })
  await node.handle('/parley-test/sink/1.0.0', (stream: Stream) => {
    let received = 0
    stream.addEventListener('message', message => {
      received += message.data.byteLength
      if (received >= bytes) arrived()
    })
  })
  return { allIn: promise }
}
