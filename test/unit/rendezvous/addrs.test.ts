import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { rewriteAddrs } from '../../../rendezvous/addrs.ts'

const PEER = '12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8'

describe('rewriteAddrs', () => {
  const lan = multiaddr('/ip4/192.168.1.20/tcp/51234')

  it('puts the observed IPv4 address in place of 0.0.0.0, keeping the port', () => {
    assert.deepEqual(rewriteAddrs(['/ip4/0.0.0.0/tcp/5000'], lan), ['/ip4/192.168.1.20/tcp/5000'])
  })

  it('leaves concrete addresses alone and keeps their order', () => {
    assert.deepEqual(rewriteAddrs(['/ip4/10.0.0.5/tcp/1', '/dns4/example.org/tcp/2', '/ip6/::1/tcp/3'], lan),
      ['/ip4/10.0.0.5/tcp/1', '/dns4/example.org/tcp/2', '/ip6/::1/tcp/3'])
  })

  it('puts the observed IPv6 address in place of ::', () => {
    assert.deepEqual(rewriteAddrs(['/ip6/::/tcp/5000', '/ip6/0:0:0:0:0:0:0:0/tcp/5001'], multiaddr('/ip6/fd00::7/tcp/40000')),
      ['/ip6/fd00::7/tcp/5000', '/ip6/fd00::7/tcp/5001'])
  })

  it('drops a wildcard it cannot fill: other IP family, or nothing observed', () => {
    assert.deepEqual(rewriteAddrs(['/ip6/::/tcp/5000', '/ip4/1.2.3.4/tcp/1'], lan), ['/ip4/1.2.3.4/tcp/1'])
    assert.deepEqual(rewriteAddrs(['/ip4/0.0.0.0/tcp/5000'], undefined), [])
    assert.deepEqual(rewriteAddrs(['/ip4/0.0.0.0/tcp/5000'], multiaddr('/ip4/0.0.0.0/tcp/1')), [])
  })

  it('removes a /p2p suffix, duplicates and unparseable entries', () => {
    assert.deepEqual(rewriteAddrs([`/ip4/0.0.0.0/tcp/5000/p2p/${PEER}`, '/ip4/192.168.1.20/tcp/5000', 'not an address', ''], lan),
      ['/ip4/192.168.1.20/tcp/5000'])
  })
})
