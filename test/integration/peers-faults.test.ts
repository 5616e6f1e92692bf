/**
 * Faults (issue 7): the rendezvous killed with -9 and restarted on the same data folder, while
 * peers keep messaging directly and then sign in again by themselves; and killed mid-signup.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { clientNode, makeAccount, sleep } from '../helpers/rendezvous.ts'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import { RendezvousClient } from '../../peer/rendezvous-client.ts'
import { ErrorCode, is as isError } from '../../common/errors.ts'
import type { ServerProcess } from '../../harness/processes.ts'

const PASSWORD = 'fault tolerant 1'

/** Four peers started (each in `dir`, added to `peers` for the clean-up as it starts) and signed up. */
async function signedUp (names: [string, string, string, string], addr: string, dir: string, peers: PeerProcess[]): Promise<[PeerProcess, PeerProcess, PeerProcess, PeerProcess]> {
  return await Promise.all(names.map(async name => {
    const peer = await PeerProcess.start(name, addr, join(dir, name))
    peers.push(peer)
    await peer.run(`SIGNUP ${name} ${PASSWORD}`, is('signed-up'))
    return peer
  })) as [PeerProcess, PeerProcess, PeerProcess, PeerProcess]
}

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
    // And the group has its key.
    const keyed = bob.waitFor(is('group-message', { group: 'club', text: 'the group before the outage' }))
    alice.send('SENDGROUP club the group before the outage')
    await keyed
  })

  after(async () => {
    await Promise.all([alice.kill(), bob.kill()])
    await server.stop('SIGKILL')
    await removeDir(dir)
  })

  test('peers keep messaging directly and in their groups while it is down, and sign in again when it is back', async () => {
    const port = Number(/\/tcp\/(\d+)/.exec(server.addr.toString())?.[1])
    const aliceFrom = alice.events.length
    await server.stop('SIGKILL')
    await alice.waitFor(is('rendezvous', { connected: false }))
    await bob.waitFor(is('rendezvous', { connected: false }))

    const during = bob.waitFor(is('message', { from: 'alice', text: 'the server is down, we are not' }))
    alice.send('SEND bob the server is down, we are not')
    await during
    // Groups too: the members and key last seen carry the group while the registry is away.
    const groupDuring = alice.waitFor(is('group-message', { group: 'club', from: 'bob', text: 'the group carries on' }))
    bob.send('SENDGROUP club the group carries on')
    await groupDuring
    // What needs the registry says so in a person's words, not libp2p's.
    const list = await alice.run('LIST', e => e.event === 'groups' || e.event === 'error')
    assert.deepEqual([list.event, list.code, list.message], ['error', 'ERR_UNREACHABLE', `cannot reach the rendezvous at /ip4/127.0.0.1/tcp/${port} (connection refused)`])
    // WHO shows the contacts as last known, as MEMBERS does (round 39: an error).
    const who = await alice.run('WHO', e => e.event === 'who' || e.event === 'error')
    assert.deepEqual([who.event, who.lastKnown, who.users], ['who', true, [{ username: 'bob', online: true }]], JSON.stringify(who))
    // A change of membership says what it left as it was (round 38: only that it could not reach).
    const leave = await alice.run('LEAVE club', e => e.event === 'left' || e.event === 'error')
    assert.deepEqual([leave.event, leave.message], ['error', `cannot reach the rendezvous at /ip4/127.0.0.1/tcp/${port} (connection refused): club was not left; LEAVE club again once the rendezvous is back`])
    // MEMBERS shows the members the group goes on with, said to be the last known.
    const members = await alice.run('MEMBERS club', e => e.event === 'members' || e.event === 'error')
    assert.deepEqual([members.event, members.group, members.lastKnown, members.members], ['members', 'club', true, [
      { username: 'alice', online: true, connected: false },
      { username: 'bob', online: true, connected: true }
    ]], JSON.stringify(members))
    // VERIFY of a contact pinned here shows the identity we talk with, said to be as pinned
    // (until 2026-12-06 it was an error while the rendezvous was away).
    const verified = await alice.run('VERIFY bob', e => e.event === 'verify' || e.event === 'error')
    assert.deepEqual([verified.event, verified.lastKnown, verified.changed], ['verify', true, false], JSON.stringify(verified))
    const bobSees = await bob.run('VERIFY alice', e => e.event === 'verify' || e.event === 'error')
    assert.equal(bobSees.fingerprint, verified.fingerprint, 'the same number on both sides')

    server = await spawnRendezvous(join(dir, 'rendezvous'), 15_000, port)
    // Back, but alice has not signed in there again yet (her next try comes after a pause): what
    // needs it says so, not its bare "sign in first" under a prompt naming alice (until
    // 2026-12-06). Or, if her sign-in came first, it works.
    const early = await alice.run('LIST', e => e.event === 'groups' || e.event === 'error')
    if (early.event === 'error') assert.deepEqual([early.code, early.message], ['ERR_NOT_SIGNED_IN', 'signing in to the rendezvous again (it was away): try again in a moment (known contacts are reached directly meanwhile)'])
    else console.log('# alice signed in again before her LIST: the words in between were not seen this time')
    await alice.waitFor(is('rendezvous', { connected: true }), 40_000)
    await bob.waitFor(is('rendezvous', { connected: true }), 40_000)
    // Accounts, groups and memberships survived kill -9; group traffic works again.
    const listed = await alice.run('LIST', is('groups'))
    assert.deepEqual(listed.groups, [{ group: 'club', members: 2, joined: true }])
    const groupMessage = bob.waitFor(is('group-message', { group: 'club', text: 'back in business' }))
    alice.send('SENDGROUP club back in business')
    await groupMessage
    // Bob signing in again at the new rendezvous is no news to alice: he never went away for her.
    assert.deepEqual(alice.events.slice(aliceFrom).filter(e => e.event === 'presence'), [])
  })

  test('a peer restarted while it is down signs in from its data folder and reaches known contacts', async () => {
    const port = Number(/\/tcp\/(\d+)/.exec(server.addr.toString())?.[1])
    const from = bob.events.length
    await server.stop('SIGKILL')
    await bob.waitFor(is('rendezvous', { connected: false }), 20_000, from)
    assert.equal(await alice.kill('SIGTERM'), 0)
    alice = await PeerProcess.start('alice', server.addr.toString(), join(dir, 'alice'))

    const wrong = await alice.run('LOGIN alice not-the-password', e => e.event === 'error' || e.event === 'logged-in')
    assert.equal(wrong.code, 'ERR_BAD_CREDENTIALS', 'the password is checked against the identity kept here')
    const signedIn = await alice.run(`LOGIN alice ${PASSWORD}`, e => e.event === 'error' || e.event === 'logged-in')
    assert.equal(signedIn.event, 'logged-in', JSON.stringify(signedIn))
    assert.equal(signedIn.offline, true)
    const fromAlice = bob.waitFor(is('message', { from: 'alice', text: 'restarted, still no server' }))
    await alice.run('SEND bob restarted, still no server', is('delivered', { to: 'bob' }))
    await fromAlice
    const fromBob = alice.waitFor(is('message', { from: 'bob', text: 'heard you' }))
    await bob.run('SEND alice heard you', is('delivered', { to: 'alice' }))
    await fromBob

    // When it is back, she is signed in there by herself.
    const back = alice.waitFor(is('rendezvous', { connected: true }), 40_000)
    server = await spawnRendezvous(join(dir, 'rendezvous'), 15_000, port)
    await back
    // Told once that it was away (signed in offline), not a second time as "lost".
    assert.deepEqual(alice.events.filter(e => e.event === 'rendezvous').map(e => e.connected), [true])
  })
})

describe('a rendezvous killed with -9 in the middle of signups and joins', () => {
  test('every signup and join it acknowledged is still there after the restart', async () => {
    const dir = await tempDir('parley-crash-')
    let crashing = await spawnRendezvous(join(dir, 'rendezvous'))
    const port = Number(/\/tcp\/(\d+)/.exec(crashing.addr.toString())?.[1])
    // scrypt once per account, before the clock starts: the crash should land mid-traffic.
    const accounts = await Promise.all(Array.from({ length: 12 }, async (_, i) => await makeAccount(`crash${i}`, PASSWORD)))
    const nodes = await Promise.all(accounts.map(async a => await clientNode(a.privateKey)))
    try {
      const acknowledged: string[] = []
      const joined: string[] = []
      const traffic = Promise.allSettled(accounts.map(async (account, i) => {
        await sleep(i * 40)
        const client = new RendezvousClient(nodes[i]!, crashing.addr)
        await client.signup({ username: account.username, salt: account.salt, kdf: account.kdf, authKey: account.authKey, identity: account.identity, addrs: [] })
        acknowledged.push(account.username)
        await client.join(`crew${i % 3}`)
        joined.push(account.username)
      }))
      // Crash once a few are through, while the others are still signing up or joining.
      const deadline = Date.now() + 10_000
      while (joined.length < 3 && Date.now() < deadline) await sleep(5)
      assert.ok(joined.length >= 3, 'three accounts signed up and joined before the crash')
      await crashing.stop('SIGKILL')
      await traffic
      assert.ok(joined.length < accounts.length, 'the crash landed while traffic was still going on')

      crashing = await spawnRendezvous(join(dir, 'rendezvous'), 15_000, port)
      for (const [i, account] of accounts.entries()) {
        await nodes[i]!.hangUp(crashing.addr).catch(() => {})
        const client = new RendezvousClient(nodes[i]!, crashing.addr)
        if (acknowledged.includes(account.username)) {
          const again = await client.signin({ username: account.username, authKey: account.authKey, addrs: [] })
          assert.equal(again.bound, true, `${account.username} can sign in after the crash`)
          if (joined.includes(account.username)) {
            const { groups } = await client.groups()
            assert.ok(groups.some(g => g.group === `crew${i % 3}`), `${account.username} is still in crew${i % 3}`)
          }
        } else {
          // Not acknowledged: either it never happened or it did; either way the account is
          // whole — a signup retry or a sign-in works, never a half-made account.
          try {
            await client.signup({ username: account.username, salt: account.salt, kdf: account.kdf, authKey: account.authKey, identity: account.identity, addrs: [] })
          } catch (err) {
            assert.ok(isError(err, ErrorCode.Exists), String(err))
            assert.equal((await client.signin({ username: account.username, authKey: account.authKey, addrs: [] })).bound, true)
          }
        }
      }
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
      await crashing.stop('SIGKILL')
      await removeDir(dir)
    }
  })
})

describe('a JOIN and a LEAVE the frozen rendezvous does not answer in time', () => {
  test('are said to be settled once it answers, and are: done when it thaws (round 44: "trip was not joined", and the group\'s messages came)', { timeout: 90_000 }, async () => {
    const dir = await tempDir('parley-unanswered-')
    const server = await spawnRendezvous(join(dir, 'rendezvous'))
    const peers: PeerProcess[] = []
    try {
      const [alice, bob] = await signedUp(['alice', 'bob', 'carol', 'dave'], server.addr.toString(), dir, peers)
      await bob.run('JOIN trip', is('joined', { group: 'trip' }))
      const unanswered = async (command: string, change: string): Promise<void> => {
        // A request stream kept from the command before: the request goes out, and the frozen
        // rendezvous reads it when it thaws.
        await alice.run('LIST', is('groups'))
        server.child.kill('SIGSTOP')
        try {
          const said = await alice.run(command, e => e.event === 'error', 30_000)
          assert.equal(said.message, `the rendezvous did not answer within 15 s: whether trip was ${change} is said once it answers`)
        } finally {
          server.child.kill('SIGCONT')
        }
      }
      const bobFrom = bob.events.length
      await unanswered('JOIN trip', 'joined')
      await alice.waitFor(is('joined', { group: 'trip', late: true }), 20_000)
      await bob.waitFor(is('member-joined', { group: 'trip', user: 'alice' }), 20_000, bobFrom)
      await unanswered('LEAVE trip', 'left')
      await alice.waitFor(is('left', { group: 'trip', late: true }), 20_000)
      const members = await bob.run('MEMBERS trip', is('members'))
      assert.deepEqual((members.members as Array<{ username: string }>).map(m => m.username), ['bob'])
    } finally {
      await Promise.all(peers.map(async peer => { await peer.kill() }))
      await server.stop('SIGKILL')
      await removeDir(dir)
    }
  })
})

describe('a member who left, while the rendezvous is away', () => {
  test('gets nothing sent to the group meanwhile, and nothing is queued for them; a joiner after them gets it (round 9: the send failed); frozen, it holds no group message (round 19)', async () => {
    const dir = await tempDir('parley-left-')
    let server: ServerProcess | undefined = await spawnRendezvous(join(dir, 'rendezvous'))
    const peers: PeerProcess[] = []
    try {
      const addr = server.addr.toString()
      const [alice, bob, erin, dave] = await signedUp(['alice', 'bob', 'erin', 'dave'], addr, dir, peers)
      for (const peer of [alice, bob, erin]) await peer.run('JOIN friends', is('joined'))
      // The group has its key and alice knows where both are, for while the directory is away.
      alice.send('SENDGROUP friends before erin left')
      await alice.waitFor(is('delivered', { group: 'friends', to: 'bob' }))
      await alice.waitFor(is('delivered', { group: 'friends', to: 'erin' }))

      const erinLeft = [alice, bob].map(async peer => await peer.waitFor(is('member-left', { group: 'friends', user: 'erin' })))
      await erin.run('LEAVE friends', is('left', { group: 'friends' }))
      await Promise.all(erinLeft)
      // Frozen (SIGSTOP), not gone, with a new epoch due: a SENDGROUP reaches bob while it is
      // still frozen, sooner than its 15 s silence ends a request. The lists due since erin left
      // wait for it 2 s, then the last known ones carry the group, at alice's send and at bob's
      // check of alice (round 19: 15–30 s a message; the wait below is the request's timeout).
      server.child.kill('SIGSTOP')
      try {
        const frozenText = 'erin has left; the rendezvous is frozen'
        const whileFrozen = bob.waitFor(is('group-message', { group: 'friends', from: 'alice', text: frozenText }), 14_000)
        alice.send(`SENDGROUP friends ${frozenText}`)
        await whileFrozen
        // MEMBERS shows the last known list after the same patience (round 21: its 15 s, and
        // the commands typed after it waited).
        const members = await alice.run('MEMBERS friends', e => e.event === 'members' || e.event === 'error', 14_000)
        assert.deepEqual([members.event, members.lastKnown], ['members', true], JSON.stringify(members))
        // So does WHO (round 46: 15 s, and the lines typed after it waited).
        const who = await alice.run('WHO', e => e.event === 'who' || e.event === 'error', 14_000)
        assert.deepEqual([who.event, who.lastKnown], ['who', true], JSON.stringify(who))
      } finally {
        server.child.kill('SIGCONT')
      }
      // dave joins and is handed the key: the answer that says so also says a new epoch is due
      // (erin left), and it is the last one the group sees before the rendezvous goes.
      const daveKeyed = dave.waitFor(is('key', { group: 'friends' }))
      await dave.run('JOIN friends', is('joined'))
      await daveKeyed
      await server.stop('SIGKILL')
      server = undefined
      await alice.waitFor(is('rendezvous', { connected: false }))

      const from = { alice: alice.events.length, erin: erin.events.length }
      const text = 'erin has left; the rendezvous is down'
      const arrived = bob.waitFor(is('group-message', { group: 'friends', from: 'alice', text }))
      const toDave = dave.waitFor(is('group-message', { group: 'friends', from: 'alice', text }))
      alice.send(`SENDGROUP friends ${text}`)
      const { id } = await arrived
      await toDave
      await alice.waitFor(is('delivered', { id, to: 'bob' }), 20_000, from.alice)
      // A moment for a delivery to erin, had one been queued, to show.
      await sleep(500)
      const named = alice.events.slice(from.alice).filter(e => e.id === id && e.event !== 'accepted' && e.to !== undefined).map(e => `${e.event} ${String(e.to)}`)
      assert.deepEqual(named.filter(line => !line.endsWith(' bob') && !line.endsWith(' dave')), [], `only bob and dave are named: ${JSON.stringify(named)}`)
      assert.deepEqual(erin.events.slice(from.erin).filter(e => e.event === 'group-message'), [])
    } finally {
      await Promise.all(peers.map(async p => await p.kill()))
      await server?.stop('SIGKILL')
      await removeDir(dir)
    }
  })
})

describe('a member who joined while a sender was not running', () => {
  test('gets what the sender sent to the group while the rendezvous was away, once it is back; HISTORY then says delivered (round 21: never, and delivered all the same)', async () => {
    const dir = await tempDir('parley-roll-call-')
    let server: ServerProcess | undefined = await spawnRendezvous(join(dir, 'rendezvous'))
    const port = Number(/\/tcp\/(\d+)/.exec(server.addr.toString())?.[1])
    const peers: PeerProcess[] = []
    try {
      const addr = server.addr.toString()
      let [alice, bob, carol, dave] = await signedUp(['alice', 'bob', 'carol', 'dave'], addr, dir, peers)
      for (const peer of [alice, bob]) await peer.run('JOIN club', is('joined'))
      // alice keeps the list she sent with: bob and herself.
      await alice.run('SENDGROUP club before carol', is('delivered', { group: 'club', to: 'bob' }))
      assert.equal(await alice.kill('SIGTERM'), 0)
      // carol joins while alice is not running, and bob hands her the key.
      const carolKeyed = carol.waitFor(is('key', { group: 'club' }))
      await carol.run('JOIN club', is('joined'))
      await carolKeyed
      await server.stop('SIGKILL')
      server = undefined

      alice = await PeerProcess.start('alice', addr, join(dir, 'alice'))
      peers.push(alice)
      const signedIn = await alice.run(`LOGIN alice ${PASSWORD}`, e => e.event === 'error' || e.event === 'logged-in')
      assert.deepEqual([signedIn.event, signedIn.offline], ['logged-in', true], JSON.stringify(signedIn))
      const text = 'sent while the rendezvous was away'
      const toBob = bob.waitFor(is('group-message', { group: 'club', from: 'alice', text }))
      const toCarol = carol.waitFor(is('group-message', { group: 'club', from: 'alice', text }), 60_000)
      alice.send(`SENDGROUP club ${text}`)
      const { id } = await toBob
      await alice.waitFor(is('delivered', { id, to: 'bob' }))
      // Sent with the list alice kept, which lacks carol: not delivered yet, whatever bob did.
      const early = await alice.run('HISTORY club 1', is('history'))
      assert.deepEqual((early.messages as Array<{ text: string, status: string }>).map(m => [m.text, m.status]), [[text, 'sent']], JSON.stringify(early))

      const back = alice.waitFor(is('rendezvous', { connected: true }), 40_000)
      server = await spawnRendezvous(join(dir, 'rendezvous'), 15_000, port)
      // dave joins after the send: it is not for him.
      await dave.waitFor(is('rendezvous', { connected: true }), 40_000)
      await dave.run('JOIN club', is('joined'))
      await back
      await toCarol
      await alice.waitFor(is('delivered', { id, to: 'carol' }), 30_000)
      const late = await alice.run('HISTORY club 1', is('history'))
      assert.deepEqual((late.messages as Array<{ text: string, status: string }>).map(m => [m.text, m.status]), [[text, 'delivered']], JSON.stringify(late))
      // A moment for a delivery to dave, had one been queued, to show.
      await sleep(500)
      assert.deepEqual(dave.events.filter(e => e.event === 'group-message' && e.text === text), [])
      assert.deepEqual(alice.events.filter(e => e.id === id && e.to === 'dave'), [])
    } finally {
      await Promise.all(peers.map(async p => await p.kill()))
      await server?.stop('SIGKILL')
      await removeDir(dir)
    }
  })
})

/** A rendezvous of its own in a fresh folder, and peers started on it as `start` is called; all
 * stopped and removed after `body`, however it ends. */
async function withOwnRendezvous (prefix: string, body: (dir: string, start: (name: string) => Promise<PeerProcess>) => Promise<void>): Promise<void> {
  const dir = await tempDir(prefix)
  const server = await spawnRendezvous(join(dir, 'rendezvous'))
  const peers: PeerProcess[] = []
  try {
    await body(dir, async name => {
      const peer = await PeerProcess.start(name, server.addr.toString(), join(dir, name))
      peers.push(peer)
      return peer
    })
  } finally {
    await Promise.all(peers.map(async peer => await peer.kill()))
    await server.stop()
    await removeDir(dir)
  }
}

describe('a sign-in whose local store cannot be opened', () => {
  test('says which file, and leaves the rendezvous: contacts do not see the user online (round 29: online, their messages timing out)', async () => {
    await withOwnRendezvous('parley-store-fault-', async (dir, start) => {
      const [alice, dave] = await Promise.all([start('alice'), start('dave')])
      await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
      await dave.run(`SIGNUP dave ${PASSWORD}`, is('signed-up'))
      assert.equal(await dave.quit(), 0)
      // The store's first bytes, its header, overwritten: SQLite no longer takes it for a database.
      const store = join(dir, 'dave', 'dave', 'parley.db')
      const handle = await open(store, 'r+')
      await handle.write(Buffer.alloc(100, 0x5a), 0, 100, 0)
      await handle.close()

      const again = await start('dave')
      const failed = await again.run(`LOGIN dave ${PASSWORD}`, e => e.event === 'error' || e.event === 'logged-in')
      assert.equal(failed.event, 'error', JSON.stringify(failed))
      assert.match(String(failed.message), new RegExp(`^cannot open this account's local store ${store.replaceAll('.', '\\.')}: `))
      // Not signed in at the rendezvous either: whoever asks sees dave offline.
      for (let tries = 0; ; tries++) {
        const who = await alice.run('WHO', is('who'))
        const daveThere = (who.users as Array<{ username: string, online: boolean }>).find(u => u.username === 'dave')
        if (daveThere?.online !== true) break
        assert.ok(tries < 50, `dave is still online at the rendezvous: ${JSON.stringify(who)}`)
        await sleep(100)
      }
      await again.run('HISTORY alice', e => e.event === 'error' && e.code === ErrorCode.NotSignedIn)
    })
  })
})

describe('a data folder removed while its peer runs', () => {
  test('nothing more is taken or acknowledged, and each command says why (round 33: taken, acknowledged and lost)', async () => {
    await withOwnRendezvous('parley-folder-gone-', async (dir, start) => {
      const [alice, bob] = await Promise.all([start('alice'), start('bob')])
      await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
      await bob.run(`SIGNUP bob ${PASSWORD}`, is('signed-up'))
      await alice.run('SEND bob before the folder went', is('delivered', { to: 'bob' }))

      await removeDir(join(dir, 'bob'))
      const refused = await bob.run('SEND alice after the folder went', e => e.event === 'error' || e.event === 'accepted')
      assert.equal(refused.event, 'error', JSON.stringify(refused))
      assert.match(String(refused.message), /local store .*parley\.db was removed while Parley ran: nothing more can be kept here, so nothing more is taken/)
      // What alice sends is not taken: it stays in her outbox (until 2026-12-07 bob acknowledged it).
      const accepted = await alice.run('SEND bob after the folder went', is('accepted'))
      const answer = await alice.waitFor(e => e.id === accepted.id && ['queued', 'delivered', 'undelivered'].includes(e.event), 30_000)
      assert.equal(answer.event, 'queued', JSON.stringify(answer))
      // Without bob's folders in it.
      assert.equal(answer.reason, 'refused by the recipient: its local store was removed while it ran; it takes nothing until it is started again')
      assert.deepEqual(bob.events.filter(e => e.event === 'message' && e.text === 'after the folder went'), [])
    })
  })
})

describe('QUIT with a delivery stuck on a frozen peer', () => {
  test('leaves once nothing moves, and the message goes when the sender is back, once (round 38: 23–27 s of nothing)', async () => {
    const dir = await tempDir('parley-quit-stuck-')
    const server = await spawnRendezvous(join(dir, 'rendezvous'))
    const peers: PeerProcess[] = []
    try {
      const addr = server.addr.toString()
      const [alice, bob] = await signedUp(['alice', 'bob', 'carol', 'dave'], addr, dir, peers)
      await alice.run('SEND bob the session is open', is('delivered', { to: 'bob' }))
      bob.child.kill('SIGSTOP')
      try {
        const text = 'to bob, frozen'
        const { id } = await alice.run(`SEND bob ${text}`, is('sent', { to: 'bob' }))
        // Its ACK never comes while bob is frozen, and the delivery's own deadline is longer than
        // the harness's 15 s for a clean exit: an exit code of 0 is a QUIT that did not wait for it.
        const from = alice.events.length
        assert.equal(await alice.quit(), 0)
        assert.deepEqual(alice.events.slice(from).filter(e => e.event === 'bye').map(e => e.pending), [1])
        assert.ok(!alice.events.some(e => e.event === 'delivered' && e.id === id))

        bob.child.kill('SIGCONT')
        const again = await PeerProcess.start('alice', addr, join(dir, 'alice'))
        peers.push(again)
        await again.run(`LOGIN alice ${PASSWORD}`, is('logged-in'))
        await again.waitFor(is('delivered', { id, to: 'bob' }), 30_000)
        // Shown once: the copy bob read from the wire when it woke, and the one sent again, are
        // the same message.
        await sleep(300)
        assert.equal(bob.events.filter(e => e.event === 'message' && e.text === text).length, 1)
      } finally {
        bob.child.kill('SIGCONT')
      }
    } finally {
      await Promise.all(peers.map(async p => await p.kill()))
      await server.stop('SIGKILL')
      await removeDir(dir)
    }
  })
})
