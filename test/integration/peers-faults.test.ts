/**
 * Faults (issue 7): the rendezvous killed with -9 and restarted on the same data folder, while
 * peers keep messaging directly and then sign in again by themselves.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { removeDir, spawnRendezvous, tempDir } from '../helpers/rendezvous.ts'
import type { ServerProcess } from '../helpers/rendezvous.ts'
import { PeerProcess, is } from '../helpers/peer-process.ts'

const PASSWORD = 'fault tolerant 1'

describe('a rendezvous that goes away and comes back', () => {
  let dir: string
  let server: ServerProcess
  let alice: PeerProcess
  let bob: PeerProcess

  before(async () => {
    dir = await tempDir('parley-faults-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    alice = await PeerProcess.start('alice', server.addr.toString(), join(dir, 'alice'))
    bob = await PeerProcess.start('bob', server.addr.toString(), join(dir, 'bob'))
    await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
    await bob.run(`SIGNUP bob ${PASSWORD}`, is('signed-up'))
    await alice.run('JOIN club', is('joined'))
    await bob.run('JOIN club', is('joined'))
    // Each learns where the other is while the directory is up.
    await alice.run('SEND bob before the outage', is('delivered', { to: 'bob' }))
    await bob.run('SEND alice seen you', is('delivered', { to: 'alice' }))
  })

  after(async () => {
    await Promise.all([alice.kill(), bob.kill()])
    await server.stop('SIGKILL')
    await removeDir(dir)
  })

  test('peers keep messaging directly while it is down, and sign in again when it is back', async () => {
    const port = Number(/\/tcp\/(\d+)/.exec(server.addr.toString())?.[1])
    await server.stop('SIGKILL')
    await alice.waitFor(is('rendezvous', { connected: false }))
    await bob.waitFor(is('rendezvous', { connected: false }))

    const during = bob.waitFor(is('message', { from: 'alice', text: 'the server is down, we are not' }))
    alice.send('SEND bob the server is down, we are not')
    await during

    server = await spawnRendezvous(join(dir, 'rendezvous'), 15_000, port)
    await alice.waitFor(is('rendezvous', { connected: true }), 40_000)
    await bob.waitFor(is('rendezvous', { connected: true }), 40_000)
    // Accounts, groups and memberships survived kill -9; group traffic works again.
    const list = await alice.run('LIST', is('groups'))
    assert.deepEqual(list.groups, [{ group: 'club', members: 2 }])
    const groupMessage = bob.waitFor(is('group-message', { group: 'club', text: 'back in business' }))
    alice.send('SENDGROUP club back in business')
    await groupMessage
  })
})
