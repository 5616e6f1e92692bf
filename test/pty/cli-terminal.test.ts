/**
 * The peer as a person uses it: a real rendezvous, a real peer on a pseudo-terminal (tmux), and
 * a second real peer driven over --json. Every assertion is on what the screen shows.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, RENDEZVOUS_PROGRAM, is, spawnRendezvous } from '../../harness/processes.ts'
import type { ServerProcess } from '../../harness/processes.ts'
import { Terminal, peerCommand, wrappable } from './terminal.ts'

const ALICE_PASSWORD = 'correct-horse-battery'
const BOB_PASSWORD = 'bob-password-1234'
const ON_LINE_PASSWORD = 'typed-on-the-line-99'
/** A peer process with this data folder is running. */
const running = async (dataDir: string): Promise<boolean> =>
  await new Promise((resolve, reject) => {
    // (`--` ends pgrep's options: the pattern starts with "--". Exit status 1 is "none found";
    // anything else is a failure of the check itself, never a pass.)
    execFile('pgrep', ['-f', '--', `--data ${dataDir}`], err => {
      if (err === null) resolve(true)
      else if (err.code === 1) resolve(false)
      else reject(new Error(`pgrep failed: ${err.message}`))
    })
  })

// What a person never wants to see: a stack trace or readline's crash.
const CRASH = /ERR_USE_AFTER_CLOSE|\n\s+at .+:\d+:\d+|Error \[|node:internal/

const MiB = 1024 * 1024

/**
 * Holds `peer` still (SIGSTOP) at its first progress report of the file `name` going `direction`
 * with at least `bytes` (events from index `from` on), and gives back its release (safe to call
 * twice). The transfer then stands on the screen for as long as a test looks: the other end stops
 * within its credit window (2 MiB). Until 2026-12-07 the files were made big enough to last that
 * long on a fast machine instead, about 290 MiB through 3DES in this file: a tenth of the suite's
 * CPU. A hold stays well under the 15 s a stalled chunk is given.
 *
 * A receiver is held past RECEIVER_HOLD_BYTES when its sender's status is to show a percentage:
 * a sender reports progress from the receiver's verdict on, which it reads when it wants its
 * first credit, after its first 2 MiB; held sooner, the sender waits on the stream's window with
 * no percentage shown, and its transfer times out.
 */
const RECEIVER_HOLD_BYTES = 4 * MiB
async function holdAt (peer: PeerProcess, name: string, direction: 'send' | 'receive', from: number, bytes = 0): Promise<() => void> {
  await peer.waitFor(e => e.event === 'progress' && e.name === name && e.direction === direction && Number(e.bytes) >= bytes, 60_000, from)
  peer.child.kill('SIGSTOP')
  let held = true
  return () => {
    if (held) peer.child.kill('SIGCONT')
    held = false
  }
}

/** Type `typed`, press Tab, and wait for the line to end in `shown`. */
async function completes (terminal: Terminal, typed: string, shown: string): Promise<void> {
  await terminal.type(typed)
  await terminal.press('Tab')
  await terminal.waitFor(screen => screen.endsWith(shown))
}

describe('the interactive terminal', () => {
  let dir: string
  let rendezvous: ServerProcess
  let bob: PeerProcess
  const terminals: Terminal[] = []

  const open = async (dataDir: string, size?: { columns: number, rows: number }, env: Record<string, string> = {}): Promise<Terminal> => {
    const terminal = await Terminal.start(dir, peerCommand(rendezvous.addr.toString(), dataDir), { NO_COLOR: '1', ...env }, size)
    terminals.push(terminal)
    await terminal.waitFor('Type HELP for the commands')
    return terminal
  }

  /** A terminal signed up as `name` (password `<name>-password-1234`), at its prompt. */
  const signedUp = async (name: string): Promise<Terminal> => {
    const terminal = await open(join(dir, name))
    await terminal.line(`SIGNUP ${name} ${name}-password-1234`)
    await terminal.waitFor(`Welcome, ${name}`)
    return terminal
  }

  /** Run `steps` with the rendezvous frozen (SIGSTOP), and thaw it whatever happens. */
  const whileFrozen = async (steps: () => Promise<void>): Promise<void> => {
    rendezvous.child.kill('SIGSTOP')
    try {
      await steps()
    } finally {
      rendezvous.child.kill('SIGCONT')
    }
  }

  before(async () => {
    dir = await tempDir('parley-pty-')
    rendezvous = await spawnRendezvous(join(dir, 'rendezvous'))
    bob = await PeerProcess.start('bob', rendezvous.addr.toString(), join(dir, 'bob'))
    const signed = await bob.run(`SIGNUP bob ${BOB_PASSWORD}`, e => e.event === 'signed-up' || e.event === 'error')
    assert.equal(signed.event, 'signed-up', JSON.stringify(signed))
  })

  after(async () => {
    for (const terminal of terminals) await terminal.close()
    if (bob.child.exitCode === null) await bob.kill()
    await rendezvous.stop()
    await removeDir(dir)
  })

  test('hidden password, errors, completion, a hostile message while typing, sizes, relative paths, QUIT', async () => {
    // Started as `npm run peer` in the test's folder: npm runs it in the repository (as the
    // terminal does) and says where it was typed in INIT_CWD.
    const alice = await open(join(dir, 'alice'), undefined, { INIT_CWD: dir })
    // Ctrl-C at the hidden prompt cancels the question and its command, not the program (until
    // 2026-12-06 it left, "Password: Bye.").
    await alice.line('SIGNUP alice')
    await alice.waitFor('Password:')
    await alice.type('half a pass')
    await alice.press('C-c')
    await alice.waitFor('error: cancelled: nothing was done')
    await alice.waitFor(screen => screen.endsWith('>'))
    assert.doesNotMatch(await alice.screen(), /Bye\.|half a pass/)
    // A password too short is said at once, not after it was typed a second time, and asked for
    // again (the password-retries test has the rest).
    await alice.line('SIGNUP alice')
    await alice.waitFor('Password:')
    await alice.line('short')
    await alice.waitFor(/error: choose a password of at least 8 characters\nPassword: *$/)
    assert.doesNotMatch(await alice.screen(), /Again:/)
    await alice.line(ALICE_PASSWORD)
    await alice.waitFor('Again:')
    await alice.line(ALICE_PASSWORD)
    const welcome = await alice.waitFor('Welcome, alice: your account is ready.')
    assert.doesNotMatch(welcome, new RegExp(ALICE_PASSWORD), 'the password is never on the screen')
    await alice.waitFor(screen => screen.endsWith('alice>'))
    // Ctrl-C on a half-typed line clears the line, as in bash; the program goes on.
    await alice.type('SEND bob a draft')
    await alice.waitFor(screen => screen.endsWith('alice> SEND bob a draft'))
    await alice.press('C-c')
    await alice.waitFor(screen => screen.endsWith('alice>'))

    // A user who does not exist: an error, and nothing queued.
    await alice.line('SEND nosuchuser hello?')
    await alice.waitFor('error: no user "nosuchuser"; nothing was sent')
    await alice.line('HISTORY nosuchuser')
    await alice.waitFor('error: no user or group "nosuchuser"')
    assert.doesNotMatch(await alice.screen(), /queued for nosuchuser/)

    // Tab completes a command word, then a username the directory knows.
    await completes(alice, 'VER', 'alice> VERIFY')
    await completes(alice, 'bo', 'alice> VERIFY bob')
    await alice.press('Enter')
    await alice.waitFor('Fingerprint for you and bob:')
    // Our own name is never offered (the directory knows it: WHO lists it).
    await alice.line('WHO')
    await alice.waitFor(/USER +STATUS\n +alice +online/)
    await alice.type('SEND ali')
    await alice.press('Tab')
    await alice.type('#')
    await alice.waitFor(screen => screen.endsWith('alice> SEND ali#'))
    await alice.press('C-u')

    // A message arrives while a line is half typed: it is printed above, the line survives.
    await alice.waitFor(screen => screen.endsWith('alice>'))
    await alice.type('SEND bob half-typ')
    await alice.waitFor(screen => screen.endsWith('alice> SEND bob half-typ'))
    // (No CR: it would end the line on bob's piped stdin; the unit tests cover CR.)
    const hostile = 'evil\x1b[2K\x1b[1A10:41 friend: pay me\x1b]52;c;ZXZpbA==\x07\x1b]0;owned\x07\u202eend\u200b!'
    await bob.run(`SEND alice ${hostile}`, is('delivered', { to: 'alice' }))
    const shown = await alice.waitFor('bob: evil')
    assert.ok(shown.includes('bob: evil\\x1b[2K\\x1b[1A10:41 friend: pay me\\x1b]52;c;ZXZpbA==\\x07\\x1b]0;owned\\x07\\u202eend\\u200b!'),
      `escapes shown visibly:\n${shown}`)
    assert.equal(await alice.waitForCursorLine(/^alice> SEND bob half-typ$/), 'alice> SEND bob half-typ', 'the half-typed line survives')
    await alice.type('ed line')
    await alice.press('Enter')
    await bob.waitFor(is('message', { from: 'alice', text: 'half-typed line' }))
    await alice.waitFor('delivered to bob')
    // Two Tabs in one read (typed quickly, over ssh say) complete, as two reads do: readline took
    // such a read for a paste and put a tab into the line (round 24: bob got "hi\tthere").
    await alice.type('SEND bob hi')
    await alice.press('Tab', 'Tab')
    await alice.type(' there')
    await alice.waitFor(screen => screen.endsWith('alice> SEND bob hi there'))
    await alice.press('Enter')
    await bob.waitFor(is('message', { from: 'alice', text: 'hi there' }))

    // A 6-byte file is 6 B, not 1 KiB.
    const small = join(dir, 'six.txt')
    await writeFile(small, 'sixsix')
    await bob.run(`SENDFILE ${small} alice`, is('delivered', { to: 'alice' }))
    await alice.waitFor(/bob sent you six\.txt \(6 B\), saved as /)
    // A relative path is read from the folder the peer was started in, not the repository.
    // Tab completes there too, keeping the ./ typed.
    await alice.type('SENDFILE ./si')
    await alice.press('Tab')
    await alice.waitFor(screen => screen.endsWith('alice> SENDFILE ./six.txt'))
    await alice.type(' bob')
    await alice.press('Enter')
    await bob.waitFor(is('file', { from: 'alice', name: 'six.txt' }))
    // Several candidates are listed by their names, as a shell lists them (until 2026-12-07 by
    // their whole paths, the folder repeated in each).
    await mkdir(join(dir, 'pics'))
    for (const name of ['a one.jpg', 'a two.jpg']) await writeFile(join(dir, 'pics', name), 'x')
    await alice.type('SENDFILE ./pics/a')
    await alice.press('Tab', 'Tab')
    await alice.waitFor(/\na\\ one\.jpg +a\\ two\.jpg *\n/)
    await alice.type('t')
    await alice.press('Tab')
    await alice.waitFor(screen => screen.endsWith('alice> SENDFILE ./pics/a\\ two.jpg'))
    await alice.press('C-u')
    // A path as a terminal pastes a dragged file: quoted (GNOME Terminal) or escaped (macOS).
    await writeFile(join(dir, 'my six (1).txt'), 'sixsix')
    await alice.line(`SENDFILE '${join(dir, 'my six (1).txt')}' bob`)
    await bob.waitFor(is('file', { from: 'alice', name: 'my six (1).txt' }))
    const seen = bob.events.length
    await alice.line('SENDFILE my\\ six\\ \\(1\\).txt bob')
    await bob.waitFor(is('file', { from: 'alice', name: 'my six (1).txt' }), undefined, seen)

    // LIST as a table.
    await alice.line('JOIN friends')
    await alice.waitFor('Created and joined group friends.')
    await alice.line('LIST')
    await alice.waitFor(/GROUP +PARTICIPANTS +YOU\n +friends +1 +member\n/)

    // Members see who comes and goes.
    await alice.waitFor(screen => screen.endsWith('alice>'))
    await bob.run('JOIN friends', is('joined', { group: 'friends' }))
    await alice.waitFor(/\[friends\] bob joined/)
    await bob.run('LEAVE friends', is('left', { group: 'friends' }))
    await alice.waitFor(/\[friends\] bob left/)

    await alice.line('QUIT')
    assert.equal(await alice.exitStatus(), 0)
    const last = await alice.screen()
    assert.match(last, /Bye\./)
    assert.doesNotMatch(last, CRASH)
  })

  test('a password that cannot be right is asked for again, hidden, three times at most', async () => {
    const judy = await open(join(dir, 'judy'))
    const JUDY_PASSWORD = 'judy-password-1234'
    await judy.line('SIGNUP judy')
    await judy.waitFor(/parley> SIGNUP judy\nPassword: *$/)
    // Too short: said before `Again:`, and `Password:` again, hidden. The second entry is what a
    // person typing ahead meant for `Again:`; until 2026-12-06 it landed on the command prompt,
    // on screen ("parley> short", then 'unknown command "short"').
    await judy.line('short')
    await judy.waitFor(/Password: *\nerror: choose a password of at least 8 characters\nPassword: *$/)
    await judy.line('short')
    await judy.waitFor(/(error: choose a password of at least 8 characters\nPassword: *\n?){2}$/)
    // The third try passes the length rule, and `Again:` differs: that was the last try.
    await judy.line(JUDY_PASSWORD)
    await judy.waitFor(/Password: *\nAgain: *$/)
    await judy.line(`${JUDY_PASSWORD}-not`)
    await judy.waitFor(/Again: *\nerror: the two passwords differ \(asked 3 times; nothing was done\)\nparley>$/)
    const gaveUp = await judy.screen()
    assert.doesNotMatch(gaveUp, /short|unknown command|Welcome|judy-password/)

    // Two entries that differ are asked for again, from `Password:`.
    await judy.line('SIGNUP judy')
    await judy.waitFor(/parley> SIGNUP judy\nPassword: *$/)
    await judy.line(JUDY_PASSWORD)
    await judy.waitFor(/Password: *\nAgain: *$/)
    await judy.line('judy-password-typo')
    await judy.waitFor(/Again: *\nerror: the two passwords differ\nPassword: *$/)
    await judy.line(JUDY_PASSWORD)
    await judy.waitFor(/Password: *\nAgain: *$/)
    await judy.line(JUDY_PASSWORD)
    await judy.waitFor('Welcome, judy: your account is ready.')

    // LOGIN: Enter alone is no password (none is that short) and is asked for again, not sent.
    await judy.line('LOGIN judy')
    await judy.waitFor(/judy> LOGIN judy\nPassword: *$/)
    await judy.press('Enter')
    await judy.waitFor(/Password: *\nerror: no password was typed\nPassword: *$/)
    await judy.line(JUDY_PASSWORD)
    await judy.waitFor('You are already signed in as judy.')
    const screen = await judy.screen()
    assert.doesNotMatch(screen, /wrong password|judy-password/)
    assert.doesNotMatch(screen, CRASH)

    // LOGIN and the password typed in one go, before `Password:` appeared: the second line is not
    // run, and said so (round 22: it was, and 'unknown command "…"' said the password back), nor
    // shown (round 49: shown in clear, as typed).
    await judy.type('LOGIN judy\rtyped-ahead-secret\r')
    await judy.waitFor(new RegExp(wrappable('error: a line typed before Password: appeared is not run (a password typed there would have been read as a command): type it at Password:') + '\nPassword: *$'))
    await judy.line(JUDY_PASSWORD)
    const again = await judy.waitFor(shown => shown.split('You are already signed in as judy.').length === 3)
    assert.doesNotMatch(again, /unknown command|typed-ahead-secret/)

    // The same without its Enter: not shown, and not taken as the start of the answer (round 49:
    // the answer typed at `Password:` went in front of it, and the sign-in failed).
    await judy.type('LOGIN judy\rhalf-ahead-secret')
    await judy.waitFor(new RegExp(wrappable('error: what was typed before Password: appeared is not taken: type it all at Password:') + '\nPassword: *$'))
    await judy.line(JUDY_PASSWORD)
    const half = await judy.waitFor(shown => shown.split('You are already signed in as judy.').length === 4)
    assert.doesNotMatch(half, /half-ahead-secret|wrong password|not right/)

    // The password typed again, and more, while the sign-in works: not shown, not run, not kept
    // for Up, and said so (round 39: shown, then 'unknown command "…"' said it back, and Up
    // offered it).
    await judy.line('LOGIN judy')
    await judy.waitFor(/judy> LOGIN judy\nPassword: *$/)
    await judy.type(`${JUDY_PASSWORD}\r${JUDY_PASSWORD}-again\rhalf-typed-secret`)
    const unseen = await judy.waitFor(/error: what was typed while signing in is not run, nor kept \(a password typed there would have been read as a command\)\njudy> *$/)
    assert.doesNotMatch(unseen, /-again|half-typed-secret|unknown command/)
    await judy.press('Up')
    assert.match(await judy.waitForCursorLine(/^judy> LOGIN judy\s*$/), /^judy> LOGIN judy\s*$/)
    await judy.press('C-u')

    // A command and its Enter typed in one go with the cursor inside the line (a fast typist, a
    // one-line paste with its newline): the screen shows the line that runs (round 46: it showed
    // `judy> HISTORY judy 1`, and `1x` ran).
    await judy.type('x')
    await judy.press('Left')
    await judy.type('HISTORY judy 1\r')
    const ran = await judy.waitFor(/error: 1x is not a count of messages/)
    assert.match(ran, /judy> HISTORY judy 1x\n/)

    // PASSWORD alone: the current password, checked at once (round 47: the new one was asked
    // twice first), then the new one twice, all hidden, and nothing of them kept for Up.
    await judy.line('PASSWORD')
    await judy.waitFor(/judy> PASSWORD\nCurrent password: *$/)
    await judy.line('not-judys-password')
    await judy.waitFor(/Current password: *\nerror: the current password is not right: the password was not changed\njudy> *$/)
    await judy.line('PASSWORD')
    await judy.waitFor(/judy> PASSWORD\nCurrent password: *$/)
    // Ctrl-R and Up do nothing at a hidden question (round 48: Ctrl-R drew its query and the
    // match in clear, Enter sent the match as the password, and Up put a command in unseen).
    await judy.press('C-r')
    await judy.type('zq')
    await sleep(500)
    assert.doesNotMatch(await judy.screen(), /reverse-i-search|zq/)
    await judy.press('C-u')
    await judy.press('Up')
    await judy.line(JUDY_PASSWORD)
    await judy.waitFor(/Current password: *\nNew password: *$/)
    await judy.line('judy-new-secret-1')
    await judy.waitFor(/New password: *\nAgain: *$/)
    await judy.line('judy-new-secret-1')
    const changed = await judy.waitFor(new RegExp(wrappable('Password changed: judy signs in with the new one from now on, here and on any other device.')))
    assert.doesNotMatch(changed, /judy-new-secret/)
    await judy.press('Up')
    assert.match(await judy.waitForCursorLine(/^judy> PASSWORD\s*$/), /^judy> PASSWORD\s*$/)
    await judy.press('C-u')
    await judy.line('QUIT')
    assert.equal(await judy.exitStatus(), 0)
  })

  test('history survives a restart without passwords or texts, and another account does not get this run\'s; Ctrl-R finds a line; Ctrl-C and Ctrl-D exit 0, except at Password: where they cancel', async () => {
    const data = join(dir, 'carol')
    const first = await open(data)
    await first.line(`SIGNUP carol ${ON_LINE_PASSWORD}`)
    await first.waitFor('Welcome, carol')
    await first.line('LOGIN carol')
    await first.waitFor('Password:')
    await first.line(ON_LINE_PASSWORD)
    // Signed in already: the password is checked and the session stays as it is.
    await first.waitFor('You are already signed in as carol.')
    await first.line('SEND bob remembered across restarts')
    await first.waitFor('delivered to bob')
    // A sign-in line mistyped, its password on it, is not kept either (round 43: Up brought it back).
    await first.line(`SIGNIN carol ${ON_LINE_PASSWORD}`)
    await first.waitFor('did you mean LOGIN?')
    // Up shows the last line, never the password typed at the hidden prompt or on a line.
    await first.press('Up')
    await first.waitFor(screen => screen.endsWith('carol> SEND bob remembered across restarts'))
    await first.press('Up')
    await first.waitFor(screen => screen.endsWith('carol> LOGIN carol'))
    // Past the oldest line readline shows an empty one: nothing older, no password, is there.
    await first.press('Up')
    await first.waitFor(screen => screen.endsWith('carol>'))
    assert.doesNotMatch(await first.screen(), new RegExp(`carol> ${ON_LINE_PASSWORD}`))
    await first.press('C-u')
    await first.waitFor(screen => screen.endsWith('carol>'))
    // Another account signs in here: its Up shows what the history file keeps of carol's lines,
    // not her text (until 2026-12-06 it did: round 7).
    await first.line(`SIGNUP dora ${ON_LINE_PASSWORD}`)
    await first.waitFor('Welcome, dora')
    await first.press('Up')
    await first.waitFor(screen => screen.endsWith('dora> SEND bob'))
    await first.press('Up')
    await first.waitFor(screen => screen.endsWith('dora> LOGIN carol'))
    await first.press('C-u')
    await first.waitFor(screen => screen.endsWith('dora>'))
    await first.press('C-c')
    assert.equal(await first.exitStatus(), 0)
    assert.match(await first.screen(), /Bye\./)
    assert.doesNotMatch(await first.screen(), CRASH)

    // A message's text is not kept in the clear: the store seals it, and the file is the folder's,
    // read by whichever account signs in here next.
    const history = await readFile(join(data, 'history'), 'utf8')
    assert.equal(history, 'LOGIN carol\nSEND bob\n')
    assert.doesNotMatch(history, new RegExp(ON_LINE_PASSWORD))

    const second = await open(data)
    await second.press('Up')
    await second.waitFor(screen => screen.endsWith('parley> SEND bob'))
    await second.press('C-u')
    await second.press('C-r')
    await second.type('LOG')
    await second.waitFor(screen => screen.endsWith("(reverse-i-search)`LOG': LOGIN carol"))
    // Nothing matches: the last match stays, marked as bash marks it (round 8: shown as a match).
    await second.type('zz')
    await second.waitFor(screen => screen.endsWith("(failed reverse-i-search)`LOGzz': LOGIN carol"))
    await second.press('BSpace')
    await second.press('BSpace')
    await second.waitFor(screen => screen.endsWith("(reverse-i-search)`LOG': LOGIN carol"))
    await second.press('Escape')
    await second.waitFor(screen => screen.endsWith('parley>'))
    await second.press('C-r')
    await second.type('SEND')
    await second.waitFor(screen => screen.endsWith("(reverse-i-search)`SEND': SEND bob"))
    await second.press('Right')
    await second.waitFor(screen => screen.endsWith('parley> SEND bob'))
    await second.press('C-u')
    await second.press('C-d')
    assert.equal(await second.exitStatus(), 0)
    assert.match(await second.screen(), /Bye\./)
    assert.doesNotMatch(await second.screen(), CRASH)

    // Ctrl-D at the hidden prompt cancels the command, as Ctrl-C does there, and the program goes
    // on (until 2026-12-06 it left); at the empty command prompt it still leaves.
    const third = await open(data)
    await third.line('LOGIN carol')
    await third.waitFor('Password:')
    await third.press('C-d')
    await third.waitFor(/Password: *\nerror: cancelled: nothing was done\nparley>$/)
    // With a password half typed too (readline's Ctrl-D there deletes nothing: the cursor is at its end).
    await third.line('LOGIN carol')
    await third.waitFor(/parley> LOGIN carol\nPassword: *$/)
    await third.type('half a pass')
    await third.press('C-d')
    await third.waitFor(/Password: *\nerror: cancelled: nothing was done\nparley>$/)
    await third.press('C-d')
    assert.equal(await third.exitStatus(), 0)
    const screen = await third.screen()
    assert.match(screen, /cancelled: nothing was done\nparley> *\nBye\./)
    assert.doesNotMatch(screen, /half a pass/)
    assert.doesNotMatch(screen, CRASH)

    // SIGTERM at the hidden prompt: the program leaves, its Bye. on a line of its own (left over
    // from round 49: `Password: Bye.`).
    const fourth = await open(data)
    await fourth.line('LOGIN carol')
    await fourth.waitFor(/parley> LOGIN carol\nPassword: *$/)
    await fourth.signal('SIGTERM')
    assert.equal(await fourth.exitStatus(), 0)
    assert.match(await fourth.screen(), /\nPassword: *\nBye\./)
  })

  test('a paste of several lines is not run line by line; a paste of one line is', async () => {
    const ivan = await signedUp('ivan')
    await ivan.waitFor(screen => screen.endsWith('ivan>'))
    // As a terminal in bracketed paste mode sends a paste: ESC[200~ … ESC[201~. Until 2026-12-05
    // each line ran: here the JOIN would have joined and the SEND sent.
    await ivan.type('\x1b[200~JOIN pasted\rSEND bob pasted by mistake\rwho\x1b[201~')
    await ivan.waitFor('a paste of 3 lines was not run')
    // Nothing of it is left on the prompt for the next Enter to run (until 2026-12-06 its last
    // line was: "who").
    await ivan.waitFor(screen => screen.endsWith('ivan>'))
    // What was typed before a paste of several lines is put back (until 2026-12-06 it was lost
    // with the first line, and the paste's last line was left on the prompt as a command).
    await ivan.type('SEND bob ')
    await ivan.type('\x1b[200~first paragraph\rsecond paragraph\x1b[201~')
    await ivan.waitFor(new RegExp(wrappable('a paste of 2 lines was not run: each line would have been a command. Paste or type one command at a time (the line is back as you had typed it)')))
    await ivan.waitFor(screen => screen.endsWith('ivan> SEND bob'))
    await ivan.type('typed after all')
    await ivan.press('Enter')
    await bob.waitFor(is('message', { from: 'ivan', text: 'typed after all' }))
    await ivan.line('LIST')
    const listed = await ivan.waitFor(/No groups yet|GROUP/)
    assert.doesNotMatch(listed, /pasted +1/, 'the pasted JOIN did not run')
    assert.deepEqual(bob.events.filter(e => e.event === 'message' && e.from === 'ivan').map(e => e.text), ['typed after all'], 'nor the pasted SEND')
    // One line, newline included, is typed input like any other.
    await ivan.type('\x1b[200~SEND bob pasted on purpose\r\x1b[201~')
    await bob.waitFor(is('message', { from: 'ivan', text: 'pasted on purpose' }))
    // A long one arrives whole, as pasted (its characters are handed to readline a read at a
    // time, paste-keys.ts: key by key, 16,000 characters froze the prompt 5 s, round 39).
    const long = Array.from({ length: 1_500 }, (_, i) => `w${i}`).join(' ')
    await ivan.type(`\x1b[200~SEND bob ${long}\x1b[201~`)
    await ivan.press('Enter')
    await bob.waitFor(is('message', { from: 'ivan', text: long }))
    // A line dropped unrun ahead of `Password:` takes its place in the paste guard's count with
    // it (round 51: every later line was judged by the one before it, so a paste's first line
    // ran, and a typed SEND did not).
    await ivan.type('LOGIN ivan\rtyped-ahead\r')
    await ivan.waitFor(/type it at Password:\nPassword: *$/)
    await ivan.press('C-d')
    await ivan.waitFor(/cancelled: nothing was done\nivan> *$/)
    await ivan.type('\x1b[200~SEND bob pasted-1\rSEND bob pasted-2\x1b[201~')
    await ivan.waitFor('a paste of 2 lines was not run')
    await ivan.line('SEND bob typed after the paste')
    await bob.waitFor(is('message', { from: 'ivan', text: 'typed after the paste' }))
    assert.equal(bob.events.filter(e => e.event === 'message' && String(e.text).startsWith('pasted-')).length, 0)
    // A paste whose first line asks for a password: refused, and the prompt is drawn after it
    // (round 51: none, and what was typed next stood on a bare line).
    await ivan.type('\x1b[200~LOGIN ivan\rnot-a-password\x1b[201~')
    await ivan.waitFor(/a paste of 2 lines was not run[^\n]*\n(?:[^\n]*\n)?ivan> *$/)
    await ivan.line('QUIT')
    assert.equal(await ivan.exitStatus(), 0)
    assert.doesNotMatch(await ivan.screen(), CRASH)
  })

  test('Ctrl-Z, then fg in the shell: the prompt reads again; so after a stop sent from outside', async () => {
    // A shell with job control, as a person has: the peer is started from it as the README says,
    // with npm, which runs it through a shell of its own: three processes in the job.
    const data = join(dir, 'zed')
    const shell = await Terminal.start(dir, ['bash', '--norc', '--noprofile', '-i'], { PS1: 'shell$ ', NO_COLOR: '1' })
    terminals.push(shell)
    await shell.waitFor(screen => screen.endsWith('shell$'))
    await shell.line(`npm run --silent peer -- 0 --rendezvous '${rendezvous.addr.toString()}' --data '${data}' --host 127.0.0.1 --no-mdns`)
    await shell.waitFor('Type HELP for the commands')
    await shell.line('SIGNUP zed zed-password-1234')
    await shell.waitFor(screen => screen.endsWith('zed>'))
    // The whole job stops, so the shell has the terminal back (until 2026-12-06 only the peer
    // stopped: npm ran on, the shell waited for it, and what was typed was shown: round 15).
    await shell.press('C-z')
    await shell.waitFor(/Stopped.*\n.*shell\$$/)
    await shell.line('fg')
    // Until 2026-12-06 the prompt came back deaf: readline leaves its input paused after Ctrl-Z,
    // and what was typed then went to the shell once the program ended.
    await shell.waitFor(screen => screen.endsWith('zed>'))
    // A paste of several lines is still held back: the shell turned bracketed paste off to run us
    // again, and the peer asks for it anew (until 2026-12-06 these ran: round 13).
    await shell.paste('JOIN pasted-after-fg\nQUIT\n')
    await shell.waitFor('a paste of 2 lines was not run')
    await shell.waitFor(screen => screen.endsWith('zed>'))
    await shell.line('WHO')
    await shell.waitFor(/USER +STATUS\n(.*\n)* +zed +online/)
    // The job stopped from outside (`kill -STOP %1`): the shell gives the terminal back cooked,
    // with echo on.
    const group = await new Promise<string>((resolve, reject) => {
      // The job's process group: that of its oldest process with this data folder (npm).
      execFile('sh', ['-c', 'ps -o pgid= -p "$(pgrep -o -f -- "--data $1")"', 'sh', data], (err, stdout) => { if (err === null) resolve(stdout.trim()); else reject(new Error(`ps failed: ${err.message}`)) })
    })
    assert.match(group, /^\d+$/)
    process.kill(-Number(group), 'SIGSTOP')
    await shell.waitFor(/Stopped.*\n.*shell\$$/)
    await shell.line('fg')
    await shell.waitFor(screen => screen.endsWith('zed>'))
    // A password typed next is not shown: the terminal is raw again, without echo (until
    // 2026-12-06 libuv, believing it raw still, left it as the shell made it: cooked, with echo,
    // and the password showed as typed: round 14).
    await shell.line('LOGIN zed')
    await shell.waitFor(screen => screen.endsWith('Password:'))
    await shell.line('typed-but-unseen-99')
    await shell.waitFor(/error: .*\n.*zed>$/)
    assert.doesNotMatch(await shell.screen(), /typed-but-unseen-99/)
    await shell.type('HISTORY bob')
    // Echoed once, as typed on a prompt of ours (cooked, it showed twice), and answered.
    await shell.waitFor(screen => screen.endsWith('zed> HISTORY bob'))
    await shell.press('Enter')
    await shell.waitFor('No messages with bob yet.')
    await shell.line('QUIT')
    await shell.waitFor(/Bye\.\n.*shell\$$/)
    assert.doesNotMatch(await shell.screen(), /command not found/, 'nothing typed at the peer reached the shell')
    assert.doesNotMatch(await shell.screen(), CRASH)
  })

  test('a line longer than the terminal is wide: messages arriving meanwhile stay, the line is drawn once', async () => {
    const heidi = await open(join(dir, 'heidi'), { columns: 40, rows: 20 })
    await heidi.line('SIGNUP heidi heidi-password-1234')
    await heidi.waitFor('Welcome, heidi')
    await heidi.waitFor(screen => screen.endsWith('heidi>'))
    // Typed in one go, as a paste: readline writes it without redrawing, over three rows.
    const long = 'SEND bob this line is longer than the forty columns of this terminal, by far'
    await heidi.type(long)
    await heidi.waitFor(screen => screen.endsWith('by far'))
    await bob.run('SEND heidi one while you type', is('delivered', { to: 'heidi' }))
    await heidi.waitFor('bob: one while you type')
    await bob.run('SEND heidi two while you type', is('delivered', { to: 'heidi' }))
    const screen = await heidi.waitFor('bob: two while you type')
    assert.match(screen, /bob: one while you type/, 'the first message is still on the screen')
    // tmux joins wrapped rows (-J): the prompt and the line, once, last, after both messages.
    const lines = screen.split('\n')
    assert.equal(lines.filter(l => l.includes('heidi> SEND bob')).length, 1, `the typed line is drawn once:\n${screen}`)
    assert.equal(lines.at(-1), `heidi> ${long}`)
    // Widened, then narrowed, with the line half typed: what was printed above it stays, and the
    // line is drawn once (round 27: widened, the message above it was wiped; narrowed, a row of
    // the line stayed above it). A message after each resize comes once its redraw is done.
    for (const [columns, after] of [[120, 'three after widening'], [30, 'four, narrower']] as const) {
      await heidi.resize(columns, 20)
      await bob.run(`SEND heidi ${after}`, is('delivered', { to: 'heidi' }))
      const resized = await heidi.waitFor(`bob: ${after}`)
      for (const shown of ['one while you type', 'two while you type']) assert.match(resized, new RegExp(`bob: ${shown}`), `${shown} is still on the screen at ${columns} columns:\n${resized}`)
      const rows = resized.split('\n')
      assert.equal(rows.filter(l => l.includes('heidi> SEND bob')).length, 1, `the typed line is drawn once at ${columns} columns:\n${resized}`)
      assert.equal(rows.at(-1), `heidi> ${long}`)
    }
    await heidi.press('Enter')
    await bob.waitFor(is('message', { from: 'heidi', text: long.slice('SEND bob '.length) }))
    await heidi.line('QUIT')
    assert.equal(await heidi.exitStatus(), 0)
  })

  test('a line that comes in one read and fills its rows exactly is drawn once (round 30: its first row twice)', async () => {
    const olga = await open(join(dir, 'olga'), { columns: 35, rows: 20 })
    await olga.line('SIGNUP olga olga-password-1234')
    await olga.waitFor('Welcome, olga')
    await olga.waitFor(screen => screen.endsWith('olga>'))
    // `olga> ` and 64 characters: two rows of 35 exactly, in one send-keys (a paste, a fast typist).
    const typed = 'SEND bob this fills two rows to the last column of the second...'
    assert.equal('olga> '.length + typed.length, 70)
    await olga.type(typed)
    await olga.waitFor(screen => screen.endsWith('second...'))
    await bob.run('SEND olga while it waits', is('delivered', { to: 'olga' }))
    const screen = await olga.waitFor('bob: while it waits')
    // tmux joins wrapped rows (-J): the line once, whole, last.
    const lines = screen.split('\n')
    assert.equal(lines.filter(l => l.includes('olga> SEND bob')).length, 1, `the typed line is drawn once:\n${screen}`)
    assert.equal(lines.at(-1)?.trimEnd(), `olga> ${typed}`, `the line, last:\n${screen}`)
    await olga.press('Enter')
    await bob.waitFor(is('message', { from: 'olga', text: typed.slice('SEND bob '.length) }))
    await olga.line('QUIT')
    assert.equal(await olga.exitStatus(), 0)
  })

  test('after Ctrl-L, with the prompt on the top row, what is printed above it adds nothing to the scrollback (round 30: a screenful per redraw)', async () => {
    const pia = await signedUp('pia')
    await pia.waitFor(screen => screen.endsWith('pia>'))
    await pia.type('SEND bob half')
    await pia.press('C-l')
    let before = await pia.scrollback()
    for (const deadline = Date.now() + 30_000; before.cursorRow !== 0 && Date.now() < deadline;) {
      await sleep(100)
      before = await pia.scrollback()
    }
    assert.equal(before.cursorRow, 0, 'Ctrl-L puts the prompt on the top row')
    // Printed above the prompt: the prompt's rows are erased from the top left of the screen,
    // which tmux (scroll-on-clear) took for a clear of the whole screen, into the scrollback.
    await bob.run('SEND pia one above the prompt', is('delivered', { to: 'pia' }))
    await pia.waitFor('bob: one above the prompt')
    await bob.run('SEND pia two above the prompt', is('delivered', { to: 'pia' }))
    const screen = await pia.waitFor('bob: two above the prompt')
    assert.equal((await pia.scrollback()).rows, before.rows, `nothing went into the scrollback:\n${screen}`)
    assert.equal(await pia.waitForCursorLine(/^pia> SEND bob half$/), 'pia> SEND bob half')
    await pia.press('C-u')
    await pia.line('QUIT')
    assert.equal(await pia.exitStatus(), 0)
  })

  test('lines printed during file transfers stay on the screen; the prompt shows the transfers', async () => {
    const frank = await signedUp('frank')
    const grace = await PeerProcess.start('grace', rendezvous.addr.toString(), join(dir, 'grace'))
    try {
      assert.equal((await grace.run('SIGNUP grace grace-password-1234', e => e.event === 'signed-up' || e.event === 'error')).event, 'signed-up')

      // A file coming in, and two messages while it does: both stay above the prompt, which
      // carries the transfer while it lasts and drops it after.
      const big = join(dir, 'big.bin')
      await writeFile(big, Buffer.alloc(16 * MiB, 7))
      const sending = bob.events.length
      bob.send(`SENDFILE ${big} frank`)
      const releaseSender = await holdAt(bob, 'big.bin', 'send', sending)
      try {
        await frank.waitFor(/\[↓ big\.bin \d+% ← bob\] frank>/, 60_000)
        grace.send('SEND frank the first message during the file')
        await frank.waitFor('grace: the first message during the file')
        // (From grace: bob's outbox delivers to frank in order, so his would wait for the file.)
        grace.send('SEND frank the second message during the file')
        await frank.waitFor('grace: the second message during the file')
        const coming = /^\[↓ big\.bin \d+% ← bob\] frank>/
        assert.match(await frank.waitForCursorLine(coming), coming,
          'the file is still coming in after both messages (else this test shows nothing)')
      } finally {
        releaseSender()
      }
      const received = await frank.waitFor(/bob sent you big\.bin \(16\.0 MiB\)/, 120_000)
      assert.match(received, /grace: the first message during the file/)
      assert.match(received, /grace: the second message during the file/)
      await frank.waitFor(screen => screen.endsWith('frank>'))

      // A group file to two members: both deliveries are reported, and both stay on the screen
      // (with a progress bar for each, the second bar's end wiped the first one's line).
      await frank.line('JOIN transfers')
      await frank.waitFor('Created and joined group transfers.')
      await bob.run('JOIN transfers', is('joined', { group: 'transfers' }))
      await grace.run('JOIN transfers', is('joined', { group: 'transfers' }))
      await frank.waitFor('[transfers] grace joined')
      // QUIT at once: it says that it finishes what is going out (until 2026-12-06 nothing was
      // said), and does (bob held at his first chunk: the file cannot be out before it is said).
      const clip = join(dir, 'clip.mp4')
      await writeFile(clip, Buffer.alloc(8 * MiB, 9))
      const receiving = bob.events.length
      await frank.line(`SENDGROUPFILE ${clip} transfers`)
      await frank.line('QUIT')
      const releaseBob = await holdAt(bob, 'clip.mp4', 'receive', receiving)
      try {
        await frank.waitFor('Finishing what is still going out before leaving (at most 30 s); Ctrl-C leaves now')
      } finally {
        releaseBob()
      }
      // Each delivery names its file (until 2026-12-06 only who got it); members who get it
      // together are said on one line.
      const told = (screen: string, name: string): boolean => new RegExp(`clip\\.mp4 delivered to (\\w+ and )?${name}( and \\w+)? in transfers`).test(screen)
      const both = await frank.waitFor(screen => told(screen, 'bob') && told(screen, 'grace'), 120_000)
      assert.doesNotMatch(both, CRASH)
      assert.equal(await frank.exitStatus(), 0)
      assert.match(await frank.screen(), /Bye\./)
    } finally {
      await grace.kill()
    }
  })

  test('PASSWORD\'s questions end when the account signs in on another device (left over from round 49)', async () => {
    const vera = await signedUp('vera')
    await vera.line('PASSWORD')
    await vera.waitFor(/vera> PASSWORD\nCurrent password: *$/)
    const other = await PeerProcess.start('vera-elsewhere', rendezvous.addr.toString(), join(dir, 'vera-elsewhere'))
    try {
      assert.equal((await other.run('LOGIN vera vera-password-1234', e => e.event === 'logged-in' || e.event === 'error')).event, 'logged-in')
      // Until 2026-12-07 `Current password:` stayed, and what was typed at it got `sign in first`.
      await vera.waitFor(/signed in on another device; signed out here\.[^]*\nerror: you are signed out here: the password was not changed\nparley> *$/)
    } finally {
      await other.kill()
    }
    await vera.line('QUIT')
    assert.equal(await vera.exitStatus(), 0)
  })

  test('Tab offers a contact who is offline, in a run that has not met them yet (round 50: only once WHO had listed them)', async () => {
    const data = join(dir, 'tina')
    const first = await open(data)
    await first.line('SIGNUP tina tina-password-1234')
    await first.waitFor('Welcome, tina')
    const uma = await PeerProcess.start('uma', rendezvous.addr.toString(), join(dir, 'uma'))
    try {
      assert.equal((await uma.run('SIGNUP uma uma-password-1234', e => e.event === 'signed-up' || e.event === 'error')).event, 'signed-up')
      await uma.run('SEND tina hello from uma', e => e.event === 'delivered' || e.event === 'error')
      await first.waitFor('uma: hello from uma')
    } finally {
      await uma.kill()
    }
    await first.line('QUIT')
    assert.equal(await first.exitStatus(), 0)
    const second = await open(data)
    // Tab before the sign-in too: what it found then (nothing) is not kept for after (round 51).
    await completes(second, 'LOG', 'parley> LOGIN')
    await second.line(' tina tina-password-1234')
    await second.waitFor('tina>')
    await completes(second, 'SEND um', 'tina> SEND uma')
    await second.press('C-u')
    await second.line('QUIT')
    assert.equal(await second.exitStatus(), 0)
  })

  test('at 30 columns the prompt with a transfer stays on one row, with room to type', async () => {
    const ivy = await open(join(dir, 'ivy'), { columns: 30, rows: 20 })
    await ivy.line('SIGNUP ivy ivy-password-1234')
    await ivy.waitFor('Welcome, ivy')
    const big = join(dir, 'ivy-big.bin')
    await writeFile(big, Buffer.alloc(16 * MiB, 3))
    const receiving = bob.events.length
    await ivy.line(`SENDFILE ${big} bob`)
    const releaseBob = await holdAt(bob, 'ivy-big.bin', 'receive', receiving, RECEIVER_HOLD_BYTES)
    const onOneRow = /^\[↑ [^\]]*\d+%[^\]]*\] ivy> ?$/
    let row: string
    try {
      // The status gives way (until 2026-12-06 it took 24 columns whatever the width, and the
      // prompt wrapped: `[↑ ivy-big.bin 3% → bob] iv` and `y>` on the next row).
      await ivy.waitFor(/\[↑ [^\]]*\d+%[^\]]*\] ivy>/, 60_000)
      row = await ivy.waitForCursorLine(onOneRow)
    } finally {
      releaseBob()
    }
    assert.match(row, onOneRow, `the prompt on one row: ${row}`)
    assert.ok(row.trimEnd().length <= 30 - 10, `ten columns left to type in: ${row}`)
    // (At 30 columns the line goes on in an indented row, broken between words.)
    await ivy.waitFor(/ivy-big\.bin delivered\s+to\s+bob/, 120_000)
    await ivy.line('QUIT')
    assert.equal(await ivy.exitStatus(), 0)
  })

  test('while QUIT finishes what goes out, what is typed is neither shown nor left to the shell, and Ctrl-C leaves without a raw ^C', async () => {
    const kate = await signedUp('kate')
    const big = join(dir, 'kate-big.bin')
    await writeFile(big, Buffer.alloc(16 * MiB, 5))
    const receiving = bob.events.length
    await kate.line(`SENDFILE ${big} bob`)
    const releaseBob = await holdAt(bob, 'kate-big.bin', 'receive', receiving, RECEIVER_HOLD_BYTES)
    try {
      await kate.waitFor(/\[↑ kate-big\.bin \d+% → bob\] kate>/, 60_000)
      await kate.line('QUIT')
      await kate.waitFor('Ctrl-C leaves now')
      // What is typed now is read by nobody: it is not shown, and not left for the shell to run
      // once the peer is gone (round 39: the terminal echoed it and bash ran it, a redirection
      // made a file).
      await kate.line('echo typed while leaving > leaked')
      // Ctrl-C still leaves at once (until 2026-12-06 its ^C stayed on the screen above "Bye.").
      await kate.press('C-c')
      assert.equal(await kate.exitStatus(), 0)
    } finally {
      releaseBob()
    }
    const screen = await kate.screen()
    assert.match(screen, /Ctrl-C leaves now[^\n]*\n(?:.*\n)*?Bye\./)
    assert.doesNotMatch(screen, /\^C|typed while leaving/)
    // The terminal is back in the mode the shell gave it: what is typed now shows.
    await kate.type('echo is back')
    await kate.waitFor('echo is back')
    assert.doesNotMatch(screen, CRASH)
  })

  test('while a command runs, a redrawn transfer status stands alone: no ready prompt under it until it ends (round 30)', async () => {
    const mona = await signedUp('mona')
    const big = join(dir, 'mona-big.bin')
    await writeFile(big, Buffer.alloc(16 * MiB, 4))
    const receiving = bob.events.length
    await mona.line(`SENDFILE ${big} bob`)
    const releaseBob = await holdAt(bob, 'mona-big.bin', 'receive', receiving, RECEIVER_HOLD_BYTES)
    let row = ''
    try {
      await mona.waitFor(/\[↑ mona-big\.bin \d+% → bob\] mona>/, 60_000)
      // The rendezvous paused: LIST waits for its answer while the file, bob let go, goes on and
      // its status is redrawn.
      await whileFrozen(async () => {
        await mona.line('LIST')
        releaseBob()
        // The first redraw after LIST's row (the cursor stays on that row until one).
        row = await mona.waitForCursorLine(/^\[↑ mona-big\.bin \d+% → bob\](?! mona> L)/)
      })
    } finally {
      releaseBob()
    }
    // Until 2026-12-07 `[↑ mona-big.bin 40% → bob] mona> `, as if LIST had ended.
    assert.match(row, /^\[↑ mona-big\.bin \d+% → bob\] ?$/, `the status alone while LIST runs: ${row}`)
    await mona.waitFor(/GROUP +PARTICIPANTS|No groups yet/) // (the second when this test runs alone)
    await mona.waitFor('mona-big.bin delivered to bob', 120_000)
    assert.match(await mona.waitForCursorLine(/^mona> ?$/), /^mona> ?$/, 'the prompt is back once LIST has ended')
    await mona.line('QUIT')
    assert.equal(await mona.exitStatus(), 0)
  })

  test('Ctrl-C while SENDFILE still reads its file cancels that file alone: nothing is queued or sent, and the prompt stays (round 43)', async () => {
    const rita = await signedUp('rita')
    const big = join(dir, 'big.iso')
    await writeFile(big, '')
    await truncate(big, 3 * 1024 * MiB) // sparse: seconds to read for its hash, nothing on the disk
    const seen = bob.events.length
    await rita.line(`SENDFILE ${big} bob`)
    await rita.waitFor(/\[reading big\.iso \d+%\]/, 60_000)
    await rita.press('C-c')
    // Until 2026-12-07 the peer left some 4 s later, and the file was queued and sent all the same.
    await rita.waitFor('error: cancelled: big.iso was not sent')
    // Pressed again at once, as when the first seemed slow: the same wish, not one to leave
    // (round 45: it left).
    await rita.press('C-c')
    assert.match(await rita.waitForCursorLine(/^rita> ?$/), /^rita> ?$/, 'back at the prompt')
    await sleep(300)
    assert.doesNotMatch(await rita.screen(), /Bye\./, 'still running')
    await rita.line('HISTORY bob')
    await rita.waitFor('No messages with bob yet.')
    await rita.line('QUIT')
    assert.equal(await rita.exitStatus(), 0)
    const screen = await rita.screen()
    assert.match(screen, /^Bye\.$/m, 'nothing waits in the outbox')
    assert.doesNotMatch(screen, /still wait/)
    assert.doesNotMatch(screen, CRASH)
    assert.deepEqual(bob.events.slice(seen).filter(e => e.name === 'big.iso'), [], 'bob got nothing of it')
  })

  test('Ctrl-C while a command waits (a JOIN on a frozen rendezvous) does not leave: it says so, and a second Ctrl-C leaves within the grace a signal gives, not when the JOIN\'s own wait ends (rounds 45 and 50)', async () => {
    const sam = await signedUp('sam')
    await sam.line('LIST') // a request stream kept: the JOIN goes out, and waits for its answer
    await sam.waitFor(/GROUP|No groups/)
    const notice = /error: JOIN cannot be stopped once it runs, and goes on to its end: Ctrl-C again leaves now/
    // One press: the JOIN goes on, and the program with it (round 50: it left once the JOIN ended).
    await whileFrozen(async () => {
      await sam.line('JOIN thawed')
      await sleep(500)
      await sam.press('C-c')
      await sam.waitFor(notice)
    })
    await sam.waitFor(/Created and joined group thawed\.\nsam> *$/)
    await sam.line('LIST')
    await sam.waitFor(/thawed +1 +member\n[^]*sam> *$/)
    // Two: it leaves. The JOIN's own wait is 15 s; the grace after Ctrl-C is 2 s.
    await whileFrozen(async () => {
      await sam.line('JOIN frozen')
      await sleep(500)
      await sam.press('C-c')
      await sam.waitFor(screen => screen.split('cannot be stopped once it runs').length === 3)
      await sam.press('C-c')
      assert.equal(await sam.exitStatus(10_000), 0)
    })
  })

  test('SIGNUP with the rendezvous out of reach says so before it asks for the password (round 46: both asked, then "cannot reach")', async () => {
    // A port nothing listens on: the rendezvous is down.
    const terminal = await Terminal.start(dir, peerCommand('/ip4/127.0.0.1/tcp/9', join(dir, 'una')), { NO_COLOR: '1' })
    terminals.push(terminal)
    await terminal.waitFor('Type HELP for the commands')
    await terminal.line('SIGNUP una')
    const said = await terminal.waitFor(new RegExp(wrappable('(connection refused): an account is made at the rendezvous; SIGNUP once it can be reached') + '\nparley> *$'))
    assert.doesNotMatch(said, /Password:/)
    // The password typed blind after the Enter, coming just after that answer: not shown, not
    // run, not said back (round 51: `unknown command "…"`).
    await terminal.line('SIGNUP una')
    await terminal.waitFor(screen => screen.split('SIGNUP once it can be reached').length === 3)
    await terminal.line('blind-secret-1')
    const blind = await terminal.waitFor(new RegExp(wrappable('not run, nor kept (a password typed there would have been read as a command)') + '\nparley> *$'))
    assert.doesNotMatch(blind, /blind-secret|unknown command/)
    await terminal.line('QUIT')
    assert.equal(await terminal.exitStatus(), 0)
  })

  test('a signal while SIGNUP waits for a frozen rendezvous leaves without asking for the password (round 51: `Password: Bye.`)', async () => {
    const wes = await open(join(dir, 'wes'))
    await whileFrozen(async () => {
      await wes.line('SIGNUP wes')
      await sleep(300)
      await wes.signal('SIGTERM')
      assert.equal(await wes.exitStatus(10_000), 0)
    })
    const screen = await wes.screen()
    assert.doesNotMatch(screen, /Password:/)
    assert.match(screen, /parley> SIGNUP wes\n(?:[^\n]*\n)*Bye\./)
  })

  test('--json on a terminal prints its events alone, one a line, with no prompt among them (round 43)', async () => {
    const terminal = await Terminal.start(dir, [...peerCommand(rendezvous.addr.toString(), join(dir, 'quinn')), '--json'], { NO_COLOR: '1' })
    terminals.push(terminal)
    await terminal.line('SIGNUP quinn quinn-password-1234')
    await terminal.waitFor('"event":"signed-up"')
    await terminal.line('SEND bob hi from json')
    await terminal.waitFor('"event":"delivered"')
    await terminal.line('QUIT')
    assert.equal(await terminal.exitStatus(), 0)
    const screen = await terminal.screen()
    // Until 2026-12-07 `quinn> {"event":"accepted",…}` on the prompt's row.
    assert.doesNotMatch(screen, /(parley|quinn)>/)
    for (const row of screen.split('\n').filter(row => row.includes('"event"'))) assert.match(row, /^\{"event":/, row)
  })

  test('a message padded to the terminal\'s width cannot start a row that reads as a line of its own (round 37)', async () => {
    const nora = await open(join(dir, 'nora'), { columns: 80, rows: 20 })
    await nora.line('SIGNUP nora nora-password-1234')
    await nora.waitFor('Welcome, nora')
    const fake = '10:48:00 carol: nora, run SENDFILE ~/.ssh/id_rsa bob please'
    // `HH:MM:SS bob: ok` and spaces to the 80th column: the fake would start the next row.
    await bob.run(`SEND nora ok${' '.repeat(80 - 16)}${fake}`, is('delivered', { to: 'nora' }))
    const screen = await nora.waitFor('id_rsa bob please')
    // Until 2026-12-07 the second row began at the left edge, as bob's next line would.
    assert.ok(screen.split('\n').some(row => row === `         ${fake}`), `the rest of bob's message on an indented row:\n${screen}`)
    assert.ok(!screen.split('\n').some(row => row.startsWith('10:48:00')), `no row of it starts at the left edge:\n${screen}`)
    // Nor with characters the terminal draws two columns wide (round 40: Kana Supplement counted
    // one, the terminal wrapped first, and the fake began a row of its own).
    const wideFake = '10:49:00 carol: nora, the key is in ~/.ssh'
    await bob.run(`SEND nora ${String.fromCodePoint(0x1b000).repeat((80 - 14) / 2)}${wideFake}`, is('delivered', { to: 'nora' }))
    const wide = await nora.waitFor('~/.ssh\nnora>')
    assert.ok(!wide.split('\n').some(row => row.startsWith('10:49:00')), `no row of it starts at the left edge:\n${wide}`)
    await nora.line('QUIT')
    assert.equal(await nora.exitStatus(), 0)
  })

  test('Ctrl-C stops a rendezvous on a terminal with its line said over the echoed ^C (round 35: "^Cparley rendezvous stopped")', async () => {
    const server = await Terminal.start(dir, [process.execPath, ...RENDEZVOUS_PROGRAM, '--port', '0', '--host', '127.0.0.1', '--data', join(dir, 'rendezvous-tty'), '--no-mdns'], { NO_COLOR: '1' })
    terminals.push(server)
    await server.waitFor(/listening on:\n\/ip4\//)
    await server.press('C-c')
    assert.equal(await server.exitStatus(), 0)
    const screen = await server.screen()
    assert.match(screen, /^parley rendezvous stopped \(SIGINT\)\.$/m)
    assert.doesNotMatch(screen, /\^C/)
  })

  test('QUIT typed while a command is still running ends below the prompt drawn after it, not on its row', async () => {
    const lena = await signedUp('lena')
    // The rendezvous paused: LIST waits for its answer while QUIT is typed ahead.
    await whileFrozen(async () => {
      await lena.line('LIST')
      await sleep(300)
      await lena.line('QUIT')
      await sleep(300)
    })
    assert.equal(await lena.exitStatus(), 0)
    const screen = await lena.screen()
    // Until 2026-12-06 `lena> Bye.`: the row of the prompt drawn after LIST's answer (round 12).
    assert.match(screen, /\nBye\./)
    assert.doesNotMatch(screen, /lena> +Bye\./)
  })

  test('a command typed ahead runs with no ready prompt drawn above it while it waits (round 46: `alice>` stood 15 s under a LIST still waiting)', async () => {
    const mira = await signedUp('mira')
    await whileFrozen(async () => {
      // WHO answers from what is known here after 2 s; LIST, typed meanwhile, waits on.
      await mira.line('WHO')
      await sleep(300)
      await mira.line('LIST')
      await mira.waitFor(/The rendezvous is out of reach/)
      await sleep(500)
      const waiting = await mira.screen()
      assert.doesNotMatch(waiting.split('\n').at(-1) ?? '', /^mira> *$/, `no ready prompt while LIST waits:\n${waiting}`)
    })
    await mira.waitFor(/No groups yet|GROUP +PARTICIPANTS/) // (other tests here may have made some)
    await mira.waitForCursorLine(/^mira> *$/)
    // Nor when a line typed while a command waits is cleared with Ctrl-C, with nothing printed
    // since the command was typed at the ready prompt (round 48: `mira> ` was drawn).
    await whileFrozen(async () => {
      await mira.line('LIST')
      await sleep(300)
      await mira.type('abc')
      await mira.waitFor(screen => screen.endsWith('abc'))
      await mira.press('C-c')
      await sleep(500)
      const cleared = await mira.screen()
      assert.doesNotMatch(cleared, /abc/)
      assert.doesNotMatch(cleared.split('\n').at(-1) ?? '', /^mira> *$/, `no ready prompt after the Ctrl-C:\n${cleared}`)
    })
    await mira.waitForCursorLine(/^mira> *$/)
    await mira.line('QUIT')
    assert.equal(await mira.exitStatus(), 0)
  })

  test('output piped (| tee) with input at the terminal: SIGNUP still asks the password, and nothing shows it', async () => {
    const log = join(dir, 'teo.log')
    const peer = peerCommand(rendezvous.addr.toString(), join(dir, 'teo')).map(arg => `'${arg}'`).join(' ')
    const terminal = await Terminal.start(dir, ['sh', '-c', `${peer} | tee '${log}'`], { NO_COLOR: '1' })
    terminals.push(terminal)
    await terminal.waitFor('Type HELP for the commands')
    await terminal.line('SIGNUP teo')
    // Until 2026-12-06 it failed here, and the password had to be typed on the command line, shown.
    await terminal.waitFor(/SIGNUP teo\nPassword:\s*$/)
    await terminal.line(ALICE_PASSWORD)
    await terminal.waitFor(/Again:\s*$/)
    await terminal.line(ALICE_PASSWORD)
    const screen = await terminal.waitFor('Welcome, teo')
    await terminal.line('QUIT')
    assert.equal(await terminal.exitStatus(), 0)
    assert.ok(!screen.includes(ALICE_PASSWORD), `the password was echoed:\n${screen}`)
    const piped = await readFile(log, 'utf8')
    assert.match(piped, /Welcome, teo/)
    assert.ok(!piped.includes(ALICE_PASSWORD) && !piped.includes('Password:'), `the pipe got the dialogue:\n${piped}`)
    // The terminal echoes again once the peer is gone: the shell's next line shows as typed.
    await terminal.type('echo is back')
    await terminal.waitFor('echo is back')
    assert.doesNotMatch(await terminal.screen(), CRASH)
  })

  test('a terminal that goes away (hang-up) ends the peer', async () => {
    const data = join(dir, 'erin')
    const terminal = await open(data)
    await terminal.line('SIGNUP erin erin-password-1234')
    await terminal.waitFor('Welcome, erin')
    await terminal.line('SEND bob before the hang-up')
    await terminal.waitFor('delivered to bob')
    // A line half typed when the terminal goes is not sent: nobody pressed Enter (round 39:
    // readline ran it, and the draft went to its recipient).
    await terminal.type('SEND bob a draft, never entered')
    await terminal.waitFor('erin> SEND bob a draft, never entered')
    await terminal.close()
    const deadline = Date.now() + 30_000
    while (await running(data)) {
      assert.ok(Date.now() < deadline, 'the peer is still running 30 s after its terminal went away')
      await sleep(200)
    }
    // It ended as at the end of input, not on an error: readline's failure to leave raw mode on
    // the dead terminal (EIO) once ended the prompt's loop as a crash, logged here, and the peer
    // was left running, not stopped, until the exit deadline of the hang-up's signal.
    assert.equal(existsSync(join(data, 'errors.log')), false, 'an unexpected error was logged at the hang-up')
    // Stopped, its outbox would have sent the draft at once: a moment for it to show had it gone.
    await sleep(300)
    assert.deepEqual(bob.events.filter(e => e.event === 'message' && String(e.text).includes('draft')), [])
  })

  test('SIGTERM and piped input end with status 0 and a bye', async () => {
    const peer = await PeerProcess.start('dave', rendezvous.addr.toString(), join(dir, 'dave'))
    const error = await peer.run('SEND nosuchuser hi', is('error'))
    assert.equal(error.code, 'ERR_NOT_SIGNED_IN', 'nobody is signed in on this peer yet')
    assert.equal(await peer.kill('SIGTERM'), 0)
    assert.ok(peer.events.some(e => e.event === 'bye'))
    assert.doesNotMatch(peer.stderr.join(''), CRASH)
  })
})
