/**
 * The rendezvous client against a server that only speaks `/parley/rendezvous/1.0.0` (an older
 * rendezvous): the client's offer of 1.1.0 falls back to 1.0.0, each request gets its own stream,
 * and none is kept. Two real libp2p nodes on loopback; the old server is a bare 1.0.0 handler
 * that answers `salt` and closes, as rendezvous/service.ts did before 1.1.0.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Stream } from '@libp2p/interface'
import type { ParleyNode } from '../../../common/node.ts'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import { RATE_REFUSAL } from '../../../common/rate-limiter.ts'
import { RENDEZVOUS_PROTOCOL, RENDEZVOUS_REQUESTS_PROTOCOL, decodeRequest, encodeError, encodeResult } from '../../../common/protocol/rendezvous.ts'
import { FramedStream } from '../../../common/wire/frames.ts'
import { RendezvousClient, mayHaveBeenDone } from '../../../peer/rendezvous-client.ts'
import { toGroupName, toUsername } from '../../../common/wire/names.ts'
import { clientNode, sleep } from '../../helpers/rendezvous.ts'

describe('rendezvous client and a 1.0.0-only server', () => {
  const nodes: ParleyNode[] = []
  after(async () => { await Promise.all(nodes.map(async node => { await node.stop() })) })

  it('falls back to one stream per request and keeps none', async () => {
    const server = await clientNode()
    const client = await clientNode()
    nodes.push(server, client)
    let served = 0
    await server.handle(RENDEZVOUS_PROTOCOL, (stream: Stream) => {
      void (async () => {
        const framed = new FramedStream(stream)
        const request = decodeRequest(await framed.read())
        assert.equal(request.op, 'salt')
        await framed.write(encodeResult('salt', { salt: new Uint8Array(16).fill(++served), kdf: { logN: 17, r: 8, p: 1 } }))
        await framed.close()
      })().catch((err: unknown) => { stream.abort(err as Error) })
    })
    const rendezvous = new RendezvousClient(client, server.getMultiaddrs()[0]!)
    for (let i = 1; i <= 3; i++) assert.equal((await rendezvous.salt('alice'))[0], i)
    assert.equal(served, 3, 'each request was answered on its own stream')
    const [connection] = client.getConnections(server.peerId)
    assert.ok(connection !== undefined)
    assert.equal(connection.streams.filter(s => s.protocol === RENDEZVOUS_REQUESTS_PROTOCOL).length, 0)
    const open = (): number => connection.streams.filter(s => s.protocol === RENDEZVOUS_PROTOCOL).length
    for (let waited = 0; open() > 0 && waited < 2_000; waited += 20) await sleep(20)
    assert.equal(open(), 0, 'every 1.0.0 stream was closed after its answer')
  })
})

describe('rendezvous client and the server\'s rate limit', () => {
  const nodes: ParleyNode[] = []
  after(async () => { await Promise.all(nodes.map(async node => { await node.stop() })) })

  /** A 1.0.0 server that refuses the first `refusals` requests with `refusal`, then answers salt. */
  const refusingServer = async (refusals: number, refusal: string): Promise<{ client: RendezvousClient, asked: () => number }> => {
    const server = await clientNode()
    const client = await clientNode()
    nodes.push(server, client)
    let asked = 0
    await server.handle(RENDEZVOUS_PROTOCOL, (stream: Stream) => {
      void (async () => {
        const framed = new FramedStream(stream)
        decodeRequest(await framed.read())
        asked++
        await framed.write(asked <= refusals
          ? encodeError(new ParleyError(ErrorCode.RateLimited, refusal))
          : encodeResult('salt', { salt: new Uint8Array(16), kdf: { logN: 17, r: 8, p: 1 } }))
        await framed.close()
      })().catch((err: unknown) => { stream.abort(err as Error) })
    })
    return { client: new RendezvousClient(client, server.getMultiaddrs()[0]!), asked: () => asked }
  }

  it('asks again after a pause when the request rate was refused, and the caller gets the answer', async () => {
    const { client, asked } = await refusingServer(2, RATE_REFUSAL)
    assert.equal((await client.saltOf('alice')).salt.length, 16)
    assert.equal(asked(), 3)
  })

  it('passes on at once a refusal that waiting does not cure (the sign-in throttle, an epoch too new)', async () => {
    const { client, asked } = await refusingServer(1, 'too many attempts, try again in 60 s')
    await assert.rejects(client.saltOf('alice'), (err: unknown) => is(err, ErrorCode.RateLimited))
    assert.equal(asked(), 1)
  })
})

describe('rendezvous client and a server that stops answering', () => {
  const nodes: ParleyNode[] = []
  after(async () => { await Promise.all(nodes.map(async node => { await node.stop() })) })

  it('a request the server reads and never answers fails in its time, naming the rendezvous (round 13: a bare "timed out")', async () => {
    const server = await clientNode()
    const client = await clientNode()
    nodes.push(server, client)
    await server.handle(RENDEZVOUS_PROTOCOL, (stream: Stream) => {
      void new FramedStream(stream).read().catch(() => undefined) // read, then silence (a frozen process)
    })
    const rendezvous = new RendezvousClient(client, server.getMultiaddrs()[0]!, 300)
    await assert.rejects(rendezvous.salt('alice'), (err: unknown) => is(err, ErrorCode.Unreachable) && err.message === 'the rendezvous did not answer within 0.3 s')
  })

  it('a request sent whose connection ends before the answer may have been done, and is said so (round 45: a LEAVE the rendezvous did was said certainly not done)', async () => {
    const server = await clientNode()
    const client = await clientNode()
    nodes.push(server, client)
    await server.handle([RENDEZVOUS_REQUESTS_PROTOCOL, RENDEZVOUS_PROTOCOL], (stream: Stream) => {
      // Read it (and, for all the client can tell, do it), then the connection goes.
      void new FramedStream(stream).read().then(async () => {
        await Promise.all(server.getConnections().map(async connection => { await connection.close() }))
      }, () => undefined)
    })
    const rendezvous = new RendezvousClient(client, server.getMultiaddrs()[0]!, 5_000)
    await assert.rejects(rendezvous.leave(toGroupName('trip')), (err: unknown) =>
      is(err, ErrorCode.Unreachable) && err.message === 'the connection to the rendezvous ended before it answered' && mayHaveBeenDone(err))
  })
})

describe('rendezvous client and sign-in tickets', () => {
  const nodes: ParleyNode[] = []
  after(async () => { await Promise.all(nodes.map(async node => { await node.stop() })) })

  it('signing in again by itself shows the ticket of its last sign-in; a rendezvous from before tickets, which refuses the field, is asked without it (round 46)', async () => {
    const server = await clientNode()
    const client = await clientNode()
    nodes.push(server, client)
    const ticket = new Uint8Array(16).fill(9)
    const seen: Array<Uint8Array | undefined> = []
    let knowsTickets = true
    await server.handle(RENDEZVOUS_PROTOCOL, (stream: Stream) => {
      void (async () => {
        const framed = new FramedStream(stream)
        const request = decodeRequest(await framed.read())
        if (request.op !== 'signin') throw new Error(`unexpected ${request.op}`)
        seen.push(request.resume)
        await framed.write(!knowsTickets && request.resume !== undefined
          ? encodeError(new ParleyError(ErrorCode.Malformed, 'signin request has an unknown field "resume"'))
          : encodeResult('signin', { username: toUsername('alice'), peerId: client.peerId.toString(), identity: new Uint8Array(1), bound: true, ...(knowsTickets ? { ticket } : {}) }))
        await framed.close()
      })().catch((err: unknown) => { stream.abort(err as Error) })
    })
    const rendezvous = new RendezvousClient(client, server.getMultiaddrs()[0]!)
    const args = { username: 'alice', authKey: new Uint8Array(32), addrs: [] }
    await rendezvous.signin(args)
    await rendezvous.signin({ ...args, resume: true })
    assert.deepEqual(seen, [undefined, ticket], 'a person\'s sign-in shows none; signing in again by itself, the one it was given')
    knowsTickets = false
    seen.length = 0
    assert.equal((await rendezvous.signin({ ...args, resume: true })).bound, true)
    assert.deepEqual(seen, [ticket, undefined], 'refused for the field, asked again without it')
  })
})
