/**
 * The group keyring (peer/groups/keyring.ts) over real in-memory stores: every rule a handed key
 * must pass (a member's, for the current epoch, the key its maker committed to and signed, the
 * maker being who we pinned), rotations that race, the hand-over before a delivery, and the
 * members and epoch it goes on with while the rendezvous is away. The rendezvous is a small
 * in-memory port (members, rotate with its compare-and-set, wrapped copies); hand-overs go
 * straight to the other member's keyring, as the direct session would carry them.
 */
import { beforeEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { epochStatement, keyCommitment } from '../../../common/crypto/epoch.ts'
import { newGroupKey } from '../../../common/crypto/group.ts'
import { wrapSecret } from '../../../common/crypto/wrap.ts'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import { IN_MEMORY } from '../../../common/sqlite.ts'
import type { Result } from '../../../common/protocol/rendezvous.ts'
import { toGroupName, toUsername } from '../../../common/wire/names.ts'
import type { Username } from '../../../common/wire/names.ts'
import { GroupKeyring, KEY_WAIT_MS } from '../../../peer/groups/keyring.ts'
import { isRecipientLeft, refusedQuietly } from '../../../peer/groups/membership-races.ts'
import type { KeyringDeps } from '../../../peer/groups/keyring.ts'
import type { PeerEvent } from '../../../peer/events.ts'
import { PeerStore } from '../../../peer/store/store.ts'

const GROUP = toGroupName('club')
/** How long a due list waits for the rendezvous before the last known one is used (2 s in use). */
const PATIENCE_MS = 50
const isCode = (code: ErrorCode, message?: RegExp) => (err: unknown): boolean =>
  is(err, code) && (message === undefined || message.test((err as Error).message))

interface Maker { username: Username, peerId: string, commitment: Uint8Array, signature: Uint8Array }

/** The rendezvous's side of one group, in memory: who is in it, its epoch and maker, who holds a
 * wrapped copy of which epoch's key. `away` makes every call fail as an unreachable server does. */
class FakeRendezvous {
  readonly peerIds = new Map<string, string>()
  readonly online = new Set<string>()
  readonly members = new Set<string>()
  epoch = 0
  rotationNeeded = false
  maker: Maker | undefined
  epochStarted = Date.now()
  /** Wrapped copies per user: epoch → wrapped key. */
  readonly copies = new Map<string, Map<number, Uint8Array>>()
  away = false
  /** Requests made, answered or not (a frozen rendezvous makes each wait out its silence). */
  tried = 0
  /** Users whose sign-in is being renewed: their calls fail as such a rendezvous answers them. */
  readonly signingIn = new Set<string>()
  rotations = 0
  /** Member lists asked for, by anyone. */
  listed = 0
  /** Runs before a rotation is applied (to let another member win the race first). */
  beforeRotate: ((username: string) => Promise<void>) | undefined
  /** Member lists asked for, answered yet or not. */
  listsAsked = 0
  /** Set (freeze): list requests wait for it, as a frozen rendezvous leaves them; thaw answers them. */
  #frozen: { promise: Promise<void>, resolve: () => void } | undefined

  /** Set: answers to list requests, made as the request came, wait for it on their way. */
  answersHeld: Promise<void> | undefined

  freeze (): void {
    let thaw = (): void => {}
    const promise = new Promise<void>(resolve => { thaw = resolve })
    this.#frozen = { promise, resolve: thaw }
  }

  thaw (): void {
    this.#frozen?.resolve()
    this.#frozen = undefined
  }

  port (username: string): KeyringDeps['rendezvous'] {
    const check = (): void => {
      this.tried++
      if (this.away) throw new ParleyError(ErrorCode.Unreachable, 'the rendezvous is not reachable')
      if (this.signingIn.has(username)) throw new ParleyError(ErrorCode.NotSignedIn, 'not signed in yet; try again in a moment')
      if (!this.members.has(username)) throw new ParleyError(ErrorCode.Forbidden, `you are not a member of "${GROUP}"`)
    }
    return {
      members: async (): Promise<Result<'members'>> => {
        this.listsAsked++
        await this.#frozen?.promise
        check()
        this.listed++
        const answer: Result<'members'> = {
          group: GROUP,
          epoch: this.epoch,
          rotationNeeded: this.rotationNeeded,
          members: [...this.members].map(name => ({
            username: toUsername(name), peerId: this.peerIds.get(name) ?? '', online: this.online.has(name), hasKey: this.copies.get(name)?.has(this.epoch) === true
          })),
          ...(this.maker === undefined ? {} : { maker: this.maker }),
          epochAgeMs: Date.now() - this.epochStarted
        }
        await this.answersHeld // an answer on its way while the group changes
        return answer
      },
      rotate: async (group, fromEpoch, wrapped, proof): Promise<Result<'rotate'>> => {
        check()
        await this.beforeRotate?.(username)
        if (fromEpoch !== this.epoch) throw new ParleyError(ErrorCode.Conflict, `${group} is at epoch ${this.epoch}`)
        this.epoch++
        this.rotations++
        this.rotationNeeded = false
        this.epochStarted = Date.now()
        this.maker = { username: toUsername(username), peerId: this.peerIds.get(username) ?? '', ...proof }
        this.#keep(username, this.epoch, wrapped)
        return { group: toGroupName(group), epoch: this.epoch }
      },
      putKey: async (group, epoch, wrapped): Promise<Result<'put-key'>> => {
        check()
        this.#keep(username, epoch, wrapped)
        return { group: toGroupName(group), epoch }
      },
      getKeys: async (group): Promise<Result<'get-keys'>> => {
        check()
        const keys = [...(this.copies.get(username) ?? new Map<number, Uint8Array>())].map(([epoch, wrapped]) => ({ epoch, wrapped }))
        return { group: toGroupName(group), epoch: this.epoch, keys }
      }
    }
  }

  #keep (username: string, epoch: number, wrapped: Uint8Array): void {
    const mine = this.copies.get(username) ?? new Map<number, Uint8Array>()
    mine.set(epoch, wrapped)
    this.copies.set(username, mine)
  }
}

interface Member {
  name: string
  identity: PrivateKey
  peerId: string
  store: PeerStore
  keyring: GroupKeyring
  /** What its keyring was made with (a restart makes another keyring from them). */
  deps: KeyringDeps
  /** What the keyring showed the user (warnings, `key`). */
  shown: PeerEvent[]
  /** What it reported to the composition root, in order. */
  reported: string[]
  /** The peer ids this member pinned. */
  pins: Map<string, string>
  /** Hand-overs from this member fail with `failHandOvers` while it is set; one to a member in
   * `stalled` waits for its promise (a member that does not answer). */
  control: { failHandOvers: ParleyError | undefined, stalled: Map<string, Promise<void>> }
}

describe('group keyring', () => {
  let server: FakeRendezvous
  let members: Map<string, Member>
  const member = (name: string): Member => {
    const found = members.get(name)
    if (found === undefined) throw new Error(`no member ${name}`)
    return found
  }

  /** A member with its own identity, store and keyring; hand-overs reach the other's keyring. */
  const join = async (name: string, online = true): Promise<Member> => {
    const identity = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(identity).toString()
    const wrapKey = randomBytes(32)
    const store = new PeerStore(IN_MEMORY, wrapKey)
    const shown: PeerEvent[] = []
    const pins = new Map<string, string>()
    const control: Member['control'] = { failHandOvers: undefined, stalled: new Map() }
    const deps: KeyringDeps = {
      username: name,
      wrapKey,
      store,
      rendezvous: server.port(name),
      emit: event => { shown.push(event) },
      sign: async data => await identity.sign(data),
      pinnedPeerId: username => pins.get(username),
      answerPatienceMs: PATIENCE_MS,
      handOver: async (to, group, epoch, key) => {
        if (control.failHandOvers !== undefined) throw control.failHandOvers
        const stall = control.stalled.get(to.username)
        if (stall !== undefined) await stall
        await member(to.username).keyring.acceptHandedKey({ from: name, group, epoch, key })
      }
    }
    const keyring = new GroupKeyring(deps)
    // A send does not wait for the members' hand-overs (round 17); these tests look at what they
    // did, so each send here waits for them.
    const keyForSending = keyring.keyForSending.bind(keyring)
    keyring.keyForSending = async group => {
      const settled = await keyForSending(group)
      await keyring.handOversDone()
      return settled
    }
    const reported: string[] = []
    keyring.on('key', (group, epoch) => { reported.push(`key ${group} ${epoch}`) })
    keyring.on('handed-over', (group, username) => { reported.push(`handed-over ${group} ${username}`) })
    const created: Member = { name, identity, peerId, store, keyring, deps, shown, reported, pins, control }
    server.peerIds.set(name, peerId)
    server.members.add(name)
    if (online) server.online.add(name)
    members.set(name, created)
    return created
  }

  /** Everyone pins everyone, as after first contact. */
  const pinAll = (): void => {
    for (const a of members.values()) {
      for (const b of members.values()) if (a !== b) a.pins.set(b.name, b.peerId)
    }
  }

  /** The key `name` holds for the epoch, or undefined (asked of its store, not the rendezvous). */
  const held = (name: string, epoch: number): Uint8Array | undefined => member(name).store.groupKey(GROUP, epoch)

  /** Start epoch 1 as `maker` would, but with its key given to nobody. */
  const startEpoch = async (maker: Member, key = newGroupKey(), signer: PrivateKey = maker.identity): Promise<Uint8Array> => {
    const commitment = keyCommitment(key, GROUP, server.epoch + 1)
    const signature = await signer.sign(epochStatement(GROUP, server.epoch + 1, commitment))
    server.epoch++
    server.maker = { username: toUsername(maker.name), peerId: maker.peerId, commitment, signature }
    return key
  }

  beforeEach(async () => {
    server = new FakeRendezvous()
    members = new Map()
    await join('alice')
    await join('bob')
    await join('carol')
    pinAll()
  })

  describe('a handed key', () => {
    test('is taken when it is the key its maker committed to and signed: kept, shown once, reported for the outbox', async () => {
      const alice = member('alice')
      const { info, key } = await alice.keyring.keyForSending(GROUP)
      assert.equal(info.epoch, 1)
      assert.ok(key !== undefined)
      // Every online member who lacked it was handed it while the send settled its key.
      for (const name of ['bob', 'carol']) {
        assert.deepEqual(held(name, 1) !== undefined, true, `${name} keeps the key`)
        assert.deepEqual(await member(name).keyring.key(GROUP, 1), key)
        assert.deepEqual(member(name).reported, [`key ${GROUP} 1`])
        assert.equal(member(name).shown.filter(e => e.event === 'key').length, 1)
        assert.ok(server.copies.get(name)?.has(1), `${name}'s wrapped copy is on the rendezvous`)
      }
      assert.deepEqual(alice.reported.sort(), [`handed-over ${GROUP} bob`, `handed-over ${GROUP} carol`])
    })

    test('a second copy of a key already held changes nothing and is not reported again', async () => {
      const { key } = await member('alice').keyring.keyForSending(GROUP)
      assert.ok(key !== undefined)
      await member('bob').keyring.acceptHandedKey({ from: 'carol', group: GROUP, epoch: 1, key })
      assert.deepEqual(member('bob').reported, [`key ${GROUP} 1`])
    })

    test('is refused (ERR_INTEGRITY) when it is not the key the maker committed to, and the real one is taken later', async () => {
      const alice = member('alice')
      const real = await startEpoch(alice)
      // Carol, a member, hands bob a key of her own making for alice's epoch.
      await assert.rejects(member('bob').keyring.acceptHandedKey({ from: 'carol', group: GROUP, epoch: 1, key: newGroupKey() }),
        isCode(ErrorCode.Integrity, /not the key alice committed to/))
      assert.equal(held('bob', 1), undefined)
      assert.deepEqual(member('bob').reported, [])
      await member('bob').keyring.acceptHandedKey({ from: 'alice', group: GROUP, epoch: 1, key: real })
      assert.deepEqual(held('bob', 1) !== undefined, true)
    })

    test('is taken where the stored key of that epoch is an earlier account\'s (signed up again in the same folder)', async () => {
      const key = await startEpoch(member('alice'))
      // Bob's store holds a key for epoch 1 wrapped under another wrapKey: an earlier account of
      // his name left it in this folder. Until 2026-12-06 it was read as his, and every hand-over
      // of epoch 1's key was refused ("frame MAC mismatch"), for good.
      member('bob').store.saveGroupKey(GROUP, 1, wrapSecret(randomBytes(32), `group:${GROUP}:1`, newGroupKey()))
      await member('bob').keyring.acceptHandedKey({ from: 'alice', group: GROUP, epoch: 1, key })
      assert.deepEqual(await member('bob').keyring.key(GROUP, 1), key)
      assert.deepEqual(member('bob').reported, [`key ${GROUP} 1`])
    })

    test('is refused (ERR_INTEGRITY) when the commitment is signed by someone other than its maker', async () => {
      // The epoch claims alice as its maker, but carol signed the commitment (a swapped record).
      const key = await startEpoch(member('alice'), newGroupKey(), member('carol').identity)
      await assert.rejects(member('bob').keyring.acceptHandedKey({ from: 'alice', group: GROUP, epoch: 1, key }),
        isCode(ErrorCode.Integrity, /signature of its maker alice does not verify/))
      assert.equal(held('bob', 1), undefined)
    })

    test('is refused (ERR_INTEGRITY) when the maker is not the identity we pinned for it', async () => {
      // A rendezvous that gives alice another identity: it signs with its own key, and the
      // signature verifies for the peer id it claims; only bob's pin of alice catches it.
      const impostor = await generateKeyPair('Ed25519')
      const key = newGroupKey()
      const commitment = keyCommitment(key, GROUP, 1)
      server.epoch = 1
      server.maker = { username: toUsername('alice'), peerId: peerIdFromPrivateKey(impostor).toString(), commitment, signature: await impostor.sign(epochStatement(GROUP, 1, commitment)) }
      await assert.rejects(member('bob').keyring.acceptHandedKey({ from: 'carol', group: GROUP, epoch: 1, key }),
        isCode(ErrorCode.Integrity, /identity of its maker alice changed/))
      assert.equal(held('bob', 1), undefined)
      // Without a pin of alice (never met), the signature is all there is to check.
      member('bob').pins.delete('alice')
      await member('bob').keyring.acceptHandedKey({ from: 'carol', group: GROUP, epoch: 1, key })
      assert.ok(held('bob', 1) !== undefined)
    })

    test('is refused (ERR_INTEGRITY) for an epoch without a signed commitment', async () => {
      server.epoch = 1
      await assert.rejects(member('bob').keyring.acceptHandedKey({ from: 'alice', group: GROUP, epoch: 1, key: newGroupKey() }),
        isCode(ErrorCode.Integrity, /no signed commitment/))
    })

    test('is refused from a non-member (ERR_FORBIDDEN), for another epoch (ERR_CONFLICT), or of the wrong length (ERR_MALFORMED)', async () => {
      const key = await startEpoch(member('alice'))
      await assert.rejects(member('bob').keyring.acceptHandedKey({ from: 'mallory', group: GROUP, epoch: 1, key }), isCode(ErrorCode.Forbidden, /mallory is not a member/))
      await assert.rejects(member('bob').keyring.acceptHandedKey({ from: 'alice', group: GROUP, epoch: 2, key }), isCode(ErrorCode.Conflict, /epoch 2 .* which is at 1/))
      await assert.rejects(member('bob').keyring.acceptHandedKey({ from: 'alice', group: GROUP, epoch: 1, key: key.subarray(0, 16) }), isCode(ErrorCode.Malformed))
      assert.equal(held('bob', 1), undefined)
    })

    test('never replaces a different key already held for that epoch (ERR_CONFLICT)', async () => {
      const { key } = await member('alice').keyring.keyForSending(GROUP)
      assert.ok(key !== undefined)
      await assert.rejects(member('bob').keyring.acceptHandedKey({ from: 'carol', group: GROUP, epoch: 1, key: newGroupKey() }),
        isCode(ErrorCode.Conflict, /a different key/))
      assert.deepEqual(await member('bob').keyring.key(GROUP, 1), key)
    })
  })

  describe('rotation', () => {
    test('a member that loses the rotate race keeps the winner\'s epoch, sends nothing under a key of its own, and takes the winner\'s key when handed', async () => {
      const [alice, carol] = [member('alice'), member('carol')]
      server.online.delete('carol') // so alice's send does not hand carol the key at once
      // Carol read epoch 0 and is about to rotate; alice's rotation lands first.
      server.beforeRotate = async username => {
        if (username !== 'carol') return
        server.beforeRotate = undefined
        await alice.keyring.keyForSending(GROUP)
      }
      const lost = await carol.keyring.keyForSending(GROUP)
      assert.equal(server.rotations, 1, 'one rotation: the compare-and-set let only alice through')
      assert.equal(lost.info.epoch, 1)
      assert.equal(lost.info.maker?.username, 'alice')
      assert.equal(lost.key, undefined, 'no key yet: the send is queued until it arrives')
      assert.equal(held('carol', 1), undefined)
      // Carol comes online and asks; alice hands it over: carol's queued deliveries may go.
      server.online.add('carol')
      await alice.keyring.onKeyNeeded(GROUP, 1, 'carol')
      assert.deepEqual(await carol.keyring.key(GROUP, 1), await alice.keyring.key(GROUP, 1))
      assert.deepEqual(carol.reported, [`key ${GROUP} 1`])
    })

    test('a member who leaves as another joins is told nothing of its own leaving: a key asked of it, or refused by the joiner, is no longer its to hand (round 50: two warnings about itself)', async () => {
      const alice = member('alice')
      await alice.keyring.keyForSending(GROUP)
      await join('carol')
      pinAll()
      // alice leaves at the rendezvous, and her peer has not heard it yet.
      server.members.delete('alice')
      await alice.keyring.onKeyNeeded(GROUP, 1, 'carol')
      alice.control.failHandOvers = new ParleyError(ErrorCode.Forbidden, 'refused by the recipient: alice is not a member of club')
      const info = { ...await member('bob').keyring.info(GROUP, true), members: [] }
      await alice.keyring.handOverTo(info, { username: toUsername('carol'), peerId: member('carol').peerId, online: true, hasKey: false }, (await alice.keyring.key(GROUP, 1)))
      assert.deepEqual(alice.shown.filter(e => e.event === 'warning'), [])
    })

    test('a key handed for an epoch made while a list question was on its way is checked against a list asked afresh, not refused as ahead (round 50: `key for epoch 2 of club, which is at 1`, warned on both sides)', async () => {
      const alice = member('alice')
      const bob = member('bob')
      pinAll()
      await alice.keyring.keyForSending(GROUP)
      bob.keyring.invalidate(GROUP)
      let release = (): void => {}
      server.answersHeld = new Promise(resolve => { release = resolve })
      const onItsWay = bob.keyring.info(GROUP) // answered now, at epoch 1, and held on its way
      await new Promise(resolve => setImmediate(resolve))
      server.answersHeld = undefined
      const key = await startEpoch(alice)
      const handed = bob.keyring.acceptHandedKey({ from: 'alice', group: GROUP, epoch: 2, key })
      release()
      await onItsWay
      await handed
      assert.deepEqual(await bob.keyring.key(GROUP, 2), key)
    })

    test('a member that joined an old epoch waits KEY_WAIT_MS for its key from its first send, not from the epoch\'s start (round 9: it started a new epoch at once)', async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
      await member('alice').keyring.keyForSending(GROUP)
      t.mock.timers.tick(10 * KEY_WAIT_MS)
      const dave = await join('dave')
      pinAll()
      const first = await dave.keyring.keyForSending(GROUP)
      assert.deepEqual([first.info.epoch, first.key, server.rotations], [1, undefined, 1], 'queued for the key, which a member hands over')
      t.mock.timers.tick(KEY_WAIT_MS - 1)
      assert.deepEqual([(await dave.keyring.keyForSending(GROUP)).key, server.rotations], [undefined, 1])
      // Nobody handed it over in all that time: a new epoch of dave's lets the group talk again.
      t.mock.timers.tick(1)
      const later = await dave.keyring.keyForSending(GROUP)
      assert.deepEqual([later.info.epoch, server.rotations], [2, 2])
      assert.ok(later.key !== undefined)
    })

    test('a member who left moves the next send to a new epoch, which the leaver is not handed', async () => {
      await member('alice').keyring.keyForSending(GROUP)
      server.members.delete('carol')
      server.rotationNeeded = true
      member('bob').keyring.invalidate(GROUP)
      const { info, key } = await member('bob').keyring.keyForSending(GROUP)
      assert.equal(info.epoch, 2)
      assert.ok(key !== undefined)
      assert.ok(held('alice', 2) !== undefined)
      assert.equal(held('carol', 2), undefined)
    })
  })

  describe('sending', () => {
    test('sends after the first reuse the member list: a burst does not ask the rendezvous for each', async () => {
      const alice = member('alice')
      const { key } = await alice.keyring.keyForSending(GROUP)
      const listed = server.listed
      for (let i = 0; i < 200; i++) assert.deepEqual((await alice.keyring.keyForSending(GROUP)).key, key)
      assert.equal(server.listed, listed, 'no members request for any of them')
    })

    test('a pushed change (member-joined here) makes the next send ask afresh, and a newcomer is handed the key', async () => {
      const alice = member('alice')
      await alice.keyring.keyForSending(GROUP)
      await join('dave')
      pinAll()
      alice.keyring.invalidate(GROUP) // as member-joined does
      const { info } = await alice.keyring.keyForSending(GROUP)
      assert.deepEqual(info.members.map(m => m.username).sort(), ['alice', 'bob', 'carol', 'dave'])
      assert.ok(held('dave', 1) !== undefined, 'the newcomer was handed the key')
    })
  })

  describe('before a delivery', () => {
    test('the recipient is handed the key first, once, and that is reported for its queue', async () => {
      const alice = member('alice')
      server.online.delete('bob') // offline at send time: nobody hands bob the key then
      const { key } = await alice.keyring.keyForSending(GROUP)
      assert.equal(held('bob', 1), undefined)
      const reportedBefore = alice.reported.length
      const delivery = await alice.keyring.keyForDelivery(GROUP, toUsername('bob'))
      assert.equal(delivery.epoch, 1)
      assert.deepEqual(delivery.key, key)
      assert.ok(held('bob', 1) !== undefined, 'bob holds the key before the message goes')
      assert.deepEqual(alice.reported.slice(reportedBefore), [`handed-over ${GROUP} bob`])
      // The next delivery to bob finds it handed already.
      await alice.keyring.keyForDelivery(GROUP, toUsername('bob'))
      assert.deepEqual(alice.reported.slice(reportedBefore), [`handed-over ${GROUP} bob`])
    })

    test('a member who does not answer a hand-over holds no send: the others get the key and their deliveries at once (round 17: a frozen member held every SENDGROUP 15–30 s)', async () => {
      const alice = member('alice')
      let answer = (): void => {}
      alice.control.stalled.set('carol', new Promise<void>(resolve => { answer = resolve }))
      try {
        // As the real send runs it (the tests' own sends wait for the hand-overs).
        const sending = GroupKeyring.prototype.keyForSending.call(alice.keyring, GROUP)
        const sent = await Promise.race([sending, sleep(2_000).then(() => 'held')])
        assert.notEqual(sent, 'held', 'the send went on')
        const toBob = await Promise.race([alice.keyring.keyForDelivery(GROUP, toUsername('bob')), sleep(2_000).then(() => 'held')])
        assert.notEqual(toBob, 'held', 'bob\'s delivery went on')
        assert.ok(held('bob', 1) !== undefined, 'bob holds the key')
        assert.equal(held('carol', 1), undefined)
      } finally {
        answer()
      }
      await alice.keyring.handOversDone()
      assert.ok(held('carol', 1) !== undefined, 'carol, answering at last, has it too')
    })

    test('a hand-over that fails is a warning, not a failed delivery, and is not reported as done', async () => {
      const alice = member('alice')
      server.online.delete('bob')
      await alice.keyring.keyForSending(GROUP)
      alice.control.failHandOvers = new ParleyError(ErrorCode.IdentityChanged, 'refused by the recipient: it has not accepted your new identity')
      const reportedBefore = alice.reported.length
      await alice.keyring.keyForDelivery(GROUP, toUsername('bob'))
      assert.deepEqual(alice.reported.slice(reportedBefore), [])
      const warning = alice.shown.find(e => e.event === 'warning')
      assert.ok(warning?.event === 'warning' && /could not hand the key of club to bob/.test(warning.message), JSON.stringify(warning))
      // Deliveries waiting on the same hand-over, and the tries after it, say it once (until
      // 2026-12-06, once per waiter and per try: 8 times in 44 s).
      await Promise.all([1, 2, 3].map(async () => { await alice.keyring.keyForDelivery(GROUP, toUsername('bob')) }))
      await alice.keyring.keyForDelivery(GROUP, toUsername('bob'))
      assert.equal(alice.shown.filter(e => e.event === 'warning').length, 1, JSON.stringify(alice.shown))
    })

    test('a hand-over that mends itself is no warning: the member out of reach, refusing it because it left (round 7) or because the group moved on (round 8)', async () => {
      const alice = member('alice')
      server.online.delete('bob')
      await alice.keyring.keyForSending(GROUP)
      alice.control.failHandOvers = new ParleyError(ErrorCode.Unreachable, 'bob is not reachable right now')
      await alice.keyring.keyForDelivery(GROUP, toUsername('bob'))
      // Bob joined and left at once: the key reached him as he went, and he refused it.
      alice.control.failHandOvers = undefined
      server.members.delete('bob')
      const refused = await member('bob').keyring.acceptHandedKey({ from: toUsername('alice'), group: GROUP, epoch: 1, key: randomBytes(24) }).then(() => undefined, (err: unknown) => err as Error)
      assert.ok(refused !== undefined && refusedQuietly(refused), `bob's refusal is about himself, not shown to him: ${String(refused)}`)
      alice.control.failHandOvers = new ParleyError(ErrorCode.Forbidden, `refused by the recipient: ${refused.message}`)
      const { info } = await alice.keyring.keyForSending(GROUP)
      await alice.keyring.handOverTo(info, { username: toUsername('bob'), peerId: '', online: true, hasKey: false }, randomBytes(24))
      assert.deepEqual(alice.shown.filter(e => e.event === 'warning'), [])
      // The group moved on while the key of the epoch before went round (a member joined and
      // left, round 8): bob refuses it quietly, and alice is not warned.
      server.members.add('bob')
      server.epoch++
      const stale = await member('bob').keyring.acceptHandedKey({ from: toUsername('alice'), group: GROUP, epoch: server.epoch - 1, key: randomBytes(24) }).then(() => undefined, (err: unknown) => err as Error)
      assert.ok(stale !== undefined && refusedQuietly(stale) && is(stale, ErrorCode.Conflict), `a stale key is refused quietly: ${String(stale)}`)
      alice.control.failHandOvers = new ParleyError(ErrorCode.Conflict, `refused by the recipient: ${stale.message}`)
      await alice.keyring.handOverTo({ ...info, epoch: server.epoch - 1 }, { username: toUsername('bob'), peerId: '', online: true, hasKey: false }, randomBytes(24))
      assert.deepEqual(alice.shown.filter(e => e.event === 'warning'), [])
      server.epoch--
      // A refusal from a member still in the group is worth a warning.
      alice.control.failHandOvers = new ParleyError(ErrorCode.Forbidden, `refused by the recipient: ${refused.message}`)
      const { info: again } = await alice.keyring.keyForSending(GROUP)
      await alice.keyring.handOverTo(again, { username: toUsername('bob'), peerId: '', online: true, hasKey: false }, randomBytes(24))
      assert.equal(alice.shown.filter(e => e.event === 'warning').length, 1, JSON.stringify(alice.shown))
    })

    test('a recipient no longer in the group, or our own leaving, refuses the delivery (ERR_FORBIDDEN)', async () => {
      await member('alice').keyring.keyForSending(GROUP)
      server.members.delete('bob')
      member('alice').keyring.invalidate(GROUP) // as the member-left event does
      await assert.rejects(member('alice').keyring.keyForDelivery(GROUP, toUsername('bob')), isCode(ErrorCode.Forbidden, /bob is no longer in club/))
      server.members.add('bob')
      server.members.delete('carol')
      member('carol').keyring.invalidate(GROUP)
      await assert.rejects(member('carol').keyring.keyForDelivery(GROUP, toUsername('bob')), isCode(ErrorCode.Forbidden))
    })

    test('without the key yet (another member made it) the delivery waits (ERR_UNREACHABLE)', async () => {
      await startEpoch(member('alice'))
      server.copies.set('alice', new Map([[1, randomBytes(40)]])) // alice holds it; bob does not
      await assert.rejects(member('bob').keyring.keyForDelivery(GROUP, toUsername('carol')), isCode(ErrorCode.Unreachable, /waiting for the key of club \(epoch 1\)/))
    })
  })

  test('a sender\'s texts ask the rendezvous at most SENDER_CHECKS\' rate: a member\'s once per list, a non-member\'s ten, then refused without asking (round 43: one request a text)', async () => {
    const alice = member('alice').keyring
    const listed = server.listed
    for (let i = 0; i < 20; i++) assert.ok((await alice.listForSender(GROUP, 'bob')).members.some(m => m.username === 'bob'))
    assert.equal(server.listed - listed, 1, 'bob is in the list: asked once')
    const asked = server.listsAsked
    for (let i = 0; i < 10; i++) assert.equal((await alice.listForSender(GROUP, 'mallory')).members.some(m => m.username === 'mallory'), false)
    assert.ok(server.listsAsked - asked >= 10, 'a sender the list lacks: asked afresh each time, within the budget')
    const before = server.listsAsked
    await assert.rejects(alice.listForSender(GROUP, 'mallory'), isCode(ErrorCode.RateLimited, /too many group messages from mallory/))
    assert.equal(server.listsAsked, before, 'past the budget: not asked')
    assert.ok((await alice.listForSender(GROUP, 'bob')).members.some(m => m.username === 'bob'), 'a member is not held back by another\'s budget')
  })

  test('a group\'s changes pay for the look-ups they cause: a member leaving and joining again 9 times does not spend the budget of a member sending meanwhile (round 50: its texts waited 16 s, said as too many of its own)', async () => {
    const alice = member('alice').keyring
    await alice.info(GROUP, true)
    const listed = server.listed
    for (let change = 0; change < 18; change++) {
      if (change % 2 === 0) alice.memberLeft(GROUP, 'carol')
      else alice.memberJoined(GROUP)
      for (let i = 0; i < 5; i++) assert.ok((await alice.listForSender(GROUP, 'bob')).members.some(m => m.username === 'bob'))
    }
    assert.equal(server.listed - listed, 18, 'asked once a change')
    // What the changes left paid for goes first, then a sender the list lacks pays: its ten, then refused.
    let refusedAfter = 0
    while (await alice.listForSender(GROUP, 'mallory').then(() => true, (err: unknown) => { assert.ok(is(err, ErrorCode.RateLimited), String(err)); return false })) refusedAfter++
    assert.ok(refusedAfter >= 10 && refusedAfter <= 10 + 60, `refused after ${refusedAfter}`)
  })

  test('a refusal as no member by one who left after the message was sent is theirs, even when they are back already (round 50: `failed`, a member leaving and joining again at once)', async () => {
    const alice = member('alice').keyring
    const refusal = new ParleyError(ErrorCode.Forbidden, 'refused by the recipient: the recipient is no longer in club')
    const sentAt = Date.now()
    const stays = await alice.asRefusalByLeaver(GROUP, toUsername('carol'), refusal, sentAt)
    assert.equal(stays, refusal, 'carol never left and is listed: the refusal is something else, as it is')
    alice.memberLeft(GROUP, 'carol') // and joined again: the rendezvous lists her
    const left = await alice.asRefusalByLeaver(GROUP, toUsername('carol'), refusal, sentAt)
    assert.ok(left instanceof Error && isRecipientLeft(left), String(left))
    const later = await alice.asRefusalByLeaver(GROUP, toUsername('carol'), refusal, Date.now() + 1)
    assert.equal(later, refusal, 'sent after she came back: hers to take')
  })

  test('with the rendezvous away, a member\'s texts are checked against the last known list without asking or charging it; a sender that list lacks is to send again, not refused for good (round 46: a burst after 30 s of the rendezvous gone went at one a second)', async () => {
    const alice = member('alice').keyring
    await alice.info(GROUP, true) // the list kept: alice, bob, carol
    alice.invalidate(GROUP) // as after 30 s: the cached list is due
    server.away = true
    assert.ok((await alice.info(GROUP)).members.some(m => m.username === 'bob'), 'asked once, the rendezvous away: the list kept')
    const before = server.tried
    for (let i = 0; i < 30; i++) assert.ok((await alice.listForSender(GROUP, 'bob')).members.some(m => m.username === 'bob'))
    assert.equal(server.tried, before, 'nothing asked: the rendezvous is known to be away')
    const unknown = await alice.listForSender(GROUP, 'dave').then(() => undefined, (err: unknown) => err)
    assert.ok(is(unknown, ErrorCode.Unreachable) && unknown.retryable, String(unknown))
  })

  test('texts at epochs we hold no key of, and keys handed for a group, ask the rendezvous within their sender\'s budget; a key checked against a list at its epoch asks nothing (round 46: our MEMBERS took 2–4 s)', async () => {
    const real = await startEpoch(member('alice'))
    const bob = member('bob').keyring
    // Texts naming epochs bob has no key of: one look-up each, ten, then refused without asking.
    let before = server.tried
    for (let i = 0; i < 10; i++) await assert.rejects(bob.keyForSender(GROUP, 100 + i, 'mallory'), isCode(ErrorCode.Unreachable, /waiting for the key/))
    assert.equal(server.tried - before, 10)
    before = server.tried
    await assert.rejects(bob.keyForSender(GROUP, 200, 'mallory'), isCode(ErrorCode.RateLimited, /too many group messages from mallory/))
    assert.equal(server.tried, before, 'past the budget: not asked')
    // Keys handed for an epoch the group is not at: a fresh list each, ten, then refused unasked.
    for (let i = 0; i < 10; i++) await assert.rejects(bob.acceptHandedKey({ from: 'trudy', group: GROUP, epoch: 7, key: newGroupKey() }), isCode(ErrorCode.Forbidden))
    before = server.tried
    await assert.rejects(bob.acceptHandedKey({ from: 'trudy', group: GROUP, epoch: 7, key: newGroupKey() }), isCode(ErrorCode.RateLimited))
    assert.equal(server.tried, before, 'past the budget: not asked')
    // The real key, from its maker, checked against the list bob holds at its epoch: nothing asked.
    await bob.info(GROUP, true)
    before = server.tried
    await bob.acceptHandedKey({ from: 'alice', group: GROUP, epoch: 1, key: real })
    assert.deepEqual(await bob.keyForSender(GROUP, 1, 'mallory'), real, 'a key held here is no look-up, past the budget too')
    assert.equal(server.tried - before, 1, 'only the wrapped copy bob keeps on the rendezvous (put-key)')
  })

  test('whileMember: aborted when the group is left, with the reason said; a later membership starts afresh', () => {
    const alice = member('alice').keyring
    const first = alice.whileMember(GROUP)
    assert.equal(alice.whileMember(GROUP), first, 'one signal per membership')
    assert.equal(first.aborted, false)
    alice.forget(GROUP)
    assert.equal(first.aborted, true)
    assert.ok(is(first.reason, ErrorCode.Forbidden))
    assert.equal(first.reason.message, `you left ${GROUP}`)
    const again = alice.whileMember(GROUP)
    assert.notEqual(again, first)
    assert.equal(again.aborted, false)
  })

  describe('while the rendezvous is away', () => {
    test('the group goes on with the members and epoch last seen, and its key', async () => {
      const { key } = await member('alice').keyring.keyForSending(GROUP)
      server.away = true
      const info = await member('alice').keyring.info(GROUP, true)
      assert.equal(info.epoch, 1)
      assert.deepEqual(info.members.map(m => m.username).sort(), ['alice', 'bob', 'carol'])
      const sending = await member('alice').keyring.keyForSending(GROUP)
      assert.deepEqual(sending.key, key)
      assert.equal(server.rotations, 1, 'no new epoch starts while it is away')
      assert.deepEqual((await member('alice').keyring.keyForDelivery(GROUP, toUsername('bob'))).key, key)
    })

    test('after a restart, the group goes on with the members, epoch and key the last run kept in the store', async () => {
      const { key } = await member('alice').keyring.keyForSending(GROUP)
      server.away = true
      const restarted = new GroupKeyring(member('alice').deps)
      const info = await restarted.info(GROUP)
      assert.equal(info.epoch, 1)
      assert.deepEqual(info.members.map(m => [m.username, m.online]).sort(), [['alice', false], ['bob', false], ['carol', false]], 'nobody known to be online after a restart')
      const hex = (maker: Maker | undefined): unknown => maker === undefined ? undefined : { ...maker, commitment: Buffer.from(maker.commitment).toString('hex'), signature: Buffer.from(maker.signature).toString('hex') }
      assert.deepEqual(hex(info.maker), hex(server.maker), 'the signed commitment handed keys are checked against')
      assert.deepEqual((await restarted.keyForSending(GROUP)).key, key)
      assert.equal(server.rotations, 1, 'no new epoch starts while it is away')
      member('alice').keyring.forget(GROUP)
      await assert.rejects(new GroupKeyring(member('alice').deps).info(GROUP), isCode(ErrorCode.Unreachable), 'a group left is not kept')
    })

    test('a member who left before it went away is not in the list the group goes on with, nor in the store\'s copy', async () => {
      const alice = member('alice')
      await alice.keyring.keyForSending(GROUP)
      server.members.delete('carol')
      alice.keyring.memberLeft(GROUP, 'carol')
      server.away = true
      const names = (info: { members: Array<{ username: string }> }): string[] => info.members.map(m => m.username).sort()
      assert.deepEqual(names((await alice.keyring.keyForSending(GROUP)).info), ['alice', 'bob'], 'a send is not queued for carol')
      await assert.rejects(alice.keyring.keyForDelivery(GROUP, toUsername('carol')), isCode(ErrorCode.Forbidden, /carol is no longer in club/))
      assert.deepEqual(names(await new GroupKeyring(alice.deps).info(GROUP)), ['alice', 'bob'], 'after a restart too')
    })

    test('a group whose last answer asked for a new epoch goes on with the epoch it has, and moves on once it is back (round 9: SENDGROUP failed, the text not kept)', async () => {
      const alice = member('alice')
      const { key } = await alice.keyring.keyForSending(GROUP)
      // carol leaves, and the answer that says so (a new epoch is due) is the last one seen.
      server.members.delete('carol')
      server.rotationNeeded = true
      alice.keyring.memberLeft(GROUP, 'carol')
      assert.equal((await alice.keyring.info(GROUP, true)).rotationNeeded, true)
      server.away = true
      const tried = server.tried
      const away = await alice.keyring.keyForSending(GROUP)
      assert.deepEqual([away.info.epoch, away.key], [1, key], 'sent under the epoch it has, to the members it knows')
      // Asked once: not again for a fresh list, a new epoch or our copy of the key, each of which
      // a frozen rendezvous makes wait 15 s (round 16: a SENDGROUP took 70 s).
      assert.equal(server.tried - tried, 1)
      assert.deepEqual(away.info.members.map(m => m.username).sort(), ['alice', 'bob'])
      assert.deepEqual((await alice.keyring.keyForDelivery(GROUP, toUsername('bob'))).key, key)
      server.away = false
      alice.keyring.rendezvousBack() // as the session says, signed in there again
      const back = await alice.keyring.keyForSending(GROUP)
      assert.equal(back.info.epoch, 2, 'the new epoch starts once the rendezvous is back')
      assert.notDeepEqual(back.key, key)
    })

    test('a key for an epoch past the one last seen, while our sign-in there is renewed, is refused as such, and its sender is not warned; it is taken when handed again (round 14: "… which is at 1")', async () => {
      const alice = member('alice')
      await alice.keyring.keyForSending(GROUP)
      assert.ok(held('bob', 1) !== undefined, 'bob has seen epoch 1')
      server.signingIn.add('bob') // the rendezvous restarted: bob is not signed in there again yet
      server.members.delete('carol')
      server.rotationNeeded = true
      alice.keyring.memberLeft(GROUP, 'carol')
      const { info, key } = await alice.keyring.keyForSending(GROUP)
      assert.equal(info.epoch, 2)
      assert.ok(key !== undefined)
      const refused = await member('bob').keyring.acceptHandedKey({ from: toUsername('alice'), group: GROUP, epoch: 2, key }).then(() => undefined, (err: unknown) => err as Error)
      assert.ok(refused !== undefined && is(refused, ErrorCode.NotSignedIn), `refused until bob can check it: ${String(refused)}`)
      assert.equal(held('bob', 2), undefined)
      assert.deepEqual(alice.shown.filter(e => e.event === 'warning'), [], 'it mends: alice is not warned')
      server.signingIn.delete('bob')
      member('bob').keyring.rendezvousBack()
      await alice.keyring.onKeyNeeded(GROUP, 2, 'bob') // bob, signed in again, asks for it
      assert.ok(held('bob', 2) !== undefined)
      assert.deepEqual(alice.shown.filter(e => e.event === 'warning'), [])
    })

    test('once it did not answer, the last known list is used without asking it again for a while: a message does not wait out its silence at each step (round 18: 45 s)', async () => {
      const alice = member('alice')
      await alice.keyring.keyForSending(GROUP)
      server.away = true
      const tried = server.tried
      await alice.keyring.info(GROUP, true) // unanswered: the last known list
      await alice.keyring.keyForSending(GROUP)
      await alice.keyring.keyForDelivery(GROUP, toUsername('bob'))
      await alice.keyring.info(GROUP, true)
      assert.equal(server.tried - tried, 1, 'asked once')
      server.away = false
      alice.keyring.rendezvousBack()
      assert.equal((await alice.keyring.info(GROUP, true)).epoch, 1)
      assert.equal(server.tried - tried, 2, 'asked again once it is back')
    })

    test('frozen, it holds a send and each member\'s check for the patience only: the last known list is used, its request goes on, and its answer is taken when it comes (round 19: 15–30 s a message)', { timeout: 10_000 }, async () => {
      const alice = member('alice')
      const { key, lastKnown } = await alice.keyring.keyForSending(GROUP)
      assert.equal(lastKnown, false, 'answered')
      await member('bob').keyring.info(GROUP)
      server.members.delete('carol') // carol leaves: a new epoch is due, and the lists are asked again
      server.rotationNeeded = true
      alice.keyring.memberLeft(GROUP, 'carol')
      member('bob').keyring.memberLeft(GROUP, 'carol')
      server.freeze()
      const asked = server.listsAsked
      const away = await alice.keyring.keyForSending(GROUP)
      assert.deepEqual([away.info.epoch, away.key, away.info.members.map(m => m.username).sort(), away.lastKnown], [1, key, ['alice', 'bob'], true], 'the epoch it has, to the members it knows, said to be the last known')
      assert.deepEqual((await alice.keyring.keyForDelivery(GROUP, toUsername('bob'))).key, key)
      assert.deepEqual((await member('bob').keyring.info(GROUP)).members.map(m => m.username).sort(), ['alice', 'bob'], 'bob checks alice against his last known list')
      assert.equal(server.listsAsked - asked, 2, 'one request each, shared by every step, none answered yet')
      server.thaw()
      await sleep(0)
      assert.equal((await alice.keyring.info(GROUP)).rotationNeeded, true, 'the late answer')
      assert.equal(server.listsAsked - asked, 2, 'taken when it came (cached), not asked for again')
      assert.equal((await alice.keyring.keyForSending(GROUP)).info.epoch, 2, 'the new epoch starts with the answer')
    })

    test('MEMBERS\' answer is kept: frozen, a later MEMBERS shows it as last known after the patience (round 22: a group\'s creator had none until it sent)', { timeout: 10_000 }, async () => {
      const carol = member('carol')
      const asked = await carol.keyring.current(GROUP)
      assert.equal(asked.answered, true)
      server.freeze()
      try {
        const kept = await carol.keyring.current(GROUP)
        assert.deepEqual([kept.answered, kept.info.members.map(m => m.username).sort()], [false, ['alice', 'bob', 'carol']])
        assert.equal((await carol.keyring.info(GROUP)).members.length, 3, 'and a send has it too')
      } finally {
        server.thaw()
      }
    })

    test('frozen after a member joined, a send waits for the answer: the last known list lacks the joiner', { timeout: 10_000 }, async () => {
      const alice = member('alice')
      await alice.keyring.keyForSending(GROUP)
      await join('dave')
      pinAll()
      alice.keyring.memberJoined(GROUP)
      server.freeze()
      let sentTo: string[] | undefined
      const sending = alice.keyring.keyForSending(GROUP).then(({ info }) => { sentTo = info.members.map(m => m.username).sort() })
      await sleep(PATIENCE_MS * 4)
      assert.equal(sentTo, undefined, 'still waiting past the patience')
      server.thaw()
      await sending
      assert.deepEqual(sentTo, ['alice', 'bob', 'carol', 'dave'])
    })

    test('a group never seen before cannot be reached (ERR_UNREACHABLE)', async () => {
      server.away = true
      await assert.rejects(member('bob').keyring.info(GROUP), isCode(ErrorCode.Unreachable))
    })

    test('a refusal from a rendezvous that is there is not covered up by the last answer', async () => {
      await member('bob').keyring.info(GROUP)
      server.members.delete('bob')
      await assert.rejects(member('bob').keyring.info(GROUP, true), isCode(ErrorCode.Forbidden))
    })
  })
})
