import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HistoryFile, HISTORY_LINES, holdsPassword } from '../../../peer/cli/history.ts'
import { removeDir, tempDir } from '../../../harness/temp.ts'

test('SIGNUP and LOGIN lines with a password are never stored; without one they are', async () => {
  assert.equal(holdsPassword('SIGNUP alice hunter2hunter2'), true)
  assert.equal(holdsPassword('  login Alice  pw with spaces'), true)
  assert.equal(holdsPassword('LOGIN alice'), false)
  assert.equal(holdsPassword('SEND bob login alice secret'), false)
  const dir = await tempDir()
  try {
    const file = new HistoryFile(join(dir, 'sub', 'history'))
    assert.deepEqual(file.load(), [])
    for (const line of ['LOGIN alice', 'login alice s3cret-pass', 'SEND bob hi', '', 'SIGNUP x yyyyyyyy', 'LIST']) file.add(line)
    assert.equal(await readFile(join(dir, 'sub', 'history'), 'utf8'), 'LOGIN alice\nSEND bob hi\nLIST\n')
    assert.equal((await stat(join(dir, 'sub', 'history'))).mode & 0o777, 0o600)
    assert.deepEqual(new HistoryFile(join(dir, 'sub', 'history')).load(), ['LIST', 'SEND bob hi', 'LOGIN alice'])
  } finally {
    await removeDir(dir)
  }
})

test('a long history keeps the newest lines, and a password line written by hand is not loaded', async () => {
  const dir = await tempDir()
  try {
    const path = join(dir, 'history')
    const lines = Array.from({ length: 2 * HISTORY_LINES + 5 }, (_, i) => `SEND bob ${i}`)
    await writeFile(path, [...lines, 'LOGIN bob secretsecret'].join('\n') + '\n')
    const loaded = new HistoryFile(path).load()
    assert.equal(loaded.length, HISTORY_LINES)
    assert.equal(loaded[0], `SEND bob ${lines.length - 1}`)
    assert.equal((await readFile(path, 'utf8')).split('\n').length, HISTORY_LINES + 1, 'the file was trimmed')
  } finally {
    await removeDir(dir)
  }
})
