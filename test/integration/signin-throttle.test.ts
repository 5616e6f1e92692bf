/**
 * Issue 12 item 4 with real processes: a real rendezvous, real peer processes (as a person runs
 * them) and hostile clients on fresh peer ids, all on 127.0.0.1 (one network).
 * - An account made with scrypt N=2^15 by an older version signs in and is upgraded to N=2^17,
 *   keeping its identity, here and on a new machine.
 * - A guessing attack from fresh peer ids is refused (ERR_RATE_LIMITED) while the owner's own
 *   device still signs in.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { KDF_PARAMS, LEGACY_KDF_PARAMS, deriveAuthKey, deriveMasterKey, verifierOf } from '../../common/crypto/password.ts'
import { ErrorCode, is as isError } from '../../common/errors.ts'
import type { ParleyNode } from '../../common/node.ts'
import { RendezvousClient } from '../../peer/rendezvous-client.ts'
import { DATABASE_FILE } from '../../rendezvous/constants.ts'
import { openStore } from '../../rendezvous/store.ts'
import { PeerProcess, SHIPPED_ENV, spawnRendezvous } from '../../harness/processes.ts'
import { clientNode, makeAccount } from '../helpers/rendezvous.ts'
import { removeDir, tempDir } from '../../harness/temp.ts'
import type { ServerProcess } from '../../harness/processes.ts'

const PASSWORD = 'Correct Horse 9'

describe('sign-in: scrypt upgrade and throttling with real processes', () => {
  let dir: string
  let server: ServerProcess
  let legacyPeerId: string
  const peers: PeerProcess[] = []
  const nodes: ParleyNode[] = []

  const startPeer = async (name: string, folder: string): Promise<PeerProcess> => {
    const peer = await PeerProcess.start(name, server.addr.toString(), join(dir, folder), [], SHIPPED_ENV)
    peers.push(peer)
    return peer
  }

  /** A client on a brand-new peer id, as a guesser would make one per attempt. */
  const freshClient = async (): Promise<RendezvousClient> => {
    const node = await clientNode()
    await node.start()
    nodes.push(node)
    const client = new RendezvousClient(node, server.addr)
    await client.connect()
    return client
  }

  before(async () => {
    dir = await tempDir('parley-signin-')
    // An account as a version before issue 12 made it: N=2^15 on the rendezvous, its identity
    // wrapped under that wrapKey on the rendezvous and in the peer's data folder.
    const legacy = await makeAccount('oldtimer', PASSWORD, LEGACY_KDF_PARAMS)
    legacyPeerId = peerIdFromPrivateKey(legacy.privateKey).toString()
    const store = openStore(join(dir, 'rendezvous'))
    store.createUser({
      username: 'oldtimer',
      peerId: legacyPeerId,
      salt: legacy.salt,
      kdf: legacy.kdf,
      verifier: verifierOf(legacy.authKey),
      identity: legacy.identity,
      addrs: []
    })
    store.close()
    await mkdir(join(dir, 'oldtimer-home', 'oldtimer'), { recursive: true, mode: 0o700 })
    await writeFile(join(dir, 'oldtimer-home', 'oldtimer', 'identity.wrapped'), legacy.identity, { mode: 0o600 })
    // As shipped: the upgrade is to N=2^17, never to the tests' cost (harness PROGRAM_ENV).
    server = await spawnRendezvous(join(dir, 'rendezvous'), undefined, undefined, undefined, SHIPPED_ENV)
  })

  after(async () => {
    await Promise.all(peers.map(async p => await p.kill()))
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await server?.stop('SIGKILL')
    await removeDir(dir)
  })

  function accountRow (username: string): Record<string, unknown> {
    const db = new DatabaseSync(join(dir, 'rendezvous', DATABASE_FILE), { readOnly: true })
    try {
      return { ...(db.prepare('SELECT kdf_log_n, kdf_r, kdf_p, data_key IS NOT NULL AS has_data_key FROM users WHERE username = ?').get(username) as Record<string, unknown>) }
    } finally {
      db.close()
    }
  }

  it('an N=2^15 account signs in, is upgraded to N=2^17 and keeps its identity, here and on a new machine', async () => {
    assert.deepEqual(accountRow('oldtimer'), { kdf_log_n: 15, kdf_r: 8, kdf_p: 1, has_data_key: 0 })
    const home = await startPeer('oldtimer', 'oldtimer-home')
    const first = await home.run(`LOGIN oldtimer ${PASSWORD}`, e => e.event === 'logged-in' || e.event === 'error')
    assert.deepEqual([first.event, first.peerId], ['logged-in', legacyPeerId], JSON.stringify(first))
    assert.deepEqual(accountRow('oldtimer'), { kdf_log_n: 17, kdf_r: 8, kdf_p: 1, has_data_key: 1 })
    assert.equal(await home.quit(), 0)

    const again = await startPeer('oldtimer', 'oldtimer-home')
    const second = await again.run(`LOGIN oldtimer ${PASSWORD}`, e => e.event === 'logged-in' || e.event === 'error')
    assert.deepEqual([second.event, second.peerId], ['logged-in', legacyPeerId], JSON.stringify(second))
    assert.equal(await again.quit(), 0)

    const laptop = await startPeer('oldtimer-laptop', 'oldtimer-laptop')
    const third = await laptop.run(`LOGIN oldtimer ${PASSWORD}`, e => e.event === 'logged-in' || e.event === 'error')
    assert.deepEqual([third.event, third.peerId], ['logged-in', legacyPeerId], JSON.stringify(third))
    assert.equal(await laptop.quit(), 0)
  })

  it('a wrong password typed here, then the right one: no warning of a sign-in from another device (round 48: the typo was said as one)', async () => {
    const first = await startPeer('typist', 'typist-home')
    const made = await first.run(`SIGNUP typist ${PASSWORD}`, e => e.event === 'signed-up' || e.event === 'error')
    assert.equal(made.event, 'signed-up', JSON.stringify(made))
    assert.equal(await first.quit(), 0)
    const back = await startPeer('typist', 'typist-home')
    const typo = await back.run('LOGIN typist not-the-password', e => e.event === 'logged-in' || e.event === 'error')
    assert.equal(typo.code, ErrorCode.BadCredentials, JSON.stringify(typo))
    const login = await back.run(`LOGIN typist ${PASSWORD}`, e => e.event === 'logged-in' || e.event === 'error')
    assert.equal(login.event, 'logged-in', JSON.stringify(login))
    // What follows a sign-in comes with it: a LIST answered after it, and no warning between.
    await back.run('LIST', e => e.event === 'groups' || e.event === 'error')
    assert.deepEqual(back.events.filter(e => e.event === 'warning'), [])
    assert.equal(await back.quit(), 0)
  })

  it('many wrong guesses from fresh peer ids: the attacker gets ERR_RATE_LIMITED, the owner still signs in', async () => {
    const owner = await startPeer('owner', 'owner-home')
    const made = await owner.run(`SIGNUP owner ${PASSWORD}`, e => e.event === 'signed-up' || e.event === 'error')
    assert.equal(made.event, 'signed-up', JSON.stringify(made))
    assert.equal(await owner.quit(), 0)

    // Made first, so the guesses come faster than the backoff (2 s after the fifth failure) expires.
    const attackers = await Promise.all(Array.from({ length: 21 }, async () => await freshClient()))
    const last = attackers.pop()!
    const { salt, kdf } = await last.saltOf('owner')
    assert.deepEqual(kdf, { ...KDF_PARAMS })
    const right = deriveAuthKey(await deriveMasterKey(PASSWORD, salt, kdf))

    const outcomes: string[] = []
    for (const [i, attacker] of attackers.entries()) {
      await attacker.signin({ username: 'owner', authKey: new Uint8Array(32).fill(i), addrs: [] }).then(
        () => { outcomes.push('accepted') },
        (err: unknown) => { outcomes.push(isError(err) ? err.code : String(err)) })
    }
    assert.ok(!outcomes.includes('accepted'))
    assert.deepEqual(outcomes.slice(0, 5), Array(5).fill(ErrorCode.BadCredentials))
    // Slowed, not locked: on a loaded machine the 2 s backoff may pass once during the loop.
    assert.ok(outcomes.filter(code => code === ErrorCode.RateLimited).length >= 13, outcomes.join(' '))
    // Even the right password is refused from the guessing network and a fresh peer id: a
    // refusal tells the guesser nothing.
    await assert.rejects(last.signin({ username: 'owner', authKey: right, addrs: [] }),
      (err: unknown) => isError(err, ErrorCode.RateLimited))

    // The owner, on their own device (the account's peer id), signs in during the attack.
    const back = await startPeer('owner', 'owner-home')
    const started = Date.now()
    const login = await back.run(`LOGIN owner ${PASSWORD}`, e => e.event === 'logged-in' || e.event === 'error')
    assert.equal(login.event, 'logged-in', JSON.stringify(login))
    assert.ok(Date.now() - started < 15_000)
    // And is told of the guesses that reached the password check (round 40: never told).
    const compared = outcomes.filter(code => code === ErrorCode.BadCredentials).length
    const told = await back.waitFor(e => e.event === 'warning' && e.code === ErrorCode.BadCredentials)
    assert.equal(told.message, `${compared} sign-ins to owner from another device failed (a wrong password) since you last signed in: if they were not you, someone may be guessing your password`)
  })
})
