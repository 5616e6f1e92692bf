/**
 * Where a typed path is read from (peer/cli/paths.ts): the folder the person started the peer
 * in, which under `npm run peer` is INIT_CWD, not the package folder npm runs the program in.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { localPath, userFolder } from '../../../peer/cli/paths.ts'

test('the user\'s folder is INIT_CWD when npm started the peer, else the process\'s own', () => {
  assert.equal(userFolder({ INIT_CWD: '/home/ann/pictures' }), '/home/ann/pictures')
  assert.equal(userFolder({}), process.cwd())
  assert.equal(userFolder({ INIT_CWD: '' }), process.cwd(), 'an empty INIT_CWD is no folder')
})

test('a relative path is taken from the user\'s folder; ~ is home; an absolute path stays', () => {
  assert.equal(localPath('./main.ts', '/work/main/peer', '/home/ann'), '/work/main/peer/main.ts')
  assert.equal(localPath('holiday pics/a.jpg', '/home/ann/pictures', '/home/ann'), '/home/ann/pictures/holiday pics/a.jpg')
  assert.equal(localPath('../a.jpg', '/home/ann/pictures', '/home/ann'), '/home/ann/a.jpg')
  assert.equal(localPath('~/a.jpg', '/work/main', '/home/ann'), '/home/ann/a.jpg')
  assert.equal(localPath('/tmp/a.jpg', '/work/main', '/home/ann'), '/tmp/a.jpg')
})

test('by default the folder is INIT_CWD, as `npm run peer` sets it', () => {
  const before = process.env.INIT_CWD
  process.env.INIT_CWD = '/home/ann/pictures'
  try {
    assert.equal(localPath('./photo.jpg'), '/home/ann/pictures/photo.jpg')
  } finally {
    if (before === undefined) delete process.env.INIT_CWD
    else process.env.INIT_CWD = before
  }
})
