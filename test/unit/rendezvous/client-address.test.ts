import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, is } from '../../../common/errors.ts'
import { parseRendezvousAddress } from '../../../peer/rendezvous-client.ts'

const PEER = '12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8'

describe('parseRendezvousAddress', () => {
  it('turns host:port into a TCP multiaddr', () => {
    assert.equal(parseRendezvousAddress('127.0.0.1:7000').toString(), '/ip4/127.0.0.1/tcp/7000')
    assert.equal(parseRendezvousAddress(' 192.168.1.10:7001 ').toString(), '/ip4/192.168.1.10/tcp/7001')
    assert.equal(parseRendezvousAddress('[::1]:7000').toString(), '/ip6/::1/tcp/7000')
    assert.equal(parseRendezvousAddress('rendezvous.example.org:7000').toString(), '/dns4/rendezvous.example.org/tcp/7000')
    assert.equal(parseRendezvousAddress('localhost:7000').toString(), '/dns4/localhost/tcp/7000')
  })

  it('takes a full multiaddr as it is', () => {
    const text = `/ip4/10.0.0.1/tcp/7000/p2p/${PEER}`
    assert.equal(parseRendezvousAddress(text).toString(), text)
  })

  it('refuses anything else with a usage error', () => {
    for (const bad of ['', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '1.2.3.999:7000', 'host:port', 'a b:7000',
      '::1:7000', '/ip4/1.2.3.4/tcp', '/not-a-protocol/1', 'http://x:7000']) {
      assert.throws(() => parseRendezvousAddress(bad), (err: unknown) => is(err, ErrorCode.Usage), bad)
    }
  })
})
