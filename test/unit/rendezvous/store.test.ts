import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { ErrorCode, is } from '../../../common/errors.ts'
import { DATABASE_FILE } from '../../../rendezvous/constants.ts'
import { migrate, userVersion } from '../../../common/sqlite.ts'
import { MIGRATIONS, openStore } from '../../../rendezvous/store.ts'
import type { RendezvousStore } from '../../../rendezvous/store.ts'
import { removeDir, tempDir } from '../../../harness/temp.ts'

/** The store keeps an epoch's signed commitment as given (the handler checks the signature). */
const PROOF = { commitment: new Uint8Array(32).fill(5), signature: new Uint8Array(64).fill(6) }

const isCode = (code: string) => (err: unknown): boolean => is(err) && err.code === code

function addUser (store: RendezvousStore, username: string, peerId = `peer-${username}`): void {
  store.createUser({
    username,
    peerId,
    salt: new Uint8Array(16).fill(1),
    kdf: { logN: 17, r: 8, p: 1 },
    verifier: new Uint8Array(32).fill(2),
    identity: new Uint8Array(100).fill(3),
    addrs: [`/ip4/127.0.0.1/tcp/${username.length}`]
  })
}

describe('rendezvous store', () => {
  let dir: string

  before(async () => { dir = await tempDir('parley-store-') })
  after(async () => { await removeDir(dir) })

  // How migrations run in general is common/sqlite.ts's (test/unit/common/sqlite.test.ts).
  describe('schema', () => {
    it('brings a new database to the latest version, and a second run changes nothing', () => {
      const db = new DatabaseSync(':memory:')
      assert.equal(migrate(db, MIGRATIONS, 'rendezvous server'), MIGRATIONS.length)
      assert.equal(userVersion(db), 5, 'users, scrypt parameters, signed epochs, stalled epochs, sign-in tickets')
      assert.equal(migrate(db, MIGRATIONS, 'rendezvous server'), MIGRATIONS.length)
      db.close()
    })

    it('refuses a data folder written by a newer server, and leaves it as it was', () => {
      const folder = join(dir, 'newer')
      openStore(folder).close()
      const db = new DatabaseSync(join(folder, DATABASE_FILE))
      db.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`)
      db.close()
      assert.throws(() => openStore(folder), /schema version 6 is newer than this rendezvous server knows \(5\)/)
      const after = new DatabaseSync(join(folder, DATABASE_FILE))
      assert.equal(userVersion(after), MIGRATIONS.length + 1)
      after.close()
    })
  })

  it('keeps everything across a close and reopen, with the same server secret', () => {
    const folder = join(dir, 'reopen')
    const first = openStore(folder)
    addUser(first, 'alice')
    addUser(first, 'bob')
    first.createGroup('friends', 'alice')
    first.joinGroup('friends', 'bob')
    first.rotate('friends', 0, 'alice', new Uint8Array([9, 9]), PROOF)
    first.setAddrs('bob', ['/ip4/10.0.0.2/tcp/1'])
    const secret = first.serverSecret
    first.close()

    const second = openStore(folder)
    assert.deepEqual(second.serverSecret, secret)
    assert.equal(second.getUser('alice')?.peerId, 'peer-alice')
    assert.deepEqual(second.getUser('bob')?.addrs, ['/ip4/10.0.0.2/tcp/1'])
    assert.deepEqual(second.getUserByPeerId('peer-bob')?.identity, new Uint8Array(100).fill(3))
    const group = second.getGroup('friends')
    assert.equal(group?.epoch, 1)
    assert.equal(group?.rotationNeeded, false)
    assert.deepEqual(second.members('friends').map(({ joined, ...m }) => ({ ...m, joinedNumber: Number.isSafeInteger(joined) })), [
      { username: 'alice', peerId: 'peer-alice', hasKey: true, joinedNumber: true },
      { username: 'bob', peerId: 'peer-bob', hasKey: false, joinedNumber: true }
    ])
    assert.deepEqual(second.getKeys('friends', 'alice', 64), [{ epoch: 1, wrapped: new Uint8Array([9, 9]) }])
    second.close()
    const mode = statSync(join(folder, DATABASE_FILE)).mode & 0o777
    assert.equal(mode, 0o600)
  })

  it('refuses a taken username or a peer id that has an account', () => {
    const store = openStore(':memory:')
    addUser(store, 'alice')
    assert.throws(() => { addUser(store, 'alice', 'other-peer') }, isCode(ErrorCode.Exists))
    assert.throws(() => { addUser(store, 'alice2', 'peer-alice') }, isCode(ErrorCode.Exists))
    assert.equal(store.getUser('alice2'), undefined)
    store.close()
  })

  it('creates, joins, counts and deletes groups', () => {
    const store = openStore(':memory:')
    for (const name of ['alice', 'bob', 'carol']) addUser(store, name)
    store.createGroup('b-group', 'alice')
    assert.throws(() => store.createGroup('b-group', 'bob'), isCode(ErrorCode.Exists))
    assert.deepEqual(store.joinGroup('a-group', 'bob'), { group: store.getGroup('a-group'), created: true, joined: true })
    const again = store.joinGroup('b-group', 'alice')
    assert.equal(again.created, false)
    assert.equal(again.joined, false)
    assert.equal(store.joinGroup('b-group', 'carol').joined, true)
    assert.deepEqual(store.listGroups(100), [{ name: 'b-group', members: 2 }, { name: 'a-group', members: 1 }], 'the largest first')
    assert.deepEqual(store.groupmatesOf('alice'), ['carol'])
    assert.deepEqual(store.groupsOf('alice').map(g => g.name), ['b-group'])

    store.rotate('b-group', 0, 'carol', new Uint8Array([1]), PROOF)
    assert.deepEqual(store.leaveGroup('b-group', 'carol'), { left: true, deleted: false })
    assert.equal(store.getGroup('b-group')?.rotationNeeded, true)
    assert.deepEqual(store.getKeys('b-group', 'carol', 64), [], 'a leaver\'s wrapped copies go with it')
    assert.deepEqual(store.leaveGroup('b-group', 'carol'), { left: false, deleted: false })

    store.putKey('b-group', 'alice', 1, new Uint8Array([2]))
    assert.deepEqual(store.leaveGroup('b-group', 'alice'), { left: true, deleted: true })
    assert.equal(store.getGroup('b-group'), undefined)
    assert.deepEqual(store.getKeys('b-group', 'alice', 64), [])
    assert.deepEqual(store.listGroups(100), [{ name: 'a-group', members: 1 }])
    store.close()
  })

  it('rotates only from the current epoch', () => {
    const store = openStore(':memory:')
    addUser(store, 'alice')
    store.createGroup('g', 'alice')
    assert.deepEqual(store.rotate('g', 0, 'alice', new Uint8Array([1]), PROOF), { ok: true, epoch: 1 })
    assert.deepEqual(store.rotate('g', 0, 'alice', new Uint8Array([2]), PROOF), { ok: false, epoch: 1 })
    assert.deepEqual(store.getKeys('g', 'alice', 64), [{ epoch: 1, wrapped: new Uint8Array([1]) }], 'the winner\'s copy is stored with the new epoch, the loser\'s is not')
    assert.deepEqual(store.rotate('g', 1, 'alice', new Uint8Array([3]), PROOF), { ok: true, epoch: 2 })
    const current = store.currentEpoch('g')
    assert.equal(current?.epoch, 2)
    assert.equal(current?.maker, 'alice')
    assert.deepEqual(current?.commitment, PROOF.commitment)
    assert.deepEqual(current?.signature, PROOF.signature)
    assert.equal(store.lastForcedRotationBy('g', 'alice'), undefined, 'rotations with a reason are not counted')
    assert.deepEqual(store.rotate('g', 2, 'alice', new Uint8Array([4]), PROOF, true), { ok: true, epoch: 3 })
    assert.ok((store.lastForcedRotationBy('g', 'alice') ?? 0) >= (store.currentEpoch('g')?.created ?? Infinity))
    assert.equal(store.lastForcedRotationBy('g', 'bob'), undefined)
    store.close()
  })

  it('overwrites a member\'s own copy and keeps only the newest 64 epochs', () => {
    const store = openStore(':memory:')
    addUser(store, 'alice')
    addUser(store, 'bob')
    store.createGroup('g', 'alice')
    store.joinGroup('g', 'bob')
    for (let epoch = 1; epoch <= 70; epoch++) store.putKey('g', 'alice', epoch, Uint8Array.of(epoch))
    store.putKey('g', 'bob', 70, Uint8Array.of(0xbb))
    store.putKey('g', 'alice', 70, Uint8Array.of(0xaa))
    const keys = store.getKeys('g', 'alice', 100)
    assert.equal(keys.length, 64)
    assert.deepEqual(keys[0], { epoch: 70, wrapped: Uint8Array.of(0xaa) })
    assert.deepEqual(keys.at(-1), { epoch: 7, wrapped: Uint8Array.of(7) })
    assert.deepEqual(store.getKeys('g', 'bob', 100), [{ epoch: 70, wrapped: Uint8Array.of(0xbb) }])
    store.close()
  })

  it('stores hostile names as plain data', () => {
    const store = openStore(':memory:')
    const hostile = "a'; DROP TABLE users;--"
    addUser(store, hostile)
    assert.equal(store.getUser(hostile)?.username, hostile)
    assert.equal(store.getUser('a'), undefined)
    store.close()
  })
})
