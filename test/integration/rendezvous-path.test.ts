/**
 * A connection to the rendezvous whose path dies without a word (round 50): a laptop moved to
 * another network, a home router restarted and lost its mapping. Nothing closes the connection,
 * and until 2026-12-07 only the events stream's 90 s of silence ended it. Here a TCP relay of the
 * test's own on 127.0.0.1 stands for the path: it stops forwarding what its connections carry,
 * and keeps them open, while new connections through it work, as after a move.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { ServerProcess } from '../../harness/processes.ts'

const PASSWORD = 'a path that dies'

/** A TCP relay to `port`; `cutSilently` makes every connection it holds forward nothing more,
 * without closing it (no FIN, no RST: what a dead path looks like from either end). */
async function relayTo (port: number): Promise<{ port: number, cutSilently: () => void, close: () => Promise<void> }> {
  const pairs: Array<[Socket, Socket]> = []
  const cut: Socket[] = []
  const server: Server = createServer(inbound => {
    const outbound = connect(port, '127.0.0.1')
    for (const socket of [inbound, outbound]) socket.on('error', () => {})
    inbound.pipe(outbound)
    outbound.pipe(inbound)
    pairs.push([inbound, outbound])
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the relay has no port')
  return {
    port: address.port,
    cutSilently: () => {
      for (const [inbound, outbound] of pairs.splice(0)) {
        cut.push(inbound, outbound)
        inbound.unpipe(outbound)
        outbound.unpipe(inbound)
        // Read and dropped: what the ends send is taken (their kernels see it go) and goes nowhere.
        inbound.on('data', () => {})
        outbound.on('data', () => {})
      }
    },
    close: async () => {
      for (const socket of [...cut, ...pairs.flat()]) socket.destroy()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

describe('a connection to the rendezvous whose path dies without a word', () => {
  let dir: string
  let server: ServerProcess
  let relay: Awaited<ReturnType<typeof relayTo>>
  let alice: PeerProcess

  before(async () => {
    dir = await tempDir('parley-path-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    const port = Number(/\/tcp\/(\d+)/.exec(server.addr.toString())?.[1])
    relay = await relayTo(port)
    alice = await PeerProcess.start('alice', server.addr.toString().replace(`/tcp/${port}/`, `/tcp/${relay.port}/`), join(dir, 'alice'))
    await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
  })

  after(async () => {
    await alice?.kill()
    await relay?.close()
    await server?.stop('SIGKILL')
    await removeDir(dir)
  })

  test('is found by the first request it leaves unanswered: the peer signs in again on a new connection, not after the events stream\'s 90 s of silence (round 50)', { timeout: 120_000 }, async () => {
    await alice.run('CREATE before', is('created'))
    relay.cutSilently()
    const from = alice.events.length
    const unanswered = await alice.run('JOIN during', e => e.event === 'joined' || e.event === 'error', 30_000)
    assert.match(String(unanswered.message), /the rendezvous did not answer within 15 s/, JSON.stringify(unanswered))
    // The 90 s of silence would come after these deadlines.
    await alice.waitFor(is('rendezvous', { connected: false }), 30_000, from)
    await alice.waitFor(is('rendezvous', { connected: true }), 30_000, from)
    const listed = await alice.run('LIST', e => e.event === 'groups' || e.event === 'error')
    assert.equal(listed.event, 'groups', JSON.stringify(listed))
    // The JOIN went into the dead path and never reached the rendezvous.
    assert.deepEqual((listed.groups as Array<{ group: string }>).map(g => g.group), ['before'])
  })
})
