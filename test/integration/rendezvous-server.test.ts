/**
 * The real rendezvous process (spawned as the README runs it) driven by real client nodes over
 * TCP on 127.0.0.1. Tests run in order and share the server and accounts.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { lpStream, pbStream } from '@libp2p/utils'
import { decode } from 'cborg'
import type { Multiaddr } from '@multiformats/multiaddr'
import { unwrapSecret } from '../../common/crypto/wrap.ts'
import { ErrorCode, is } from '../../common/errors.ts'
import { STREAMLESS_GRACE_MS } from '../../common/connection-caps.ts'
import { createParleyNode } from '../../common/node.ts'
import type { ParleyNode } from '../../common/node.ts'
// The relay protocol's messages, which the package does not export (a stranger's STOP, below).
import { Status, StopMessage } from '../../node_modules/@libp2p/circuit-relay-v2/dist/src/pb/index.js'
import { RENDEZVOUS_PROTOCOL, RENDEZVOUS_REQUESTS_PROTOCOL, RendezvousError, encodeRequest } from '../../common/protocol/rendezvous.ts'
import type { RendezvousEvent } from '../../common/protocol/rendezvous.ts'
import { encodeBody } from '../../common/wire/codec.ts'
import { RendezvousClient } from '../../peer/rendezvous-client.ts'
import { EventRecorder, clientNode, epochProof, makeAccount, sleep } from '../helpers/rendezvous.ts'
import { connectionPacer } from '../../harness/pacer.ts'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { RENDEZVOUS_PROGRAM, spawnRendezvous } from '../../harness/processes.ts'
import type { Account } from '../helpers/rendezvous.ts'
import type { ServerProcess } from '../../harness/processes.ts'

const PASSWORD = 'correct horse battery staple'

function rejectsWith (code: string, message?: string | RegExp) {
  return (err: unknown): boolean => {
    assert.ok(is(err), `expected a ParleyError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (typeof message === 'string') assert.equal(err.message, message)
    else if (message !== undefined) assert.match(err.message, message)
    return true
  }
}

const isPresence = (username: string, online: boolean) => (event: RendezvousEvent): boolean =>
  event.type === 'presence' && event.username === username && event.online === online

interface User {
  account: Account
  node: ParleyNode
  client: RendezvousClient
}

describe('rendezvous server process', () => {
  let dataDir: string
  let server: ServerProcess
  const nodes: ParleyNode[] = []
  const accounts = new Map<string, Account>()
  let alice: User
  let bob: User
  let carol: User
  const pace = connectionPacer()

  /** A client that is connected to the server (each new connection paced, see connectionPacer). */
  async function connected (clientNode: ParleyNode, address: Multiaddr = server.addr): Promise<RendezvousClient> {
    const client = new RendezvousClient(clientNode, address)
    await pace()
    await client.connect()
    return client
  }

  async function node (account?: Account): Promise<ParleyNode> {
    const created = await clientNode(account?.privateKey)
    await created.start()
    nodes.push(created)
    return created
  }

  async function user (name: string, address: Multiaddr = server.addr): Promise<User> {
    const account = accounts.get(name)
    assert.ok(account !== undefined)
    const userNode = await node(account)
    return { account, node: userNode, client: await connected(userNode, address) }
  }

  async function signup (u: User): Promise<void> {
    const { username, salt, kdf, authKey, identity } = u.account
    await u.client.signup({ username, salt, kdf, authKey, identity, addrs: addrsOf(u.node) })
  }

  async function signin (u: User): Promise<void> {
    const result = await u.client.signin({ username: u.account.username, authKey: u.account.authKey, addrs: addrsOf(u.node) })
    assert.equal(result.bound, true)
  }

  /** A client on a node with a fresh random identity (no account). */
  async function stranger (): Promise<RendezvousClient> {
    return await connected(await node())
  }

  before(async () => {
    dataDir = await tempDir('parley-rendezvous-')
    const made = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map(async name => await makeAccount(name, `${PASSWORD} ${name}`)))
    for (const account of made) accounts.set(account.username, account)
    server = await spawnRendezvous(dataDir)
    alice = await user('alice')
    bob = await user('bob')
    carol = await user('carol')
  })

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await server?.stop('SIGKILL')
    if (process.env.SHOW_SERVER_OUTPUT !== undefined) console.log(server?.output.join('\n'))
    await removeDir(dataDir)
  })

  it('signs up a user, binding the name to the connection\'s peer id', async () => {
    const { salt, kdf, authKey, identity } = alice.account
    const result = await alice.client.signup({ username: 'Alice', salt, kdf, authKey, identity, addrs: addrsOf(alice.node) })
    assert.deepEqual({ ...result, ticket: result.ticket?.length }, { username: 'alice', peerId: alice.node.peerId.toString(), ticket: 16 }, 'and a ticket for signing in again by itself')
    await signup(bob)
    await signup(carol)
    assert.deepEqual(await alice.client.salt('ALICE'), alice.account.salt)
  })

  it('refuses a taken username and a peer id that already has an account', async () => {
    const { salt, kdf, authKey, identity } = accounts.get('dave')!
    const other = await stranger()
    await assert.rejects(other.signup({ username: 'alice', salt, kdf, authKey, identity, addrs: [] }),
      rejectsWith(ErrorCode.Exists, 'username already taken'))
    await assert.rejects(alice.client.signup({ username: 'alice2', salt, kdf, authKey, identity, addrs: [] }),
      rejectsWith(ErrorCode.Exists))
  })

  it('gives an unknown name a stable fake salt', async () => {
    const client = await stranger()
    const first = await client.salt('nobody')
    assert.equal(first.length, 16)
    assert.deepEqual(await client.salt('NoBody'), first)
    assert.notDeepEqual(await client.salt('nobody2'), first)
  })

  it('answers a wrong password and an unknown user with the identical error', async () => {
    const client = await stranger()
    const errors: unknown[] = []
    await client.signin({ username: 'alice', authKey: new Uint8Array(32), addrs: [] }).catch((err: unknown) => { errors.push(err) })
    await client.signin({ username: 'nobody', authKey: alice.account.authKey, addrs: [] }).catch((err: unknown) => { errors.push(err) })
    assert.equal(errors.length, 2)
    for (const err of errors) rejectsWith(ErrorCode.BadCredentials, 'invalid username or password')(err)
    const [wrong, unknown] = errors as RendezvousError[]
    assert.equal(wrong?.message, unknown?.message)
  })

  it('slows down failed sign-ins per username and network, never the account\'s own device', async () => {
    const dave = accounts.get('dave')!
    const daveUser = await user('dave')
    await signup(daveUser)
    // Five wrong guesses, each from a fresh peer id (all from 127.0.0.1, one network).
    for (let i = 0; i < 5; i++) {
      const attacker = await stranger()
      await assert.rejects(attacker.signin({ username: 'dave', authKey: new Uint8Array(32), addrs: [] }),
        rejectsWith(ErrorCode.BadCredentials))
    }
    // That network is now slowed for dave, whatever it sends (even the right password).
    const attacker = await stranger()
    await assert.rejects(attacker.signin({ username: 'dave', authKey: dave.authKey, addrs: [] }),
      rejectsWith(ErrorCode.RateLimited, /^too many attempts, try again in \d+ s$/))
    // The owner's own device (the peer id the account is bound to) signs in.
    await signin(daveUser)
  })

  it('refuses operations before sign-in', async () => {
    const client = await stranger()
    await assert.rejects(client.lookup('alice'), rejectsWith(ErrorCode.NotSignedIn, 'sign in first'))
    await assert.rejects(client.list(), rejectsWith(ErrorCode.NotSignedIn))
    await assert.rejects(client.join('friends'), rejectsWith(ErrorCode.NotSignedIn))
    await assert.rejects(client.subscribe(() => {}), rejectsWith(ErrorCode.NotSignedIn))
  })

  it('joins a missing group by creating it, then joins it idempotently', async () => {
    assert.deepEqual(await alice.client.join('Friends'), { group: 'friends', created: true, epoch: 0, already: false })
    assert.deepEqual(await bob.client.join('friends'), { group: 'friends', created: false, epoch: 0, already: false })
    assert.deepEqual(await alice.client.join('friends'), { group: 'friends', created: false, epoch: 0, already: true })
  })

  it('refuses to create a group that exists', async () => {
    await assert.rejects(carol.client.create('friends'), rejectsWith(ErrorCode.Exists, 'group "friends" already exists'))
    assert.deepEqual(await carol.client.create('solo'), { group: 'solo', epoch: 0 })
  })

  it('lists every group with its member count after joins and leaves', async () => {
    assert.deepEqual((await carol.client.list()).groups, [{ group: 'friends', members: 2 }, { group: 'solo', members: 1 }])
    await carol.client.join('friends')
    assert.deepEqual((await bob.client.list()).groups, [{ group: 'friends', members: 3 }, { group: 'solo', members: 1 }])
    await carol.client.leave('friends')
    await carol.client.leave('solo')
    assert.deepEqual((await bob.client.list()).groups, [{ group: 'friends', members: 2 }])
    await assert.rejects(carol.client.leave('friends'), rejectsWith(ErrorCode.Forbidden))
    await assert.rejects(carol.client.members('friends'), rejectsWith(ErrorCode.Forbidden))
  })

  it('rotates a new group 0 -> 1 and reports who holds the current key', async () => {
    assert.deepEqual(await alice.client.rotate('friends', 0, new Uint8Array(88).fill(1), await epochProof(alice.account.privateKey, 'friends', 1)), { group: 'friends', epoch: 1 })
    const members = await bob.client.members('friends')
    assert.equal(members.epoch, 1)
    assert.equal(members.rotationNeeded, false)
    assert.deepEqual(members.members, [
      { username: 'alice', peerId: alice.node.peerId.toString(), online: true, hasKey: true },
      { username: 'bob', peerId: bob.node.peerId.toString(), online: true, hasKey: false }
    ])
  })

  it('tells a subscriber when a groupmate goes offline and comes back', async () => {
    const events = new EventRecorder()
    await alice.client.subscribe(events.push)
    await bob.node.hangUp(server.addr)
    await events.next(isPresence('bob', false))
    assert.equal((await alice.client.lookup('bob')).online, false)
    assert.deepEqual((await alice.client.who()).users.find(u => u.username === 'bob'), { username: 'bob', online: false })
    await pace()
    await signin(bob)
    await events.next(isPresence('bob', true))
    // Everyone online (carol and dave are signed in too), sorted.
    const who = await alice.client.who()
    assert.deepEqual(who.users, ['alice', 'bob', 'carol', 'dave'].map(username => ({ username, online: true })))
  })

  it('asks the key holders to hand the key to a member that lacks it', async () => {
    const events = new EventRecorder()
    await alice.client.subscribe(events.push) // replaces the previous subscription of this session
    await carol.client.join('friends')
    await events.next(e => e.type === 'member-joined' && e.group === 'friends' && e.username === 'carol')
    const needed = await events.next(e => e.type === 'key-needed')
    assert.deepEqual(needed, { type: 'key-needed', group: 'friends', epoch: 1, username: 'carol' })
  })

  it('refuses an epoch signed by someone else, and a new epoch without a reason before the last one is 30 s old', async () => {
    const forged = await epochProof(bob.account.privateKey, 'friends', 2)
    await assert.rejects(alice.client.rotate('friends', 1, new Uint8Array(88).fill(2), forged), rejectsWith(ErrorCode.Malformed, /not yours/))
    await assert.rejects(alice.client.rotate('friends', 1, new Uint8Array(88).fill(2), await epochProof(alice.account.privateKey, 'friends', 2)),
      rejectsWith(ErrorCode.RateLimited, /is new/))
    const members = await bob.client.members('friends')
    assert.equal(members.epoch, 1)
    assert.equal(members.maker?.username, 'alice')
    assert.equal(members.maker?.peerId, alice.node.peerId.toString())
    assert.ok(members.epochAgeMs < 30_000)
  })

  it('lets exactly one of two racing rotations win', async () => {
    // A member leaving is a reason: the fresh epoch may be replaced at once.
    await carol.client.leave('friends')
    const results = await Promise.allSettled([
      alice.client.rotate('friends', 1, new Uint8Array(88).fill(2), await epochProof(alice.account.privateKey, 'friends', 2)),
      bob.client.rotate('friends', 1, new Uint8Array(88).fill(3), await epochProof(bob.account.privateKey, 'friends', 2))
    ])
    await carol.client.join('friends')
    const won = results.filter(r => r.status === 'fulfilled')
    const lost = results.filter(r => r.status === 'rejected')
    assert.equal(won.length, 1)
    assert.equal(lost.length, 1)
    assert.deepEqual(won[0]?.value, { group: 'friends', epoch: 2 })
    const err = lost[0]?.reason as unknown
    rejectsWith(ErrorCode.Conflict, /epoch 2/)(err)
    assert.ok(err instanceof RendezvousError)
    assert.equal(err.epoch, 2)
  })

  it('stores each member\'s own wrapped key copies', async () => {
    const v2 = new Uint8Array(88).fill(2)
    await alice.client.putKey('friends', 2, new Uint8Array(88).fill(9))
    await alice.client.putKey('friends', 2, v2) // overwrites alice's copy for epoch 2 only
    const keys = await alice.client.getKeys('friends')
    assert.equal(keys.epoch, 2)
    assert.deepEqual(keys.keys, [{ epoch: 2, wrapped: v2 }, { epoch: 1, wrapped: new Uint8Array(88).fill(1) }])
    // Bob's copies are his own: the one his rotation left if it won the race above, else none.
    const bobWon = (await bob.client.members('friends')).maker?.username === 'bob'
    assert.deepEqual((await bob.client.getKeys('friends')).keys, bobWon ? [{ epoch: 2, wrapped: new Uint8Array(88).fill(3) }] : [])
    await assert.rejects(alice.client.putKey('friends', 3, v2), rejectsWith(ErrorCode.Conflict))
    await assert.rejects(alice.client.putKey('friends', 0, v2), rejectsWith(ErrorCode.Conflict))
    await assert.rejects(carol.client.getKeys('solo'), rejectsWith(ErrorCode.NotFound))
    assert.deepEqual((await alice.client.groups()).groups, [{ group: 'friends', epoch: 2 }])
  })

  it('flags a rotation and tells the members when someone leaves', async () => {
    const events = new EventRecorder()
    await alice.client.subscribe(events.push)
    await carol.client.leave('friends')
    await events.next(e => e.type === 'member-left' && e.username === 'carol')
    await events.next(e => e.type === 'rotation-needed' && e.group === 'friends')
    assert.equal((await alice.client.members('friends')).rotationNeeded, true)
  })

  it('rewrites a wildcard listen address to the address the server saw', async () => {
    const erin = await user('erin')
    const { username, salt, kdf, authKey, identity } = erin.account
    await erin.client.signup({ username, salt, kdf, authKey, identity, addrs: ['/ip4/0.0.0.0/tcp/4567', '/ip4/10.1.2.3/tcp/4567'] })
    const found = await alice.client.lookup('erin')
    assert.deepEqual(found, {
      username: 'erin',
      peerId: erin.node.peerId.toString(),
      addrs: ['/ip4/127.0.0.1/tcp/4567', '/ip4/10.1.2.3/tcp/4567'],
      online: true
    })
    await assert.rejects(alice.client.lookup('nobody'), rejectsWith(ErrorCode.NotFound))
    assert.deepEqual(await alice.client.whois(erin.node.peerId.toString()), found)
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await assert.rejects(alice.client.whois(stranger), rejectsWith(ErrorCode.NotFound))
  })

  it('takes no relayed connection into itself: a stranger\'s relay cannot have it reserve there and advertise it (round 44)', async () => {
    const relay = await createParleyNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      relay: { server: { maxReservations: 10, reservationTtlMs: 600_000, durationLimitMs: 60_000, dataLimitBytes: 1n << 20n, maxHopStreams: 8, allowRelayedConnection: () => true } }
    })
    await relay.start()
    nodes.push(relay)
    await pace()
    const stop = pbStream(await relay.dialProtocol(server.addr, '/libp2p/circuit/relay/0.2.0/stop')).pb(StopMessage)
    await stop.write({ type: StopMessage.Type.CONNECT, peer: { id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toMultihash().bytes, addrs: [] } })
    assert.equal((await stop.read()).status, Status.PERMISSION_DENIED)
    // (A reservation made meanwhile is dropped at once, with the connection that carried it.)
    const held = (): string[] => [...relay.services.relay?.reservations.keys() ?? []].map(String)
    for (let waited = 0; waited < 5_000 && held().length > 0; waited += 100) await sleep(100)
    await sleep(500)
    assert.deepEqual(held(), [], `no reservation on the stranger's relay (the rendezvous is ${server.peerId})`)
    const seen = await alice.node.services.identify.identify(alice.node.getConnections(peerIdFromString(server.peerId))[0]!)
    assert.deepEqual(seen.listenAddrs.map(a => a.toString()).filter(a => a.includes('p2p-circuit')), [], 'no relayed address advertised')
  })

  it('returns the wrapped identity to a sign-in from another peer without binding it', async () => {
    const elsewhere = await stranger()
    const result = await elsewhere.signin({ username: 'bob', authKey: bob.account.authKey, addrs: [] })
    assert.equal(result.bound, false)
    assert.equal(result.peerId, bob.node.peerId.toString())
    const key = unwrapSecret(bob.account.wrapKey, 'identity:bob', result.identity)
    assert.deepEqual(key, privateKeyToProtobuf(bob.account.privateKey))
    await assert.rejects(elsewhere.list(), rejectsWith(ErrorCode.NotSignedIn))
  })

  it('replaces an older session of the same account', async () => {
    const first = new EventRecorder()
    await bob.client.subscribe(first.push)
    const second = await user('bob') // same identity, a new node and connection
    await signin(second)
    await first.next(e => e.type === 'session-replaced')
    await first.next(e => e.type === 'disconnected')
    assert.deepEqual((await second.client.groups()).groups, [{ group: 'friends', epoch: 2 }])
    await bob.node.stop()
    bob = second
  })

  it('carries one request after another on one kept stream (1.1.0): no stream per request, none left over', async () => {
    for (let i = 0; i < 70; i++) await alice.client.groups()
    const [connection] = alice.node.getConnections().filter(c => c.remotePeer.toString() === server.peerId)
    assert.ok(connection !== undefined)
    const open = (protocol: string): number => connection.streams.filter(stream => stream.protocol === protocol).length
    assert.equal(open(RENDEZVOUS_REQUESTS_PROTOCOL), 1, 'the 70 requests went one after another on one stream')
    // The one-per-stream protocol is not used by this client: any stream of it has closed.
    for (let waited = 0; open(RENDEZVOUS_PROTOCOL) > 0 && waited < 2_000; waited += 20) await sleep(20)
    assert.equal(open(RENDEZVOUS_PROTOCOL), 0)
  })

  it('answers each request on a 1.1.0 stream in turn, a bad one with an error, and closes when the client does', async () => {
    const stream = await alice.node.dialProtocol(server.addr, RENDEZVOUS_REQUESTS_PROTOCOL)
    const lp = lpStream(stream)
    const ask = async (chunk: Uint8Array): Promise<{ ok: boolean, code?: string, username?: string }> => {
      stream.send(chunk)
      return decode((await lp.read()).subarray()) as { ok: boolean, code?: string, username?: string }
    }
    assert.equal((await ask(frame(encodeRequest('lookup', { username: 'bob' })))).username, 'bob')
    assert.equal((await ask(frame(encodeBody({ op: 'frobnicate' })))).code, ErrorCode.Malformed)
    assert.equal((await ask(frame(encodeRequest('lookup', { username: 'carol' })))).username, 'carol')
    await stream.close()
    for (let waited = 0; stream.status !== 'closed' && waited < 5_000; waited += 20) await sleep(20)
    assert.equal(stream.status, 'closed', 'the server closed its half after ours')
  })

  it('serves 24 requests made at once by one client (the client queues past the server\'s 16-stream limit)', async () => {
    const answers = await Promise.all(Array.from({ length: 24 }, async () => await carol.client.lookup('bob')))
    assert.equal(answers.length, 24)
    assert.ok(answers.every(a => a.username === 'bob'))
  })

  it('counts subscriptions to the events stream against the request rate (round 43: 270 a second, each closed, cost nothing)', async () => {
    // Each new subscription replaces the one before, which is then closed: the session goes on.
    let refused: unknown
    let previous = new AbortController()
    await alice.client.subscribe(() => {}, previous.signal)
    for (let i = 0; i < 300 && refused === undefined; i++) {
      const next = new AbortController()
      await alice.client.subscribe(() => {}, next.signal).then(() => {
        previous.abort()
        previous = next
      }, (err: unknown) => { refused = err })
    }
    assert.ok(is(refused, ErrorCode.RateLimited), String(refused))
    await sleep(2_500) // alice's budget back for the tests after this one
    await alice.client.subscribe(() => {})
    previous.abort()
  })

  it('answers malformed, oversized and unknown requests with errors and keeps serving', async () => {
    const raw = async (...chunks: Uint8Array[]): Promise<{ ok: boolean, code: string, message: string }> =>
      await rawExchange(alice.node, server.addr, chunks)
    // A frame that is not CBOR.
    assert.equal((await raw(Uint8Array.of(3, 0xff, 0xfe, 0xfd))).code, ErrorCode.Malformed)
    // A frame longer than a request may be (8 KiB > 4 KiB).
    assert.equal((await raw(frame(new Uint8Array(8192)))).code, ErrorCode.TooLarge)
    // A length prefix longer than any allowed frame's.
    assert.equal((await raw(Uint8Array.of(0x80, 0x80, 0x10), new Uint8Array(100))).code, ErrorCode.Malformed)
    // A frame cut short by the client closing.
    assert.equal((await raw(Uint8Array.of(50, 1, 2, 3))).code, ErrorCode.Protocol)
    assert.deepEqual(await raw(frame(encodeBody({ op: 'frobnicate' }))),
      { ok: false, code: ErrorCode.Malformed, message: 'unknown operation "frobnicate"' })
    assert.equal((await raw(frame(encodeBody({ op: 'list', extra: 1 })))).code, ErrorCode.Malformed)
    assert.equal((await raw(frame(encodeBody({ op: 'lookup', username: 42 })))).code, ErrorCode.Malformed)
    for (const group of ['../x', "a'; DROP TABLE users;--", '', 'x'.repeat(33)]) {
      const answer = await raw(frame(encodeRequest('join', { group })))
      assert.equal(answer.ok, false)
      assert.ok(answer.code === ErrorCode.InvalidName || answer.code === ErrorCode.Malformed, `${group}: ${answer.code}`)
    }
    await assert.rejects(alice.client.join('../x'), rejectsWith(ErrorCode.InvalidName))
    assert.deepEqual((await alice.client.list()).groups, [{ group: 'friends', members: 2 }])
    assert.equal((await alice.client.lookup('bob')).username, 'bob')
  })

  it('keeps accounts, groups, keys and its peer id across SIGTERM and kill -9', async () => {
    const before = await alice.client.members('friends')
    const exitCode = await server.stop('SIGTERM')
    assert.equal(exitCode, 0)
    server = await spawnRendezvous(dataDir)
    await checkSurvived(before)

    // A change acknowledged just before kill -9 must survive it (synchronous=FULL).
    await alice.client.join('after-crash')
    await alice.client.rotate('after-crash', 0, new Uint8Array(88).fill(4), await epochProof(alice.account.privateKey, 'after-crash', 1))
    await alice.client.putKey('after-crash', 1, new Uint8Array(88).fill(7))
    assert.equal(await server.stop('SIGKILL'), 'SIGKILL')
    server = await spawnRendezvous(dataDir)
    await checkSurvived(before)
    const keys = await alice.client.getKeys('after-crash')
    assert.deepEqual(keys, { group: 'after-crash', epoch: 1, keys: [{ epoch: 1, wrapped: new Uint8Array(88).fill(7) }] })
  })

  async function checkSurvived (before: Awaited<ReturnType<RendezvousClient['members']>>): Promise<void> {
    const previousPeerId = alice.client.server.toString().split('/p2p/')[1]
    assert.equal(server.peerId, previousPeerId)
    alice = { ...alice, client: await connected(alice.node) }
    await signin(alice)
    const after = await alice.client.members('friends')
    assert.deepEqual(after.members.map(m => [m.username, m.peerId, m.hasKey]), before.members.map(m => [m.username, m.peerId, m.hasKey]))
    assert.equal(after.epoch, before.epoch)
    assert.equal((await alice.client.getKeys('friends')).keys.length, 2)
    assert.deepEqual(await alice.client.salt('bob'), bob.account.salt)
  }
})

function addrsOf (node: ParleyNode): string[] {
  return node.getMultiaddrs().map(addr => addr.toString())
}

function frame (body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 5)
  let length = body.length
  let i = 0
  while (length >= 0x80) {
    out[i++] = (length & 0x7f) | 0x80
    length >>>= 7
  }
  out[i++] = length
  out.set(body, i)
  return out.subarray(0, i + body.length)
}

/** Open a raw rendezvous stream, send `chunks` as they are, close our half, and read one framed
 * answer. */
async function rawExchange (node: ParleyNode, server: Multiaddr, chunks: Uint8Array[]): Promise<{ ok: boolean, code: string, message: string }> {
  const stream = await node.dialProtocol(server, RENDEZVOUS_PROTOCOL)
  try {
    const lp = lpStream(stream)
    for (const chunk of chunks) stream.send(chunk)
    await stream.close()
    return decode((await lp.read()).subarray()) as { ok: boolean, code: string, message: string }
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

describe('a full rendezvous', () => {
  it('makes room for a newcomer by closing an idle connection, also one under a signed-in identity other than the one it signed in on (round 49: a throw-away account held 1,000)', async () => {
    const dir = await tempDir('parley-room-')
    const server = await spawnRendezvous(join(dir, 'rendezvous'), undefined, undefined, ['--max-connections', '3', '--connections-per-ip', '3'])
    const account = await makeAccount('keeper', PASSWORD)
    const nodes = await Promise.all([clientNode(account.privateKey), clientNode(account.privateKey), clientNode(account.privateKey), clientNode()])
    try {
      for (const node of nodes) await node.start()
      const [signedIn, second, third, newcomer] = nodes
      const client = new RendezvousClient(signedIn, server.addr)
      const { username, salt, kdf, authKey, identity } = account
      await client.signup({ username, salt, kdf, authKey, identity, addrs: addrsOf(signedIn) })
      // Two more connections under the same identity, carrying nothing: the node is full.
      const extra = [await second.dial(server.addr), await third.dial(server.addr)]
      await sleep(STREAMLESS_GRACE_MS + 500)
      assert.equal((await new RendezvousClient(newcomer, server.addr).salt('keeper', { signal: AbortSignal.timeout(10_000) })).length, 16, 'the newcomer is served')
      await sleep(500)
      assert.equal(extra.filter(connection => connection.status !== 'open').length, 1, 'one idle connection made room')
      assert.equal((await client.salt('keeper')).length, 16, 'the signed-in one goes on')
    } finally {
      await Promise.all(nodes.map(async node => { await node.stop() }))
      await server.stop('SIGKILL')
      await removeDir(dir)
    }
  })
})

describe('rendezvous command line: connection limits', () => {
  it('refuses a limit that is not a positive number, saying why', () => {
    const run = spawnSync(process.execPath, [...RENDEZVOUS_PROGRAM, '--port', '0', '--no-mdns', '--max-connections', '0'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8', timeout: 30_000
    })
    assert.equal(run.status, 2)
    assert.match(run.stdout + run.stderr, /--max-connections must be a number from 1/)
  })

  it('holds no more than --connections-per-ip connections from one address', async () => {
    const dir = await tempDir('parley-limits-')
    const server = await spawnRendezvous(join(dir, 'rendezvous'), undefined, undefined, ['--connections-per-ip', '2'])
    const nodes = await Promise.all([clientNode(), clientNode(), clientNode()])
    try {
      // Each carrying a stream (a client keeps its request stream): none is idle, to be closed
      // for the next (connection-caps.ts).
      const clients = nodes.map(node => new RendezvousClient(node, server.addr))
      for (const client of clients.slice(0, 2)) assert.equal((await client.salt('alice')).length, 16)
      await assert.rejects(async () => {
        const third = await nodes[2].dial(server.addr, { signal: AbortSignal.timeout(10_000) })
        // A gated connection may finish dialling before the server drops it: it serves nothing.
        await clients[2]!.salt('alice', { signal: AbortSignal.timeout(10_000) })
        return third
      })
      assert.equal((await clients[0]!.salt('alice')).length, 16)
    } finally {
      await Promise.all(nodes.map(async node => { await node.stop() }))
      await server.stop()
      await removeDir(dir)
    }
  })
})

describe('a rendezvous process that freezes', () => {
  it('fails each request in its time saying the rendezvous did not answer, on a kept stream and on a new one (round 15: the new one said "cannot reach the rendezvous … (no answer in time)")', async () => {
    const dir = await tempDir('parley-frozen-')
    const server = await spawnRendezvous(join(dir, 'rendezvous'))
    const node = await clientNode()
    try {
      const client = new RendezvousClient(node, server.addr, 2_000)
      assert.equal((await client.salt('alice')).length, 16) // connected, one request stream kept
      server.child.kill('SIGSTOP')
      // Two at once: one takes the kept stream, the other opens a stream the server never answers.
      const failures = await Promise.all([client.salt('alice'), client.salt('bob')].map(async asked => await asked.then(() => undefined, (err: unknown) => err)))
      for (const err of failures) assert.ok(is(err, ErrorCode.Unreachable) && err.message === 'the rendezvous did not answer within 2 s', String(err))
    } finally {
      server.child.kill('SIGCONT')
      await node.stop()
      await server.stop()
      await removeDir(dir)
    }
  })
})
