/**
 * PASSWORD with real processes: a real rendezvous and real peer processes on 127.0.0.1, driven
 * over stdin with --json as the README says. The new password is the account's everywhere: the
 * session signs in again with it by itself (a restarted rendezvous), another machine signs in
 * with it and gets the same identity, and this data folder opens with it while the rendezvous is
 * away; the old one is refused in each place.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { PeerEventLine, ServerProcess } from '../../harness/processes.ts'

const OLD = 'first-password-1'
const NEW = 'second-password-2'
const answered = (e: PeerEventLine): boolean => e.event === 'error' || e.event === 'password-changed'
const signedIn = (e: PeerEventLine): boolean => e.event === 'error' || e.event === 'logged-in'

describe('PASSWORD: a new password for the account, with real processes', () => {
  let dir: string
  let server: ServerProcess
  let port: number
  const peers: PeerProcess[] = []

  const start = async (folder: string): Promise<PeerProcess> => {
    const peer = await PeerProcess.start(folder, server.addr.toString(), join(dir, folder))
    peers.push(peer)
    return peer
  }

  before(async () => {
    dir = await tempDir('parley-password-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    port = Number(/\/tcp\/(\d+)/.exec(server.addr.toString())?.[1])
  })

  after(async () => {
    await Promise.all(peers.map(async p => await p.kill()))
    await server?.stop('SIGKILL')
    await removeDir(dir)
  })

  test('refused with the wrong current password or a short new one; then changed, and the old one opens nothing: not the session signing in again, another machine, or this folder offline; with the rendezvous away it is not changed', async () => {
    const home = await start('home')
    const made = await home.run(`SIGNUP alice ${OLD}`, e => e.event === 'signed-up' || e.event === 'error')
    assert.equal(made.event, 'signed-up', JSON.stringify(made))
    const peerId = made.peerId
    // A second device of alice's signs in with the password as it is now, then goes.
    const older = await start('older')
    const before = await older.run(`LOGIN alice ${OLD}`, signedIn)
    assert.equal(before.event, 'logged-in', JSON.stringify(before))
    assert.equal(await older.quit(), 0)
    await home.waitFor(is('signed-out', { reason: 'elsewhere' }))
    const back = await home.run(`LOGIN alice ${OLD}`, signedIn)
    assert.equal(back.event, 'logged-in', JSON.stringify(back))

    const wrong = await home.run(`PASSWORD not-the-password ${NEW}`, answered)
    assert.deepEqual([wrong.code, wrong.message], ['ERR_BAD_CREDENTIALS', 'the current password is not right: the password was not changed'])
    const short = await home.run(`PASSWORD ${OLD} short`, answered)
    assert.deepEqual([short.code, short.message], ['ERR_USAGE', 'choose a password of at least 8 characters: the password was not changed'])
    const alone = await home.run('PASSWORD', answered)
    assert.deepEqual([alone.code, alone.message], ['ERR_USAGE', 'usage: PASSWORD <current> <new> (the passwords are asked for only on a terminal)'])
    const changed = await home.run(`PASSWORD ${OLD} ${NEW}`, answered)
    assert.deepEqual(changed, { event: 'password-changed', username: 'alice' })

    // The rendezvous restarts: the session signs in there again by itself, with the new password.
    const away = home.events.length
    await server.stop('SIGTERM')
    await home.waitFor(is('rendezvous', { connected: false }), 20_000, away)
    server = await spawnRendezvous(join(dir, 'rendezvous'), 15_000, port)
    await home.waitFor(is('rendezvous', { connected: true }), 40_000, away)
    const listed = await home.run('LIST', e => e.event === 'groups' || e.event === 'error')
    assert.equal(listed.event, 'groups', JSON.stringify(listed))
    assert.deepEqual(home.events.slice(away).filter(e => e.event === 'warning' || e.event === 'error'), [], 'signed in again, nothing refused')
    assert.equal(await home.quit(), 0)

    // Another machine: the old password is refused; the new one gets alice's identity.
    const laptop = await start('laptop')
    const old = await laptop.run(`LOGIN alice ${OLD}`, signedIn)
    assert.equal(old.code, 'ERR_BAD_CREDENTIALS', JSON.stringify(old))
    const fresh = await laptop.run(`LOGIN alice ${NEW}`, signedIn)
    assert.deepEqual([fresh.event, fresh.peerId, fresh.offline], ['logged-in', peerId, false], JSON.stringify(fresh))
    assert.equal(await laptop.quit(), 0)
    // The device that signed in with the old password before: told it may have been changed
    // (round 47: told only to SIGNUP anew, which makes a new identity).
    const olderAgain = await start('older')
    const stale = await olderAgain.run(`LOGIN alice ${OLD}`, signedIn)
    assert.equal(stale.code, 'ERR_BAD_CREDENTIALS', JSON.stringify(stale))
    assert.match(String(stale.message), /if it was changed since \(PASSWORD, here or on another device\), sign in with the new one/)
    assert.equal(await olderAgain.quit(), 0)

    // alice's first folder, the rendezvous away: the folder keeps the new password too.
    await server.stop('SIGKILL')
    const offline = await start('home')
    const oldHere = await offline.run(`LOGIN alice ${OLD}`, signedIn)
    assert.equal(oldHere.code, 'ERR_BAD_CREDENTIALS', JSON.stringify(oldHere))
    // Said why a password may not open the folder now (round 48: "invalid" alone).
    assert.match(String(oldHere.message), /the rendezvous is out of reach: this folder opens with the password it last signed in with here/)
    const newHere = await offline.run(`LOGIN alice ${NEW}`, signedIn)
    assert.deepEqual([newHere.event, newHere.peerId, newHere.offline], ['logged-in', peerId, true], JSON.stringify(newHere))
    // The password lives at the rendezvous: with it away, it is not changed, and said so.
    const notNow = await offline.run(`PASSWORD ${NEW} third-password-3`, answered)
    assert.equal(notNow.event, 'error', JSON.stringify(notNow))
    assert.match(String(notNow.message), /: the password was not changed$/)
    assert.equal(await offline.quit(), 0)
  })

  test('a change a frozen rendezvous leaves unanswered is settled once it answers: said late, and the session signs in again with the new password (round 47)', { timeout: 90_000 }, async () => {
    const frozenDir = join(dir, 'frozen')
    const frozen = await spawnRendezvous(join(frozenDir, 'rendezvous'))
    const frozenPort = Number(/\/tcp\/(\d+)/.exec(frozen.addr.toString())?.[1])
    let restarted: ServerProcess | undefined
    try {
      const bea = await PeerProcess.start('bea', frozen.addr.toString(), join(frozenDir, 'bea'))
      peers.push(bea)
      const made = await bea.run(`SIGNUP bea ${OLD}`, e => e.event === 'signed-up' || e.event === 'error')
      assert.equal(made.event, 'signed-up', JSON.stringify(made))
      // A request just before: its stream is kept, and the change goes out on it (a new stream
      // to a frozen rendezvous never opens, and a request never sent is certainly not done).
      assert.equal((await bea.run('LIST', e => e.event === 'groups' || e.event === 'error')).event, 'groups')
      frozen.child.kill('SIGSTOP')
      const unknown = await bea.run(`PASSWORD ${OLD} ${NEW}`, answered)
      assert.equal(unknown.event, 'error', JSON.stringify(unknown))
      assert.match(String(unknown.message), /whether it changed the password is said once it answers/)
      const from = bea.events.length
      frozen.child.kill('SIGCONT')
      // A frozen rendezvous does what it read once it thaws: the change was made, and is said so.
      assert.deepEqual(await bea.waitFor(e => e.event === 'password-changed' || e.event === 'warning', 30_000, from), { event: 'password-changed', username: 'bea', late: true })
      // The session's own sign-in, at the rendezvous's next start, takes the new password.
      await frozen.stop('SIGTERM')
      await bea.waitFor(is('rendezvous', { connected: false }), 20_000, from)
      restarted = await spawnRendezvous(join(frozenDir, 'rendezvous'), 15_000, frozenPort)
      await bea.waitFor(is('rendezvous', { connected: true }), 40_000, from)
      assert.deepEqual(bea.events.slice(from).filter(e => e.event === 'warning' || e.event === 'error'), [], 'signed in again, nothing refused')
      assert.equal(await bea.quit(), 0)
    } finally {
      frozen.child.kill('SIGCONT')
      await frozen.stop('SIGKILL').catch(() => {})
      await restarted?.stop('SIGKILL')
    }
  })
})
