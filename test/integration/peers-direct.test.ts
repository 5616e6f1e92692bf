/**
 * Issue 4 end to end: a real rendezvous and four real peer processes, driven over stdin with
 * --json exactly as a script would drive `npm run peer -- <port> --json`.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerCast, PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { ServerProcess } from '../../harness/processes.ts'
import { makePng, makeRandom, makeWav } from '../../harness/media.ts'

const NAMES = ['alice', 'bob', 'carol', 'dave'] as const
const PASSWORD = 'Correct Horse 9'

describe('four peers: signup, direct messages and files, offline delivery', () => {
  let dir: string
  let server: ServerProcess
  let cast: PeerCast
  const peer = (name: string): PeerProcess => cast.get(name)
  const startPeer = async (name: string): Promise<PeerProcess> => await cast.start(name)

  before(async () => {
    dir = await tempDir('parley-peers-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    cast = new PeerCast(server.addr.toString(), dir)
    await Promise.all(NAMES.map(startPeer))
  })

  after(async () => {
    await cast.killAll()
    await server.stop()
    await removeDir(dir)
  })

  test('a wrong password, and an unknown user, get the same clear error', async () => {
    const first = await peer('dave').run('LOGIN nobody whatever-password', is('error'))
    assert.equal(first.code, 'ERR_BAD_CREDENTIALS')
    assert.match(String(first.message), /invalid username or password/)
  })

  test('a name made only of punctuation is refused at SIGNUP, in plain words', async () => {
    const refused = await peer('dave').run(`SIGNUP - ${PASSWORD}`, e => e.event === 'error' || e.event === 'signed-up')
    assert.equal(refused.code, 'ERR_INVALID_NAME', JSON.stringify(refused))
    assert.equal(refused.message, 'invalid username "-": a new username must start with a letter or digit (a-z, 0-9)')
  })

  test('every user signs up', async () => {
    await Promise.all(NAMES.map(async name => {
      const event = await peer(name).run(`SIGNUP ${name} ${PASSWORD}`, e => e.event === 'signed-up' || e.event === 'error')
      assert.equal(event.event, 'signed-up', JSON.stringify(event))
      assert.equal(event.username, name)
    }))
    const wrong = await PeerProcess.start('intruder', server.addr.toString(), join(dir, 'intruder'))
    cast.add('intruder', wrong)
    const error = await wrong.run('LOGIN alice not-her-password', is('error'))
    assert.equal(error.code, 'ERR_BAD_CREDENTIALS')
    assert.match(String(error.message), /invalid username or password/)
  })

  test('HISTORY of a name nobody has says so, of yourself too; of a user met nowhere yet, an empty list', async () => {
    const none = await peer('alice').run('HISTORY nosuchuser', e => e.event === 'history' || e.event === 'error')
    assert.equal(none.event, 'error', JSON.stringify(none))
    assert.equal(none.code, 'ERR_NOT_FOUND')
    assert.match(String(none.message), /no user or group "nosuchuser"/)
    const self = await peer('alice').run('HISTORY alice', e => e.event === 'history' || e.event === 'error')
    assert.deepEqual([self.code, self.message], ['ERR_USAGE', 'that is you: HISTORY <user> shows your messages with another user, HISTORY <group> those in a group'])
    // SEND to yourself says so as fully (until 2026-12-06 a bare 'that is you': round 19).
    const sendSelf = await peer('alice').run('SEND alice hi me', e => e.event === 'accepted' || e.event === 'error')
    assert.deepEqual([sendSelf.code, sendSelf.message], ['ERR_USAGE', 'that is you: SEND <user> <message> sends to another user; nothing was sent'])
    const empty = await peer('alice').run('HISTORY bob', e => e.event === 'history' || e.event === 'error')
    assert.deepEqual([empty.event, empty.messages], ['history', []])
  })

  test('SEND works between every pair, keeping every word and its case', async () => {
    const waits: Array<Promise<unknown>> = []
    for (const from of NAMES) {
      for (const to of NAMES) {
        if (from === to) continue
        const text = `Hello ${to.toUpperCase()}, from ${from}:  spaces  and ümlauts kept`
        waits.push(peer(to).waitFor(e => e.event === 'message' && e.from === from && e.text === text))
        peer(from).send(`SEND ${to} ${text}`)
      }
    }
    await Promise.all(waits)
    for (const from of NAMES) {
      for (const to of NAMES) {
        if (from !== to) await peer(from).waitFor(is('delivered', { to, group: null }))
      }
    }
  })

  test('a lone \\r in a piped line is part of its message, not the end of a command', async () => {
    // Until 2026-12-06 piped input ended a line at a lone \r (readline's rule for a terminal):
    // this was `SEND bob hello` and a command `world` ('unknown command').
    const alice = peer('alice')
    const from = alice.events.length
    const arrived = peer('bob').waitFor(is('message', { from: 'alice', text: 'hello\rworld' }))
    alice.child.stdin?.write('SEND bob hello\rworld\r\nHELP\n')
    await alice.waitFor(is('help'), undefined, from)
    await arrived
    const said = alice.events.slice(from).map(e => e.event).filter(kind => kind === 'accepted' || kind === 'error' || kind === 'help')
    assert.deepEqual(said, ['accepted', 'help'], JSON.stringify(alice.events.slice(from)))
  })

  test('answers come in the order of the commands, each before any other event about its message; a burst of SENDs still runs on', async () => {
    // An offline user, for a file that is queued at once.
    const olga = await startPeer('olga')
    await olga.run(`SIGNUP olga ${PASSWORD}`, is('signed-up'))
    assert.equal(await olga.quit(), 0)
    const file = join(dir, 'for-olga.txt')
    await writeFile(file, 'for olga')
    const alice = peer('alice')
    const from = alice.events.length
    // Until 2026-12-06 the error of the second line came before the first line's answer, and
    // the file's `queued` before its `accepted` (a tester's findings).
    alice.child.stdin?.write(['SEND bob one', `SEND bob ${'x'.repeat(16_385)}`, `SENDFILE ${file} olga`, 'SEND bob three', 'SENDGROUP nosuchgroup x', 'LIST'].join('\n') + '\n')
    await alice.waitFor(is('groups'), undefined, from)
    const events = alice.events.slice(from)
    const answers = events.filter(e => ['accepted', 'error', 'groups'].includes(String(e.event)))
    assert.deepEqual(answers.map(e => e.event === 'error' ? e.code : e.event), ['accepted', 'ERR_TOO_LARGE', 'accepted', 'accepted', 'ERR_NOT_FOUND', 'groups'], JSON.stringify(events))
    // In the README's words (until 2026-12-06 "at most 16384 bytes": round 17).
    assert.equal(answers[1]?.message, 'a message is at most 16 KiB (16,384 bytes), and this one has 16,385: nothing was sent; send a longer text as a file')
    const fileId = answers[2]?.id
    await alice.waitFor(e => e.event === 'queued' && e.id === fileId, undefined, from)
    const after = alice.events.slice(from)
    assert.ok(after.findIndex(e => e.event === 'queued' && e.id === fileId) > after.findIndex(e => e.event === 'accepted' && e.id === fileId),
      `queued before accepted: ${JSON.stringify(after)}`)
  })

  test('a piped line longer than any command is refused whole, and the next line runs', async () => {
    // 1 MiB without a line end, in pieces as a pipe gives them: the peer keeps 32 KiB of it at
    // most and says so; until 2026-12-06 it held the whole line, whatever its size.
    const alice = peer('alice')
    const from = alice.events.length
    alice.child.stdin?.write('SEND bob ' + 'x'.repeat(1024 * 1024) + '\nHELP\n')
    await alice.waitFor(is('help'), undefined, from)
    const said = alice.events.slice(from).filter(e => e.event === 'error' || e.event === 'accepted')
    assert.equal(said.length, 1, JSON.stringify(said))
    assert.equal(said[0]?.event, 'error')
    assert.equal(said[0]?.code, 'ERR_TOO_LARGE')
    assert.match(String(said[0]?.message), /at most 32,768 characters, and this line has more: nothing of it was run/)
  })

  test('a failed LOGIN or SIGNUP while signed in leaves the session as it was', async () => {
    const alice = peer('alice')
    const bobFrom = peer('bob').events.length
    const wrong = await alice.run('LOGIN alice not-her-password', e => e.event === 'error' || e.event === 'logged-in')
    assert.equal(wrong.code, 'ERR_BAD_CREDENTIALS', JSON.stringify(wrong))
    const other = await alice.run('LOGIN bob not-his-password', e => e.event === 'error' || e.event === 'logged-in')
    assert.equal(other.code, 'ERR_BAD_CREDENTIALS', JSON.stringify(other))
    const taken = await alice.run(`SIGNUP carol ${PASSWORD}`, e => e.event === 'error' || e.event === 'signed-up')
    assert.equal(taken.code, 'ERR_EXISTS', JSON.stringify(taken))

    // Still signed in: what she sends goes out, and what is sent to her arrives.
    const toBob = peer('bob').waitFor(is('message', { from: 'alice', text: 'still here?' }))
    const sent = await alice.run('SEND bob still here?', e => e.event === 'delivered' || e.event === 'error')
    assert.equal(sent.event, 'delivered', JSON.stringify(sent))
    await toBob
    const toAlice = alice.waitFor(is('message', { from: 'carol', text: 'yes, you are' }))
    await peer('carol').run('SEND alice yes, you are', is('delivered', { to: 'alice' }))
    await toAlice
    // Her contacts never saw her go: the session at the rendezvous was not touched.
    assert.deepEqual(peer('bob').events.slice(bobFrom).filter(e => e.event === 'presence' && e.user === 'alice'), [])

    // LOGIN as herself, with the right password, says so and changes nothing either.
    const again = await alice.run(`LOGIN alice ${PASSWORD}`, e => e.event === 'error' || e.event === 'logged-in')
    assert.deepEqual([again.event, again.username, again.already], ['logged-in', 'alice', true], JSON.stringify(again))
    const after = alice.waitFor(is('message', { from: 'bob', text: 'and now?' }))
    await peer('bob').run('SEND alice and now?', is('delivered', { to: 'alice' }))
    await after
  })

  test('SENDFILE to a user who does not exist says so before the file is opened, let alone read', async () => {
    // A path that cannot be opened: the answer is about the recipient, so the file was never
    // touched (until 2026-12-06 it was read and hashed whole first, gigabytes perhaps).
    const missing = join(dir, 'no such file.bin')
    const refused = await peer('alice').run(`SENDFILE ${missing} nobody`, e => e.event === 'error' || e.event === 'accepted')
    assert.deepEqual([refused.code, refused.message], ['ERR_NOT_FOUND', 'no user "nobody"; nothing was sent'], JSON.stringify(refused))
    // To someone who does exist, the same path is the error.
    const noFile = await peer('alice').run(`SENDFILE ${missing} bob`, e => e.event === 'error' || e.event === 'accepted')
    assert.equal(noFile.code, 'ERR_FILE', JSON.stringify(noFile))
    // A quote opened and never closed is said to be (round 39: the path with its quote alone).
    const unclosed = await peer('alice').run(`SENDFILE "${missing} bob`, e => e.event === 'error' || e.event === 'accepted')
    assert.equal(unclosed.code, 'ERR_FILE', JSON.stringify(unclosed))
    assert.match(String(unclosed.message), /\(the " before the file's name is not closed: SENDFILE "<file>" <user>\)$/)
  })

  test('SENDFILE carries random bytes, a WAV and a PNG byte for byte', async () => {
    const files = { 'noise data.bin': makeRandom(), 'tone.wav': makeWav(), 'picture.png': makePng() }
    for (const [name, content] of Object.entries(files)) {
      const path = join(dir, name)
      await writeFile(path, content)
      const arrived = peer('bob').waitFor(e => e.event === 'file' && e.from === 'alice' && e.name === name)
      peer('alice').send(`SENDFILE ${path} bob`)
      const event = await arrived
      assert.deepEqual(await readFile(String(event.path)), content, name)
      assert.equal(event.size, content.length)
    }
    // The same name again: saved beside the first, and still named as it was sent.
    const again = peer('bob').waitFor(e => e.event === 'file' && e.from === 'alice' && String(e.path).endsWith('picture (1).png'))
    peer('alice').send(`SENDFILE ${join(dir, 'picture.png')} bob`)
    assert.equal((await again).name, 'picture.png')
  })

  test('a text sent while a large file goes to the same user arrives at once, not after the file (it waited until 2026-12-06)', async () => {
    const MiB = 1024 * 1024
    const content = makeRandom(24 * MiB)
    const path = join(dir, 'film.bin')
    await writeFile(path, content)
    const bob = peer('bob')
    const from = bob.events.length
    const file = bob.waitFor(e => e.event === 'file' && e.from === 'alice' && e.name === 'film.bin', 120_000, from)
    const aliceFrom = peer('alice').events.length
    // The text goes once the film's first chunks are out: until 2026-12-07 it went at the film's
    // `sent`, which is said when its last byte is out, and on a slow machine (a quarter of this
    // one's speed) bob had checked the film's last window before the text came.
    await peer('alice').run(`SENDFILE ${path} bob`, e => e.event === 'progress' && e.direction === 'send' && e.name === 'film.bin', 60_000)
    // Read for its hash before it is taken, and said so (round 7: seconds of nothing for a large
    // file): every 4 MiB, under the id its `accepted` then carries.
    const taking = peer('alice').events.slice(aliceFrom).filter(e => (e.event === 'progress' && e.direction === 'read') || e.event === 'accepted')
    assert.deepEqual(taking.map(e => [e.event, e.id, e.bytes]), [
      ...Array.from({ length: 6 }, (_, n) => ['progress', taking.at(-1)?.id, (n + 1) * 4 * MiB]),
      ['accepted', taking.at(-1)?.id, undefined]
    ])
    await peer('alice').run('SEND bob typed while the film goes', is('delivered', { to: 'bob' }), 120_000)
    assert.equal(peer('alice').events.slice(aliceFrom).find(is('sent', { name: 'film.bin' })), undefined, 'the film was still going out when the text was delivered')
    const arrived = await file
    const order = bob.events.slice(from).filter(e => e.event === 'file' || e.event === 'message').map(e => e.event)
    assert.deepEqual(order, ['message', 'file'], 'the text came after the file')
    assert.deepEqual(await readFile(String(arrived.path)), content)
  })

  test('SENDFILE of a file named with a TAB and an ESC delivers it, byte for byte, under a safe name', async () => {
    // Until 2026-12-05 SENDFILE took it and every delivery failed: "signal header has control
    // characters" (ERR_MALFORMED). The sender now announces the name a receiver would save.
    const content = makeRandom(70_001)
    const path = join(dir, 'tab\there\u001b[31m.txt')
    await writeFile(path, content)
    const arrived = peer('carol').waitFor(e => e.event === 'file' && e.from === 'alice')
    const sent = await peer('alice').run(`SENDFILE ${path} carol`, e => e.event === 'sent' || e.event === 'queued' || e.event === 'error')
    assert.equal(sent.event, 'sent', JSON.stringify(sent))
    const event = await arrived
    assert.equal(event.name, 'tabhere[31m.txt')
    assert.equal(basename(String(event.path)), 'tabhere[31m.txt')
    assert.deepEqual(await readFile(String(event.path)), content)
    await peer('alice').waitFor(is('delivered', { id: sent.id }))
  })

  test('a message and a file to an offline user arrive after it starts again; a file changed meanwhile does not', async () => {
    assert.equal(await peer('dave').quit(), 0)
    const text = 'while you were away'
    const queued = await peer('alice').run(`SEND dave ${text}`, is('queued', { to: 'dave' }))
    assert.equal(queued.reason, 'offline')
    // WHO names him, offline: a direct contact, in no group with alice (round 7: left out).
    const who = await peer('alice').run('WHO', is('who'))
    assert.deepEqual((who.users as Array<{ username: string, online: boolean }>).find(u => u.username === 'dave'), { username: 'dave', online: false }, JSON.stringify(who))
    const file = join(dir, 'later.bin')
    const content = makeRandom(100_003)
    await writeFile(file, content)
    const fileQueued = await peer('alice').run(`SENDFILE ${file} dave`, e => e.event === 'queued' && e.id !== queued.id)
    // Each names its file itself: a second item queued for someone already known offline was
    // reported before its `accepted`, whose name a terminal line took (until 2026-12-06 it read
    // "queued for dave (offline)" without a name).
    assert.deepEqual([queued.name, fileQueued.name], [null, 'later.bin'])
    // Queued, then changed before dave is back: he is not sent what it has become.
    const edited = join(dir, 'edited.bin')
    await writeFile(edited, makeRandom(50_000))
    const editedQueued = await peer('alice').run(`SENDFILE ${edited} dave`, e => e.event === 'queued' && e.id !== queued.id)
    await writeFile(edited, makeRandom(50_000))
    const refused = peer('alice').waitFor(e => e.event === 'undelivered' && e.id === editedQueued.id, 60_000)

    const daveBack = Date.now()
    const dave = await startPeer('dave')
    dave.send(`LOGIN dave ${PASSWORD}`)
    const message = await dave.waitFor(e => e.event === 'message' && e.from === 'alice' && e.text === text)
    // It says when alice sent it, not only when it came (until 2026-12-06 it had only the latter).
    assert.ok(Number(message.sentAt) < daveBack && Number(message.sentAt) <= Number(message.at), JSON.stringify(message))
    // It comes as soon as the rendezvous says dave is online, while his sign-in is still
    // starting; it is reported after the sign-in (a person reads "Signed in as dave." first).
    const signedIn = dave.events.findIndex(e => e.event === 'logged-in')
    assert.ok(signedIn !== -1 && signedIn < dave.events.indexOf(message), JSON.stringify(dave.events.map(e => e.event)))
    const arrived = await dave.waitFor(is('file', { from: 'alice' }))
    assert.deepEqual(await readFile(String(arrived.path)), content)
    // A file says when it was sent too (until 2026-12-06 only a text did: round 6).
    assert.ok(Number(arrived.sentAt) < daveBack && Number(arrived.sentAt) >= Number(message.sentAt), JSON.stringify(arrived))
    await peer('alice').waitFor(is('delivered', { id: queued.id, name: null }))
    await peer('alice').waitFor(is('delivered', { id: fileQueued.id, name: 'later.bin' }))
    const error = await refused
    assert.deepEqual([error.code, error.to, error.group, error.name], ['ERR_FILE', 'dave', null, 'edited.bin'])
    assert.equal(error.message, `could not deliver edited.bin to dave: ${edited} changed after you sent it (send it again to send it as it is now)`)
    // The queue goes on after it, and nothing of it reached dave.
    await peer('alice').run('SEND dave and after the changed file', is('delivered', { to: 'dave' }))
    await dave.waitFor(is('message', { from: 'alice', text: 'and after the changed file' }))
    assert.deepEqual(dave.events.filter(e => e.event === 'file').map(e => e.name), ['later.bin'])
    const history = await dave.run('HISTORY alice', is('history'))
    const kept = history.messages as Array<{ text: string, sentAt: number | null }>
    assert.equal(kept.find(m => m.text === text)?.sentAt, message.sentAt, 'HISTORY keeps when it was sent')
    assert.equal(kept.find(m => m.text === 'later.bin')?.sentAt, arrived.sentAt, 'and when a file was')
    assert.equal(peer('alice').events.some(e => e.event === 'delivered' && e.id === editedQueued.id), false)
  })

  test('a sender killed with -9 keeps its history and its pending outbox', async () => {
    assert.equal(await peer('carol').quit(), 0)
    const text = 'sent before the crash'
    await peer('bob').run(`SEND carol ${text}`, is('queued', { to: 'carol' }))
    const aliceFrom = peer('alice').events.length
    await peer('bob').kill('SIGKILL')

    const bob = await startPeer('bob')
    await bob.run(`LOGIN bob ${PASSWORD}`, is('logged-in'))
    const history = await bob.run('HISTORY alice', is('history'))
    const lines = history.messages as Array<{ text: string }>
    assert.ok(lines.some(m => m.text.startsWith('Hello BOB, from alice')), JSON.stringify(lines))

    const carol = await startPeer('carol')
    carol.send(`LOGIN carol ${PASSWORD}`)
    await carol.waitFor(e => e.event === 'message' && e.from === 'bob' && e.text === text)
    await bob.waitFor(is('delivered', { to: 'carol' }))
    // Delivered once, not again after the restart.
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(carol.events.filter(e => e.event === 'message' && e.text === text).length, 1)
    // alice had a session open with bob: its stream ending with his process is him going away,
    // not a fault of his to warn her about (it once said "refused incoming data … stream ended early").
    assert.deepEqual(peer('alice').events.slice(aliceFrom).filter(e => e.event === 'warning'), [])
  })

  test('someone who first writes to us during a session, and whom we answer, is said to come and go (round 28: not until our next sign-in)', async () => {
    const frank = await startPeer('frank')
    await frank.run(`SIGNUP frank ${PASSWORD}`, is('signed-up'))
    const bobFrom = peer('bob').events.length
    // Met by its name card: bob does not look frank up to take the message, nor to answer it.
    await frank.run('SEND bob hi bob, frank here', is('delivered', { to: 'bob' }))
    await peer('bob').waitFor(is('message', { from: 'frank' }), 10_000, bobFrom)
    await peer('bob').run('SEND frank hi frank', is('delivered', { to: 'frank' }))
    assert.equal(await frank.quit(), 0)
    const back = await startPeer('frank')
    await back.run(`LOGIN frank ${PASSWORD}`, is('logged-in'))
    // Said back online (and gone before, unless bob's look-up came after frank had gone).
    const online = await peer('bob').waitFor(is('presence', { user: 'frank', online: true }), 10_000, bobFrom)
    assert.equal(await back.quit(), 0)
    await peer('bob').waitFor(is('presence', { user: 'frank', online: false }), 10_000, peer('bob').events.indexOf(online) + 1)
  })

  test('commands piped in with the input ended at once all run, in order, before the peer exits', async () => {
    // As `printf 'SIGNUP …\nSEND …\n' | npm run peer -- 0` does: every line is in the pipe and
    // the pipe has ended before the first command finishes. (Until 2026-12-05 the end of input
    // closed the prompt and the lines after the one running were dropped.)
    const piper = await PeerProcess.start('piper', server.addr.toString(), join(dir, 'piper'))
    const aliceFrom = peer('alice').events.length
    piper.child.stdin?.end(`SIGNUP piper ${PASSWORD}\nSEND alice piped one\nSEND alice piped two\nLIST\n`)
    assert.equal(await piper.exited, 0)
    const kinds = piper.events.map(e => e.event)
    const count = (kind: string): number => kinds.filter(k => k === kind).length
    // Each command is answered before the next one runs: a SEND by `accepted` with its message's
    // id (until 2026-12-06 a SEND had no answer of its own); its `sent` and `delivered` come when
    // they happen, so LIST's answer may come before them.
    const answers = piper.events.filter(e => ['ready', 'signed-up', 'accepted', 'groups'].includes(String(e.event)))
    assert.deepEqual(answers.map(e => e.event), ['ready', 'signed-up', 'accepted', 'accepted', 'groups'], JSON.stringify(piper.events))
    const ids = answers.filter(is('accepted', { to: 'alice', group: null, kind: 'text' })).map(e => e.id)
    assert.deepEqual(piper.events.filter(e => e.event === 'delivered').map(e => e.id).sort(), [...ids].sort())
    assert.deepEqual([count('sent'), count('delivered'), count('groups'), count('error')], [2, 2, 1, 0], JSON.stringify(piper.events))
    assert.deepEqual(piper.events.at(-1), { event: 'bye', pending: 0, unconfirmed: 0 })
    assert.equal(piper.stderr.join(''), '', 'nothing else said, no warning after "bye"')
    const texts = peer('alice').events.slice(aliceFrom).filter(is('message', { from: 'piper' })).map(e => e.text)
    assert.deepEqual(texts, ['piped one', 'piped two'])
  })
})
