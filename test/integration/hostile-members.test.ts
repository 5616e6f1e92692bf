/**
 * Hostile group members (issue 12 item 1): a member who hands out a key of its own making, and
 * one who starts an epoch and hands its key to nobody. Real rendezvous and peer processes;
 * mallory is a raw node with a real account (test/helpers/hostile.ts).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { newGroupKey } from '../../common/crypto/group.ts'
import { ErrorCode, is as isError } from '../../common/errors.ts'
import { KEY_WAIT_MS } from '../../peer/groups/keyring.ts'
import { epochProof } from '../helpers/rendezvous.ts'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { ServerProcess } from '../../harness/processes.ts'
import { Hostile } from '../helpers/hostile.ts'

const PASSWORD = 'members only, please'

describe('hostile members cannot poison or freeze a group', () => {
  let dir: string
  let server: ServerProcess
  const peers: PeerProcess[] = []
  let mallory: Hostile

  const start = async (name: string, data = name): Promise<PeerProcess> => {
    const peer = await PeerProcess.start(name, server.addr.toString(), `${dir}/${data}`)
    peers.push(peer)
    return peer
  }

  before(async () => {
    dir = await tempDir('parley-members-')
    server = await spawnRendezvous(`${dir}/rendezvous`)
    mallory = await Hostile.user(server.addr, 'mallory')
  })

  after(async () => {
    await mallory?.stop()
    for (const peer of peers) if (peer.child.exitCode === null) await peer.kill()
    await server?.stop()
    await removeDir(dir)
  })

  test('a key that is not the one its epoch committed to is refused; the real one is taken later', async () => {
    let alice = await start('alice')
    await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
    await alice.run('JOIN club', is('joined', { group: 'club' }))
    // Her first group message makes epoch 1 (with nobody else in the group to receive it).
    alice.send('SENDGROUP club the first epoch is mine')
    for (let epoch = 0; epoch !== 1;) {
      epoch = Number((await alice.run('MEMBERS club', is('members', { group: 'club' }))).epoch)
    }
    assert.equal(await alice.quit(), 0)

    // Mallory and bob join while the key's maker is away: bob has no key, mallory offers one.
    await mallory.rendezvous.join('club')
    const bob = await start('bob')
    await bob.run(`SIGNUP bob ${PASSWORD}`, is('signed-up'))
    await bob.run('JOIN club', is('joined', { group: 'club' }))
    const bobAt = await mallory.find('bob')
    const from = bob.events.length
    const session = await mallory.direct(bobAt, 'SESSION')
    await session.write(session.sealMessage('KEY club 1', randomBytes(16), { key: newGroupKey() }))
    const ack = await session.receiveFrame()
    assert.ok(ack.t === 'a' && ack.ok.length === 0 && ack.no[0]?.code === ErrorCode.Integrity, JSON.stringify(ack))
    assert.match(ack.no[0]?.why ?? '', /not the key alice committed to/)
    session.framed.abort(new Error('done'))
    assert.equal(bob.events.slice(from).filter(e => e.event === 'key').length, 0, 'the fake key was not taken')

    // The maker comes back and hands over the real key, which bob takes.
    alice = await start('alice again', 'alice')
    const keyed = bob.waitFor(is('key', { group: 'club', epoch: 1, from: 'alice' }), 30_000, from)
    await alice.run(`LOGIN alice ${PASSWORD}`, is('logged-in'))
    await keyed
    const arrived = bob.waitFor(is('group-message', { group: 'club', from: 'alice', text: 'after the fake key' }), 30_000)
    await alice.run('SENDGROUP club after the fake key', is('delivered', { to: 'bob', group: 'club' }), 30_000)
    await arrived
  })

  test(`an epoch whose key its maker withholds is replaced after ${KEY_WAIT_MS / 1000} s, and the group talks again`, { timeout: 3 * KEY_WAIT_MS + 60_000 }, async () => {
    const alice = peers.find(p => p.name === 'alice again' && p.child.exitCode === null)
    const bob = peers.find(p => p.name === 'bob')
    assert.ok(alice !== undefined && bob !== undefined)
    // A member leaves: a new epoch is due, and mallory makes it first, with a key nobody gets.
    const carol = await start('carol')
    await carol.run(`SIGNUP carol ${PASSWORD}`, is('signed-up'))
    await carol.run('JOIN club', is('joined', { group: 'club' }))
    await carol.run('LEAVE club', is('left', { group: 'club' }))
    const { epoch } = await mallory.rendezvous.members('club')
    const account = mallory.account
    assert.ok(account !== undefined)
    await mallory.rendezvous.rotate('club', epoch, randomBytes(88), await epochProof(account.privateKey, 'club', epoch + 1))
    // Nor can it do so again at once (nobody could have had the key yet).
    await assert.rejects(
      mallory.rendezvous.rotate('club', epoch + 1, randomBytes(88), await epochProof(account.privateKey, 'club', epoch + 2)),
      (err: unknown) => isError(err, ErrorCode.RateLimited))

    // Alice's message waits for a key that never comes, then goes out under an epoch of hers.
    const arrived = bob.waitFor(is('group-message', { group: 'club', from: 'alice', text: 'not frozen' }), 3 * KEY_WAIT_MS + 30_000)
    alice.send('SENDGROUP club not frozen')
    await arrived
    const members = await mallory.rendezvous.members('club')
    assert.ok(members.epoch >= epoch + 2, `the group moved past mallory's epoch ${epoch + 1}: ${members.epoch}`)
    assert.equal(members.maker?.username === 'mallory', false, 'the epoch in use is not mallory\'s')

    // Nor can she freeze it again by leaving and re-joining, which makes a new epoch due, and
    // making it first (round 43: she did so every round, and the group stayed frozen once each
    // honest member had used its one forced epoch in ten minutes). The due epoch is another's.
    await mallory.rendezvous.leave('club')
    await mallory.rendezvous.join('club')
    const due = await mallory.rendezvous.members('club')
    assert.equal(due.rotationNeeded, true)
    await assert.rejects(
      mallory.rendezvous.rotate('club', due.epoch, randomBytes(88), await epochProof(account.privateKey, 'club', due.epoch + 1)),
      (err: unknown) => isError(err, ErrorCode.RateLimited) && /reached no other member/.test((err as Error).message))
    const next = bob.waitFor(is('group-message', { group: 'club', from: 'alice', text: 'still talking' }), 30_000)
    alice.send('SENDGROUP club still talking')
    await next
    const after = await mallory.rendezvous.members('club')
    assert.equal(after.rotationNeeded, false)
    assert.equal(after.maker?.username === 'mallory', false)
  })
})
