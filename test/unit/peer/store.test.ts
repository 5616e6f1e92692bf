import { describe, test, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { IN_MEMORY, userVersion } from '../../../common/sqlite.ts'
import { PeerStore } from '../../../peer/store/store.ts'
import { GroupCommit, storeDamaged } from '../../../peer/store/group-commit.ts'
import { ErrorCode, is } from '../../../common/errors.ts'
import type { MessageRecord } from '../../../peer/store/store.ts'
import { toGroupName, toMessageId, toUsername } from '../../../common/wire/names.ts'
import type { MessageId, Username } from '../../../common/wire/names.ts'
import { hkdfSha256 } from '../../../common/crypto/hkdf.ts'
import { wrapSecret } from '../../../common/crypto/wrap.ts'

const wrapKey = randomBytes(32)
/** The i-th of a run of message ids, in order. */
const idOf = (i: number): string => i.toString(16).padStart(32, '0')
const message = (over: Partial<MessageRecord>): MessageRecord => ({
  id: toMessageId(randomBytes(16).toString('hex')), direction: 'in', peer: toUsername('bob'), group: null, kind: 'text', body: 'hi', path: null, status: 'received', at: Date.now(), ...over
})

/** Undoes schema step 6 (the outbox's seq column and its index), as a file from before it. */
/** A file of this release taken back to what earlier ones wrote. */
const BEFORE_STEP_10 = 'DROP TABLE blocked;'
const BEFORE_STEP_9 = `${BEFORE_STEP_10} DROP TABLE unconfirmed_sends;`
const BEFORE_STEP_8 = `${BEFORE_STEP_9} ALTER TABLE messages DROP COLUMN sent_at;`
const BEFORE_STEP_7 = `${BEFORE_STEP_8} ALTER TABLE outbox DROP COLUMN sha256;`
const BEFORE_STEP_6 = `${BEFORE_STEP_7} DROP INDEX outbox_by_recipient; ALTER TABLE outbox DROP COLUMN seq; CREATE INDEX outbox_by_recipient ON outbox (recipient, created);`

describe('peer store', () => {
  let dir: string
  let file: string
  let store: PeerStore
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-store-'))
    file = join(dir, 'user', 'parley.db')
    store = new PeerStore(file, wrapKey)
  })
  afterEach(async () => {
    store.close()
    await rm(dir, { recursive: true, force: true })
  })

  test('a message id from the same sender is stored once: duplicates are reported', () => {
    const first = message({ body: 'once' })
    assert.equal(typeof store.addMessage(first), 'number')
    assert.equal(store.addMessage({ ...first, body: 'again' }), undefined)
    assert.deepEqual(store.history({ user: 'bob' }, 10).map(m => m.body), ['once'])
  })

  test('history is the last n messages, oldest first, per user or per group', () => {
    for (let i = 0; i < 5; i++) store.addMessage(message({ body: `m${i}`, at: 1000 + i }))
    store.addMessage(message({ body: 'in the group', group: toGroupName('friends'), at: 2000 }))
    assert.deepEqual(store.history({ user: 'bob' }, 3).map(m => m.body), ['m2', 'm3', 'm4'])
    assert.deepEqual(store.history({ group: 'friends' }, 10).map(m => m.body), ['in the group'])
  })

  test('history holds no more than its size in stored bodies, the latest always (round 48: 10,000 texts of 16 KiB made one string too long)', () => {
    for (let i = 0; i < 5; i++) store.addMessage(message({ body: `${i}`.repeat(1000), at: 1000 + i }))
    const fits = (maxBytes: number): string[] => store.history({ user: 'bob' }, 10, maxBytes).map(m => m.body.slice(0, 1))
    assert.deepEqual(fits(2_500), ['2', '3', '4'], 'sealed bodies of a little over 1,000 bytes: the latest whose sum before them is under the size')
    assert.deepEqual(fits(1), ['4'], 'the latest, whatever its size')
    assert.deepEqual(fits(1_000_000), ['0', '1', '2', '3', '4'])
    assert.equal(store.historySize({ user: 'bob' }), 5)
  })

  test('recent contacts: the users of direct conversations since a time, the latest first, at most n', () => {
    store.addMessage(message({ peer: toUsername('bob'), at: 1_000 }))
    store.addMessage(message({ peer: toUsername('carol'), at: 3_000 }))
    store.addMessage(message({ peer: toUsername('bob'), at: 4_000, direction: 'out' }))
    store.addMessage(message({ peer: toUsername('dave'), at: 2_000 }))
    store.addMessage(message({ peer: toUsername('erin'), at: 500 }))
    store.addMessage(message({ peer: toUsername('frank'), group: toGroupName('friends'), at: 5_000 }))
    assert.deepEqual(store.recentContacts(1_000, 10), ['bob', 'carol', 'dave'], 'not erin (too old), not frank (a group message)')
    assert.deepEqual(store.recentContacts(0, 2), ['bob', 'carol'])
    const db = new DatabaseSync(file, { readOnly: true })
    try {
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT peer, MAX(at) AS last FROM messages WHERE grp IS NULL AND at >= ? GROUP BY peer ORDER BY last DESC LIMIT ?').all(0, 16)
        .map(step => String((step as { detail: string }).detail)).join('; ')
      assert.match(plan, /USING INDEX messages_by_group/, 'a week of messages, not the whole history')
    } finally {
      db.close()
    }
  })

  test('a store whose file is damaged says so at a commit, marked as that, not as a bare failure (round 46: "the local store could not commit", 30 times)', async () => {
    store.addMessage(message({ body: 'before the damage' }))
    store.close()
    const db = new DatabaseSync(file)
    const { rootpage } = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'messages_by_peer'").get() as { rootpage: number }
    const { page_size: pageSize } = db.prepare('PRAGMA page_size').get() as { page_size: number }
    db.close()
    // An index page of the messages overwritten: the store opens, and a new message cannot be kept.
    const handle = await open(file, 'r+')
    await handle.write(Buffer.alloc(pageSize, 0xab), 0, pageSize, (rootpage - 1) * pageSize)
    await handle.close()
    store = new PeerStore(file, wrapKey)
    const failed = await store.commitSoon(() => store.addMessage(message({ body: 'after it' }))).then(() => undefined, (err: unknown) => err)
    assert.ok(storeDamaged(failed) && is(failed, ErrorCode.Internal) && failed.message === 'the local store is damaged (database disk image is malformed)', String(failed))
    assert.equal(store.path, file)
  })

  test('the users blocked are kept, each once, and survive a reopen; UNBLOCK says whether one was', () => {
    assert.deepEqual(store.blocked(), [])
    assert.equal(store.block(toUsername('mallory')), true)
    assert.equal(store.block(toUsername('mallory')), false, 'blocked already')
    assert.equal(store.block(toUsername('eve')), true)
    assert.equal(store.isBlocked('mallory'), true)
    assert.equal(store.isBlocked('bob'), false)
    store.close()
    store = new PeerStore(file, wrapKey)
    assert.deepEqual(store.blocked(), ['eve', 'mallory'])
    assert.equal(store.unblock(toUsername('mallory')), true)
    assert.equal(store.unblock(toUsername('mallory')), false)
    assert.equal(store.isBlocked('mallory'), false)
    assert.deepEqual(store.blocked(), ['eve'])
  })

  test('the outbox keeps order per recipient and survives a reopen', () => {
    store.enqueue({ id: toMessageId('a'.repeat(32)), recipient: toUsername('carol'), group: null, kind: 'text', body: 'first', created: 1 })
    store.enqueue({ id: toMessageId('b'.repeat(32)), recipient: toUsername('carol'), group: null, kind: 'file', body: '/tmp/x y.png', created: 2 })
    store.close()
    store = new PeerStore(file, wrapKey)
    assert.deepEqual(store.outboxFor('carol').map(i => i.body), ['first', '/tmp/x y.png'])
    store.removeFromOutbox('a'.repeat(32), 'carol')
    assert.deepEqual(store.outboxRecipients(), ['carol'])
    assert.equal(store.outboxSize(), 1)
  })

  test('leaving a group drops its deliveries still queued and marks their messages failed, and only those', () => {
    const club = toGroupName('club')
    const [bob, carol] = [toUsername('bob'), toUsername('carol')]
    const groupSend = (i: number, to: Username[], group = club): MessageId => {
      const id = toMessageId(idOf(i))
      store.addMessage(message({ id, direction: 'out', peer: toUsername('alice'), group, body: `message ${i}`, status: 'sent' }))
      for (const recipient of to) store.enqueue({ id, recipient, group, kind: 'text', body: `message ${i}`, created: i })
      return id
    }
    const waiting = groupSend(1, [carol]) // delivered to bob already, waiting for carol
    const done = groupSend(2, [])
    const otherGroup = groupSend(3, [bob], toGroupName('team'))
    store.enqueue({ id: toMessageId(idOf(4)), recipient: carol, group: null, kind: 'text', body: 'direct', created: 4 })
    const status = (id: string): string | undefined => [...store.history({ group: 'club' }, 10), ...store.history({ group: 'team' }, 10)].find(m => m.id === id)?.status

    assert.deepEqual(store.dropGroupDeliveries('club'), [{ id: waiting, recipient: carol }])
    assert.deepEqual(store.outboxFor('carol').map(i => i.body), ['direct'], 'direct messages stay')
    assert.deepEqual(store.outboxFor('bob').map(i => i.body), ['message 3'], 'another group\'s stay')
    assert.equal(status(waiting), 'failed', 'carol will not get it')
    assert.equal(status(done), 'sent', 'nothing of it was dropped')
    assert.equal(status(otherGroup), 'sent')
  })

  test('leaving a group keeps the deliveries said to go on (under way); their message fails only for one dropped', () => {
    const club = toGroupName('club')
    const [bob, carol] = [toUsername('bob'), toUsername('carol')]
    const id = toMessageId(idOf(1))
    store.addMessage(message({ id, direction: 'out', peer: toUsername('alice'), group: club, body: 'big.bin', kind: 'file', status: 'sent' }))
    for (const recipient of [bob, carol]) store.enqueue({ id, recipient, group: club, kind: 'file', body: '/tmp/big.bin', created: 1 })
    const status = (): string | undefined => store.history({ group: 'club' }, 10)[0]?.status

    assert.deepEqual(store.dropGroupDeliveries('club', (_id, recipient) => recipient === bob || recipient === carol), [])
    assert.equal(status(), 'sent', 'nothing was dropped')
    assert.deepEqual(store.dropGroupDeliveries('club', (_id, recipient) => recipient === bob), [{ id, recipient: carol }])
    assert.deepEqual(store.outboxFor('bob').map(i => i.id), [id], 'bob\'s goes on')
    // Bob's copy arriving afterwards does not make it delivered: carol never gets hers.
    store.removeFromOutbox(id, bob)
    store.markGroupDeliveredIfDone(id)
    assert.equal(status(), 'failed')
  })

  test('a recipient\'s outbox is read through an index, not a scan of everyone\'s backlog', () => {
    const db = new DatabaseSync(file, { readOnly: true })
    try {
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM outbox WHERE recipient = ? ORDER BY created, rowid').all('carol')
        .map(step => String((step as { detail: string }).detail)).join('; ')
      assert.match(plan, /USING INDEX outbox_by_recipient/)
      assert.doesNotMatch(plan, /SCAN outbox/)
    } finally {
      db.close()
    }
  })

  test('group commit: a burst larger than one slice is all committed, in order; a read sees writes not yet committed', async () => {
    const writes: Array<Promise<number | undefined>> = []
    for (let i = 0; i < 600; i++) {
      writes.push(store.commitSoon(() => {
        store.enqueue({ id: toMessageId(idOf(i)), recipient: toUsername('bob'), group: null, kind: 'text', body: `b${i}`, created: 1000 + i })
        return store.addMessage(message({ direction: 'out', body: `m${i}`, at: 1000 + i }))
      }))
    }
    // Nothing committed yet; a read commits what waits first (HISTORY right after SEND).
    assert.equal(store.history({ user: 'bob' }, 1000).length, 600)
    const rows = await Promise.all(writes)
    assert.deepEqual(rows, rows.map((_, i) => (rows[0] ?? NaN) + i), 'each stored, as one row after another')
    const queued = store.outboxFor('bob')
    assert.deepEqual(queued.map(item => item.body), Array.from({ length: 600 }, (_, i) => `b${i}`))
    // Reading on after the second item: the third is next.
    assert.deepEqual(store.outboxFor('bob', queued[1]?.seq).map(item => item.id).slice(0, 2), [idOf(2), idOf(3)])
  })

  test('group commit: a write that fails in a commit is undone alone and fails only its caller', async () => {
    const enqueue = (n: number): void => {
      store.enqueue({ id: toMessageId(idOf(n)), recipient: toUsername('bob'), group: null, kind: 'text', body: `b${n}`, created: n })
    }
    const first = store.commitSoon(() => { enqueue(1) })
    const failing = store.commitSoon(() => {
      enqueue(2)
      throw new Error('this write fails after its row was written')
    })
    const third = store.commitSoon(() => { enqueue(3) })
    await assert.rejects(failing, /this write fails/)
    await Promise.all([first, third])
    assert.deepEqual(store.outboxFor('bob').map(item => item.body), ['b1', 'b3'])
    // The store goes on committing afterwards.
    await store.commitSoon(() => { enqueue(4) })
    assert.equal(store.outboxSize(), 3)
  })

  test('its file removed while it runs (the data folder deleted), nothing more is committed, and each write says why (round 33: taken, acknowledged and lost)', async () => {
    const enqueue = (n: number) => () => {
      store.enqueue({ id: toMessageId(idOf(n)), recipient: toUsername('bob'), group: null, kind: 'text', body: `b${n}`, created: n })
    }
    await store.commitSoon(enqueue(1))
    await rm(join(dir, 'user'), { recursive: true, force: true })
    await assert.rejects(store.commitSoon(enqueue(2)), (err: unknown) => is(err, ErrorCode.Internal) &&
      err.message === `this account's local store ${file} was removed while Parley ran: nothing more can be kept here, ` +
        'so nothing more is taken (senders keep what they send); QUIT, and start Parley again')
    await assert.rejects(store.commitSoon(enqueue(3)), (err: unknown) => is(err, ErrorCode.Internal), 'and so on: nothing is taken')
  })

  test('group commit: a full disk is said as one, and passing (ERR_NO_SPACE: a sender tries again later), not as a failed commit (round 10)', async () => {
    const db = new DatabaseSync(':memory:')
    db.exec('CREATE TABLE t (v BLOB)')
    db.exec('PRAGMA max_page_count = 16') // SQLite's own SQLITE_FULL, as a full disk gives it
    const commits = new GroupCommit(db)
    const insert = (bytes: number) => () => db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(bytes))
    await commits.run(insert(100))
    await assert.rejects(commits.run(insert(200_000)), (err: unknown) =>
      is(err, ErrorCode.NoSpace) && err.retryable && /no space left on the disk for the store/.test(err.message))
    await commits.run(insert(100)) // and it goes on once there is room
    db.close()
  })

  test('group commit: the writes of a burst become durable slice by slice', async () => {
    const done: number[] = []
    const writes = Array.from({ length: 600 }, (_, i) => store.commitSoon(() => {
      store.enqueue({ id: toMessageId(i.toString(16).padStart(32, '0')), recipient: toUsername('bob'), group: null, kind: 'text', body: 'x', created: i })
    }).then(() => { done.push(i) }))
    await writes[0]
    // The first slice is durable (and its callers resumed) before the last one is committed.
    assert.ok(done.length < 600, `${done.length} done after the first`)
    await Promise.all(writes)
    assert.equal(store.outboxSize(), 600)
  })

  test('pins: first use is trusted, the same id again is fine, another id is a change until repinned', () => {
    assert.equal(store.pin('bob', 'peer-1'), 'new')
    assert.equal(store.pin('bob', 'peer-1'), 'same')
    assert.equal(store.pin('bob', 'peer-2'), 'changed')
    assert.equal(store.pinnedPeerId('bob'), 'peer-1')
    store.repin('bob', 'peer-2')
    assert.equal(store.usernameForPeer('peer-2'), 'bob')
    assert.equal(store.usernameForPeer('peer-1'), undefined)
  })

  test('pins through the group commit: two first uses of one name in one turn make one pin and one change; it survives a reopen', async () => {
    const [first, second] = await Promise.all([store.pinSoon('bob', 'peer-1'), store.pinSoon('bob', 'peer-2')])
    assert.deepEqual([first, second], ['new', 'changed'])
    assert.equal(await store.pinSoon('bob', 'peer-1'), 'same')
    assert.equal(await store.pinSoon('bob', 'peer-2'), 'changed')
    store.close()
    store = new PeerStore(file, wrapKey)
    assert.equal(store.pinnedPeerId('bob'), 'peer-1')
    assert.equal(store.usernameForPeer('peer-1'), 'bob')
  })

  test('pins are answered from memory and the answers follow every change of pin', () => {
    assert.equal(store.pinnedPeerId('bob'), undefined)
    assert.equal(store.usernameForPeer('peer-1'), undefined)
    store.pin('bob', 'peer-1')
    assert.equal(store.pinnedPeerId('bob'), 'peer-1')
    assert.equal(store.usernameForPeer('peer-1'), 'bob')
    // The same peer id under another name: bob's stale pin goes.
    store.pin('robert', 'peer-1')
    assert.equal(store.pinnedPeerId('bob'), undefined)
    assert.equal(store.usernameForPeer('peer-1'), 'robert')
    store.repin('robert', 'peer-2')
    assert.equal(store.pinnedPeerId('robert'), 'peer-2')
    assert.equal(store.usernameForPeer('peer-1'), undefined)
    assert.equal(store.usernameForPeer('peer-2'), 'robert')
    // Many unknown peer ids asked about (anyone can connect) are answered right, and then bob.
    for (let i = 0; i < 12_000; i++) assert.equal(store.usernameForPeer(`stranger-${i}`), undefined)
    store.pin('bob', 'peer-3')
    assert.equal(store.usernameForPeer('peer-3'), 'bob')
  })

  test('a group\'s last member list survives a reopen (a restart while the rendezvous is away) and goes with the group', () => {
    const info = JSON.stringify({ epoch: 3, members: [{ username: 'bob', peerId: 'peer-b', hasKey: true }] })
    store.rememberGroupInfo('friends', info)
    store.saveGroupKey('friends', 3, randomBytes(40))
    store.close()
    store = new PeerStore(file, wrapKey)
    assert.equal(store.lastGroupInfo('friends'), info)
    assert.equal(store.lastGroupInfo('strangers'), undefined)
    store.forgetGroup('friends')
    assert.equal(store.lastGroupInfo('friends'), undefined)
    assert.equal(store.groupKey('friends', 3), undefined)
  })

  test('a group send kept for its roll call: sealed at rest, not delivered until confirmed, then delivered; it survives a reopen and goes with the group', async () => {
    const group = toGroupName('club')
    const send = (id: string, created: number) => ({ id: toMessageId(id), group, kind: 'file' as const, body: '/secret/path.bin', sha256: 'ab'.repeat(32), created, recipients: [toUsername('bob')] })
    store.addMessage(message({ id: toMessageId(idOf(1)), direction: 'out', peer: toUsername('alice'), group, status: 'sent' }))
    store.enqueue({ id: toMessageId(idOf(1)), recipient: toUsername('bob'), group, kind: 'file', body: '/secret/path.bin', created: 1 })
    store.keepUnconfirmed(send(idOf(1), 1))
    store.keepUnconfirmed(send(idOf(1), 1)) // kept once
    // bob has it, but the roll call may still add a member: not delivered yet.
    store.removeFromOutbox(idOf(1), 'bob')
    store.markGroupDeliveredIfDone(idOf(1))
    assert.equal(store.history({ group: 'club' }, 1)[0]?.status, 'sent')
    store.close()
    assert.ok(!(await readFile(file)).includes('/secret/path.bin'), 'the path is sealed')
    store = new PeerStore(file, wrapKey)
    assert.deepEqual(store.groupsUnconfirmed(), ['club'])
    assert.deepEqual(store.unconfirmedSends('club'), [send(idOf(1), 1)])
    store.confirmSends('club', [idOf(1)])
    assert.deepEqual([store.unconfirmedSends('club'), store.history({ group: 'club' }, 1)[0]?.status], [[], 'delivered'])
    // Leaving the group confirms what it kept: no roll call comes for it.
    store.addMessage(message({ id: toMessageId(idOf(2)), direction: 'out', peer: toUsername('alice'), group, status: 'sent' }))
    store.keepUnconfirmed(send(idOf(2), 2))
    store.forgetGroup('club')
    assert.deepEqual([store.groupsUnconfirmed(), store.history({ group: 'club' }, 1)[0]?.status], [[], 'delivered'])
    // A damaged row is dropped, not left to fail every later roll call of the group.
    store.keepUnconfirmed(send(idOf(3), 3))
    const other = new DatabaseSync(file)
    other.exec("UPDATE unconfirmed_sends SET recipients = 'not json'")
    other.close()
    assert.deepEqual([store.unconfirmedSends('club'), store.groupsUnconfirmed()], [[], []])
  })

  test('texts and paths are sealed at rest: the file holds neither, and another key cannot read them', async () => {
    const secret = 'the eagle lands at midnight'
    store.addMessage(message({ body: secret, kind: 'file', path: '/home/me/secret-plans.pdf' }))
    store.addMessage(message({ id: toMessageId('c'.repeat(32)), direction: 'out', peer: toUsername('dave'), body: 'queued secret words', status: 'queued', at: 3 }))
    store.enqueue({ id: toMessageId('c'.repeat(32)), recipient: toUsername('dave'), group: null, kind: 'text', body: 'queued secret words', created: 3 })
    store.close()
    const raw = Buffer.concat([await readFile(file), await readFile(`${file}-wal`).catch(() => Buffer.alloc(0))])
    for (const text of [secret, 'secret-plans', 'queued secret words']) assert.equal(raw.includes(text), false, text)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    store = new PeerStore(file, randomBytes(32))
    assert.deepEqual(store.history({ user: 'bob' }, 10).map(m => [m.body, m.path, m.unreadable]), [['', null, true]], 'another key opens nothing')
    // What that account queued can never be sent by this one: dropped, not in the way of what this one queues.
    store.enqueue({ id: toMessageId('e'.repeat(32)), recipient: toUsername('dave'), group: null, kind: 'text', body: 'this account\'s', created: 4 })
    assert.deepEqual(store.outboxFor('dave').map(item => item.body), ['this account\'s'])
    assert.equal(store.outboxFor('dave').length, 1)
    // …and said once, its message failed (until 2026-12-06 it went without a word, `queued` for ever).
    assert.deepEqual(store.takeUnsendable(), [{ id: 'c'.repeat(32), recipient: 'dave', group: null, kind: 'text' }])
    assert.deepEqual(store.takeUnsendable(), [])
    assert.deepEqual(store.history({ user: 'dave' }, 10).map(m => [m.status, m.unreadable]), [['failed', true]])
  })

  test('rows sealed before schema step 5 (one salted 3DES key per value) read as they were, beside new ones', () => {
    store.close()
    // The file as the release before step 5 left it: no sealing column, values per-value sealed.
    const db = new DatabaseSync(file)
    db.exec(`${BEFORE_STEP_6} ALTER TABLE messages DROP COLUMN sealing; ALTER TABLE outbox DROP COLUMN sealing; PRAGMA user_version = 4`)
    const perValueKey = hkdfSha256(wrapKey, new Uint8Array(0), 'parley/store', 32)
    const seal = (context: string, text: string): Uint8Array => wrapSecret(perValueKey, context, new TextEncoder().encode(text))
    const id = 'd'.repeat(32)
    db.prepare("INSERT INTO messages (id, direction, peer, grp, kind, body, path, status, at) VALUES (?, 'in', 'bob', NULL, 'file', ?, ?, 'received', 1)")
      .run(id, seal(`msg:${id}:in:bob:body`, 'old.png'), seal(`msg:${id}:in:bob:path`, '/home/me/old.png'))
    db.prepare("INSERT INTO outbox (id, recipient, grp, kind, body, created) VALUES (?, 'carol', NULL, 'text', ?, 1)")
      .run(id, seal(`outbox:${id}:carol`, 'old words'))
    db.close()
    store = new PeerStore(file, wrapKey)
    store.addMessage(message({ body: 'new words', at: 2 }))
    store.enqueue({ id: toMessageId('e'.repeat(32)), recipient: toUsername('carol'), group: null, kind: 'text', body: 'new queued', created: 2 })
    assert.deepEqual(store.history({ user: 'bob' }, 10).map(m => [m.body, m.path]), [['old.png', '/home/me/old.png'], ['new words', null]])
    assert.deepEqual(store.outboxFor('carol').map(i => i.body), ['old words', 'new queued'])
  })

  test('outbox items queued before schema step 6 keep their order (time queued, then rowid); new ones go after them', () => {
    store.close()
    const db = new DatabaseSync(file)
    db.exec(`${BEFORE_STEP_6} PRAGMA user_version = 5`)
    db.close()
    store = new PeerStore(file, wrapKey)
    // Sealed as this release does, then written back as step 5 left the table: queued in rowid
    // order 1, 2, 3 with the clock turned back for the third.
    const ids = ['1', '2', '3'].map(d => toMessageId(d.repeat(32)))
    ids.forEach((id, i) => { store.enqueue({ id, recipient: toUsername('carol'), group: null, kind: 'text', body: `q${i + 1}`, created: [5, 7, 6][i] ?? 0 }) })
    store.close()
    const old = new DatabaseSync(file)
    old.exec(`${BEFORE_STEP_6} PRAGMA user_version = 5`)
    old.close()
    store = new PeerStore(file, wrapKey)
    store.enqueue({ id: toMessageId('4'.repeat(32)), recipient: toUsername('carol'), group: null, kind: 'text', body: 'q4', created: 1 })
    const queue = store.outboxFor('carol')
    assert.deepEqual(queue.map(item => item.body), ['q1', 'q3', 'q2', 'q4'])
    assert.deepEqual(store.outboxFor('carol', queue[1]?.seq).map(item => item.body), ['q2', 'q4'])
  })

  test('a queued file keeps its SHA-256 sealed; one queued before schema step 7 has none', async () => {
    const path = '/home/me/report.pdf'
    const sha256 = 'ab'.repeat(32)
    store.enqueue({ id: toMessageId('5'.repeat(32)), recipient: toUsername('carol'), group: null, kind: 'file', body: path, sha256, created: 1 })
    store.close()
    const raw = Buffer.concat([await readFile(file), await readFile(`${file}-wal`).catch(() => Buffer.alloc(0))])
    assert.equal(raw.includes(sha256), false)
    const db = new DatabaseSync(file)
    db.exec(`${BEFORE_STEP_7} PRAGMA user_version = 6`)
    db.close()
    store = new PeerStore(file, wrapKey)
    store.enqueue({ id: toMessageId('6'.repeat(32)), recipient: toUsername('carol'), group: null, kind: 'file', body: path, sha256, created: 2 })
    assert.deepEqual(store.outboxFor('carol').map(item => [item.body, item.sha256]), [[path, undefined], [path, sha256]])
  })

  test('a text that came in keeps when its sender sent it; one stored before schema step 8 has none', () => {
    store.addMessage(message({ body: 'before', at: 10 }))
    store.close()
    const db = new DatabaseSync(file)
    db.exec(`${BEFORE_STEP_8} PRAGMA user_version = 7`)
    db.close()
    store = new PeerStore(file, wrapKey)
    store.addMessage(message({ id: toMessageId('2'.repeat(32)), body: 'after', at: 20, sentAt: 15 }))
    assert.deepEqual(store.history({ user: 'bob' }, 10).map(m => [m.body, m.sentAt]), [['before', undefined], ['after', 15]])
  })

  test('history is in the order the messages were sent: a group\'s talk that waited for us, its senders\' outboxes one after the other', () => {
    const club = toGroupName('club')
    // dave was away; back at 100, bob's outbox sent first, then carol's, then alice's.
    const arrived: Array<[string, string, number]> = [['bob', '2 bob: me', 2], ['bob', '5 bob: dave?', 5], ['carol', '3 carol: me too', 3], ['alice', '1 alice: saturday?', 1], ['alice', '4 alice: great', 4]]
    arrived.forEach(([peer, body, sentAt], i) => store.addMessage(message({ peer: toUsername(peer), group: club, body, at: 100 + i, sentAt })))
    store.addMessage(message({ direction: 'out', peer: toUsername('alice'), group: club, body: '6 dave: back', at: 106 }))
    assert.deepEqual(store.history({ group: 'club' }, 10).map(m => m.body), ['1 alice: saturday?', '2 bob: me', '3 carol: me too', '4 alice: great', '5 bob: dave?', '6 dave: back'])
    assert.deepEqual(store.history({ group: 'club' }, 2).map(m => m.body), ['5 bob: dave?', '6 dave: back'], 'the last ones sent')
  })

  test('history shows a row another account\'s key sealed as unreadable, beside its own rows, instead of failing', () => {
    // The rendezvous lost its accounts and alice signed up again in the same folder: a new
    // account, a new wrapKey, the old rows in the same file. Until 2026-12-06 every HISTORY
    // failed: "stored value does not open".
    store.addMessage(message({ body: 'from the earlier account', kind: 'file', path: '/home/me/a.png', at: 1 }))
    store.close()
    store = new PeerStore(file, new Uint8Array(randomBytes(32)))
    store.addMessage(message({ id: toMessageId('2'.repeat(32)), body: 'from this account', at: 2 }))
    const rows = store.history({ user: 'bob' }, 10)
    assert.deepEqual(rows.map(m => [m.body, m.path, m.unreadable]), [['', null, true], ['from this account', null, undefined]])
    assert.equal(rows[0]?.kind, 'file', 'what is not sealed is still said')
  })

  test('schema: a file a newer version wrote is refused and left as it was', () => {
    store.close()
    const db = new DatabaseSync(file)
    const current = userVersion(db)
    assert.ok(current >= 2, 'at least: messages, outbox, pins, group keys; then addresses kept with pins')
    db.exec(`PRAGMA user_version = ${current + 1}`)
    db.close()
    assert.throws(() => new PeerStore(file, wrapKey), new RegExp(`schema version ${current + 1} is newer than this peer knows \\(${current}\\)`))
    const check = new DatabaseSync(file)
    assert.equal(userVersion(check), current + 1)
    check.exec(`PRAGMA user_version = ${current}`)
    check.close()
    store = new PeerStore(file, wrapKey)
  })

  test('shown mark: what came in, was stored and was never shown is told of at the next open, once, per conversation', () => {
    assert.deepEqual(store.takeUnshown(), [], 'a new store (or one older than the mark) tells of nothing')
    const stored = (over: Partial<MessageRecord>): number => {
      const row = store.addMessage(message(over))
      assert.ok(row !== undefined)
      store.shown.stored(row)
      return row
    }
    store.shown.done(stored({ body: 'shown' }))
    stored({ body: 'one' })
    store.addMessage(message({ direction: 'out', body: 'ours is never unshown' }))
    const two = stored({ body: 'two' })
    stored({ peer: toUsername('carol'), group: toGroupName('club'), body: 'to the club' })
    stored({ peer: toUsername('dave'), group: toGroupName('club'), body: 'to the club too' })
    store.shown.done(two) // shown out of turn: 'one' before it still was not
    store.close() // as a process killed before it showed them
    store = new PeerStore(file, wrapKey)
    assert.deepEqual(store.takeUnshown(), [{ user: 'bob', group: null, count: 2 }, { user: null, group: 'club', count: 2 }])
    // HISTORY marks them, while this sign-in lasts.
    const marked = (): Array<[string, boolean]> => store.history({ user: 'bob' }, 10).map(m => [m.body, m.unshown === true])
    assert.deepEqual(marked(), [['shown', false], ['one', true], ['ours is never unshown', false], ['two', true]])
    store.close()
    store = new PeerStore(file, wrapKey)
    assert.deepEqual(store.takeUnshown(), [], 'told of once')
    assert.deepEqual(marked(), [['shown', false], ['one', false], ['ours is never unshown', false], ['two', false]])
  })

  test('shown mark: past 20 conversations the rest are one count', () => {
    store.takeUnshown()
    for (let i = 0; i < 23; i++) {
      const row = store.addMessage(message({ peer: toUsername(`user${i}`) }))
      assert.ok(row !== undefined)
      store.shown.stored(row)
    }
    store.close()
    store = new PeerStore(file, wrapKey)
    const counts = store.takeUnshown()
    assert.deepEqual(counts.map(c => c.user), [...Array.from({ length: 20 }, (_, i) => `user${i}`), null])
    assert.deepEqual(counts.at(-1), { user: null, group: null, count: 3 })
  })

  test('an in-memory store (what the middle layer\'s unit tests run on) keeps what it is given until closed', async () => {
    const memory = new PeerStore(IN_MEMORY, wrapKey)
    await memory.commitSoon(() => memory.addMessage(message({ body: 'kept' })))
    memory.pin('carol', 'peer-c')
    memory.rememberAddrs('carol', ['/ip4/10.0.0.3/tcp/1'])
    assert.deepEqual(memory.history({ user: 'bob' }, 10).map(m => m.body), ['kept'])
    assert.deepEqual(memory.lastSeen('carol'), { peerId: 'peer-c', addrs: ['/ip4/10.0.0.3/tcp/1'] })
    memory.close()
    const fresh = new PeerStore(IN_MEMORY, wrapKey)
    assert.deepEqual(fresh.history({ user: 'bob' }, 10), [], 'nothing outlives its connection')
    fresh.close()
  })
})
