/**
 * The composition root (peer/session.ts): one user's store, directory, inbox, keyring and outbox
 * wired together, and only there the parts' events become outbox flushes. Real parts on a real
 * store and the real rendezvous in process; the two protocol services are small recording ports
 * (what they do on the wire has its own tests), so what is checked is the wiring: which event
 * sends what, at once, without waiting for a retry timer.
 */
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { epochStatement, keyCommitment } from '../../../common/crypto/epoch.ts'
import { newGroupKey } from '../../../common/crypto/group.ts'
import { CHUNK_SIZE } from '../../../common/crypto/index.ts'
import { PartialTransfer } from '../../../peer/files/index.ts'
import { readPartialState } from '../../../peer/files/partial.ts'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import type { RendezvousEvent } from '../../../common/protocol/rendezvous.ts'
import type { SignalHeader } from '../../../common/wire/headers.ts'
import { toGroupName, toMessageId, toUsername } from '../../../common/wire/names.ts'
import type { DirectServiceEvents, Posted } from '../../../peer/direct/service.ts'
import type { PeerEvent } from '../../../peer/events.ts'
import type { GroupDelivery } from '../../../peer/groups/service.ts'
import { Session } from '../../../peer/session.ts'
import { PRESENCE_HOLD_MS } from '../../../peer/constants.ts'
import type { SessionOptions, SessionRendezvous } from '../../../peer/session.ts'
import { SignedInGate } from '../../../peer/signed-in.ts'
import type { Dialable } from '../../../peer/transport/dial.ts'
import { readNameCard } from '../../../common/crypto/name-card.ts'
import { InProcessRendezvous } from '../rendezvous/in-process.ts'
import type { TestUser } from '../rendezvous/in-process.ts'
import { removeDir, tempDir } from '../../../harness/temp.ts'
import { busyFor, until } from '../../helpers/loop.ts'

const GROUP = toGroupName('club')

/** The direct service as a session sees it: what was posted and handed, and which peers have a
 * session open. Everything posted is acknowledged at once. */
class RecordingDirect extends EventEmitter<DirectServiceEvents> implements Pick<SessionOptions['direct'], 'post' | 'sendFile' | 'sendGroupKey' | 'connected' | 'openSession' | 'checkAlive'> {
  readonly posted: Array<{ to: string, header: SignalHeader }> = []
  /** Users a session was opened with ahead of any message. */
  readonly opened: string[] = []
  readonly keysHanded: Array<{ to: string, group: string, epoch: number }> = []
  readonly open = new Set<string>()
  /** Users a key cannot be handed to (no direct session opens to them). */
  readonly unreachable = new Set<string>()
  /** Called with each user a key was handed to. */
  onKeyHanded: (to: string) => void = () => {}

  connected (peerId: string): boolean {
    return this.open.has(peerId)
  }

  /** Peers whose connections were checked for a frozen process (a sign-in elsewhere). */
  readonly checked: string[] = []
  async checkAlive (peerId: string): Promise<void> {
    this.checked.push(peerId)
  }

  async post (to: Dialable, header: SignalHeader, _id: Uint8Array, _body: Record<string, unknown>, onSent?: () => void): Promise<Posted> {
    this.posted.push({ to: to.username, header })
    onSent?.()
    return { acked: Promise.resolve() }
  }

  async openSession (to: Dialable): Promise<void> {
    if (this.unreachable.has(to.username)) throw new ParleyError(ErrorCode.Unreachable, `${to.username} cannot be reached`)
    this.opened.push(to.username)
  }

  async sendFile (): Promise<void> {
    throw new Error('no files in these tests')
  }

  async sendGroupKey (to: Dialable, group: string, epoch: number): Promise<void> {
    if (this.unreachable.has(to.username)) throw new ParleyError(ErrorCode.Unreachable, `${to.username} cannot be reached`)
    this.keysHanded.push({ to: to.username, group, epoch })
    this.onKeyHanded(to.username)
  }
}

/** The group service as a session sees it: the deliveries it was given, with their keys. A
 * member in `lacking` has no key yet and refuses what it cannot open, as a receiver does. */
class RecordingGroups {
  readonly delivered: Array<{ to: string } & GroupDelivery> = []
  readonly lacking = new Set<string>()
  /** Members who left the group and refuse what is sent to it, as a receiver does. */
  readonly left = new Set<string>()

  async deliver (to: Dialable, delivery: GroupDelivery, onSent: () => void): Promise<Posted> {
    onSent()
    if (this.lacking.has(to.username)) return { acked: Promise.reject(new ParleyError(ErrorCode.Unreachable, `refused by the recipient: waiting for the key of ${delivery.group}`)) }
    if (this.left.has(to.username)) return { acked: Promise.reject(new ParleyError(ErrorCode.Forbidden, `refused by the recipient: the recipient is no longer in ${delivery.group}`)) }
    this.delivered.push({ to: to.username, ...delivery })
    return { acked: Promise.resolve() }
  }
}

/** `user`'s side of the rendezvous in process; its events stream is handed to the test. */
function rendezvousOf (rv: InProcessRendezvous, user: TestUser, events: { push?: (event: RendezvousEvent) => void }): SessionRendezvous {
  const as = user.context
  return {
    subscribe: async onEvent => { events.push = onEvent },
    signin: async () => { throw new Error('no sign-in again in these tests') },
    signInRefused: () => {},
    signingInAgain: () => {},
    lookup: async username => rv.call('lookup', { username }, as),
    whois: async peerId => rv.call('whois', { peerId }, as),
    card: async () => rv.call('card', {}, as).card,
    serverPeerId: rv.nameCards.peerId,
    members: async group => rv.call('members', { group }, as),
    rotate: async (group, fromEpoch, wrapped, proof) => rv.call('rotate', { group, fromEpoch, wrapped, ...proof }, as),
    putKey: async (group, epoch, wrapped) => rv.call('put-key', { group, epoch, wrapped }, as),
    getKeys: async group => rv.call('get-keys', { group }, as),
    groups: async () => rv.call('groups', {}, as),
    joinTimes: async group => rv.call('join-times', { group }, as)
  }
}

describe('session (the composition root)', () => {
  let rv: InProcessRendezvous
  let alice: TestUser
  let bob: TestUser
  let carol: TestUser
  let dir: string
  let direct: RecordingDirect
  let groups: RecordingGroups
  let gate: SignedInGate
  let shown: PeerEvent[]
  let events: { push?: (event: RendezvousEvent) => void }
  let session: Session
  /** How many times the session asked its owner to sign it out (signed in elsewhere). */
  let replaced: number

  beforeEach(async () => {
    // No timer fires unless a test says so: a delivery seen here was caused by the event under test,
    // never by the outbox's retry or sweep.
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] })
    rv = new InProcessRendezvous()
    alice = await rv.user('alice')
    bob = await rv.user('bob')
    carol = await rv.user('carol')
    dir = await tempDir('parley-session-')
    direct = new RecordingDirect()
    groups = new RecordingGroups()
    gate = new SignedInGate()
    shown = []
    events = {}
    replaced = 0
    session = aliceSession()
    await session.start()
  })

  /** Alice's session, as a sign-in makes it (the same data folder each time). */
  const aliceSession = (rendezvous = rendezvousOf(rv, alice, events), presenceQuietMs?: number): Session => new Session({
    direct,
    groups,
    gate,
    rendezvous,
    username: 'alice',
    wrapKey: randomBytes(32),
    authKey: randomBytes(32),
    identity: alice.key,
    addrs: () => [],
    dataDir: dir,
    emit: event => { shown.push(event) },
    onReplaced: () => { replaced++ },
    presenceQuietMs
  })

  /** Alice's session made anew, one whose sign-in again is taken at once and whose quiet window
   * after it lasts 500 ms. */
  const restartSigningInAgain = async (): Promise<void> => {
    await session.close()
    session = aliceSession({
      ...rendezvousOf(rv, alice, events),
      signin: async () => ({ username: toUsername('alice'), peerId: alice.peerId, identity: new Uint8Array(1), bound: true })
    }, 500)
    await session.start()
  }

  afterEach(async () => {
    await session.close()
    mock.timers.reset()
    rv.close()
    await removeDir(dir)
  })

  const delivered = (): string[] => shown.flatMap(e => e.event === 'delivered' ? [`${e.to}${e.group === null ? '' : ` in ${e.group}`}`] : [])

  it('offers this user to the protocols from start to sign-out, and lets go of the direct service at close', async () => {
    assert.equal(gate.now(), session.user)
    assert.equal(await gate.next(), session.user)
    assert.equal(direct.listenerCount('session-open'), 1)
    await session.close()
    assert.equal(session.user.signal.aborted, true, 'the direct sessions served for this user end')
    assert.throws(() => gate.now(), (err: unknown) => is(err, ErrorCode.Unreachable))
    assert.equal(direct.listenerCount('session-open'), 0)
  })

  it('signed in elsewhere: asks its owner to sign it out, does not take the account back, and a close without grace lets go at once', async () => {
    events.push?.({ type: 'session-replaced' })
    events.push?.({ type: 'disconnected' })
    assert.equal(replaced, 1)
    assert.deepEqual(shown.filter(e => e.event === 'rendezvous' || e.event === 'warning'), [], 'no reconnect, and no warning: the owner says it')
    // A delivery in flight is not waited for (its ack would come only when the direct sessions
    // end; with a grace, close would wait on the timer, which never fires here): what comes in
    // from now on belongs to the other device.
    direct.post = async (_to, _header, _id, _body, onSent) => {
      onSent?.()
      const signal = session.user.signal
      return { acked: new Promise<void>((_resolve, reject) => { signal.addEventListener('abort', () => { reject(new ParleyError(ErrorCode.Unreachable, 'signed out')) }) }) }
    }
    await session.sendText(toUsername('bob'), 'in flight', () => {})
    await until(() => shown.some(e => e.event === 'sent'))
    await session.close(0)
    assert.equal(session.user.signal.aborted, true)
    assert.throws(() => gate.now(), (err: unknown) => is(err, ErrorCode.Unreachable))
  })

  it('a delivery stuck on a peer that stopped answering does not hold the sign-out: it stays in the outbox (round 7: a LOGIN of another account took 13–28 s)', async () => {
    mock.timers.reset() // the sign-out's own waits run on the real clock here
    // Sent, and then nothing: no ack, and deaf to the sign-out (its step's timeout would end it).
    let unstick = (): void => {}
    direct.post = async (_to, _header, _id, _body, onSent) => {
      onSent?.()
      return { acked: new Promise<void>((_resolve, reject) => { unstick = () => { reject(new ParleyError(ErrorCode.Unreachable, 'timed out')) } }) }
    }
    await session.sendText(toUsername('bob'), 'to a frozen bob', () => {})
    await until(() => shown.some(e => e.event === 'sent'))
    try {
      // Until 2026-12-06 the close waited for it here until its step timed out (never, here).
      const closed = await Promise.race([session.close(0), sleep(20_000).then(() => 'still closing')])
      assert.deepEqual(closed, { pending: 1, unconfirmed: 0 }, 'closed, and it still waits in the outbox, for the next sign-in')
    } finally {
      unstick() // its step's timeout, late: the close is over by now, or the test failed
    }
  })

  it('holds a name card from its rendezvous from the start: it names alice at her peer id', async () => {
    const card = session.user.nameCard()
    assert.ok(card !== undefined)
    assert.equal(readNameCard(card, rv.nameCards.peerId, alice.peerId), 'alice')
    assert.equal(rv.asked.get('card'), 1)
  })

  it('SEND goes to the direct service at once when the user is online', async () => {
    await session.sendText(toUsername('bob'), 'hello bob', () => {})
    await session.outbox.idle()
    assert.deepEqual(direct.posted, [{ to: 'bob', header: { kind: 'MSG' } }])
    assert.deepEqual(delivered(), ['bob'])
  })

  it('a session that opens with a peer (either side) sends what waited for it', async () => {
    rv.sessions.end(bob.peerId) // bob is offline: the message waits
    await session.sendText(toUsername('bob'), 'are you there?', () => {})
    await session.outbox.idle()
    assert.equal(direct.posted.length, 0)
    // The same identity dials in: the direct service reports the session it opened.
    direct.open.add(bob.peerId)
    direct.emit('session-open', { peerId: bob.peerId, username: toUsername('bob') })
    await session.outbox.idle()
    assert.deepEqual(direct.posted, [{ to: 'bob', header: { kind: 'MSG' } }])
    assert.deepEqual(delivered(), ['bob'])
  })

  it('the rendezvous saying a user came online sends what waited for them', async () => {
    rv.sessions.end(bob.peerId)
    await session.sendText(toUsername('bob'), 'later then', () => {})
    await session.outbox.idle()
    rv.connect(bob)
    events.push?.({ type: 'presence', username: toUsername('bob'), online: true })
    await session.outbox.idle()
    assert.deepEqual(delivered(), ['bob'])
  })

  it('a contact said online again while online (signed in from another connection) has the connection we hold checked; one coming online has not (round 47: 30 s to a frozen device)', async () => {
    await session.directory.resolve(toUsername('bob')) // known online, and pinned
    direct.open.add(bob.peerId)
    events.push?.({ type: 'presence', username: toUsername('bob'), online: false })
    events.push?.({ type: 'presence', username: toUsername('bob'), online: true })
    assert.deepEqual(direct.checked, [], 'came online: nothing to check')
    events.push?.({ type: 'presence', username: toUsername('bob'), online: true })
    assert.deepEqual(direct.checked, [bob.peerId], 'online again: signed in elsewhere')
    direct.open.delete(bob.peerId)
    events.push?.({ type: 'presence', username: toUsername('bob'), online: true })
    assert.deepEqual(direct.checked, [bob.peerId], 'no connection held: nothing to check')
  })

  it('a blocked user\'s coming and going is not said (round 47)', async () => {
    events.push?.({ type: 'presence', username: toUsername('carol'), online: false })
    session.store.block(toUsername('bob'))
    events.push?.({ type: 'presence', username: toUsername('bob'), online: false })
    events.push?.({ type: 'presence', username: toUsername('bob'), online: true })
    assert.deepEqual(shown.filter(e => e.event === 'presence'), [{ event: 'presence', user: 'carol', online: false }])
  })

  it('at sign-in opens a session with each online member of its groups, then with recent contacts, before any message', async () => {
    const other = toGroupName('chess')
    await rv.user('dave')
    for (const member of [alice, bob, carol]) rv.call('join', { group: GROUP }, member.context)
    for (const member of [alice, bob]) rv.call('join', { group: other }, member.context)
    rv.sessions.end(carol.peerId) // offline: not dialled
    // Alice wrote to dave yesterday: he is a recent contact.
    session.store.addMessage({ id: toMessageId('d'.repeat(32)), direction: 'out', peer: toUsername('dave'), group: null, kind: 'text', body: 'hi dave', path: null, status: 'delivered', at: Date.now() - 86_400_000 })
    await session.close()
    session = aliceSession()
    await session.start()
    await until(() => direct.opened.length > 1)
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(direct.opened, ['bob', 'dave'], 'bob once, though he is in both groups; then dave')
    assert.equal(direct.posted.length, 0)
  })

  it('after JOIN opens sessions with the members already in the group', async () => {
    for (const member of [bob, carol]) rv.call('join', { group: GROUP }, member.context)
    rv.call('join', { group: GROUP }, alice.context)
    session.openSessionsIn(GROUP)
    await until(() => direct.opened.length === 2)
    assert.deepEqual(direct.opened.sort(), ['bob', 'carol'])
  })

  it('after TRUST opens a session with the user accepted, whose side then sends what it held for us (round 10: it waited for a retry)', async () => {
    session.openSessionWith(toUsername('bob'))
    await until(() => direct.opened.length === 1)
    assert.deepEqual(direct.opened, ['bob'])
  })

  it('a sign-in puts what the last run left in the downloads folder mid-file with the kept parts (round 20: a 31 MB .part stayed there, its sender having given it up)', async () => {
    await session.close()
    const downloads = session.downloadsDir
    await mkdir(downloads, { recursive: true })
    // What a receiver killed with -9 mid-file leaves: its .part in downloads, a state naming it.
    const id = randomBytes(16)
    const partial = await PartialTransfer.claim(downloads, 'bob', id)
    const partPath = join(downloads, 'big.bin.part')
    const handle = await open(partPath, 'w')
    await handle.write(new Uint8Array(CHUNK_SIZE * 2))
    const meta = { id, size: CHUNK_SIZE * 4, sha256: randomBytes(32) }
    await partial.begin(partPath, handle, meta)
    await partial.checkpoint(partPath, handle, 2, meta)
    await handle.close()
    partial.release()
    session = aliceSession()
    await session.start()
    const deadline = performance.now() + 5_000
    while ((await readdir(downloads)).length > 0 && performance.now() < deadline) await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(await readdir(downloads), [], 'the downloads folder holds finished files and transfers in progress only')
    assert.equal((await readPartialState(downloads, 'bob', id))?.chunks, 2, 'kept for a resume')
  })

  it('a file is hashed only after the checks a send makes: to ourselves, alone in a group, or not in it, the file is never opened', async () => {
    // A path that cannot be opened: each answer is the check's, so the file was not read first
    // (until 2026-12-06 SENDFILE and SENDGROUPFILE hashed the whole file before any check).
    const missing = join(dir, 'no such file.bin')
    await assert.rejects(session.sendFile(toUsername('alice'), missing), (err: unknown) => is(err, ErrorCode.Usage) && err.message === 'that is you: SENDFILE <file> <user> sends to another user; nothing was sent')
    rv.call('join', { group: GROUP }, bob.context)
    await assert.rejects(session.sendGroupFile(GROUP, missing), (err: unknown) => is(err, ErrorCode.Forbidden) && /not a member/.test(err.message))
    const solo = toGroupName('solo')
    rv.call('join', { group: solo }, alice.context)
    await assert.rejects(session.sendGroupFile(solo, missing), (err: unknown) => is(err, ErrorCode.NotFound) && /nobody else is in solo/.test(err.message))
    // With someone to get it, the file is hashed and its hash goes with every delivery.
    rv.call('join', { group: GROUP }, alice.context)
    await assert.rejects(session.sendGroupFile(GROUP, missing), (err: unknown) => is(err, ErrorCode.File))
    const path = join(dir, 'photo.png')
    await writeFile(path, 'not really a photo')
    await session.sendGroupFile(GROUP, path)
    await session.outbox.idle()
    assert.deepEqual(groups.delivered.map(d => [d.to, d.body, d.sha256]), [['bob', path, createHash('sha256').update('not really a photo').digest('hex')]])
  })

  it('SENDGROUP to a group not known here, with the rendezvous away, says nothing was sent (round 16: its bare "did not answer" left that open)', async () => {
    rv.call('join', { group: GROUP }, bob.context)
    rv.call('join', { group: GROUP }, alice.context)
    rv.down = true
    await assert.rejects(session.sendGroupText(GROUP, 'are we on?'),
      (err: unknown) => is(err, ErrorCode.Unreachable) && err.message === `the rendezvous is out of reach, and ${GROUP} is not known here without it: nothing was sent; try again when it answers`)
    assert.equal(session.store.outboxSize(), 0)
    rv.down = false
  })

  it('a group message sent with the list kept while the rendezvous was away gets its roll call: a member who had joined by then and was missing from the list is sent it, one who joined later is not; sent until then, delivered after', async () => {
    rv.call('join', { group: GROUP }, alice.context)
    rv.call('join', { group: GROUP }, bob.context)
    await session.sendGroupText(GROUP, 'before carol')
    await session.outbox.idle()
    // carol joins unseen by alice (as while her peer was not running), then the rendezvous goes.
    rv.call('join', { group: GROUP }, carol.context)
    rv.down = true
    events.push?.({ type: 'disconnected' })
    let id: string | undefined
    await session.sendGroupText(GROUP, 'while it is away', sent => { id = sent })
    await session.outbox.idle()
    assert.deepEqual(groups.delivered.filter(d => d.id === id).map(d => d.to), ['bob'], 'the list kept here')
    await session.store.commitSoon(() => {})
    assert.equal(session.store.history({ group: GROUP }, 10).find(m => m.id === id)?.status, 'sent', 'not delivered: the roll call is still to come')
    // Back; dave joins after the send. The sweep calls the roll.
    rv.down = false
    busyFor(5) // dave's join a few ms after the send on the clock too (Date is not mocked)
    const dave = await rv.user('dave')
    rv.call('join', { group: GROUP }, dave.context)
    mock.timers.tick(30_000)
    await until(() => groups.delivered.some(d => d.id === id && d.to === 'carol'))
    await session.outbox.idle()
    await session.store.commitSoon(() => {})
    assert.deepEqual(groups.delivered.filter(d => d.id === id).map(d => d.to), ['bob', 'carol'], 'carol, who had joined; not dave')
    assert.equal(session.store.history({ group: GROUP }, 10).find(m => m.id === id)?.status, 'delivered')
    assert.deepEqual(session.store.groupsUnconfirmed(), [], 'settled')
  })

  it('a group whose last known list has nobody else, with the rendezvous away, is said to be only that: members may have joined since (round 44: "nobody else is in trip yet", with two in it)', async () => {
    const trip = toGroupName('trip')
    rv.call('join', { group: trip }, alice.context)
    await session.keyring.info(trip, true) // the list kept here: alice alone
    rv.call('join', { group: trip }, bob.context) // unseen here
    rv.down = true
    events.push?.({ type: 'disconnected' })
    await assert.rejects(session.sendGroupText(trip, 'anyone still planning?'),
      (err: unknown) => is(err, ErrorCode.NotFound) && err.message === 'nobody else is in trip as last known here, and the rendezvous is away to say who joined since: nothing was sent; send it again once it answers')
  })

  it('a sign-out says how many group messages still wait for their roll call (round 24: QUIT said nothing of them)', async () => {
    rv.call('join', { group: GROUP }, alice.context)
    rv.call('join', { group: GROUP }, bob.context)
    await session.sendGroupText(GROUP, 'before it goes')
    await session.outbox.idle()
    rv.down = true
    events.push?.({ type: 'disconnected' })
    await session.sendGroupText(GROUP, 'while it is away')
    await session.outbox.idle()
    assert.deepEqual(await session.close(0), { pending: 0, unconfirmed: 1 })
  })

  it('a member who joined is on the list kept for while the rendezvous is away shortly after, with no send or MEMBERS; joins together are asked for once (round 24: a creator kept no list, and its SENDGROUP was refused)', async () => {
    rv.call('create', { group: GROUP }, alice.context)
    rv.call('join', { group: GROUP }, bob.context)
    rv.call('join', { group: GROUP }, carol.context)
    const asked = rv.asked.get('members') ?? 0
    events.push?.({ type: 'member-joined', group: GROUP, username: toUsername('bob') })
    events.push?.({ type: 'member-joined', group: GROUP, username: toUsername('carol') })
    assert.equal(session.keyring.lastKnown(GROUP), undefined)
    mock.timers.tick(4_000)
    await until(() => session.keyring.lastKnown(GROUP) !== undefined)
    assert.deepEqual(session.keyring.lastKnown(GROUP)?.members.map(m => m.username).sort(), ['alice', 'bob', 'carol'])
    assert.equal((rv.asked.get('members') ?? 0) - asked, 1, 'asked once for both joins')
    // Away, a SENDGROUP is taken (it waits for the group's first key) rather than refused; the
    // members were met before, so the wait is the key's.
    for (const name of ['bob', 'carol']) await session.directory.resolve(toUsername(name))
    rv.down = true
    events.push?.({ type: 'disconnected' })
    await session.sendGroupText(GROUP, 'while it is away')
    assert.equal(session.store.outboxSize(), 2)
    await session.outbox.idle()
    // Said as what it waits for: the group's first key, not one another member holds (round 25).
    assert.deepEqual(shown.flatMap(e => e.event === 'queued' ? [e.reason] : []), [`${GROUP} has no key yet: its first is made once the rendezvous answers`, `${GROUP} has no key yet: its first is made once the rendezvous answers`])
    // A direct text to one of them meanwhile goes at once: the wait is the group's, not bob's
    // (round 50: queued behind it, `club has no key yet`, until the rendezvous was back).
    direct.open.add(bob.peerId)
    await session.sendText(toUsername('bob'), 'direct while it is away', () => {})
    await session.outbox.idle()
    assert.deepEqual(direct.posted.map(p => p.to), ['bob'])
    assert.equal(shown.filter(e => e.event === 'queued').length, 2, 'the direct text was not said to wait')
    rv.down = false
  })

  it('a group key handed over sends every delivery that waited for it, the recipient lacking it handed the key first', async () => {
    for (const member of [alice, bob, carol]) rv.call('join', { group: GROUP }, member.context)
    // Carol starts epoch 1 and gives its key to nobody yet: alice's message must wait.
    const key = newGroupKey()
    const commitment = keyCommitment(key, GROUP, 1)
    const signature = await carol.key.sign(epochStatement(GROUP, 1, commitment))
    rv.call('rotate', { group: GROUP, fromEpoch: 0, wrapped: randomBytes(48), commitment, signature }, carol.context)
    await session.sendGroupText(GROUP, 'dinner at eight?')
    await session.outbox.idle()
    assert.equal(groups.delivered.length, 0)
    assert.equal(shown.filter(e => e.event === 'queued').length, 2)

    // Carol hands alice the key (a KEY message on their direct session reaches the keyring).
    await session.user.keys.acceptHandedKey({ from: 'carol', group: GROUP, epoch: 1, key })
    await session.outbox.idle()
    assert.deepEqual(groups.delivered.map(d => [d.to, d.epoch, Buffer.from(d.key).equals(key)]).sort(), [['bob', 1, true], ['carol', 1, true]])
    assert.deepEqual(direct.keysHanded, [{ to: 'bob', group: GROUP, epoch: 1 }], 'bob, who lacked it, was handed it; carol made it')
    assert.deepEqual(delivered().sort(), [`bob in ${GROUP}`, `carol in ${GROUP}`])
  })

  it('a member who left after the check before a delivery, and refuses it, is withdrawn without a word: the message is delivered (round 12: failed)', async () => {
    for (const member of [alice, bob, carol]) rv.call('join', { group: GROUP }, member.context)
    await session.sendGroupText(GROUP, 'before carol goes')
    await session.outbox.idle()
    // Carol leaves; alice's member list still has her (the rendezvous's member-left is on its way).
    rv.call('leave', { group: GROUP }, carol.context)
    groups.left.add('carol')
    let id: string | undefined
    await session.sendGroupText(GROUP, 'as carol goes', sent => { id = sent })
    await session.outbox.idle()
    assert.deepEqual(shown.filter(e => e.event === 'undelivered'), [], 'not said: the message was no longer hers')
    assert.equal(session.store.outboxSize(), 0)
    await session.store.commitSoon(() => {})
    assert.equal(session.store.history({ group: GROUP }, 10).find(m => m.id === id)?.status, 'delivered', 'every member got it')
    // A refusal from a member still in the group is still one.
    groups.left.delete('carol')
    groups.left.add('bob')
    await session.sendGroupText(GROUP, 'bob still a member')
    await session.outbox.idle()
    assert.equal(shown.filter(e => e.event === 'undelivered').length, 1, JSON.stringify(shown.filter(e => e.event === 'undelivered')))
  })

  it('a member handed the key later (here on the rendezvous\'s key-needed) gets at once what it refused without one', async () => {
    for (const member of [alice, bob, carol]) rv.call('join', { group: GROUP }, member.context)
    // Bob cannot be handed the key alice makes, and refuses what he cannot open.
    direct.unreachable.add('bob')
    groups.lacking.add('bob')
    direct.onKeyHanded = to => { groups.lacking.delete(to) }
    await session.sendGroupText(GROUP, 'can you read this?')
    await session.outbox.idle()
    assert.deepEqual(delivered(), [`carol in ${GROUP}`])
    assert.equal(session.store.outboxFor('bob').length, 1, 'bob\'s copy waits (its retry timer never fires here)')

    // Bob is reachable again and the rendezvous says he lacks the key: alice hands it over, and
    // the keyring's `handed-over` must send what waited for him now, not at a retry.
    direct.unreachable.delete('bob')
    events.push?.({ type: 'key-needed', group: GROUP, epoch: 1, username: toUsername('bob') })
    await until(() => direct.keysHanded.some(k => k.to === 'bob'))
    await new Promise(resolve => setImmediate(resolve)) // the hand-over's promise settles
    await session.outbox.idle()
    assert.deepEqual(delivered().sort(), [`bob in ${GROUP}`, `carol in ${GROUP}`])
    assert.equal(session.store.outboxSize(), 0)
  })

  it('is live while it receives the rendezvous\'s events; lost, it signs in again with the key LOGIN again gave it', async () => {
    assert.equal(session.live, true)
    await session.close()
    const keys: Uint8Array[] = []
    session = aliceSession({
      ...rendezvousOf(rv, alice, events),
      signin: async ({ authKey }) => {
        keys.push(authKey)
        return { username: toUsername('alice'), peerId: alice.peerId, identity: new Uint8Array(1), bound: true }
      }
    })
    await session.start()
    const upgraded = randomBytes(32)
    session.signedInAgain(upgraded) // LOGIN again while live: the password's parameters were upgraded
    events.push?.({ type: 'disconnected' })
    assert.equal(session.live, false, 'the rendezvous went away')
    // The first attempt to sign in again waits under a second of real time: the mocked timers
    // do not reach node:timers/promises with a signal.
    mock.timers.reset()
    for (const deadline = Date.now() + 20_000; !session.live && Date.now() < deadline;) await sleep(10)
    assert.equal(session.live, true, 'signed in again')
    assert.deepEqual(keys, [upgraded])

    events.push?.({ type: 'session-replaced' })
    assert.equal(session.live, false, 'signed in elsewhere')
  })

  it('signing in again by itself, refused as the account was signed in since (another device, a LOGIN): signs out as if told so, and tries no more (round 46: a device woken from sleep took the account back)', async () => {
    await session.close()
    const resumes: boolean[] = []
    session = aliceSession({
      ...rendezvousOf(rv, alice, events),
      signin: async args => {
        resumes.push(args.resume === true)
        throw new ParleyError(ErrorCode.Conflict, 'the account was signed in since, on another device or by LOGIN')
      }
    })
    await session.start()
    events.push?.({ type: 'disconnected' })
    mock.timers.reset() // the sign-in again runs on the real clock
    for (const deadline = Date.now() + 20_000; replaced === 0 && Date.now() < deadline;) await sleep(10)
    assert.equal(replaced, 1, 'its owner is asked to sign it out')
    await sleep(1_500) // the next try would have come by now
    assert.deepEqual(resumes, [true], 'one try, as a resume')
    assert.deepEqual(shown.filter(e => e.event === 'error' || e.event === 'warning'), [], 'no error: the owner says it (signed-out)')
  })

  it('a contact who went away while the rendezvous was down is said to be offline once it is back (round 9: never said)', async () => {
    await restartSigningInAgain()
    // alice knows both online: the directory's answers (no presence line was shown for either).
    for (const name of ['bob', 'carol']) assert.equal((await session.directory.resolve(toUsername(name))).online, true)
    events.push?.({ type: 'disconnected' })
    rv.sessions.end(carol.peerId) // carol goes while the rendezvous is away: nobody is told
    mock.timers.reset() // the sign-in again and the quiet window run on the real clock
    for (const deadline = Date.now() + 20_000; !session.live && Date.now() < deadline;) await sleep(10)
    // A look-up on the way back (sessions opened ahead do one) finds her gone, and says nothing
    // (round 10: nor did anything after it, until the list was taken as the rendezvous went).
    assert.equal((await session.directory.resolve(toUsername('carol'))).online, false)
    for (const deadline = Date.now() + 20_000; !shown.some(e => e.event === 'presence') && Date.now() < deadline;) await sleep(10)
    await sleep(100) // a moment for a line about bob, had one been due
    assert.deepEqual(shown.filter(e => e.event === 'presence'), [{ event: 'presence', user: 'carol', online: false }])
  })

  it('a contact said offline who came back while the rendezvous was down is said to be online once it is back (round 14: never said)', async () => {
    await restartSigningInAgain()
    assert.equal((await session.directory.resolve(toUsername('carol'))).online, true)
    rv.sessions.end(carol.peerId)
    events.push?.({ type: 'presence', username: toUsername('carol'), online: false })
    assert.deepEqual(shown.filter(e => e.event === 'presence'), [{ event: 'presence', user: 'carol', online: false }])
    mock.timers.tick(PRESENCE_HOLD_MS) // one presence line a user per hold (presence-lines.ts): this one's is over
    events.push?.({ type: 'disconnected' })
    // carol signs in again before alice is back: nothing is pushed to alice about her.
    rv.connect(carol)
    mock.timers.reset() // the sign-in again and the quiet window run on the real clock
    for (const deadline = Date.now() + 20_000; !session.live && Date.now() < deadline;) await sleep(10)
    for (const deadline = Date.now() + 20_000; shown.filter(e => e.event === 'presence').length < 2 && Date.now() < deadline;) await sleep(10)
    await sleep(100) // a moment for a line more, had one been due
    assert.deepEqual(shown.filter(e => e.event === 'presence'), [
      { event: 'presence', user: 'carol', online: false },
      { event: 'presence', user: 'carol', online: true }
    ])
  })
})
