/**
 * A user whose identity changes (here: the rendezvous lost its database and bob signed up again
 * under the same name): the pinned identity is kept, messages to the new one are held, VERIFY
 * shows the new identity's fingerprint (the one the other side's VERIFY shows) and names the
 * pinned one, and only the identity that VERIFY showed can be accepted with TRUST (issue 12:
 * TRUST used to re-pin whatever the directory said at that moment). Real rendezvous and peer
 * processes.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { ServerProcess } from '../../harness/processes.ts'

const PASSWORD = 'same name, new key'

describe('messages to a changed identity are held until TRUST accepts what VERIFY showed', () => {
  let dir: string
  let server: ServerProcess
  const peers: PeerProcess[] = []
  const start = async (name: string, data: string): Promise<PeerProcess> => {
    const peer = await PeerProcess.start(name, server.addr.toString(), join(dir, data))
    peers.push(peer)
    return peer
  }

  before(async () => {
    dir = await tempDir('parley-identity-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
  })

  after(async () => {
    for (const peer of peers) if (peer.child.exitCode === null) await peer.kill()
    await server.stop()
    await removeDir(dir)
  })

  test('held, VERIFY, TRUST, delivered', async () => {
    const alice = await start('alice', 'alice')
    let bob = await start('bob', 'bob')
    await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
    const firstBob = await bob.run(`SIGNUP bob ${PASSWORD}`, is('signed-up'))
    await alice.run('SEND bob first contact pins you', is('delivered', { to: 'bob' }))

    // The rendezvous loses its accounts (same identity and port), and "bob" is made anew.
    const port = server.addr.getComponents().find(c => c.name === 'tcp')?.value ?? '0'
    await bob.kill()
    await server.stop()
    for (const file of await readdir(join(dir, 'rendezvous'))) {
      if (file.startsWith('rendezvous.sqlite')) await rm(join(dir, 'rendezvous', file))
    }
    server = await spawnRendezvous(join(dir, 'rendezvous'), 15_000, Number(port))
    // Alice's peer is told it is no longer signed in there, once, instead of retrying for ever.
    const gone = await alice.waitFor(e => e.event === 'error' && e.code === 'ERR_BAD_CREDENTIALS', 60_000)
    assert.match(String(gone.message), /no longer accepts your sign-in .*LOGIN again/)
    assert.equal(typeof gone.at, 'number', 'it answers no command: it says when it happened')
    // What needs the rendezvous says so from then on, not its bare "sign in first" under a prompt
    // that still names alice (until 2026-12-06: a tester's finding).
    const who = await alice.run('WHO', e => e.event === 'error' || e.event === 'who')
    assert.deepEqual([who.code, who.message], ['ERR_NOT_SIGNED_IN', 'the rendezvous no longer accepts your sign-in: LOGIN again, or SIGNUP if it lost your account (known contacts are still reached directly)'])
    bob = await start('new bob', 'new-bob')
    const secondBob = await bob.run(`SIGNUP bob ${PASSWORD}`, is('signed-up'))
    assert.notEqual(secondBob.peerId, firstBob.peerId)
    await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))

    // Held, not sent: it waits in the outbox until alice decides.
    const held = await alice.run('SEND bob are you still you?', e => e.event === 'queued' || e.event === 'delivered')
    assert.equal(held.event, 'queued', JSON.stringify(held))
    assert.match(String(held.reason), /identity of bob has changed/)

    const early = await alice.run('TRUST bob', e => e.event === 'error' || e.event === 'trusted')
    assert.equal(early.code, 'ERR_USAGE', 'TRUST without VERIFY is refused')
    assert.match(String(early.message), /VERIFY bob first/)
    // Nobody of that name, or ourselves: said as such (until 2026-12-06 TRUST sent one to VERIFY,
    // which then said there is no such user, and VERIFY of ourselves showed a fingerprint).
    const nobody = await alice.run('TRUST nobody', e => e.event === 'error' || e.event === 'trusted')
    assert.deepEqual([nobody.code, nobody.message], ['ERR_NOT_FOUND', 'no user "nobody"'])
    const self = await alice.run('VERIFY alice', e => e.event === 'error' || e.event === 'verify')
    assert.deepEqual([self.code, self.message], ['ERR_USAGE', 'that is you: VERIFY <user> shows the fingerprint of you and another user, to compare with them'])
    // TRUST of ourselves too (until 2026-12-06 it sent one to VERIFY, which said this: round 13).
    const selfTrust = await alice.run('TRUST alice', e => e.event === 'error' || e.event === 'trusted')
    assert.deepEqual([selfTrust.code, selfTrust.message], ['ERR_USAGE', 'that is you: TRUST <user> accepts another user\'s changed identity, after VERIFY <user>'])

    // VERIFY shows the identity the directory shows now, the one bob's own VERIFY shows (until
    // 2026-12-06 it showed the pinned one, which could never match, and the new one only in a warning).
    const from = alice.events.length
    const shown = await alice.run('VERIFY bob', is('verify', { user: 'bob' }))
    const bobSees = await bob.run('VERIFY alice', is('verify', { user: 'alice' }))
    assert.equal(shown.peerId, secondBob.peerId, 'VERIFY shows the identity the directory shows now')
    assert.equal(shown.fingerprint, bobSees.fingerprint, 'the number alice compares is the one bob sees')
    assert.equal(shown.changed, true)
    assert.equal(shown.pinnedPeerId, firstBob.peerId, 'the pinned identity is named, for reference')
    assert.match(String(shown.pinnedFingerprint), /^\d{5}( \d{5}){11}$/)
    assert.notEqual(shown.pinnedFingerprint, shown.fingerprint)
    assert.equal(bobSees.changed, false, 'bob never met alice before: nothing changed for him')
    assert.equal(bobSees.pinnedPeerId, null)
    // The held message's retries may still warn that bob changed; none repeats VERIFY's answer.
    const repeated = alice.events.slice(from).filter(e => e.event === 'warning' && String(e.message).includes(String(shown.fingerprint)))
    assert.deepEqual(repeated, [], 'the verify event says it all: no warning carries the fingerprint')

    // The other way, bob's new identity to alice, who has not accepted it: bob is told why his
    // message waits (until 2026-12-06 his peer read "the other side closed the connection").
    const refused = await bob.run('SEND alice it is me, really', e => e.event === 'queued' || e.event === 'delivered')
    assert.equal(refused.event, 'queued', JSON.stringify(refused))
    assert.match(String(refused.reason), /^refused by the recipient: its user knows you by another identity .*VERIFY.*TRUST/)
    assert.equal(refused.code, 'ERR_IDENTITY_CHANGED')

    const trusted = await alice.run('TRUST bob', e => e.event === 'error' || e.event === 'trusted')
    assert.equal(trusted.event, 'trusted', JSON.stringify(trusted))
    assert.equal(trusted.peerId, secondBob.peerId)
    assert.equal(trusted.changed, true)
    // The held message goes now, and new ones too.
    await bob.waitFor(is('message', { from: 'alice', text: 'are you still you?' }))
    const arrived = bob.waitFor(is('message', { from: 'alice', text: 'welcome back' }))
    await alice.run('SEND bob welcome back', is('delivered', { to: 'bob' }))
    await arrived
    // Accepted, bob's held message goes (his next message flushes what waits for alice, in order).
    // (Alice's line of it may be read after bob's `delivered`: her ACK can overtake it. CI, 2026-12-07.)
    const thanked = alice.waitFor(is('message', { from: 'bob', text: 'thanks' }))
    await bob.run('SEND alice thanks', is('delivered', { to: 'alice' }))
    await thanked
    const texts = alice.events.filter(e => e.event === 'message' && e.from === 'bob').map(e => e.text)
    assert.deepEqual(texts, ['it is me, really', 'thanks'])
    // Alice signed up again in the same folder: what her earlier account stored there does not
    // open with this one. HISTORY says so of that message and shows the rest (until 2026-12-06
    // it failed whole: "stored value does not open").
    const history = await alice.run('HISTORY bob', e => e.event === 'history' || e.event === 'error')
    assert.equal(history.event, 'history', JSON.stringify(history))
    const lines = history.messages as Array<{ text: string, unreadable: boolean }>
    assert.deepEqual(lines[0], { ...lines[0], text: '', unreadable: true }, 'the earlier account\'s "first contact pins you"')
    assert.deepEqual(lines.slice(1).filter(m => m.unreadable), [])
    assert.deepEqual(lines.slice(1).map(m => m.text).sort(), ['are you still you?', 'it is me, really', 'thanks', 'welcome back'])
    // TRUST of an identity that has not changed (now) says so, and accepts nothing new.
    const unchanged = await alice.run('VERIFY bob', is('verify', { user: 'bob' }))
    assert.deepEqual([unchanged.peerId, unchanged.fingerprint, unchanged.changed, unchanged.pinnedPeerId, unchanged.pinnedFingerprint],
      [secondBob.peerId, bobSees.fingerprint, false, null, null], JSON.stringify(unchanged))
    const again = await alice.run('TRUST bob', e => e.event === 'error' || e.event === 'trusted')
    assert.deepEqual([again.event, again.peerId, again.changed], ['trusted', secondBob.peerId, false], JSON.stringify(again))
  })
})
