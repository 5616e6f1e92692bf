/**
 * A receiver's disk that fills in the middle of a file (round 11's leftover). Bob's data folder is
 * a 40 MiB file system of its own: a tmpfs mounted in a mount namespace made for his process
 * (`unshare -rm`: no root needed, and nothing outside the process sees it), around the same
 * command `npm run peer` runs. Mid-file, alice is paused and the test fills bob's disk, through
 * /proc/<pid>/root, to 40 KiB short of full; alice goes on. Bob's next chunk does not fit: he
 * says so, to alice too, keeps the verified part, and alice's outbox holds the file ("once bob's
 * disk has room"). Once the space is freed, alice's retry resumes from that part and the file arrives
 * whole. Until 2026-12-06 the part was dropped and the retry began at byte 0.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, rm, statfs, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { PeerEventLine, ServerProcess } from '../../harness/processes.ts'
import { makeRandom } from '../../harness/media.ts'
import { CHECKPOINT_CHUNKS } from '../../peer/files/constants.ts'
import { CHUNK_SIZE } from '../../common/crypto/index.ts'
import { ErrorCode } from '../../common/errors.ts'

const PASSWORD = 'full disk 42'
const MiB = 1024 * 1024
const DISK = '40m'
/** Fits the 40 MiB disk with its margin (5 %, 2 MiB) and the store beside it. */
const SIZE = 24 * MiB + 777
/** Left free by the filler: less than a chunk, so the chunk that meets the full disk is cut short. */
const LEFT_FREE = 40 * 1024

describe('a receiver\'s disk that fills mid-file', () => {
  let dir: string
  let server: ServerProcess
  let alice: PeerProcess
  let bob: PeerProcess
  let bobDisk: string

  before(async () => {
    dir = await tempDir('parley-full-disk-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    alice = await PeerProcess.start('alice', server.addr.toString(), join(dir, 'alice'))
    const bobDir = join(dir, 'bob')
    await mkdir(bobDir)
    bob = await PeerProcess.startOnOwnDisk('bob', server.addr.toString(), bobDir, bobDir, DISK)
    bobDisk = bob.mounted(bobDir)
    await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
    await bob.run(`SIGNUP bob ${PASSWORD}`, is('signed-up'))
    await alice.run('SEND bob hello', is('delivered', { to: 'bob' }))
  })

  after(async () => {
    alice.child.kill('SIGCONT')
    await Promise.all([alice.kill(), bob.kill()])
    await server.stop()
    await removeDir(dir)
  })

  test('the verified part is kept, the file waits for room, then resumes from that part', { timeout: 90_000 }, async () => {
    const { bsize, blocks } = await statfs(bobDisk)
    assert.equal(bsize * blocks, 40 * MiB, 'bob\'s data folder is the 40 MiB file system')
    const content = makeRandom(SIZE)
    const path = join(dir, 'movie.bin')
    await writeFile(path, content)
    const aliceFrom = alice.events.length
    const bobFrom = bob.events.length
    alice.send(`SENDFILE ${path} bob`)
    const midway = CHECKPOINT_CHUNKS * CHUNK_SIZE
    await bob.waitFor(e => e.event === 'progress' && e.direction === 'receive' && Number(e.bytes) >= midway, 30_000, bobFrom)
    alice.child.kill('SIGSTOP')
    const filler = join(bobDisk, 'filler')
    try {
      await settled(bob) // what was in flight when alice stopped is on bob's disk
      const free = await statfs(bobDisk).then(s => s.bavail * s.bsize)
      await writeFile(filler, Buffer.alloc(free - LEFT_FREE))
    } finally {
      alice.child.kill('SIGCONT')
    }

    // Bob says why it stopped, that what came is kept; and no warning says it again.
    const cut = await bob.waitFor(is('file-cut', { name: 'movie.bin' }), 30_000, bobFrom)
    assert.equal(cut.cause, 'no-space', JSON.stringify(cut))
    assert.match(String(cut.reason), /no space left on the disk/)
    const cutAt = Number(cut.bytes) // the last progress said: as much was kept, or more
    assert.ok(cutAt >= midway && cutAt < SIZE, `cut after ${cutAt} B`)
    // Alice keeps it queued, for bob's disk: told so by bob at the cut (until 2026-12-06 "the
    // other side closed the connection" then, and the disk only at a retry: round 13).
    const waiting = await alice.waitFor(is('queued', { to: 'bob' }), 30_000, aliceFrom)
    assert.equal(waiting.code, ErrorCode.NoSpace, JSON.stringify(waiting))
    assert.equal(waiting.reason, 'refused by the recipient: it cannot be saved there now (no space left on the disk)')
    assert.equal(bob.events.slice(bobFrom).some(e => e.event === 'warning' && /cannot write the received file/.test(String(e.message))), false,
      'the cut is said once, in its file-cut line')
    // Her retries meanwhile (within 1, 2, 4 s…) are refused again, and not said again (round 13:
    // a line at each of them, as the first chunks' progress had come before each refusal).
    await new Promise(resolve => setTimeout(resolve, 8_000))
    const saidWaiting = alice.events.slice(aliceFrom).filter(e => is('queued', { id: waiting.id })(e) && e.code === ErrorCode.NoSpace)
    assert.equal(saidWaiting.length, 1, JSON.stringify(saidWaiting))
    // Nor is a refused retry shown as going: its first chunks went before bob's refusal came
    // (round 14: the prompt showed the file going all the while it waited).
    const afterWaiting = alice.events.indexOf(waiting) + 1
    assert.deepEqual(alice.events.slice(afterWaiting).filter(e => e.event === 'progress' && e.direction === 'send'), [])

    // The disk full to its last byte: a sign-in that changes nothing here writes nothing, and is
    // not refused (round 46: LOGIN failed, ENOSPC on account.json).
    const brim = join(bobDisk, 'brim')
    await writeFile(brim, Buffer.alloc(await statfs(bobDisk).then(s => s.bavail * s.bsize))).catch(() => {})
    const again = await bob.run(`LOGIN bob ${PASSWORD}`, e => e.event === 'logged-in' || e.event === 'error')
    assert.deepEqual([again.event, again.already], ['logged-in', true], JSON.stringify(again))
    await rm(brim)

    // Room again: alice's next try resumes from the kept part and the file arrives whole.
    await rm(filler)
    const retryFrom = alice.events.length
    const arrived = await bob.waitFor(is('file', { from: 'alice', name: 'movie.bin' }), 60_000, bobFrom)
    assert.deepEqual(await readFile(bob.mounted(String(arrived.path))), content, 'byte-identical')
    await alice.waitFor(is('delivered', { id: waiting.id, to: 'bob' }), 10_000, retryFrom)
    const firstSend = alice.events.slice(retryFrom).find((e: PeerEventLine) => e.event === 'progress' && e.direction === 'send' && e.id === waiting.id)
    const resumedAt = Number(firstSend?.bytes)
    assert.ok(resumedAt >= cutAt && resumedAt < SIZE, `resumed at ${resumedAt} B, cut after ${cutAt} B`)
    console.log(`# cut after ${(cutAt / MiB).toFixed(1)} MiB by a full disk; resumed at ${(resumedAt / MiB).toFixed(1)} MiB`)
  })
})

/** Once `peer` has printed nothing for half a second. */
async function settled (peer: PeerProcess): Promise<void> {
  for (let seen = -1; seen !== peer.events.length;) {
    seen = peer.events.length
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}
