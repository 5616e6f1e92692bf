/**
 * A peer reserves a relay slot on the rendezvous only (issue 13): not on another peer that
 * claims to be a relay, even when its reservation on the rendezvous is lost and libp2p looks for
 * any relay it knows. Real nodes on loopback, built by createParleyNode.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CODE_P2P } from '@multiformats/multiaddr'
import { createParleyNode } from '../../../common/node.ts'
import type { ParleyNode, RelayServerOptions } from '../../../common/node.ts'

const RELAY: RelayServerOptions = {
  maxReservations: 16, reservationTtlMs: 60_000, durationLimitMs: 60_000, dataLimitBytes: 1n << 20n, maxHopStreams: 8, allowRelayedConnection: () => true
}

async function node (relay?: Parameters<typeof createParleyNode>[0]['relay']): Promise<ParleyNode> {
  return await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], relay })
}

const relaysOf = (peer: ParleyNode): string[] => peer.getMultiaddrs().map(a => a.toString())
  .filter(a => a.includes('/p2p-circuit')).map(a => a.split('/p2p-circuit')[0]?.split('/p2p/').at(-1) ?? '')

async function until (check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

describe('a peer reserves on the rendezvous\'s relay and on no other', () => {
  const nodes: ParleyNode[] = []
  after(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })

  it('reserves on the rendezvous; a peer claiming to be a relay never keeps our slot', async () => {
    const rendezvous = await node({ server: RELAY })
    const hostile = await node({ server: RELAY })
    nodes.push(rendezvous, hostile)
    const at = rendezvous.getMultiaddrs()[0]!.decapsulateCode(CODE_P2P) // host:port, as --rendezvous gives it
    const peer = await node({ relayAt: at })
    nodes.push(peer)
    await peer.dial(hostile.getMultiaddrs()[0]!) // met first: identify tells it speaks the relay protocol
    await peer.dial(at)
    await until(() => relaysOf(peer).includes(rendezvous.peerId.toString()), 15_000, 'a reservation on the rendezvous')
    assert.deepEqual([...new Set(relaysOf(peer))], [rendezvous.peerId.toString()])

    // The rendezvous goes away: libp2p looks for another relay among the peers it knows.
    await rendezvous.stop()
    await until(() => !relaysOf(peer).includes(rendezvous.peerId.toString()), 15_000, 'the lost reservation withdrawn')
    await new Promise(resolve => setTimeout(resolve, 3_000))
    assert.deepEqual(relaysOf(peer), [], 'no slot on the peer that claims to be a relay')
  })
})
