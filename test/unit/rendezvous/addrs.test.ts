import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { directoryAddrs, rewriteAddrs } from '../../../rendezvous/addrs.ts'

const PEER = '12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8'

describe('rewriteAddrs', () => {
  const lan = multiaddr('/ip4/192.168.1.20/tcp/51234')

  it('puts the observed IPv4 address in place of 0.0.0.0, keeping the port', () => {
    assert.deepEqual(rewriteAddrs(['/ip4/0.0.0.0/tcp/5000'], lan), ['/ip4/192.168.1.20/tcp/5000'])
  })

  it('keeps the observed address and private LAN addresses, in order', () => {
    assert.deepEqual(rewriteAddrs(['/ip4/10.0.0.5/tcp/1', '/ip4/192.168.1.20/tcp/2', '/ip6/fd00::9/tcp/3', '/ip4/172.20.0.1/tcp/4'], lan),
      ['/ip4/10.0.0.5/tcp/1', '/ip4/192.168.1.20/tcp/2', '/ip6/fd00::9/tcp/3', '/ip4/172.20.0.1/tcp/4'])
    const publicSeen = multiaddr('/ip4/203.0.113.7/tcp/40000')
    assert.deepEqual(rewriteAddrs(['/ip4/203.0.113.7/tcp/5000', '/ip4/192.168.1.20/tcp/5000'], publicSeen),
      ['/ip4/203.0.113.7/tcp/5000', '/ip4/192.168.1.20/tcp/5000'], 'a peer behind NAT: its public address as seen, and its LAN one')
  })

  it('drops what would point other peers anywhere: metadata, link-local, multicast, other public hosts, DNS, another machine\'s loopback', () => {
    assert.deepEqual(rewriteAddrs([
      '/ip4/169.254.169.254/tcp/80', '/ip6/fe80::1/tcp/80', '/ip4/224.0.0.1/tcp/80', '/ip4/1.2.3.4/tcp/1',
      '/dns4/example.org/tcp/2', '/ip6/::1/tcp/3', '/ip4/127.0.0.1/tcp/4', '/ip4/255.255.255.255/tcp/5'
    ], lan), [])
  })

  it('keeps loopback for a peer that came over loopback (one machine)', () => {
    assert.deepEqual(rewriteAddrs(['/ip4/127.0.0.1/tcp/5000', '/ip4/0.0.0.0/tcp/5001'], multiaddr('/ip4/127.0.0.1/tcp/40000')),
      ['/ip4/127.0.0.1/tcp/5000', '/ip4/127.0.0.1/tcp/5001'])
  })

  it('puts the observed IPv6 address in place of ::', () => {
    assert.deepEqual(rewriteAddrs(['/ip6/::/tcp/5000', '/ip6/0:0:0:0:0:0:0:0/tcp/5001'], multiaddr('/ip6/fd00::7/tcp/40000')),
      ['/ip6/fd00::7/tcp/5000', '/ip6/fd00::7/tcp/5001'])
  })

  it('drops a wildcard it cannot fill: other IP family, or nothing observed', () => {
    assert.deepEqual(rewriteAddrs(['/ip6/::/tcp/5000', '/ip4/10.1.2.3/tcp/1'], lan), ['/ip4/10.1.2.3/tcp/1'])
    assert.deepEqual(rewriteAddrs(['/ip4/0.0.0.0/tcp/5000'], undefined), [])
    assert.deepEqual(rewriteAddrs(['/ip4/0.0.0.0/tcp/5000'], multiaddr('/ip4/0.0.0.0/tcp/1')), [])
  })

  it('removes a /p2p suffix, duplicates and unparseable entries', () => {
    assert.deepEqual(rewriteAddrs([`/ip4/0.0.0.0/tcp/5000/p2p/${PEER}`, '/ip4/192.168.1.20/tcp/5000', 'not an address', ''], lan),
      ['/ip4/192.168.1.20/tcp/5000'])
  })
})

describe('rewriteAddrs: relayed addresses through the rendezvous (issue 13)', () => {
  const RELAY = '12D3KooWJnKNAegFWvp8h4up7hvMnWqSgA7XDfXGqcXhcmewo1t4'
  const OTHER = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
  const relay = { peerId: RELAY, addrs: [multiaddr(`/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}`), multiaddr(`/ip4/127.0.0.1/tcp/7000/p2p/${RELAY}`)] }
  const behindNat = multiaddr('/ip4/203.0.113.9/tcp/40000')

  it('keeps a circuit through this server at one of its listen addresses, without the peer\'s own id', () => {
    assert.deepEqual(rewriteAddrs([`/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit/p2p/${PEER}`, '/ip4/0.0.0.0/tcp/5000'], behindNat, relay),
      [`/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit`, '/ip4/203.0.113.9/tcp/5000'])
    assert.deepEqual(rewriteAddrs([`/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit`], behindNat, relay),
      [`/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit`], 'also without it, once')
  })

  it('drops circuits through any other relay, at another address or port, or shaped otherwise', () => {
    assert.deepEqual(rewriteAddrs([
      `/ip4/198.51.100.1/tcp/7000/p2p/${OTHER}/p2p-circuit`, // another relay at our address
      `/ip4/198.51.100.66/tcp/7000/p2p/${RELAY}/p2p-circuit`, // our id at another host
      `/ip4/198.51.100.1/tcp/7001/p2p/${RELAY}/p2p-circuit`, // another port
      `/ip4/198.51.100.1/tcp/7000/p2p-circuit/p2p/${PEER}`, // no relay id
      `/p2p/${RELAY}/p2p-circuit`, // no address
      `/dns4/example.org/tcp/7000/p2p/${RELAY}/p2p-circuit`,
      `/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit/ip4/1.2.3.4/tcp/1`, // something after it
      `/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit/p2p/${PEER}/p2p-circuit`, // nested
      `/ip4/198.51.100.1/tcp/7000/p2p/${OTHER}/p2p/${RELAY}/p2p-circuit`
    ], behindNat, relay), [])
  })

  it('drops every circuit when this server runs no relay', () => {
    assert.deepEqual(rewriteAddrs([`/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit`], behindNat), [])
  })

  it('keeps the relay\'s loopback address only for a peer on the same machine', () => {
    const loop = `/ip4/127.0.0.1/tcp/7000/p2p/${RELAY}/p2p-circuit`
    assert.deepEqual(rewriteAddrs([loop], behindNat, relay), [])
    assert.deepEqual(rewriteAddrs([loop], multiaddr('/ip4/127.0.0.1/tcp/40000'), relay), [loop])
  })
})

describe('directoryAddrs: the relayed address of a peer holding a reservation (issue 13)', () => {
  const RELAY = '12D3KooWJnKNAegFWvp8h4up7hvMnWqSgA7XDfXGqcXhcmewo1t4'
  const addrs = [multiaddr(`/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}`), multiaddr(`/ip4/127.0.0.1/tcp/7000/p2p/${RELAY}`)]
  const published = ['/ip4/203.0.113.9/tcp/5000']
  const remote = multiaddr('/ip4/203.0.113.50/tcp/40000')

  it('adds the relay\'s public address while the peer holds a reservation, not its loopback one', () => {
    const relay = { peerId: RELAY, addrs, reserved: (id: string) => id === PEER }
    assert.deepEqual(directoryAddrs(published, PEER, remote, relay), [...published, `/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit`])
    assert.deepEqual(directoryAddrs(published, PEER, multiaddr('/ip4/127.0.0.1/tcp/40000'), relay),
      [...published, `/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit`, `/ip4/127.0.0.1/tcp/7000/p2p/${RELAY}/p2p-circuit`], 'an asker on this machine gets loopback too')
  })

  it('a relay identity with other listen addresses (ours changed) gives its own circuits, to each kind of asker', () => {
    const before = { peerId: RELAY, addrs, reserved: () => true }
    directoryAddrs(published, PEER, remote, before)
    directoryAddrs(published, PEER, multiaddr('/ip4/127.0.0.1/tcp/40000'), before)
    const after = { peerId: RELAY, addrs: [multiaddr(`/ip4/198.51.100.2/tcp/7001/p2p/${RELAY}`)], reserved: () => true }
    assert.deepEqual(directoryAddrs(published, PEER, remote, after), [...published, `/ip4/198.51.100.2/tcp/7001/p2p/${RELAY}/p2p-circuit`])
    assert.deepEqual(directoryAddrs(published, PEER, multiaddr('/ip4/127.0.0.1/tcp/40000'), after), [...published, `/ip4/198.51.100.2/tcp/7001/p2p/${RELAY}/p2p-circuit`])
    assert.deepEqual(directoryAddrs(published, PEER, remote, before), [...published, `/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit`])
  })

  it('adds nothing without a reservation or without a relay, and never twice', () => {
    assert.deepEqual(directoryAddrs(published, PEER, remote, { peerId: RELAY, addrs, reserved: () => false }), published)
    assert.deepEqual(directoryAddrs(published, PEER, remote, undefined), published)
    const already = [...published, `/ip4/198.51.100.1/tcp/7000/p2p/${RELAY}/p2p-circuit`]
    assert.deepEqual(directoryAddrs(already, PEER, remote, { peerId: RELAY, addrs, reserved: () => true }), already)
  })
})
