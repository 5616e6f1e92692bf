import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCode, is } from '../../../common/errors.ts'
import { syncDir, writeFileAtomic } from '../../../common/fs.ts'

test('an atomic write makes owner-only folders and files, replaces the content whole, leaves no temporary', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-fs-'))
  try {
    const file = join(dir, 'a', 'b', 'key')
    await writeFileAtomic(file, 'first')
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]))
    assert.deepEqual(new Uint8Array(await readFile(file)), new Uint8Array([1, 2, 3]))
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'a', 'b'))).mode & 0o777, 0o700)
    assert.deepEqual(await readdir(join(dir, 'a', 'b')), ['key'])
    await writeFileAtomic(join(dir, 'shared'), 'x', 0o644)
    assert.equal((await stat(join(dir, 'shared'))).mode & 0o777, 0o644)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('a write that cannot be done is ERR_FILE, the old content and no temporary left behind', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-fs-'))
  try {
    // The target is a folder: the rename over it fails after the temporary was written.
    await mkdir(join(dir, 'taken'))
    await assert.rejects(writeFileAtomic(join(dir, 'taken'), 'data'), (err: unknown) => is(err, ErrorCode.File))
    assert.deepEqual(await readdir(dir), ['taken'])
    await syncDir(dir)
    await assert.rejects(syncDir(join(dir, 'missing')), (err: unknown) => is(err, ErrorCode.File))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
