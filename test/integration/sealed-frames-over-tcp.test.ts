import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createParleyNode, loadOrCreateIdentity } from '../../common/node.ts'
import { FramedStream } from '../../common/wire/frames.ts'
import { formatHeader, parseHeader } from '../../common/wire/headers.ts'
import { str } from '../../common/wire/codec.ts'
import { acceptDirectChannel, initiateDirectChannel } from '../../peer/transport/channel.ts'
import { ErrorCode, is } from '../../common/errors.ts'

const PROTOCOL = '/parley/test-sealed/1.0.0'

test('two real libp2p nodes exchange sealed frames over TCP loopback, with a fresh DH per stream', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-node-'))
  const alice = await createParleyNode({ privateKey: await loadOrCreateIdentity(join(dir, 'a.key')), listen: ['/ip4/127.0.0.1/tcp/0'] })
  const bob = await createParleyNode({ privateKey: await loadOrCreateIdentity(join(dir, 'b.key')), listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.after(async () => { await alice.stop(); await bob.stop(); await rm(dir, { recursive: true, force: true }) })

  const received: string[] = []
  await bob.handle(PROTOCOL, async (stream, connection) => {
    const framed = new FramedStream(stream)
    try {
      const header = await framed.read()
      assert.deepEqual(parseHeader(header), { kind: 'MSG' })
      const { channel } = await acceptDirectChannel(framed, header, bob.peerId.toString(), connection.remotePeer.toString(), async () => undefined)
      const { text } = await channel.receive({ text: str(100) })
      received.push(text)
      await channel.send({ text: text.toUpperCase() })
    } finally {
      await framed.close()
    }
  })

  for (const text of ['hello bob, this is the first session', 'and a second one']) {
    const framed = new FramedStream(await alice.dialProtocol(bob.getMultiaddrs(), PROTOCOL))
    const { channel } = await initiateDirectChannel(framed, formatHeader({ kind: 'MSG' }), alice.peerId.toString(), bob.peerId.toString())
    await channel.send({ text })
    assert.deepEqual(await channel.receive({ text: str(100) }), { text: text.toUpperCase() })
    await framed.close()
  }
  assert.deepEqual(received, ['hello bob, this is the first session', 'and a second one'])
})

test('the identity is persisted with owner-only permissions and reloads to the same peer id', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-id-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'sub', 'identity.key')
  const first = await loadOrCreateIdentity(file)
  const again = await loadOrCreateIdentity(file)
  assert.ok(first.equals(again))
  assert.equal((await stat(file)).mode & 0o777, 0o600)
})

test('a frame over the limit is refused with a typed error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-limit-'))
  const a = await createParleyNode({ privateKey: await loadOrCreateIdentity(join(dir, 'a.key')), listen: ['/ip4/127.0.0.1/tcp/0'] })
  const b = await createParleyNode({ privateKey: await loadOrCreateIdentity(join(dir, 'b.key')), listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.after(async () => { await a.stop(); await b.stop(); await rm(dir, { recursive: true, force: true }) })
  let failure: unknown
  const done = new Promise<void>(resolve => {
    void b.handle(PROTOCOL, async (stream) => {
      const framed = new FramedStream(stream, 1024)
      try { await framed.read() } catch (err) { failure = err; framed.abort(err) } finally { resolve() }
    })
  })
  const framed = new FramedStream(await a.dialProtocol(b.getMultiaddrs(), PROTOCOL))
  await framed.write(new Uint8Array(4096))
  await done
  assert.ok(is(failure, ErrorCode.TooLarge), String(failure))
})
