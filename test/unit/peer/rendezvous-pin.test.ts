/**
 * The rendezvous pin remembers where its rendezvous was last reached (issue 13): a peer started
 * while the LAN's rendezvous is down (mDNS finds nothing, nobody at the default address) keeps
 * trying it where it was, not at 127.0.0.1:7000. Who answers is injected, as `whoAnswers` would
 * find it over the network.
 */
import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { pinRendezvous } from '../../../peer/rendezvous-pin.ts'

const ID = '12D3KooWGRUBmYCuYdpTo3CSXTjaW6EG1YAKAmQzVAd2tSvZXBrS'
const LAN = '/ip4/192.168.1.20/tcp/7000'
const DEFAULT = multiaddr('/ip4/127.0.0.1/tcp/7000')
const nobody = async (): Promise<string | undefined> => undefined

describe('rendezvous pin: where it was last reached', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'parley-pin-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('a rendezvous found by mDNS is pinned with its address; later, with nothing found, that address is used', async () => {
    const first = await pinRendezvous(dir, multiaddr(`${LAN}/p2p/${ID}`), 'mdns', nobody)
    assert.equal(first.addr.toString(), `${LAN}/p2p/${ID}`)
    assert.equal(await readFile(join(dir, 'rendezvous.pin'), 'utf8'), `${ID}\n${LAN}\n`)
    const later = await pinRendezvous(dir, DEFAULT, 'default', nobody)
    assert.equal(later.addr.toString(), `${LAN}/p2p/${ID}`)
  })

  it('the pinned rendezvous answering at the default address is used there, and that is remembered', async () => {
    await pinRendezvous(dir, multiaddr(`${LAN}/p2p/${ID}`), 'mdns', nobody)
    const moved = await pinRendezvous(dir, DEFAULT, 'default', async () => ID)
    assert.equal(moved.addr.toString(), `${DEFAULT.toString()}/p2p/${ID}`)
    assert.equal(await readFile(join(dir, 'rendezvous.pin'), 'utf8'), `${ID}\n${DEFAULT.toString()}\n`)
  })

  it('a pin written before addresses were kept (one line) still holds, with the default address', async () => {
    await writeFile(join(dir, 'rendezvous.pin'), `${ID}\n`)
    const pinned = await pinRendezvous(dir, DEFAULT, 'default', nobody)
    assert.equal(pinned.addr.toString(), `${DEFAULT.toString()}/p2p/${ID}`)
  })

  it('a damaged address line is ignored, and a stranger at the address is still refused', async () => {
    await writeFile(join(dir, 'rendezvous.pin'), `${ID}\nnot an address\n`)
    assert.equal((await pinRendezvous(dir, DEFAULT, 'default', nobody)).addr.toString(), `${DEFAULT.toString()}/p2p/${ID}`)
    const stranger = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
    await assert.rejects(pinRendezvous(dir, DEFAULT, 'default', async () => stranger), { code: 'ERR_IDENTITY_CHANGED' })
  })

  it('pinned, a rendezvous that takes connections but never answers (frozen) holds the start its patience, not 10 s; unpinned, it is waited for (round 20)', { timeout: 30_000 }, async () => {
    // A listener that accepts TCP and says nothing, as a rendezvous stopped with SIGSTOP does
    // (the kernel still completes the handshake).
    const sockets = new Set<Socket>()
    const silent = createServer(socket => { sockets.add(socket) })
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    const at = multiaddr(`/ip4/127.0.0.1/tcp/${(silent.address() as AddressInfo).port}`)
    try {
      await writeFile(join(dir, 'rendezvous.pin'), `${ID}\n`)
      const timedOut = Symbol('held')
      const within = async <T>(work: Promise<T>, ms: number): Promise<T | typeof timedOut> =>
        await Promise.race([work, new Promise<typeof timedOut>(resolve => setTimeout(() => { resolve(timedOut) }, ms).unref())])
      const pinned = await within(pinRendezvous(dir, at, 'flag'), 6_000)
      assert.notEqual(pinned, timedOut, 'not held past two 5 s identify attempts')
      assert.equal(pinned === timedOut ? '' : pinned.addr.toString(), `${at.toString()}/p2p/${ID}`, 'the pinned identity, which Noise holds the connection to')
      const fresh = await mkdtemp(join(tmpdir(), 'parley-pin-'))
      try {
        assert.equal(await within(pinRendezvous(fresh, at, 'flag'), 4_000), timedOut, 'unpinned: its identity is waited for')
      } finally {
        await rm(fresh, { recursive: true, force: true })
      }
    } finally {
      for (const socket of sockets) socket.destroy()
      silent.close()
    }
  })

  it('an address given with --rendezvous is used as given, not replaced by the remembered one', async () => {
    await pinRendezvous(dir, multiaddr(`${LAN}/p2p/${ID}`), 'mdns', nobody)
    const flagged = await pinRendezvous(dir, multiaddr('/ip4/10.0.0.5/tcp/7000'), 'flag', nobody)
    assert.equal(flagged.addr.toString(), `/ip4/10.0.0.5/tcp/7000/p2p/${ID}`)
  })
})
