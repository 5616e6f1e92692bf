/**
 * The data folder lock (common/data-lock.ts): one holder at a time, in this process or another;
 * the folder is free again when the holder lets it go or dies, kill -9 included.
 */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { lockDataFolder } from '../../../common/data-lock.ts'
import { ErrorCode, is } from '../../../common/errors.ts'

const root = await mkdtemp(join(tmpdir(), 'parley-lock-'))
after(async () => { await rm(root, { recursive: true, force: true }) })

const inUse = (dir: string, pid: number) => (err: unknown): boolean =>
  is(err, ErrorCode.Usage) && err.message === `the data folder ${dir} is in use by another peer (pid ${pid}): stop it or use --data DIR`

test('a folder is made owner-only and locked; a second lock is refused until the first is let go', async () => {
  const dir = join(root, 'a', 'peer-5401')
  const lock = lockDataFolder(dir, 'peer')
  assert.equal((await stat(dir)).mode & 0o777, 0o700)
  assert.throws(() => lockDataFolder(dir, 'peer'), inUse(dir, process.pid))
  lock.release()
  lock.release() // twice is once
  lockDataFolder(dir, 'peer').release()
})

/** A process that holds `dir` until it is killed; resolves once it holds it. */
async function holder (dir: string): Promise<ReturnType<typeof spawn>> {
  const module = new URL('../../../common/data-lock.ts', import.meta.url).pathname
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `const { lockDataFolder } = await import(${JSON.stringify(module)}); lockDataFolder(${JSON.stringify(dir)}, 'peer'); console.log('held'); setInterval(() => {}, 60_000)`
  ], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [chunk] = await once(child.stdout, 'data') as [Buffer]
  assert.equal(chunk.toString().trim(), 'held')
  return child
}

test('a folder another process holds is refused with its pid; once it is killed with -9 the folder is free', async () => {
  const dir = join(root, 'b')
  const child = await holder(dir)
  assert.throws(() => lockDataFolder(dir, 'peer'), inUse(dir, child.pid ?? -1))
  child.kill('SIGKILL')
  await once(child, 'exit')
  // The lock files are still there: the lock was the OS's, and went with the process.
  await stat(join(dir, 'lock'))
  lockDataFolder(dir, 'peer').release()
})

test('a pid file left by a dead process, or none, does not matter: only the lock counts', async () => {
  const dir = join(root, 'c')
  await rm(dir, { recursive: true, force: true })
  lockDataFolder(dir, 'peer').release()
  await writeFile(join(dir, 'lock.pid'), '999999999\n')
  lockDataFolder(dir, 'peer').release()
  await rm(join(dir, 'lock.pid'))
  const lock = lockDataFolder(dir, 'rendezvous')
  await rm(join(dir, 'lock.pid'))
  assert.throws(() => lockDataFolder(dir, 'rendezvous'), (err: unknown) =>
    is(err, ErrorCode.Usage) && err.message === `the data folder ${dir} is in use by another rendezvous: stop it or use --data DIR`)
  lock.release()
})

test('a folder that cannot be made is ERR_FILE', async () => {
  const file = join(root, 'a-file')
  await writeFile(file, 'x')
  assert.throws(() => lockDataFolder(join(file, 'data'), 'peer'), (err: unknown) => is(err, ErrorCode.File) && err.message.startsWith(`cannot lock the data folder ${join(file, 'data')}:`))
})
