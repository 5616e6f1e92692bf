/**
 * Issue 7, item 2: a hostile-peer harness. One real rendezvous, two real peer processes as
 * victims (`victim`, and `friend`, who also sends the legitimate messages that prove the victim
 * still serves), and raw libp2p nodes (test/helpers/hostile.ts) that are either real users
 * (`mallory`, `staller`) or strangers with no account, speaking the direct and group protocols
 * by hand. Each attack must be refused with a clear warning (or silently, when the refusal is a
 * timeout), leave nothing in the victim's history or downloads, and leave the victim serving.
 *
 * The stalls (STEP_TIMEOUT_MS = 15 s) start in `before` and are checked by the last test, so
 * their wait overlaps every other test instead of adding to it: three streams to `friend` that
 * stop mid-way, and a 3 MiB SENDFILE from the victim to `staller`, which takes the file and never
 * grants the flow-control credit the sender needs after 2 MiB.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { access, readFile, readdir, stat, statfs, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { decode } from 'cborg'
import { CHUNK_SIZE, generateEphemeralKeyPair, sealFrame } from '../../common/crypto/index.ts'
import { ErrorCode, is as isError } from '../../common/errors.ts'
import { encodeBody } from '../../common/wire/codec.ts'
import { MAX_FILE_BYTES, MAX_FRAME_BYTES } from '../../common/wire/limits.ts'
import { MAX_INBOUND_STREAMS, STEP_TIMEOUT_MS } from '../../peer/constants.ts'
import { WINDOW_CHUNKS, diskMarginFor } from '../../peer/files/constants.ts'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { PeerEventLine, ServerProcess } from '../../harness/processes.ts'
import { DIRECT_PROTOCOL, GROUP_PROTOCOL, Hostile, outcome, rawHeader, varint } from '../helpers/hostile.ts'
import type { HostileSession, Outcome, StarvedSender, Target } from '../helpers/hostile.ts'

const PASSWORD = 'victim of circumstance 7'

/** A stalled stream, watched from the moment its last byte went out. */
interface Stall {
  what: string
  ended: Promise<Outcome>
}

describe('hostile peers: refused, nothing stored, the victim keeps serving', () => {
  let dir: string
  let server: ServerProcess
  let victim: PeerProcess
  let friend: PeerProcess
  /** Every process and node started, to stop in `after` even if `before` failed half-way. */
  const peers: PeerProcess[] = []
  let mallory: Hostile
  let staller: Hostile
  let stranger: Hostile
  const hostiles: Hostile[] = []
  let victimAt: Target
  let friendAt: Target
  let downloads: string
  const stalls: Stall[] = []
  /** The victim's file to a receiver that never grants a credit: the stream, once it arrives. */
  let starved: Promise<StarvedSender>
  let starvedFrom: number
  /** Messages mallory sent honestly, so "nothing stored" can compare exact histories. */
  const honest: string[] = []

  /** A warning from `peer` (after event index `from`) naming `peerId`, with `code`. */
  const warned = async (peer: PeerProcess, from: number, code: string, peerId: string, message?: RegExp): Promise<PeerEventLine> => {
    const event = await peer.waitFor(e => e.event === 'warning' && e.code === code && String(e.message).includes(peerId), 10_000, from)
    if (message !== undefined) assert.match(String(event.message), message)
    return event
  }

  /** A legitimate SEND from friend still reaches the victim (and friend sees it delivered). */
  const stillServes = async (label: string): Promise<void> => {
    const text = `still serving after ${label}`
    const arrived = victim.waitFor(is('message', { from: 'friend', text }))
    await friend.run(`SEND victim ${text}`, is('delivered', { to: 'victim' }))
    await arrived
  }

  const history = async (peer: PeerProcess, user: string): Promise<string[]> => {
    const event = await peer.run(`HISTORY ${user} 1000`, e => e.event === 'history' || e.event === 'error')
    assert.equal(event.event, 'history', JSON.stringify(event))
    return (event.messages as Array<{ text: string }>).map(m => m.text)
  }

  /** Nothing from mallory in the victim's history but what mallory sent honestly. */
  const storedNothing = async (): Promise<void> => {
    assert.deepEqual(await history(victim, 'mallory'), honest)
  }

  const listDownloads = async (folder = downloads): Promise<string[]> => {
    try {
      return (await readdir(folder)).sort()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
  }

  /** Poll until `check` holds (the victim cleans up asynchronously), else fail with `what`. */
  const eventually = async (check: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(what)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /** Write, ignoring a failure: the victim may reset the stream while our bytes are in flight. */
  const writeAnyway = async (session: { write: (frame: Uint8Array) => Promise<void> }, frame: Uint8Array): Promise<void> => {
    await session.write(frame).catch(() => undefined)
  }

  /** Mallory's honest message: the real protocol (a session), to the end, with the victim's ACK. */
  const honestMessage = async (text: string): Promise<void> => {
    const session = await mallory.direct(victimAt, 'SESSION')
    const id = randomBytes(16)
    await session.write(session.sealText(id, text))
    const ack = await session.receiveFrame()
    assert.ok(ack.t === 'a' && ack.ok.length === 1 && ack.no.length === 0, JSON.stringify(ack))
    assert.deepEqual(Buffer.from(ack.ok[0] ?? []), id)
    session.framed.abort(new Error('done'))
    honest.push(text)
  }

  before(async () => {
    dir = await tempDir('parley-hostile-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    const start = async (name: string): Promise<PeerProcess> => {
      const peer = await PeerProcess.start(name, server.addr.toString(), join(dir, name))
      peers.push(peer)
      return peer
    }
    const hostile = async (make: Promise<Hostile>): Promise<Hostile> => {
      const made = await make
      hostiles.push(made)
      return made
    }
    ;[victim, friend] = await Promise.all([start('victim'), start('friend')])
    await Promise.all([
      victim.run(`SIGNUP victim ${PASSWORD}`, is('signed-up')),
      friend.run(`SIGNUP friend ${PASSWORD}`, is('signed-up'))
    ])
    downloads = join(dir, 'victim', 'victim', 'downloads')
    ;[mallory, staller, stranger] = await Promise.all([
      hostile(Hostile.user(server.addr, 'mallory')), hostile(Hostile.user(server.addr, 'staller')), hostile(Hostile.stranger(server.addr))
    ])
    victimAt = await mallory.find('victim')
    friendAt = await staller.find('friend')
    await victim.run('JOIN club', is('joined'))
    await startStalls()
    let onStarved: (result: Promise<StarvedSender>) => void = () => {}
    starved = new Promise<StarvedSender>(resolve => { onStarved = resolve })
    await staller.starveSenders(result => { onStarved(result) })
    const big = join(dir, 'big.bin')
    await writeFile(big, randomBytes(3 * 1024 * 1024))
    starvedFrom = victim.events.length
    victim.send(`SENDFILE ${big} staller`)
  })

  after(async () => {
    await Promise.all(hostiles.map(async h => { await h.stop() }))
    await Promise.all(peers.map(async p => await p.kill()))
    await (server as ServerProcess | undefined)?.stop('SIGKILL')
    if (dir !== undefined) await removeDir(dir)
  })

  /** Three streams to `friend` that stop mid-way; the last test checks friend aborted each. */
  async function startStalls (): Promise<void> {
    const watch = (what: string, session: { framed: Parameters<typeof outcome>[0] }): void => {
      stalls.push({ what, ended: outcome(session.framed, STEP_TIMEOUT_MS + 10_000) })
    }
    // 1. Opens the stream and never sends its header.
    watch('no header', { framed: await staller.open(friendAt, DIRECT_PROTOCOL) })
    // 2. The header, then never the handshake. (A session that is open and idle after its
    //    handshake is legitimate: it lives as long as the connection.)
    const quiet = await staller.open(friendAt, DIRECT_PROTOCOL)
    await quiet.write(rawHeader('SESSION'))
    watch('no handshake after the header', { framed: quiet })
    // 3. A file of three chunks that stops after the first: friend must not keep the stream
    //    (nor the .part) beyond a step's time.
    const size = 3 * CHUNK_SIZE
    const offer = await staller.offerFile(friendAt, 'stalled.bin', size)
    await offer.session.write(offer.session.meta(offer, size, randomBytes(32)))
    assert.equal(await offer.session.verdict(offer), undefined, 'friend takes the file')
    const progress = friend.events.length
    await offer.session.write(offer.session.chunk(offer, 0, false, randomBytes(CHUNK_SIZE)))
    await friend.waitFor(is('progress', { bytes: CHUNK_SIZE }), 10_000, progress)
    watch('a file stopped after its first chunk', offer.session)
  }

  test('1. a node that is no registered user is refused before the handshake; nothing stored', async () => {
    const from = victim.events.length
    await assert.rejects(stranger.direct(victimAt, 'SESSION'), (err: unknown) => isError(err, ErrorCode.Unreachable))
    await warned(victim, from, ErrorCode.NotFound, stranger.peerId, /no user with peer id/)

    // Eagerly, as a sender that does not wait: header, key and a sealed message back to back.
    const framed = await stranger.open(victimAt, DIRECT_PROTOCOL)
    const header = rawHeader('SESSION')
    const keys = { encKey: randomBytes(24), macKey: randomBytes(32) }
    await framed.write(header)
    await framed.write(encodeBody({ eph: generateEphemeralKeyPair().publicKey }))
    await writeAnyway(framed, sealFrame(keys, 0n, header, encodeBody({ id: randomBytes(16), text: 'let me in', sentAt: Date.now() })))
    assert.equal((await outcome(framed)).end, 'reset')

    // The group protocol asks the same question first.
    const group = await stranger.open(victimAt, GROUP_PROTOCOL)
    const groupFrom = victim.events.length
    await group.write(rawHeader('GROUP club photo.png'))
    assert.equal((await outcome(group)).end, 'reset')
    await warned(victim, groupFrom, ErrorCode.NotFound, stranger.peerId)

    assert.equal(victim.events.slice(from).filter(e => e.event === 'message' || e.event === 'group-message').length, 0)
    await stillServes('an unknown sender')
  })

  test('2. a registered hostile is shown as itself whatever its payload claims', async () => {
    const claim = 'this is friend speaking, from: friend'
    const shown = victim.waitFor(is('message', { text: claim }))
    await honestMessage(claim)
    const event = await shown
    assert.equal(event.from, 'mallory')
    assert.ok(!(await history(victim, 'friend')).includes(claim), 'stored under friend')

    // There is no sender field: a body that brings one is malformed, not believed.
    const from = victim.events.length
    const session = await mallory.direct(victimAt, 'SESSION')
    await session.write(session.sealText(randomBytes(16), 'forged', { from: 'friend' }))
    assert.equal((await outcome(session.framed)).end, 'reset')
    await warned(victim, from, ErrorCode.Malformed, mallory.peerId, /unknown field "from"/)
    assert.ok(!(await history(victim, 'friend')).includes('forged'))
    await storedNothing()
  })

  test('3. replayed, reordered, truncated and bit-flipped frames fail with ERR_INTEGRITY', async () => {
    const integrity = async (what: string, attack: () => Promise<HostileSession>, message: RegExp): Promise<void> => {
      const from = victim.events.length
      const session = await attack()
      assert.equal((await outcome(session.framed)).end, 'reset', what)
      await warned(victim, from, ErrorCode.Integrity, mallory.peerId, message)
    }
    const text = (session: HostileSession, label: string): Uint8Array => session.sealText(randomBytes(16), `hostile ${label}`)

    // A session's frames carry sequence numbers: the same frame twice is a replay within it.
    // (The first copy is a real message: it is stored and shown, so it is sent honestly.)
    await integrity('replay in one session', async () => {
      const session = await mallory.direct(victimAt, 'SESSION')
      const id = randomBytes(16)
      const frame = session.sealText(id, 'sent once, then replayed')
      honest.push('sent once, then replayed')
      await session.write(frame)
      const ack = await session.receiveFrame()
      assert.ok(ack.t === 'a' && Buffer.from(ack.ok[0] ?? []).equals(id), JSON.stringify(ack))
      await writeAnyway(session, frame)
      return session
    }, /frame MAC mismatch/)
    // Two frames in the wrong order.
    await integrity('reordered', async () => {
      const session = await mallory.direct(victimAt, 'SESSION')
      const first = text(session, 'first')
      const second = text(session, 'second')
      await session.write(second)
      await writeAnyway(session, first)
      return session
    }, /frame MAC mismatch/)
    // An authentic frame from an earlier session, replayed in a new one.
    const earlier = await mallory.direct(victimAt, 'SESSION')
    const recorded = text(earlier, 'replayed across sessions')
    earlier.framed.abort(new Error('recorded'))
    await integrity('replay across sessions', async () => {
      const session = await mallory.direct(victimAt, 'SESSION')
      await session.write(recorded)
      return session
    }, /frame MAC mismatch/)
    // Truncated: one byte short (not whole blocks), then one block short (tag misplaced).
    for (const cut of [1, 8]) {
      await integrity(`truncated by ${cut}`, async () => {
        const session = await mallory.direct(victimAt, 'SESSION')
        const frame = text(session, `truncated ${cut}`)
        await session.write(frame.subarray(0, frame.length - cut))
        return session
      }, cut === 1 ? /frame length is not whole blocks/ : /frame MAC mismatch/)
    }
    // One flipped bit in the IV, the ciphertext, the tag.
    for (const position of ['iv', 'ciphertext', 'tag'] as const) {
      await integrity(`bit flipped in the ${position}`, async () => {
        const session = await mallory.direct(victimAt, 'SESSION')
        const frame = text(session, `flipped ${position}`)
        const at = position === 'iv' ? 3 : position === 'ciphertext' ? 12 : frame.length - 1
        frame[at] = (frame[at] ?? 0) ^ 0x10
        await session.write(frame)
        return session
      }, /frame MAC mismatch/)
    }
    // A file chunk sent twice (the second in place of chunk 1), and chunk 1 before chunk 0.
    for (const order of [[0, 0], [1, 0]]) {
      await integrity(`file chunks ${order.join(', ')}`, async () => {
        const size = 3 * CHUNK_SIZE
        const offer = await mallory.offerFile(victimAt, 'chunks.bin', size)
        await offer.session.write(offer.session.meta(offer, size, randomBytes(32)))
        assert.equal(await offer.session.verdict(offer), undefined, 'the victim takes the file')
        for (const index of order) await writeAnyway(offer.session, offer.session.chunk(offer, index, false, randomBytes(CHUNK_SIZE)))
        return offer.session
      }, /file chunk \d failed authentication/)
    }
    await storedNothing()
    await eventually(async () => (await listDownloads()).length === 0, `left in downloads: ${(await listDownloads()).join(', ')}`)
    await stillServes('integrity failures')
  })

  test('4. a cut file leaves nothing; hostile file names land only in downloads, sanitised', async () => {
    const size = 3 * CHUNK_SIZE + 5
    // Cut before the final chunk: our half closed (EOF), or the stream reset.
    for (const cut of ['close', 'reset'] as const) {
      const from = victim.events.length
      const offer = await mallory.offerFile(victimAt, `cut-${cut}.bin`, size)
      assert.equal(offer.have, false)
      await offer.session.write(offer.session.meta(offer, size, randomBytes(32)))
      await offer.session.write(offer.session.chunk(offer, 0, false, randomBytes(CHUNK_SIZE)))
      await offer.session.write(offer.session.chunk(offer, 1, false, randomBytes(CHUNK_SIZE)))
      // Progress events are throttled, so watch the .part itself grow to both chunks.
      const part = join(downloads, `cut-${cut}.bin.part`)
      await eventually(async () => (await stat(part).catch(() => undefined))?.size === 2 * CHUNK_SIZE, 'both chunks on disk', 10_000)
      assert.deepEqual(await listDownloads(), [`cut-${cut}.bin.part`], 'the partial file is there while it streams')
      // Closed between two chunks, the stream looks like a sender whose process ended: not a
      // fault to warn about (its outbox sends the file again), but the partial file goes.
      if (cut === 'close') await offer.session.framed.stream.close()
      else offer.session.framed.abort(new Error('cut'))
      await eventually(async () => (await listDownloads()).length === 0, `${cut}: left ${(await listDownloads()).join(', ')}`)
      assert.equal(victim.events.slice(from).filter(e => e.event === 'file').length, 0)
      assert.deepEqual(victim.events.slice(from).filter(e => e.event === 'warning'), [])
    }
    // A non-final chunk flagged final: the truncation is seen, not taken for the end.
    {
      const from = victim.events.length
      const offer = await mallory.offerFile(victimAt, 'early-final.bin', size)
      await offer.session.write(offer.session.meta(offer, size, randomBytes(32)))
      assert.equal(await offer.session.verdict(offer), undefined, 'the victim takes the file')
      await offer.session.write(offer.session.chunk(offer, 0, true, randomBytes(CHUNK_SIZE)))
      assert.equal((await outcome(offer.session.framed)).end, 'reset')
      await warned(victim, from, ErrorCode.Integrity, mallory.peerId, /file chunk 0 failed authentication/)
      await eventually(async () => (await listDownloads()).length === 0, 'early final left a file')
    }

    // Names: sent through the real file protocol; the victim decides where they land. The
    // `file` event and the history name a file as sent (made safe): a second report.txt is
    // saved as "report (1).txt" and still named report.txt.
    const cases: Array<[sent: string, saved: string, named?: string]> = [
      ['../../x', '_.._x'],
      ['..\\..\\win.ini', '_.._win.ini'],
      ['/etc/passwd', '_etc_passwd'],
      ['..', 'file'],
      ['con', '_con'],
      ['evil\u202Egnp.exe', 'evilgnp.exe'],
      ['rlm\u200Fname.txt', 'rlmname.txt'],
      [`${'a'.repeat(250)}.txt`, `${'a'.repeat(246)}.txt`],
      ['report.txt', 'report.txt'],
      ['report.txt', 'report (1).txt', 'report.txt']
    ]
    const expected = new Map<string, Buffer>()
    for (const [index, [sent, saved, named = saved]] of cases.entries()) {
      const content = randomBytes(100 + index)
      const path = join(dir, `payload-${index}`)
      await writeFile(path, content)
      const from = victim.events.length
      await mallory.sendFileNamed(victimAt, sent, path, content.length)
      const event = await victim.waitFor(is('file', { from: 'mallory' }), 10_000, from)
      assert.equal(dirname(String(event.path)), downloads, `${JSON.stringify(sent)} saved at ${String(event.path)}`)
      assert.equal(basename(String(event.path)), saved, JSON.stringify(sent))
      assert.equal(event.name, named)
      expected.set(saved, content)
      honest.push(named)
    }
    // Names the header itself refuses: too long, control characters.
    const refused: Array<[name: string, code: string, message: RegExp]> = [
      // (a header frame that long is refused on its length, before it is read: MAX_OPENING_FRAME_BYTES)
      ['x'.repeat(10_000), ErrorCode.TooLarge, /frame larger than the limit/],
      ['x'.repeat(600), ErrorCode.TooLarge, /signal header too long/],
      [`${'b'.repeat(300)}.txt`, ErrorCode.TooLarge, /file name too long/],
      ['bell\u0007.txt', ErrorCode.Malformed, /control characters/],
      ['new\nline.txt', ErrorCode.Malformed, /control characters/],
      ['tab\tname', ErrorCode.Malformed, /control characters/],
      ['nel\u0085name.txt', ErrorCode.Malformed, /control characters/]
    ]
    for (const [name, code, message] of refused) {
      const from = victim.events.length
      await assert.rejects(mallory.offerFile(victimAt, name, 10))
      await warned(victim, from, code, mallory.peerId, message)
    }

    assert.deepEqual(await listDownloads(), [...expected.keys()].sort())
    for (const [name, content] of expected) assert.deepEqual(await readFile(join(downloads, name)), content, name)
    // Nothing escaped: not beside the data folders, not at the root.
    for (const outside of [join(dir, 'x'), join(dir, 'victim', 'x'), join(dir, 'victim', 'victim', 'x')]) {
      await assert.rejects(access(outside), { code: 'ENOENT' }, outside)
    }
    await stillServes('hostile file names')
  })

  test('5. frames over MAX_FRAME_BYTES are refused with a reset, at once, on both protocols', async () => {
    const tooLarge = async (what: string, protocol: string, send: (framed: Awaited<ReturnType<Hostile['open']>>) => Promise<void>, message: RegExp): Promise<void> => {
      const from = victim.events.length
      const framed = await mallory.open(victimAt, protocol)
      await send(framed)
      const ended = await outcome(framed)
      assert.equal(ended.end, 'reset', `${what}: ${JSON.stringify(ended)}`)
      await warned(victim, from, ErrorCode.TooLarge, mallory.peerId, message)
    }
    const oversized = new Uint8Array(MAX_FRAME_BYTES + 1).fill(0x4d)
    await tooLarge('oversized header frame', DIRECT_PROTOCOL, async framed => { await writeAnyway(framed, oversized) }, /frame larger than the limit/)
    await tooLarge('oversized group header frame', GROUP_PROTOCOL, async framed => { await writeAnyway(framed, oversized) }, /frame larger than the limit/)
    // A frame that fits but a header that does not (512 bytes).
    await tooLarge('long header', DIRECT_PROTOCOL, async framed => { await framed.write(rawHeader(`MSG ${'m'.repeat(600)}`)) }, /signal header too long/)
    // A length prefix just over the limit with nothing behind it: refused on the prefix alone,
    // not after waiting for (and buffering) the data.
    const started = Date.now()
    await tooLarge('limit + 1 announced', DIRECT_PROTOCOL, async framed => { framed.stream.send(varint(MAX_FRAME_BYTES + 1)) }, /frame larger than the limit/)
    assert.ok(Date.now() - started < 3_000, 'refused on the length prefix')
    // A frame before the stream's keys (the header, the hello) announced within the frame limit
    // but far over what such a frame needs: refused on its prefix too, not held while its 80 KiB
    // were awaited (round 43: strangers' streams held 80 KiB each, 270 MB in all).
    const began = Date.now()
    await tooLarge('a header of 80 KiB announced', DIRECT_PROTOCOL, async framed => { framed.stream.send(varint(MAX_FRAME_BYTES)) }, /frame larger than the limit/)
    await tooLarge('a group header of 80 KiB announced', GROUP_PROTOCOL, async framed => { framed.stream.send(varint(MAX_FRAME_BYTES)) }, /frame larger than the limit/)
    await tooLarge('a hello of 80 KiB announced', DIRECT_PROTOCOL, async framed => {
      await framed.write(rawHeader('SESSION'))
      framed.stream.send(varint(MAX_FRAME_BYTES))
    }, /frame larger than the limit/)
    assert.ok(Date.now() - began < 3_000, 'refused on the length prefix')
    // After the handshake, a sealed-frame slot filled with too much.
    {
      const from = victim.events.length
      const session = await mallory.direct(victimAt, 'SESSION')
      await writeAnyway(session, oversized)
      assert.equal((await outcome(session.framed)).end, 'reset')
      await warned(victim, from, ErrorCode.TooLarge, mallory.peerId)
    }
    await storedNothing()
    await stillServes('oversized frames')
  })

  test('6. malformed headers and bodies, and headers on the wrong protocol, are refused', async () => {
    const refused = async (what: string, protocol: string, attack: (framed: Awaited<ReturnType<Hostile['open']>>) => Promise<void>, code: string, message: RegExp): Promise<void> => {
      const from = victim.events.length
      const framed = await mallory.open(victimAt, protocol)
      await attack(framed)
      const ended = await outcome(framed)
      assert.equal(ended.end, 'reset', `${what}: ${JSON.stringify(ended)}`)
      await warned(victim, from, code, mallory.peerId, message)
    }
    const header = (line: string | Uint8Array) => async (framed: Awaited<ReturnType<Hostile['open']>>): Promise<void> => {
      await framed.write(typeof line === 'string' ? rawHeader(line) : line)
    }
    await refused('garbage header', DIRECT_PROTOCOL, header(Uint8Array.of(0xff, 0xfe, 0x00, 0x80)), ErrorCode.Malformed, /not UTF-8/)
    await refused('empty header', DIRECT_PROTOCOL, header(new Uint8Array(0)), ErrorCode.Malformed, /unknown signal header/)
    await refused('unknown verb', DIRECT_PROTOCOL, header('HELLO there'), ErrorCode.Malformed, /unknown signal header "HELLO"/)
    await refused('lower-case verb', DIRECT_PROTOCOL, header('msg'), ErrorCode.Malformed, /unknown signal header/)
    await refused('MSG with arguments', DIRECT_PROTOCOL, header('MSG to everyone'), ErrorCode.Malformed, /MSG takes no arguments/)
    await refused('file size not a number', DIRECT_PROTOCOL, header('FILE a.txt 1e9'), ErrorCode.Malformed, /decimal/)
    await refused('file size too large', DIRECT_PROTOCOL, header('FILE a.txt 99999999999999999'), ErrorCode.Malformed, /decimal/)
    await refused('bad group in KEY', DIRECT_PROTOCOL, header('KEY ../etc 1'), ErrorCode.Malformed, /invalid group name/)
    await refused('GROUP on the direct protocol', DIRECT_PROTOCOL, header('GROUP club'), ErrorCode.Protocol, /only SESSION and FILE open a direct stream/)
    await refused('MSG as a stream of its own', DIRECT_PROTOCOL, header('MSG'), ErrorCode.Protocol, /only SESSION and FILE open a direct stream/)
    await refused('MSG on the group protocol', GROUP_PROTOCOL, header('MSG'), ErrorCode.Protocol, /only GROUP <group> <file name> opens a group stream/)
    await refused('a group text as a stream of its own', GROUP_PROTOCOL, header('GROUP club'), ErrorCode.Protocol, /group texts travel in a direct session/)
    await refused('FILE on the group protocol', GROUP_PROTOCOL, header('FILE a.txt 3'), ErrorCode.Protocol, /only GROUP <group> <file name> opens a group stream/)
    // Bytes that are not even a frame: a length prefix of 2 GiB (5 bytes where 3 suffice), and
    // one that never ends. The second used to be read byte by byte into memory until the step
    // timeout (fixed in common/wire/frames.ts): it must be refused at once.
    await refused('2 GiB length prefix', DIRECT_PROTOCOL, async framed => { framed.stream.send(varint(2 ** 31)) }, ErrorCode.Malformed, /malformed frame length/)
    const started = Date.now()
    await refused('endless varint', DIRECT_PROTOCOL, async framed => { framed.stream.send(new Uint8Array(64 * 1024).fill(0xff)) }, ErrorCode.Malformed, /malformed frame length/)
    assert.ok(Date.now() - started < 3_000, `an endless length prefix took ${Date.now() - started} ms to refuse`)
    // Handshakes that are not: not CBOR, a key of the wrong length, a low-order point.
    const hello = (body: Uint8Array) => async (framed: Awaited<ReturnType<Hostile['open']>>): Promise<void> => {
      await framed.write(rawHeader('SESSION'))
      await framed.write(body)
    }
    await refused('handshake not CBOR', DIRECT_PROTOCOL, hello(Uint8Array.of(0xff, 0x00)), ErrorCode.Malformed, /not valid CBOR/)
    await refused('handshake key too short', DIRECT_PROTOCOL, hello(encodeBody({ eph: randomBytes(31) })), ErrorCode.Malformed, /too short/)
    await refused('handshake with extra field', DIRECT_PROTOCOL, hello(encodeBody({ eph: randomBytes(32), admin: true })), ErrorCode.Malformed, /unknown field/)
    // (The victim sends its own key before it computes the secret; harmless, then it resets.)
    await refused('low-order ephemeral key', DIRECT_PROTOCOL, async framed => {
      await hello(encodeBody({ eph: new Uint8Array(32) }))(framed)
      await framed.read()
    }, ErrorCode.Integrity, /low-order/)
    // Authentic (sealed under the session keys) but malformed: session frames, and message
    // bodies inside well-formed frames.
    const sealed = async (what: string, body: Record<string, unknown> | Uint8Array, message: RegExp, code: string = ErrorCode.Malformed, inside = !(body instanceof Uint8Array)): Promise<void> => {
      const from = victim.events.length
      const session = await mallory.direct(victimAt, 'SESSION')
      await session.write(inside ? session.sealMessage('MSG', randomBytes(16), body) : session.seal(body))
      const ended = await outcome(session.framed)
      assert.equal(ended.end, 'reset', `${what}: ${JSON.stringify(ended)}`)
      await warned(victim, from, code, mallory.peerId, message)
    }
    await sealed('sealed garbage', Uint8Array.of(0x1c, 0x1d, 0x1e), /not valid CBOR/)
    await sealed('a list, not a map', Uint8Array.of(0x80), /must be a map/)
    await sealed('text of the wrong type', { id: randomBytes(16), text: 42, sentAt: 1 }, /text must be a string/)
    await sealed('id of the wrong length', { id: randomBytes(15), text: 'x', sentAt: 1 }, /id is too short/)
    await sealed('empty text', { id: randomBytes(16), text: '', sentAt: 1 }, /text is too short/)
    await sealed('text over the limit', { id: randomBytes(16), text: 'y'.repeat(16 * 1024 + 1), sentAt: 1 }, /text is longer than/, ErrorCode.TooLarge)
    await sealed('a frame of unknown type', { t: 'q', id: randomBytes(16) }, /unknown session frame type/, ErrorCode.Malformed, false)
    await sealed('a message frame without its header', { t: 'm', id: randomBytes(16), b: new Uint8Array(0) }, /message.h is missing/, ErrorCode.Malformed, false)
    await sealed('a FILE header inside a session', { t: 'm', h: rawHeader('FILE a.txt 3'), id: randomBytes(16), b: new Uint8Array(0) }, /FILE does not belong inside a session/, ErrorCode.Protocol, false)
    // The text a message follows (peer/arrival-order.ts): of the wrong length, or itself, which
    // would have it wait for ever.
    await sealed('a message that follows an id of the wrong length', { t: 'm', h: rawHeader('MSG'), id: randomBytes(16), b: new Uint8Array(0), p: randomBytes(8) }, /message.p is too short/, ErrorCode.Malformed, false)
    const itself = randomBytes(16)
    await sealed('a message that follows itself', { t: 'm', h: rawHeader('MSG'), id: itself, b: encodeBody({ id: itself, text: 'x', sentAt: 1 }), p: itself }, /cannot follow itself/, ErrorCode.Protocol, false)
    // A group stream from a non-member, with a well-formed intro.
    const intro = encodeBody({ epoch: 1, nonce: randomBytes(16), id: randomBytes(16) })
    await refused('group file from a non-member', GROUP_PROTOCOL, async framed => {
      await framed.write(rawHeader('GROUP club x.bin'))
      await framed.write(intro)
    }, ErrorCode.Forbidden, /mallory is not a member of club/)
    // A group text from a non-member inside a session: refused alone (the session is sound),
    // with a warning, and the refusal comes back in the ack frame.
    {
      const from = victim.events.length
      const session = await mallory.direct(victimAt, 'SESSION')
      const id = randomBytes(16)
      await session.write(session.sealMessage('GROUP club', id, { epoch: 1, nonce: randomBytes(16), sealed: randomBytes(64) }))
      const ack = await session.receiveFrame()
      assert.ok(ack.t === 'a' && ack.ok.length === 0 && ack.no[0]?.code === ErrorCode.Forbidden, JSON.stringify(ack))
      await warned(victim, from, ErrorCode.Forbidden, mallory.peerId, /mallory is not a member of club/)
      session.framed.abort(new Error('done'))
    }
    await refused('group intro not CBOR', GROUP_PROTOCOL, async framed => {
      await framed.write(rawHeader('GROUP club x.bin'))
      await framed.write(Uint8Array.of(0xff))
    }, ErrorCode.Malformed, /not valid CBOR/)
    await storedNothing()
    assert.deepEqual(await history(victim, 'club'), [])
    await stillServes('malformed input')
  })

  test('7. a flood of 200 streams on one connection: the excess is refused, a third peer still gets through', async () => {
    const from = victim.events.length
    const started = Date.now()
    const attempts = await Promise.allSettled(Array.from({ length: 200 }, async () =>
      await mallory.direct(victimAt, 'SESSION', AbortSignal.timeout(10_000))))
    const held = attempts.flatMap(a => a.status === 'fulfilled' ? [a.value] : [])
    const refused = attempts.flatMap(a => a.status === 'rejected' ? [a.reason as unknown] : [])
    assert.ok(held.length > 0, 'some streams get through')
    assert.ok(held.length <= MAX_INBOUND_STREAMS, `${held.length} streams accepted at once, limit ${MAX_INBOUND_STREAMS}`)
    // The rest were reset by the victim, at once (not left to time out).
    for (const err of refused) assert.ok(isError(err, ErrorCode.Unreachable) && /reset|closed/.test(err.message), String(err))
    assert.ok(Date.now() - started < 5_000, `the flood took ${Date.now() - started} ms to settle`)
    // While mallory holds every stream it could get: friend is served, and so is the prompt.
    await stillServes('a flood')
    await victim.run('WHO', is('who'))
    // Refusals by the stream limit are libp2p's, before any of our code: no warning per stream.
    assert.deepEqual(victim.events.slice(from).filter(e => e.event === 'warning'), [])
    for (const session of held) session.framed.abort(new Error('flood over'))
    // Mallory's streams are released: it may talk honestly again on the same connection.
    await eventually(async () => mallory.connectionTo(victimAt)?.streams.filter(s => s.protocol === DIRECT_PROTOCOL).length === 0, 'held streams not released')
    await honestMessage('after the flood, an honest line')
    await storedNothing()
  })

  test('9. rendezvous: every operation wants a sign-in, SQL-shaped names are invalid, accounts survive', async () => {
    const latecomer = await Hostile.stranger(server.addr)
    hostiles.push(latecomer)
    const rv = latecomer.rendezvous
    const notSignedIn = (err: unknown): boolean => isError(err, ErrorCode.NotSignedIn) && err.message === 'sign in first'
    // (lookup, list, join and subscribe are covered by rendezvous-server.test.ts)
    await assert.rejects(rv.whois(victimAt.peerId), notSignedIn)
    await assert.rejects(rv.who(), notSignedIn)
    await assert.rejects(rv.create('club2'), notSignedIn)
    await assert.rejects(rv.leave('club'), notSignedIn)
    await assert.rejects(rv.members('club'), notSignedIn)
    await assert.rejects(rv.rotate('club', 0, new Uint8Array(88), { commitment: new Uint8Array(32), signature: new Uint8Array(64) }), notSignedIn)
    await assert.rejects(rv.putKey('club', 1, randomBytes(88)), notSignedIn)
    await assert.rejects(rv.getKeys('club'), notSignedIn)
    await assert.rejects(rv.groups(), notSignedIn)

    // A length prefix that never ends: answered at once, not read into memory until the timeout.
    const started = Date.now()
    const raw = await latecomer.openRendezvous()
    raw.stream.send(new Uint8Array(64 * 1024).fill(0xff))
    const answer = decode(await raw.read({ signal: AbortSignal.timeout(5_000) })) as { ok: boolean, code: string }
    raw.abort(new Error('answered'))
    assert.deepEqual([answer.ok, answer.code], [false, ErrorCode.Malformed])
    assert.ok(Date.now() - started < 3_000, `the rendezvous took ${Date.now() - started} ms to refuse`)

    const invalid = (err: unknown): boolean => isError(err, ErrorCode.InvalidName)
    const sqlNames = ["a'; DROP TABLE users;--", 'x" OR 1=1', "' OR '1'='1", "victim'--", 'victim;', 'mallory"']
    const account = mallory.account
    assert.ok(account !== undefined)
    for (const name of sqlNames) {
      await assert.rejects(rv.signup({ username: name, salt: account.salt, kdf: account.kdf, authKey: account.authKey, identity: account.identity, addrs: [] }), invalid, name)
      await assert.rejects(rv.salt(name), invalid, name)
      await assert.rejects(rv.signin({ username: name, authKey: account.authKey, addrs: [] }), invalid, name)
      await assert.rejects(mallory.rendezvous.lookup(name), invalid, name)
      await assert.rejects(mallory.rendezvous.create(name), invalid, name)
    }
    // Peer ids are free text on the wire: they must only ever be a bound parameter.
    for (const peerId of ["x' OR '1'='1", '%', '*', `${victimAt.peerId}' --`]) {
      await assert.rejects(mallory.rendezvous.whois(peerId), (err: unknown) => isError(err, ErrorCode.NotFound), peerId)
    }
    // "_" is a legal name character and a LIKE wildcard: it matches nobody but a user of that name.
    await assert.rejects(mallory.rendezvous.lookup('______'), (err: unknown) => isError(err, ErrorCode.NotFound))

    // Every account still works: found, signed in, and talking.
    for (const name of ['victim', 'friend', 'mallory', 'staller']) assert.equal((await mallory.rendezvous.lookup(name)).username, name)
    assert.equal((await mallory.rendezvous.lookup('VICTIM')).peerId, victimAt.peerId)
    const again = await rv.signin({ username: 'mallory', authKey: account.authKey, addrs: [] })
    assert.deepEqual([again.username, again.peerId, again.bound], ['mallory', mallory.peerId, false])
    const fresh = await Hostile.user(server.addr, 'late_user')
    hostiles.push(fresh)
    assert.equal((await fresh.find('victim')).peerId, victimAt.peerId)
    const groups = await victim.run('LIST', is('groups'))
    assert.deepEqual(groups.groups, [{ group: 'club', members: 1, joined: true }])
    await honestMessage('the directory still knows me')
    await stillServes('the rendezvous attacks')
  })

  test('10. disk budget: concurrent huge offers beyond the free space are refused with ERR_NO_SPACE (for now), one sender\'s excess with ERR_RATE_LIMITED', async () => {
    // Sizes only announced (META), never sent: two fit the victim's free space, the third cannot.
    const { free, total } = await statfs(dir).then(s => ({ free: s.bavail * s.bsize, total: s.blocks * s.bsize }))
    const size = Math.min(MAX_FILE_BYTES, Math.floor((free - diskMarginFor(total)) * 0.4))
    // Not skipped on a nearly full disk: failed, saying why (until 2026-12-06 it passed unseen).
    assert.ok(size >= CHUNK_SIZE, `the test's disk has too little free space for two offers of a chunk: ${free} B free of ${total} B`)
    const senders = await Promise.all(['disk1', 'disk2', 'disk3', 'disk4'].map(async name => {
      const made = await Hostile.user(server.addr, name)
      hostiles.push(made)
      return made
    }))
    const from = victim.events.length
    const offers = await Promise.all(senders.map(async (sender, i) => {
      const offer = await sender.offerFile(victimAt, `huge-${i}.bin`, size)
      await offer.session.write(offer.session.meta(offer, size, randomBytes(32)))
      return { sender, offer, verdict: await offer.session.verdict(offer) }
    }))
    const refused = offers.filter(o => o.verdict !== undefined)
    assert.equal(offers.length - refused.length, 2, 'two fit')
    for (const { verdict } of refused) {
      assert.equal(verdict?.code, ErrorCode.NoSpace)
      assert.match(String(verdict?.message), /refused by the recipient: not enough disk space now/)
    }
    // The victim says so once, for one of them: its disk is its own, whoever sends (round 11).
    const said = await victim.waitFor(e => e.event === 'warning' && e.code === ErrorCode.NoSpace, 10_000, from)
    assert.ok(refused.some(({ sender }) => String(said.message).includes(sender.peerId)), String(said.message))
    assert.match(String(said.message), /not enough disk space now/)
    const parts = async (): Promise<string[]> => (await listDownloads()).filter(name => name.endsWith('.part'))
    for (const { offer } of offers) offer.session.framed.abort(new Error('done'))
    await eventually(async () => (await parts()).length === 0, `left in downloads: ${(await parts()).join(', ')}`, 20_000)
    // The cut transfers released their reservations: the same offer fits again.
    const again = await senders[0]?.offerFile(victimAt, 'huge-again.bin', size)
    assert.ok(again !== undefined)
    await again.session.write(again.session.meta(again, size, randomBytes(32)))
    assert.equal(await again.session.verdict(again), undefined)
    again.session.framed.abort(new Error('done'))

    // One sender, three small files at once: the third is one too many.
    const small = await Promise.all([0, 1, 2].map(async () => {
      const offer = await mallory.offerFile(victimAt, 'small.bin', 4 * CHUNK_SIZE)
      return offer
    }))
    const verdicts = []
    for (const offer of small) {
      await offer.session.write(offer.session.meta(offer, 4 * CHUNK_SIZE, randomBytes(32)))
      verdicts.push(await offer.session.verdict(offer))
    }
    assert.deepEqual(verdicts.map(v => v?.code), [undefined, undefined, ErrorCode.RateLimited])
    assert.match(String(verdicts[2]?.message), /transfers from mallory are already in progress/)
    for (const offer of small) offer.session.framed.abort(new Error('done'))
    await eventually(async () => (await parts()).length === 0, `left in downloads: ${(await parts()).join(', ')}`, 20_000)
    await stillServes('huge offers')
  })

  test(`8. stalled streams are aborted after the ${STEP_TIMEOUT_MS / 1000} s step timeout, either side; the .part goes too`, { timeout: STEP_TIMEOUT_MS + 20_000 }, async () => {
    const friendDownloads = join(dir, 'friend', 'friend', 'downloads')
    for (const stall of stalls) {
      const ended = await stall.ended
      assert.equal(ended.end, 'reset', `${stall.what}: ${JSON.stringify(ended)}`)
      assert.ok(ended.ms >= STEP_TIMEOUT_MS - 1_000, `${stall.what}: aborted after ${ended.ms} ms, before the step timeout`)
      assert.ok(ended.ms <= STEP_TIMEOUT_MS + 5_000, `${stall.what}: aborted only after ${ended.ms} ms`)
    }
    await eventually(async () => (await listDownloads(friendDownloads)).length === 0, `friend kept ${(await listDownloads(friendDownloads)).join(', ')}`)
    assert.equal(friend.events.filter(e => e.event === 'message' || e.event === 'file').length, 0)
    // The file that stopped after its first chunk was said to friend as a stall (file-cut).
    const cut = friend.events.filter(e => e.event === 'file-cut')
    assert.deepEqual(cut.map(e => [e.name, e.cause, e.bytes]), [['stalled.bin', 'stalled', CHUNK_SIZE]], JSON.stringify(cut))

    // The victim as sender: staller read META and the window's chunks, then gave no credit.
    const starvedStream = await starved
    assert.equal(starvedStream.header, `FILE big.bin ${3 * 1024 * 1024}`)
    assert.equal(starvedStream.frames, 1 + WINDOW_CHUNKS, 'META and a window of chunks, then the sender waits')
    const waited = starvedStream.endedAt - starvedStream.lastFrameAt
    assert.ok(waited >= STEP_TIMEOUT_MS - 1_000 && waited <= STEP_TIMEOUT_MS + 5_000, `the sender gave up ${waited} ms after its last chunk`)
    const queued = await victim.waitFor(is('queued', { to: 'staller' }), 5_000, starvedFrom)
    assert.match(String(queued.reason), /timed out/)
    await victim.run('SEND friend the stalls are over', is('delivered', { to: 'friend' }))
    await friend.waitFor(is('message', { from: 'victim', text: 'the stalls are over' }))
  })
})
