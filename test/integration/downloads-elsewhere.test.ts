/**
 * A downloads folder on a file system of its own (a mount, or a link to another disk), as a
 * person may have it: bob's `downloads` is a tmpfs mounted in a mount namespace made for his
 * process (PeerProcess.startOnOwnDisk, as full-disk.test.ts has it), while what he keeps of a cut file lives
 * beside it, on the disk of his data folder. A file cut mid-way keeps what came and resumes from
 * it. Until 2026-12-07 the move across the two failed (EXDEV): nothing was kept, and every cut
 * started over from the first byte (round 46).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { PeerEventLine, ServerProcess } from '../../harness/processes.ts'
import { makeRandom } from '../../harness/media.ts'
import { CHECKPOINT_CHUNKS } from '../../peer/files/constants.ts'
import { CHUNK_SIZE } from '../../common/crypto/index.ts'

const PASSWORD = 'downloads elsewhere'
const MiB = 1024 * 1024
const SIZE = 24 * MiB + 4_321
/** Two checkpoints: a part worth keeping. */
const CUT_AT = 2 * CHECKPOINT_CHUNKS * CHUNK_SIZE

describe('a downloads folder on another file system', () => {
  let dir: string
  let server: ServerProcess
  let alice: PeerProcess
  let bob: PeerProcess

  before(async () => {
    dir = await tempDir('parley-downloads-elsewhere-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    alice = await PeerProcess.start('alice', server.addr.toString(), join(dir, 'alice'))
    const bobDir = join(dir, 'bob')
    const downloads = join(bobDir, 'bob', 'downloads')
    await mkdir(downloads, { recursive: true, mode: 0o700 })
    bob = await PeerProcess.startOnOwnDisk('bob', server.addr.toString(), bobDir, downloads, '64m')
    await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
    const made = await bob.run(`SIGNUP bob ${PASSWORD}`, e => e.event === 'signed-up' || e.event === 'error')
    assert.equal(made.event, 'signed-up', JSON.stringify(made))
    await alice.run('SEND bob hello', is('delivered', { to: 'bob' }))
  })

  after(async () => {
    await Promise.all([alice.kill(), bob.kill()])
    await server.stop()
    await removeDir(dir)
  })

  test('a file cut mid-way keeps what came, beside the folder, and resumes from it', { timeout: 90_000 }, async () => {
    const content = makeRandom(SIZE)
    const path = join(dir, 'film.bin')
    await writeFile(path, content)
    const bobFrom = bob.events.length
    alice.send(`SENDFILE ${path} bob`)
    const progress = await bob.waitFor(e => e.event === 'progress' && e.direction === 'receive' && Number(e.bytes) >= CUT_AT, 30_000, bobFrom)
    await alice.kill('SIGKILL')
    const cut = await bob.waitFor(is('file-cut', { id: progress.id, cause: 'gone' }), 20_000, bobFrom)
    const cutAt = Number(cut.bytes)
    // Kept on the data folder's disk, outside the mount.
    const kept = await readdir(join(dir, 'bob', 'bob', 'downloads.partial'))
    assert.equal(kept.filter(name => name.endsWith('.part')).length, 1, `kept: ${kept.join(', ')}`)

    alice = await PeerProcess.start('alice', server.addr.toString(), join(dir, 'alice'))
    const retryFrom = alice.events.length
    alice.send(`LOGIN alice ${PASSWORD}`)
    const arrived = await bob.waitFor(is('file', { id: progress.id, from: 'alice' }), 60_000, bobFrom)
    assert.deepEqual(await readFile(bob.mounted(String(arrived.path))), content, 'byte-identical')
    const firstSend = alice.events.slice(retryFrom).find((e: PeerEventLine) => e.event === 'progress' && e.direction === 'send' && e.id === progress.id)
    const resumedAt = Number(firstSend?.bytes)
    assert.ok(resumedAt >= CUT_AT && resumedAt <= cutAt + CHECKPOINT_CHUNKS * CHUNK_SIZE, `resumed at ${resumedAt} B, cut after ${cutAt} B`)
  })
})
