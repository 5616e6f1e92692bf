import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HistoryFile, HISTORY_LINES, holdsPassword, keptOnDisk } from '../../../peer/cli/history.ts'
import { removeDir, tempDir } from '../../../harness/temp.ts'

test('SIGNUP and LOGIN lines with a password are never stored; without one they are', async () => {
  assert.equal(holdsPassword('SIGNUP alice hunter2hunter2'), true)
  assert.equal(holdsPassword('  login Alice  pw with spaces'), true)
  assert.equal(holdsPassword('LOGIN alice'), false)
  assert.equal(holdsPassword('SEND bob login alice secret'), false)
  // Round 43: a sign-in line mistyped, or begun with another messenger's word, kept its password.
  for (const line of ['SIGNIN dave2 password4', 'LGOIN dave2 password4', 'logon dave2 password4', 'SignOn dave2 p', 'singup dave2 password4', 'REGISTER dave2 password4']) {
    assert.equal(holdsPassword(line), true, line)
    assert.equal(keptOnDisk(line), undefined, line)
  }
  assert.equal(holdsPassword('SIGNIN dave2'), false, 'no password on it')
  assert.equal(holdsPassword('SEDN bob hello there'), false, 'a typo of SEND')
  assert.equal(holdsPassword('LOGOUT now please'), false)
  // Round 48: a word that is no command but names a password.
  for (const line of ['CHANGEPASSWORD newpass12 secretpass96', 'passwd old new', 'setpwd x']) assert.equal(holdsPassword(line), true, line)
  assert.equal(holdsPassword('SEND bob my password is x'), false, 'a message about one is a message')
  const dir = await tempDir()
  try {
    const file = new HistoryFile(join(dir, 'sub', 'history'))
    assert.deepEqual(file.load(), [])
    for (const line of ['LOGIN alice', 'login alice s3cret-pass', 'JOIN club', '', 'SIGNUP x yyyyyyyy', 'LIST']) file.add(line)
    assert.equal(await readFile(join(dir, 'sub', 'history'), 'utf8'), 'LOGIN alice\nJOIN club\nLIST\n')
    assert.equal((await stat(join(dir, 'sub', 'history'))).mode & 0o777, 0o600)
    assert.deepEqual(new HistoryFile(join(dir, 'sub', 'history')).load(), ['LIST', 'JOIN club', 'LOGIN alice'])
  } finally {
    await removeDir(dir)
  }
})

test('PASSWORD with anything after it is never stored, nor a typo of it; PASSWORD alone is', () => {
  for (const line of ['PASSWORD old-pass1 new-pass1', 'password old-pass1', '  Passwd old-pass1 new pass 2', 'PASWORD old-pass1 new-pass1']) {
    assert.equal(holdsPassword(line), true, line)
    assert.equal(keptOnDisk(line), undefined, line)
  }
  assert.equal(holdsPassword('PASSWORD'), false)
  assert.equal(keptOnDisk('PASSWORD'), 'PASSWORD')
  assert.equal(holdsPassword('SEND bob PASSWORD old new'), false)
})

test('a long history keeps the newest lines, and a password line written by hand is not loaded', async () => {
  const dir = await tempDir()
  try {
    const path = join(dir, 'history')
    const lines = Array.from({ length: 2 * HISTORY_LINES + 5 }, (_, i) => `JOIN g${i}`)
    await writeFile(path, [...lines, 'LOGIN bob secretsecret'].join('\n') + '\n')
    const loaded = new HistoryFile(path).load()
    assert.equal(loaded.length, HISTORY_LINES)
    assert.equal(loaded[0], `JOIN g${lines.length - 1}`)
    assert.equal((await readFile(path, 'utf8')).split('\n').length, HISTORY_LINES + 1, 'the file was trimmed')
  } finally {
    await removeDir(dir)
  }
})

test('the file keeps no message text and no file path: a SEND keeps its address, a SENDFILE nothing; an older file is scrubbed at load', async () => {
  assert.equal(keptOnDisk('SEND bob my secret is 42'), 'SEND bob')
  assert.equal(keptOnDisk('  sendgroup #club  hi all'), 'sendgroup #club')
  assert.equal(keptOnDisk('SEND bob'), 'SEND bob', 'a SEND without text is an error, kept as typed')
  assert.equal(keptOnDisk("SENDFILE '/home/ann/tax return.pdf' bob"), undefined)
  assert.equal(keptOnDisk('sendgroupfile ~/x.png club'), undefined)
  assert.equal(keptOnDisk('SENDFILES are not a command'), 'SENDFILES are not a command')
  assert.equal(keptOnDisk('LOGIN bob hunter2hunter2'), undefined)
  assert.equal(keptOnDisk('JOIN club'), 'JOIN club')
  const dir = await tempDir()
  try {
    const path = join(dir, 'history')
    const file = new HistoryFile(path)
    for (const line of ['SEND bob one', 'SENDFILE /tmp/a.bin bob', 'LIST']) file.add(line)
    assert.equal(await readFile(path, 'utf8'), 'SEND bob\nLIST\n')
    // What a version before 2026-12-06 wrote: texts and paths in the clear.
    await writeFile(path, 'SEND bob one\nSEND bob two\nSENDFILE /tmp/a.bin bob\nLIST\nSEND bob three\n')
    assert.deepEqual(new HistoryFile(path).load(), ['SEND bob', 'LIST', 'SEND bob'], 'the same line twice running is once')
    assert.equal(await readFile(path, 'utf8'), 'SEND bob\nLIST\nSEND bob\n', 'rewritten without them')
  } finally {
    await removeDir(dir)
  }
})
