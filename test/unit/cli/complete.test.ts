import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { complete, NameBook } from '../../../peer/cli/complete.ts'
import { COMMAND_WORDS, HELP, parseCommand } from '../../../peer/cli/commands.ts'
import { removeDir, tempDir } from '../../../harness/temp.ts'

const names = { users: ['alice', 'bob', 'bobby'], groups: ['friends', 'family'] }

test('every command in HELP completes from its first letters, in the case typed', () => {
  for (const line of HELP.filter(line => /^[A-Z]+ /.test(line))) {
    const word = line.split(' ')[0] ?? ''
    const [found] = complete(word.slice(0, -1), names)
    assert.ok(found.includes(word + ' '), `${word}: ${found.join(',')}`)
  }
  assert.deepEqual(complete('SENDG', names), [['SENDGROUP ', 'SENDGROUPFILE '], 'SENDG'])
  assert.deepEqual(complete('he', names), [['help '], 'he'])
  assert.ok(COMMAND_WORDS.includes('EXIT'))
})

test('users after SEND, VERIFY, TRUST; groups after SENDGROUP, JOIN, LEAVE, MEMBERS; both after HISTORY', () => {
  assert.deepEqual(complete('SEND b', names), [['bob ', 'bobby '], 'b'])
  assert.deepEqual(complete('send A', names), [['alice '], 'A'])
  assert.deepEqual(complete('VERIFY al', names), [['alice '], 'al'])
  assert.deepEqual(complete('SENDGROUP fr', names), [['friends '], 'fr'])
  assert.deepEqual(complete('join fa', names), [['family '], 'fa'])
  assert.deepEqual(complete('HISTORY f', names), [['family ', 'friends '], 'f'])
  assert.deepEqual(complete('HISTORY #fr', names), [['#friends '], '#fr'], '#group: the group alone')
  // Every command that takes a group takes it as #group, and completes it so (round 43: only HISTORY).
  for (const line of ['SENDGROUP #fr', 'MEMBERS #fr', 'LEAVE #fr', 'JOIN #fr', 'SENDGROUPFILE notes.txt #fr']) {
    assert.deepEqual(complete(line, names), [['#friends '], '#fr'], line)
  }
  assert.deepEqual(complete('JOIN #f', { ...names, mine: ['friends'] }), [['#family '], '#f'], 'JOIN: still not the groups we are in')
  assert.deepEqual(complete('SEND bob hel', names), [[], 'hel'], 'message text is not completed')
  // UNBLOCK offers those blocked, BLOCK everyone (until 2026-12-07 UNBLOCK offered everyone: round 47).
  assert.deepEqual(complete('UNBLOCK b', { ...names, blocked: ['bobby'] }), [['bobby '], 'b'])
  assert.deepEqual(complete('UNBLOCK ', names), [[], ''], 'nobody blocked, nobody offered')
  assert.deepEqual(complete('BLOCK b', { ...names, blocked: ['bobby'] }), [['bob ', 'bobby '], 'b'])
  assert.deepEqual(complete('WHO x', names), [[], 'x'])
  // JOIN does not offer a group we are in (until 2026-12-06 it did); the others still do.
  const inFriends = { ...names, mine: ['friends'] }
  assert.deepEqual(complete('JOIN f', inFriends), [['family '], 'f'])
  // …and SENDGROUP, SENDGROUPFILE and LEAVE only ours, once we know which they are.
  assert.deepEqual(complete('LEAVE f', inFriends), [['friends '], 'f'])
  assert.deepEqual(complete('SENDGROUP f', inFriends), [['friends '], 'f'])
  assert.deepEqual(complete('MEMBERS f', inFriends), [['family ', 'friends '], 'f'])
  assert.deepEqual(complete('LEAVE f', names), [['family ', 'friends '], 'f'], 'not known yet: all')
  // In none: none (until 2026-12-06 all: round 15).
  const inNone = { ...names, mine: [] }
  for (const line of ['LEAVE ', 'SENDGROUP f', 'SENDGROUPFILE notes.txt ']) assert.deepEqual(complete(line, inNone)[0], [], line)
  assert.deepEqual(complete('JOIN f', inNone), [['family ', 'friends '], 'f'])
  // In LIST's order: grp2 before grp10 (until 2026-12-06 grp10 first: round 19).
  assert.deepEqual(complete('JOIN g', { users: [], groups: ['grp10', 'grp2', 'Grp1'] })[0], ['Grp1 ', 'grp2 ', 'grp10 '])
})

test('the name book learns which groups are ours: joined, created, LIST, left', () => {
  const book = new NameBook()
  book.observe({ event: 'joined', group: 'chess', created: false, already: false })
  book.observe({ event: 'groups', groups: [{ group: 'chess', members: 2, joined: true }, { group: 'go', members: 1, joined: false }, { group: 'club', members: 3, joined: true }] })
  book.observe({ event: 'left', group: 'club', dropped: 0, underWay: 0, partsRemoved: 0 })
  assert.deepEqual([...book.mine ?? ['not known']], ['chess'])
  assert.deepEqual([...(book.with({ users: [], groups: [], mine: ['poker'] }).mine ?? [])].sort(), ['chess', 'poker'])
  assert.deepEqual([...(book.with({ users: [], groups: [] }).mine ?? [])], ['chess'], 'the directory not asked: what the book knows')
  // Which groups are ours is not known until something lists them: a JOIN alone does not say
  // we are in no other.
  const fresh = new NameBook()
  fresh.observe({ event: 'joined', group: 'chess', created: false, already: false })
  assert.equal(fresh.mine, undefined)
  assert.equal(fresh.with({ users: [], groups: [] }).mine, undefined)
  fresh.observe({ event: 'groups', groups: [{ group: 'go', members: 1, joined: false }] })
  assert.deepEqual([...fresh.mine ?? ['not known']], [], 'listed: known, in none (chess is gone)')
})

test('the name book forgets the names of the account before when another signs in here (round 37: Tab offered them)', () => {
  const book = new NameBook()
  book.observe({ event: 'logged-in', username: 'alice', peerId: 'p1', offline: false, already: false })
  book.observe({ event: 'message', id: '1', from: 'bob', text: 'hi', at: 0, sentAt: 0 })
  book.observe({ event: 'joined', group: 'chess', created: false, already: false })
  book.observe({ event: 'logged-in', username: 'alice', peerId: 'p1', offline: false, already: true })
  assert.deepEqual([[...book.users], [...book.groups]], [['bob'], ['chess']], 'the same account again: kept')
  book.observe({ event: 'signed-up', username: 'lena', peerId: 'p2' })
  assert.deepEqual([[...book.users], [...book.groups], book.mine], [[], [], undefined])
  book.observe({ event: 'presence', user: 'kim', online: true })
  assert.deepEqual([...book.users], ['kim'])
})

/** complete() on a path as readline applies it: each candidate in place of the part it
 * completes, given back with the path as typed ([whole paths, typed path]). */
function wholePaths (line: string, cwd?: string): [string[], string] {
  const [candidates, on] = complete(line, names, cwd)
  assert.ok(line.endsWith(on), `"${on}" ends "${line}"`)
  const typed = line.slice(line.indexOf(' ') + 1)
  const before = typed.slice(0, typed.length - on.length)
  return [candidates.map(candidate => before + candidate), typed]
}

test('SENDFILE completes a local path, then the user; SENDGROUPFILE the group', async () => {
  const dir = await tempDir()
  try {
    await mkdir(join(dir, 'photos'))
    await writeFile(join(dir, 'photos', 'holiday.jpg'), 'x')
    await writeFile(join(dir, 'notes.txt'), 'x')
    assert.deepEqual(wholePaths('SENDFILE ph', dir), [['photos/'], 'ph'])
    assert.deepEqual(wholePaths('SENDFILE photos/h', dir), [['photos/holiday.jpg '], 'photos/h'])
    // The folder stays as typed, `./` and `../` too (`./` completed nothing until 2026-12-06).
    assert.deepEqual(wholePaths('SENDFILE ./ph', dir), [['./photos/'], './ph'])
    assert.deepEqual(wholePaths('SENDFILE ./photos/h', dir), [['./photos/holiday.jpg '], './photos/h'])
    assert.deepEqual(wholePaths('SENDFILE ../photos/h', join(dir, 'photos')), [['../photos/holiday.jpg '], '../photos/h'])
    assert.deepEqual(wholePaths('SENDFILE photos//h', dir), [['photos//holiday.jpg '], 'photos//h'])
    assert.deepEqual(wholePaths(`SENDFILE ${dir}/no`, '/'), [[`${dir}/notes.txt `], `${dir}/no`])
    assert.deepEqual(complete('SENDFILE notes.txt bo', names, dir), [['bob ', 'bobby '], 'bo'])
    assert.deepEqual(complete('SENDGROUPFILE notes.txt fr', names, dir), [['friends '], 'fr'])
    // `~/` is the home folder (os.homedir reads HOME), kept as typed.
    const home = process.env.HOME
    process.env.HOME = dir
    try {
      assert.deepEqual(wholePaths('SENDFILE ~/photos/h', '/'), [['~/photos/holiday.jpg '], '~/photos/h'])
    } finally {
      if (home === undefined) delete process.env.HOME
      else process.env.HOME = home
    }
  } finally {
    await removeDir(dir)
  }
})

test('while a path is typed only paths are offered, written as it is typed (escaped, quoted), dot-files once a dot is typed', async () => {
  const dir = await tempDir()
  try {
    await mkdir(join(dir, 'my photos'))
    for (const name of ['cat (1).jpg', 'it\'s.txt', '.hidden']) await writeFile(join(dir, 'my photos', name), 'x')
    await mkdir(join(dir, 'dots'))
    for (const name of ['.a', '.b']) await writeFile(join(dir, 'dots', name), 'x')
    await mkdir(join(dir, 'empty'))
    // Escaped as bash writes it, or inside the quote it was started with.
    assert.deepEqual(wholePaths('SENDFILE my', dir), [['my\\ photos/'], 'my'])
    assert.deepEqual(wholePaths('SENDFILE my\\ photos/c', dir), [['my\\ photos/cat\\ \\(1\\).jpg '], 'my\\ photos/c'])
    assert.deepEqual(wholePaths('SENDFILE \'my photos/c', dir), [['\'my photos/cat (1).jpg\' '], '\'my photos/c'])
    assert.deepEqual(wholePaths('SENDFILE \'my photos/it', dir), [['\'my photos/it\'\\\'\'s.txt\' '], '\'my photos/it'])
    assert.deepEqual(wholePaths('SENDFILE "my photos/', dir), [['"my photos/cat (1).jpg" ', '"my photos/it\'s.txt" '], '"my photos/'])
    // What readline lists is the names alone, as a shell lists them (until 2026-12-07 each
    // whole path, the folder repeated in every entry).
    assert.deepEqual(complete('SENDFILE "my photos/', names, dir), [['cat (1).jpg" ', 'it\'s.txt" '], ''])
    assert.deepEqual(complete(`SENDFILE ${dir}/my\\ photos/c`, names, '/'), [['cat\\ \\(1\\).jpg '], 'c'])
    // Whatever completion writes, the parser reads back as the file.
    for (const line of ['SENDFILE my\\ photos/', 'SENDFILE \'my photos/', 'SENDFILE "my photos/']) {
      for (const candidate of wholePaths(line, dir)[0]) {
        const command = parseCommand(`SENDFILE ${candidate} bob`)
        assert.ok(command?.verb === 'SENDFILE' && existsSync(join(dir, command.file)), `${candidate}: ${JSON.stringify(command)}`)
      }
    }
    // Nothing that matches: nothing, never the users (an escaped space or an open quote is still the path).
    for (const typed of ['zz', 'zz\\ ', '\'no such ', '"my photos/zz', 'empty/', 'dots/', 'my\\ photos/zz']) {
      assert.deepEqual(wholePaths(`SENDFILE ${typed}`, dir), [[], typed], typed)
    }
    // Dot-files once the name typed starts with a dot, in any folder written any way.
    assert.deepEqual(wholePaths('SENDFILE dots/.', dir), [['dots/../', 'dots/./', 'dots/.a ', 'dots/.b '], 'dots/.'])
    assert.deepEqual(wholePaths('SENDFILE ./dots/.a', dir), [['./dots/.a '], './dots/.a'])
    assert.deepEqual(wholePaths('SENDFILE \'my photos/.h', dir), [['\'my photos/.hidden\' '], '\'my photos/.h'])
    assert.deepEqual(wholePaths('SENDFILE ..', join(dir, 'dots')), [['../'], '..'])
    // The path ended (a space not escaped, a quote closed): the recipient.
    assert.deepEqual(complete('SENDFILE my\\ photos/cat\\ \\(1\\).jpg b', names, dir), [['bob ', 'bobby '], 'b'])
    assert.deepEqual(complete('SENDFILE \'my photos/cat (1).jpg\' b', names, dir), [['bob ', 'bobby '], 'b'])
  } finally {
    await removeDir(dir)
  }
})

test('a relative path completes in the folder the peer was started in (INIT_CWD under npm), where SENDFILE reads it', async () => {
  const dir = await tempDir()
  const before = process.env.INIT_CWD
  try {
    await writeFile(join(dir, 'main.ts'), 'x')
    process.env.INIT_CWD = dir
    assert.deepEqual(wholePaths('SENDFILE ma'), [['main.ts '], 'ma'])
  } finally {
    if (before === undefined) delete process.env.INIT_CWD
    else process.env.INIT_CWD = before
    await removeDir(dir)
  }
})

test('the name book learns users and groups from events', () => {
  const book = new NameBook()
  book.observe({ event: 'message', id: '1', from: 'carol', text: 'hi', at: 0, sentAt: 0 })
  book.observe({ event: 'members', group: 'club', epoch: 1, members: [{ username: 'dave', online: true, connected: false }], lastKnown: false })
  book.observe({ event: 'joined', group: 'chess', created: false, already: false })
  book.observe({ event: 'left', group: 'chess', dropped: 0, underWay: 0, partsRemoved: 0 })
  assert.deepEqual([...book.users].sort(), ['carol', 'dave'])
  assert.deepEqual([...book.groups], ['club'])
  const both = book.with({ users: ['erin'], groups: ['club', 'go'] })
  assert.deepEqual([...both.users].sort(), ['carol', 'dave', 'erin'])
  assert.deepEqual([...both.groups].sort(), ['club', 'go'])
})

test('a local file named with terminal controls is not offered: readline would print it raw', async () => {
  const dir = await tempDir()
  try {
    await writeFile(join(dir, 'esc\x1b[31mred.txt'), 'x')
    await writeFile(join(dir, 'essay.txt'), 'x')
    assert.deepEqual(wholePaths(`SENDFILE ${dir}/es`), [[`${dir}/essay.txt `], `${dir}/es`])
  } finally {
    await removeDir(dir)
  }
})
