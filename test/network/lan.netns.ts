/**
 * One LAN (one bridge, no router) in network namespaces: the rendezvous and four peers started
 * with no --rendezvous, so they find it by mDNS as on a real LAN (test/network/lab.ts).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { tempDir } from '../../harness/temp.ts'
import { is } from '../../harness/processes.ts'
import type { PeerProcess } from '../../harness/processes.ts'
import { Lab, labUnavailable, tearDown } from './lab.ts'
import type { Host } from './lab.ts'
import { startPeer, startRendezvous } from './procs.ts'
import type { LabRendezvous } from './procs.ts'

const skip = labUnavailable()
if (skip !== undefined) console.log(`# network tests skipped: ${skip}`)

const PASSWORD = 'Correct Horse 9'
const NAMES = ['alice', 'bob', 'carol', 'dave'] as const

describe('four peers on one LAN find the rendezvous by mDNS', { skip }, () => {
  let lab: Lab
  let dir: string
  let server: Host
  let hosts: Host[]
  let rendezvous: LabRendezvous
  const peers = new Map<string, PeerProcess>()
  const peer = (name: string): PeerProcess => {
    const found = peers.get(name)
    if (found === undefined) throw new Error(`no peer ${name}`)
    return found
  }

  /** Every ordered pair sends one message; every one arrives and is acknowledged. */
  const everyPair = async (tag: string): Promise<void> => {
    const from = new Map(NAMES.map(name => [name, peer(name).events.length]))
    const waits: Array<Promise<unknown>> = []
    for (const a of NAMES) {
      for (const b of NAMES) {
        if (a === b) continue
        const text = `${tag}: ${a} to ${b}`
        waits.push(peer(b).waitFor(e => e.event === 'message' && e.from === a && e.text === text, 60_000, from.get(b)))
        peer(a).send(`SEND ${b} ${text}`)
      }
    }
    await Promise.all(waits)
    for (const a of NAMES) {
      for (const b of NAMES) {
        if (a !== b) await peer(a).waitFor(is('delivered', { to: b, group: null }), 30_000, from.get(a))
      }
    }
  }

  before(async () => {
    dir = await tempDir('parley-lan-')
    lab = Lab.create()
    server = lab.lanHost('rv', 9, 1)
    hosts = NAMES.map((name, i) => lab.lanHost(name.slice(0, 3), 9, 11 + i))
    rendezvous = await startRendezvous(lab, server, join(dir, 'rendezvous'), { mdns: true })
    const started = await Promise.all(NAMES.map(async (name, i) => await startPeer(lab, hosts[i]!, name, join(dir, name))))
    for (const [i, name] of NAMES.entries()) peers.set(name, started[i]!)
  })

  after(async () => { await tearDown(lab, dir) })

  test('every peer found the rendezvous on the LAN by mDNS', () => {
    for (const name of NAMES) {
      const ready = peer(name).events.find(e => e.event === 'ready')
      assert.match(String(ready?.rendezvous), new RegExp(`^/ip4/${server.ip.replace(/\./g, '\\.')}/tcp/7000/p2p/${rendezvous.peerId}$`), name)
    }
  })

  test('all four sign up; SEND works between every pair, directly', async () => {
    await Promise.all(NAMES.map(async name => {
      const event = await peer(name).run(`SIGNUP ${name} ${PASSWORD}`, e => e.event === 'signed-up' || e.event === 'error', 30_000)
      assert.equal(event.event, 'signed-up', JSON.stringify(event))
    }))
    await everyPair('on the LAN')
    // Directly: each peer holds TCP connections to the other three, not only to the rendezvous.
    for (const [i, host] of hosts.entries()) {
      const remotes = lab.exec(host, 'ss', ['-Htn', 'state', 'established']).split('\n').filter(line => line.trim() !== '')
        .map(line => (line.trim().split(/\s+/).at(-1) ?? '').split(':')[0])
      for (const other of hosts.filter((_, j) => j !== i)) assert.ok(remotes.includes(other.ip), `${NAMES[i]} to ${other.ip}: ${remotes.join(' ')}`)
    }
  })

  test('a group message reaches every other member', async () => {
    for (const name of NAMES) await peer(name).run('JOIN lan', is('joined', { group: 'lan' }))
    const waits = NAMES.filter(n => n !== 'carol').map(async name => await peer(name).waitFor(e => e.event === 'group-message' && e.group === 'lan' && e.from === 'carol' && e.text === 'cake in the kitchen', 60_000))
    peer('carol').send('SENDGROUP lan cake in the kitchen')
    await Promise.all(waits)
  })

  test('with the rendezvous killed, direct messages still flow between every pair', async () => {
    await rendezvous.stop('SIGKILL')
    await Promise.all(NAMES.map(async name => await peer(name).waitFor(is('rendezvous', { connected: false }), 30_000)))
    await everyPair('rendezvous gone')
  })

  test('with the rendezvous killed, a group message still reaches every other member', async () => {
    const from = new Map(NAMES.map(name => [name, peer(name).events.length]))
    const waits = NAMES.filter(n => n !== 'bob').map(async name => await peer(name).waitFor(e => e.event === 'group-message' && e.group === 'lan' && e.from === 'bob' && e.text === 'the rendezvous is gone, we are not', 60_000, from.get(name)))
    peer('bob').send('SENDGROUP lan the rendezvous is gone, we are not')
    await Promise.all(waits)
  })

  test('a peer restarted while the rendezvous is down signs in offline and its group still works both ways', async () => {
    assert.equal(await peer('dave').kill('SIGTERM'), 0)
    peers.set('dave', await startPeer(lab, hosts[3]!, 'dave', join(dir, 'dave')))
    const signedIn = await peer('dave').run(`LOGIN dave ${PASSWORD}`, e => e.event === 'error' || e.event === 'logged-in', 60_000)
    assert.equal(signedIn.event, 'logged-in', JSON.stringify(signedIn))
    assert.equal(signedIn.offline, true, 'signed in from the data folder alone')
    // The members and epoch of 'lan' come from dave's store: nobody could tell him this run.
    const from = new Map(NAMES.map(name => [name, peer(name).events.length]))
    const waits = NAMES.filter(n => n !== 'dave').map(async name => await peer(name).waitFor(e => e.event === 'group-message' && e.group === 'lan' && e.from === 'dave' && e.text === 'back, and no server in sight', 60_000, from.get(name)))
    peer('dave').send('SENDGROUP lan back, and no server in sight')
    await Promise.all(waits)
    const toDave = peer('dave').waitFor(e => e.event === 'group-message' && e.group === 'lan' && e.from === 'alice' && e.text === 'welcome back, dave', 60_000, from.get('dave'))
    peer('alice').send('SENDGROUP lan welcome back, dave')
    await toDave
  })

  test('the rendezvous back at another address of the LAN: the running peers find it by mDNS and sign in there (round 50: they dialled the old one until restarted)', async () => {
    const from = new Map(NAMES.map(name => [name, peer(name).events.length]))
    rendezvous = await startRendezvous(lab, lab.lanHost('rv2', 9, 2), join(dir, 'rendezvous'), { mdns: true })
    await Promise.all(NAMES.map(async name => await peer(name).waitFor(is('rendezvous', { connected: true }), 90_000, from.get(name))))
    const listed = await peer('alice').run('LIST', e => e.event === 'groups' || e.event === 'error', 30_000)
    assert.deepEqual(listed.groups, [{ group: 'lan', members: 4, joined: true }], JSON.stringify(listed))
  })
})
