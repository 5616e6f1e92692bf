/**
 * Two peers behind two different home routers (nftables masquerade, nothing in from outside)
 * and the rendezvous on the public side, all in network namespaces (test/network/lab.ts).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { removeDir, tempDir } from '../helpers/rendezvous.ts'
import type { PeerProcess } from '../helpers/peer-process.ts'
import { Lab, labUnavailable } from './lab.ts'
import type { Host, Router } from './lab.ts'
import { canConnect, startPeer, startRendezvous } from './procs.ts'
import type { LabRendezvous } from './procs.ts'

const skip = labUnavailable()
if (skip !== undefined) console.log(`# network tests skipped: ${skip}`)

const PASSWORD = 'Correct Horse 9'

describe('two peers behind two NATs, the rendezvous in public', { skip }, () => {
  let lab: Lab
  let dir: string
  let server: Host
  let homeA: Router
  let homeB: Router
  let hostA: Host
  let hostB: Host
  let rendezvous: LabRendezvous
  let alice: PeerProcess
  let bob: PeerProcess

  before(async () => {
    dir = await tempDir('parley-nat-')
    lab = Lab.create()
    server = lab.publicHost('rv', 1)
    homeA = lab.router('ra', 11, 1)
    homeB = lab.router('rb', 12, 2)
    hostA = lab.behind(homeA, 'a')
    hostB = lab.behind(homeB, 'b')
    rendezvous = await startRendezvous(lab, server, join(dir, 'rendezvous'))
    const at = `${server.ip}:7000`
    ;[alice, bob] = await Promise.all([
      startPeer(lab, hostA, 'alice', join(dir, 'alice'), { rendezvous: at }),
      startPeer(lab, hostB, 'bob', join(dir, 'bob'), { rendezvous: at })
    ])
  })

  after(async () => {
    try {
      await lab?.close()
      assert.deepEqual(lab?.leftovers() ?? [], [], 'every namespace is gone')
    } finally {
      if (dir !== undefined) await removeDir(dir)
    }
  })

  test('the routers let connections out and nothing in', () => {
    assert.ok(rendezvous.addrs.some(addr => addr.startsWith(`/ip4/${server.ip}/tcp/7000/`)), rendezvous.addrs.join(' '))
    assert.equal(canConnect(lab, hostA, server.ip, 7000), true, 'a peer reaches the rendezvous')
    assert.equal(canConnect(lab, hostB, server.ip, 7000), true)
    assert.equal(canConnect(lab, hostA, homeB.wan, 5000), false, 'nothing gets into the other home')
    assert.equal(canConnect(lab, hostB, homeA.wan, 5000), false)
    assert.equal(canConnect(lab, hostA, hostB.ip, 5000), false, 'the other LAN is not routed')
    assert.equal(canConnect(lab, server, homeA.wan, 5000), false, 'nor from the public side')
  })

  test('both sign up at the public rendezvous through their NAT', async () => {
    for (const [peer, name] of [[alice, 'alice'], [bob, 'bob']] as const) {
      const event = await peer.run(`SIGNUP ${name} ${PASSWORD}`, e => e.event === 'signed-up' || e.event === 'error', 30_000)
      assert.equal(event.event, 'signed-up', JSON.stringify(event))
    }
    const who = await alice.run('WHO', e => e.event === 'who')
    assert.deepEqual((who.users as Array<{ username: string, online: boolean }>).filter(u => u.online).map(u => u.username).sort(), ['alice', 'bob'])
  })
})
