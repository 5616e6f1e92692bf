import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { relayPolicy } from '../../../rendezvous/relay.ts'
import { RELAY_CONNECTIONS_BURST, RELAY_CONNECTIONS_PER_SECOND } from '../../../rendezvous/constants.ts'

describe('relayPolicy: the relay serves accounts only, at a bounded rate', async () => {
  const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const [alice, bob, stranger] = [await newPeer(), await newPeer(), await newPeer()]
  const signedIn = new Set([alice.toString(), bob.toString()])

  it('relays between two signed-in peers, and not to or from anyone else', () => {
    const allow = relayPolicy(id => signedIn.has(id))
    assert.equal(allow(alice, bob), true)
    assert.equal(allow(stranger, bob), false, 'a source with no session')
    assert.equal(allow(alice, stranger), false, 'a destination with no session')
  })

  it('allows a burst of new relayed connections per source, then one per interval', () => {
    let now = 0
    const allow = relayPolicy(id => signedIn.has(id), () => now)
    for (let i = 0; i < RELAY_CONNECTIONS_BURST; i++) assert.equal(allow(alice, bob), true, `connection ${i + 1}`)
    assert.equal(allow(alice, bob), false, 'past the burst')
    assert.equal(allow(bob, alice), true, 'another source has its own budget')
    now += Math.ceil(1000 / RELAY_CONNECTIONS_PER_SECOND)
    assert.equal(allow(alice, bob), true, 'one more after the interval')
    assert.equal(allow(alice, bob), false)
  })
})
