/**
 * A message waiting for someone offline is reported `queued` once in a run of the peer, not
 * again at every sign-in: until 2026-12-06 each session kept its own note of what it had
 * reported, so signing in again (as another user and back, here) said every waiting message was
 * queued once more, as if it were news. Real rendezvous and peer processes.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { ServerProcess } from '../../harness/processes.ts'

const PASSWORD = 'queued only once'

describe('a message waiting for an offline user', () => {
  let dir: string
  let server: ServerProcess
  let alice: PeerProcess
  let bob: PeerProcess | undefined

  before(async () => {
    dir = await tempDir('parley-queued-once-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    alice = await PeerProcess.start('alice', server.addr.toString(), join(dir, 'alice'))
    const first = await PeerProcess.start('bob', server.addr.toString(), join(dir, 'bob'))
    await first.run(`SIGNUP bob ${PASSWORD}`, is('signed-up'))
    assert.equal(await first.quit(), 0)
    await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
  })

  after(async () => {
    for (const peer of [alice, bob]) if (peer !== undefined && peer.child.exitCode === null) await peer.kill()
    await server.stop()
    await removeDir(dir)
  })

  test('is reported queued once in a run, not again when its sender signs in again', async () => {
    const one = await alice.run('SEND bob first while away', is('queued', { to: 'bob' }))
    const two = await alice.run('SEND bob second while away', e => e.event === 'queued' && e.id !== one.id)
    assert.deepEqual([one.reason, two.reason], ['offline', 'offline'])

    // Signed in as someone else on this peer, then as alice again: her session starts anew and
    // finds both still waiting for bob.
    const from = alice.events.length
    await alice.run(`SIGNUP carol ${PASSWORD}`, is('signed-up', { username: 'carol' }))
    await alice.run(`LOGIN alice ${PASSWORD}`, is('logged-in', { username: 'alice' }))
    // Bob's queue is looked at in order: the third message's report comes after any about the
    // first two.
    const three = await alice.run('SEND bob third, after signing in again', e => e.event === 'queued' && e.id !== one.id && e.id !== two.id)
    const queued = alice.events.slice(from).filter(e => e.event === 'queued').map(e => e.id)
    assert.deepEqual(queued, [three.id], JSON.stringify(alice.events.slice(from)))

    // Nothing is lost for being reported once: bob, back, gets all three, and alice is told.
    bob = await PeerProcess.start('bob', server.addr.toString(), join(dir, 'bob'))
    bob.send(`LOGIN bob ${PASSWORD}`)
    for (const event of [one, two, three]) await alice.waitFor(is('delivered', { id: event.id, to: 'bob' }), 30_000, from)
    // Bob acknowledges a message once it is stored, which may be before his own line about it is
    // read here (a loaded machine): his last message is waited for, not assumed.
    await bob.waitFor(is('message', { from: 'alice', text: 'third, after signing in again' }))
    const texts = bob.events.filter(is('message', { from: 'alice' })).map(e => e.text)
    assert.deepEqual(texts, ['first while away', 'second while away', 'third, after signing in again'])
  })
})
