import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatBytes } from '../../../common/format-bytes.ts'
import { displayWidth, hangingRows, table, when } from '../../../peer/cli/format.ts'
import { stripVTControlCharacters, styleText } from 'node:util'
import { describe, humanOutput } from '../../../peer/cli/output.ts'
import { ErrorCode } from '../../../common/errors.ts'
import type { PeerEvent } from '../../../peer/events.ts'
import { capture } from '../../helpers/captured-output.ts'

test('sizes: bytes exactly, then KiB / MiB / GiB with one decimal', () => {
  assert.equal(formatBytes(0), '0 B')
  assert.equal(formatBytes(6), '6 B')
  assert.equal(formatBytes(1023), '1023 B')
  assert.equal(formatBytes(1024), '1.0 KiB')
  assert.equal(formatBytes(1536), '1.5 KiB')
  assert.equal(formatBytes(1024 * 1024 - 1), '1.0 MiB')
  assert.equal(formatBytes(5.25 * 1024 * 1024), '5.3 MiB')
  assert.equal(formatBytes(3 * 1024 ** 3), '3.0 GiB')
  assert.equal(formatBytes(2 * 1024 ** 4), '2.0 TiB')
})

test('tables align every column but the last, wide characters included', () => {
  assert.equal(table([['A', 'B', 'C'], ['long name', 'x', 'tail text'], ['b', 'yy', 'z']]),
    '  A          B   C\n  long name  x   tail text\n  b          yy  z')
  assert.equal(displayWidth('日本'), 4)
  assert.equal(table([['USER', 'STATUS'], ['日本', 'online'], ['bob', 'offline']]),
    '  USER  STATUS\n  日本  online\n  bob   offline')
})

test('HISTORY\'s times carry the date unless they are today', () => {
  const now = new Date(2026, 11, 6, 15, 30, 0).getTime()
  assert.equal(when(new Date(2026, 11, 6, 9, 5, 7).getTime(), now), '09:05:07')
  assert.equal(when(new Date(2026, 11, 5, 23, 59, 59).getTime(), now), '2026-12-05 23:59:59')
  assert.equal(when(new Date(2025, 0, 2, 8, 0, 0).getTime(), now), '2025-01-02 08:00:00')
})

test('HISTORY says where a received file was saved', () => {
  const at = Date.now()
  const line = (direction: 'in' | 'out'): string => describe({
    event: 'history',
    with: 'bob',
    earlier: 0,
    messages: [{ id: '01', direction, from: direction === 'in' ? 'bob' : 'alice', group: null, kind: 'file', text: 'cat.jpg', path: '/home/alice/downloads/cat (1).jpg', status: 'delivered', at, sentAt: null, unreadable: false, unshown: false }]
  }) ?? ''
  assert.match(line('in'), /\[file\] cat\.jpg \(saved as \/home\/alice\/downloads\/cat \(1\)\.jpg\)$/)
  assert.match(line('out'), /\[file\] cat\.jpg$/)
})

test('HISTORY shows a message an earlier account of this name stored, which this one cannot read, as such', () => {
  const text = describe({
    event: 'history',
    with: 'bob',
    earlier: 0,
    messages: [{ id: '02', direction: 'in', from: 'bob', group: null, kind: 'text', text: '', path: null, status: 'received', at: Date.now(), sentAt: null, unreadable: true, unshown: false }]
  }) ?? ''
  assert.match(text, /\[stored by an earlier account of this name: it does not open with this one\]$/)
})

test('a message that waited for us says when it was sent, before the sender: live and in HISTORY', () => {
  const at = new Date(2026, 11, 6, 6, 37, 27).getTime()
  const onTime = describe({ event: 'message', id: '01', from: 'alice', text: 'hi', at, sentAt: at - 20_000 }) ?? ''
  assert.equal(onTime, '06:37:27 alice: hi', 'under a minute late is on time')
  const waited = describe({ event: 'group-message', id: '02', group: 'club', from: 'alice', text: 'hi', at, sentAt: at - 22 * 60_000 }) ?? ''
  assert.equal(waited, '06:37:27 (sent 06:15:27) [club] alice: hi')
  const yesterday = describe({ event: 'message', id: '03', from: 'alice', text: 'hi', at, sentAt: at - 24 * 60 * 60_000 }) ?? ''
  assert.equal(yesterday, '06:37:27 (sent 2026-12-05 06:37:27) alice: hi')
  // A file too (round 6: it had no note); from a sender that does not say, none.
  const file = { id: '05', from: 'alice', name: 'cat.jpg', path: '/d/cat.jpg', size: 2048, sha256: 'ab', at, sentAt: at - 22 * 60_000 }
  assert.equal(describe({ event: 'file', ...file }), '06:37:27 (sent 06:15:27) alice sent you cat.jpg (2.0 KiB), saved as /d/cat.jpg')
  assert.equal(describe({ event: 'group-file', group: 'club', ...file }), '06:37:27 (sent 06:15:27) [club] alice sent cat.jpg (2.0 KiB), saved as /d/cat.jpg')
  assert.equal(describe({ event: 'file', ...file, sentAt: null }), '06:37:27 alice sent you cat.jpg (2.0 KiB), saved as /d/cat.jpg')
  const history = describe({
    event: 'history',
    with: 'alice',
    earlier: 0,
    messages: [{ id: '04', direction: 'in', from: 'alice', group: null, kind: 'text', text: 'hi', path: null, status: 'received', at, sentAt: at - 5 * 60_000, unreadable: false, unshown: false }]
  }) ?? ''
  assert.match(history, / 06:32:27 \(came 06:37:27\) +alice +received +hi$/)
})

test('HISTORY lists each message at the time it is ordered by, when it was sent: a text sent after a file and there first stands below it, earlier in time (round 15: the times it came, out of order)', () => {
  // Today: HISTORY writes the date before the time of another day (this ran past midnight once).
  const today = new Date()
  const sent = new Date(today.getFullYear(), today.getMonth(), today.getDate(), 20, 56, 14).getTime()
  const row = (id: string, kind: 'text' | 'file', text: string, sentAt: number, at: number) =>
    ({ id, direction: 'in' as const, from: 'alice', group: null, kind, text, path: null, status: 'received' as const, at, sentAt, unreadable: false, unshown: false })
  const history = describe({
    event: 'history',
    with: 'alice',
    earlier: 0,
    messages: [row('01', 'file', 'clip.mp4', sent, sent + 4_000), row('02', 'text', 'text after file', sent + 1_000, sent + 1_200)]
  }) ?? ''
  const times = history.split('\n').slice(1).map(line => line.trim().slice(0, 8))
  assert.deepEqual(times, ['20:56:14', '20:56:15'], history)
  assert.match(history.split('\n')[0] ?? '', /^ *SENT +FROM/)
})

test('LEAVE says what goes on and what will not go, each counted, and nothing when there is neither', () => {
  const left = (dropped: number, underWay: number, partsRemoved = 0): string | undefined => describe({ event: 'left', group: 'work', dropped, underWay, partsRemoved })
  assert.equal(left(0, 0), 'Left group work.')
  // The tester's case: a file going out to three members, nobody offline (until 2026-12-06 "3
  // deliveries to members who were offline will not go", and then the file arrived).
  assert.equal(left(0, 3), 'Left group work. 3 deliveries already under way go on: you sent them as a member.')
  assert.equal(left(1, 0), 'Left group work. 1 delivery still waiting will not go: only members send to a group.')
  assert.equal(left(2, 1), 'Left group work. 1 delivery already under way goes on: you sent it as a member. 2 deliveries still waiting will not go: only members send to a group.')
  // What came of its files that were cut is removed: they will not come now (round 27).
  assert.equal(left(0, 0, 1), 'Left group work. A file of the group that stopped coming will not come now: what came of it is removed.')
  assert.equal(left(0, 0, 2), 'Left group work. 2 files of the group that stopped coming will not come now: what came of them is removed.')
})

test('MEMBERS with the rendezvous away does not call a member it has no connection to offline', () => {
  const members = (lastKnown: boolean): string => describe({
    event: 'members',
    group: 'club',
    epoch: 3,
    members: [{ username: 'alice', online: true, connected: false }, { username: 'bob', online: true, connected: true }, { username: 'carol', online: false, connected: false }],
    lastKnown
  }) ?? ''
  assert.match(members(false), / carol +offline$/)
  // The rendezvous says offline, a session is still open (a frozen peer): said as both, as the
  // header counts it (until 2026-12-06 "online, connected", under "1 online": round 16).
  const frozen = describe({ event: 'members', group: 'club', epoch: 3, members: [{ username: 'alice', online: true, connected: false }, { username: 'bob', online: false, connected: true }], lastKnown: false }) ?? ''
  assert.match(frozen, /^club: 2 members, 1 online [^]* bob +offline, connected$/)
  // Until 2026-12-06 "offline", beside deliveries to carol at her last address that followed.
  assert.match(members(true), /as last known \(the rendezvous is out of reach\)[^]* bob +online, connected\n +carol +not known \(no connection now\)$/)
})

test('LIST puts numbered names in their order: grp2 before grp10 (round 17: grp1, grp10, grp11, grp2)', () => {
  const groups = ['grp1', 'grp10', 'grp11', 'grp2', 'alpha'].map(group => ({ group, members: 1, joined: false }))
  const rows = (describe({ event: 'groups', groups }) ?? '').split('\n').slice(1).map(line => line.trim().split(/ +/)[0])
  assert.deepEqual(rows, ['alpha', 'grp1', 'grp2', 'grp10', 'grp11'])
})

test('HISTORY says how many earlier messages it did not show, and how to see them', () => {
  const at = Date.now()
  const shown = (earlier: number, count = 2, cut = false): string => describe({
    event: 'history',
    with: 'bob',
    earlier,
    ...(cut ? { cut } : {}),
    messages: Array.from({ length: count }, (_, i) => ({ id: `0${i}`, direction: 'in' as const, from: 'bob', group: null, kind: 'text' as const, text: `m${i}`, path: null, status: 'received', at, sentAt: null, unreadable: false, unshown: false }))
  }) ?? ''
  assert.equal(shown(0).split('\n')[0], '  SENT      FROM  STATUS    MESSAGE')
  assert.equal(shown(1).split('\n')[0], '1 earlier message not shown (HISTORY bob 3 shows 3)')
  assert.equal(shown(30_000).split('\n')[0], '30000 earlier messages not shown (HISTORY bob 10000 shows the last 10000)')
  assert.equal(shown(9_000, 1_000, true).split('\n')[0], '9000 earlier messages not shown (HISTORY shows at most 8 MiB of messages at once)')
  const group = describe({
    event: 'history',
    with: 'club',
    earlier: 1,
    messages: [{ id: '09', direction: 'in', from: 'bob', group: 'club', kind: 'text', text: 'hi', path: null, status: 'received', at, sentAt: null, unreadable: false, unshown: false }]
  }) ?? ''
  assert.equal(group.split('\n')[0], '1 earlier message not shown (HISTORY #club 2 shows 2)', 'a group as #club: never a user of that name')
  // Its rows name the sender alone: the group is the whole table's (round 39: `[club] bob`).
  assert.match(group.split('\n')[2] ?? '', /^ {2}\S+ +bob +received +hi$/)
})

test('on a narrow terminal the notice above HISTORY\'s rows breaks between words, indented, and its table is left as it is (round 43: mid-word at 40 columns)', () => {
  const out = capture()
  Object.assign(out.stream, { isTTY: true, columns: 40 })
  const human = humanOutput(out.stream, capture().stream)
  const at = Date.now()
  human.print({
    event: 'history',
    with: 'alice',
    earlier: 12,
    messages: Array.from({ length: 6 }, (_, i) => ({ id: `0${i}`, direction: 'in' as const, from: 'alice', group: null, kind: 'text' as const, text: `m${i}`, path: null, status: 'received', at, sentAt: null, unreadable: false, unshown: false }))
  })
  human.close()
  const rows = out.text().split('\n')
  assert.deepEqual(rows.slice(0, 2), ['12 earlier messages not shown (HISTORY', '  alice 18 shows 18)'])
  assert.equal(rows[2], '  SENT      FROM   STATUS    MESSAGE', 'the table as it was')
})

test('on a narrow terminal the prose of MEMBERS, WHO and HELP breaks between words; their tables are left as they are (round 46: `(key epoch` / `5)`)', () => {
  const out = capture()
  Object.assign(out.stream, { isTTY: true, columns: 40 })
  const human = humanOutput(out.stream, capture().stream)
  human.print({ event: 'members', group: 'friends', epoch: 5, lastKnown: false, members: ['alice', 'bob', 'carol'].map(username => ({ username, online: true, connected: false })) })
  human.print({ event: 'who', lastKnown: true, users: [{ username: 'bob', online: true }] })
  human.close()
  const rows = out.text().split('\n')
  assert.deepEqual(rows.slice(0, 2), ['friends: 3 members, 3 online (key epoch', '  5)'], 'between words')
  assert.ok(rows.includes('  USER   STATUS'), rows.join('\n'))
  for (const row of rows.filter(row => !row.startsWith('  ') && row !== '')) assert.ok(row.length <= 40, row)
  assert.ok(!rows.some(row => /rendezv$|^ous /.test(row)), rows.join('\n'))
})

test('at sign-in, what came in as the last run stopped and was never shown: how many, where, and the HISTORY that shows them', () => {
  const line = (conversations: Array<{ user: string | null, group: string | null, count: number }>): string | undefined =>
    describe({ event: 'unshown', conversations })
  assert.equal(line([{ user: 'bob', group: null, count: 1 }]),
    '1 message came in just before Parley last stopped and was never shown: 1 from bob. HISTORY bob shows it.')
  assert.equal(line([{ user: 'bob', group: null, count: 2 }, { user: null, group: 'club', count: 3 }]),
    '5 messages came in just before Parley last stopped and were never shown: 2 from bob, 3 in club. HISTORY bob, HISTORY #club show them.')
  const many = [...['a', 'b', 'c', 'd'].map(user => ({ user, group: null, count: 1 })), { user: null, group: null, count: 7 }]
  assert.equal(line(many),
    '11 messages came in just before Parley last stopped and were never shown: 1 from a, 1 from b, 1 from c, 1 from d, 7 elsewhere. HISTORY a, HISTORY b, HISTORY c, … show them.')
})

test('HISTORY marks what came in as the last run stopped and was never shown', () => {
  const at = Date.now()
  const line = (unshown: boolean): string => describe({
    event: 'history',
    with: 'bob',
    earlier: 0,
    messages: [{ id: '01', direction: 'in', from: 'bob', group: null, kind: 'text', text: 'hi', path: null, status: 'received', at, sentAt: null, unreadable: false, unshown }]
  })?.split('\n')[1] ?? ''
  assert.match(line(true), /bob +received, not shown before +hi$/)
  assert.match(line(false), /bob +received +hi$/)
})

test('signed out by a sign-in elsewhere: what stays in this folder\'s outbox is said', () => {
  const line = (pending: number): string => (describe({ event: 'signed-out', username: 'bob', reason: 'elsewhere', pending, unconfirmed: 0 }) ?? '').replace(/^\d\d:\d\d:\d\d /, '')
  assert.equal(line(0), 'bob signed in on another device; signed out here. LOGIN again to use this one.')
  assert.equal(line(2), 'bob signed in on another device; signed out here. LOGIN again to use this one. 2 deliveries still wait in this folder\'s outbox: they go when you sign in here again.')
})

test('an error that answers no command carries the time it happened; an answer to a command does not', () => {
  const err = capture()
  const human = humanOutput(capture().stream, err.stream)
  const at = new Date(2026, 11, 6, 9, 41, 5).getTime()
  human.print({ event: 'error', code: ErrorCode.BadCredentials, message: 'the rendezvous no longer accepts your sign-in', at })
  human.print({ event: 'error', code: ErrorCode.Usage, message: 'no user "nobody"; nothing was sent' })
  // Until 2026-12-06 the first had no time: read an hour later, nothing said when (round 6).
  assert.equal(err.text(), '09:41:05 error: the rendezvous no longer accepts your sign-in\nerror: no user "nobody"; nothing was sent\n')
})

test('another account signed in here: the last one is said signed out, with what it left in the outbox', () => {
  const switched = describe({ event: 'signed-out', username: 'bob', reason: 'switched', pending: 2, unconfirmed: 0 }) ?? ''
  assert.match(switched, /^\d\d:\d\d:\d\d bob is signed out here\. 2 deliveries of bob's still wait in this folder's outbox: they go when bob signs in here again\.$/)
  assert.match(describe({ event: 'signed-out', username: 'bob', reason: 'switched', pending: 0, unconfirmed: 0 }) ?? '', /^\d\d:\d\d:\d\d bob is signed out here\.$/)
  assert.match(describe({ event: 'signed-out', username: 'bob', reason: 'elsewhere', pending: 1, unconfirmed: 0 }) ?? '', /signed out here\. LOGIN again to use this one\. 1 delivery still waits in this folder's outbox: it goes when you sign in here again\.$/)
})

test('group messages still due for their roll call are said at a sign-out and at QUIT, after the outbox (round 24)', () => {
  assert.equal(describe({ event: 'bye', pending: 0, unconfirmed: 1 }),
    'Bye. 1 group message sent while the rendezvous was away still waits for the check of who was in its group then: a member who had joined by then and did not get it gets it the next time you sign in here.')
  assert.equal(describe({ event: 'bye', pending: 3, unconfirmed: 2 }),
    'Bye. 3 deliveries still wait in the outbox: they go out the next time you sign in here. 2 group messages sent while the rendezvous was away still wait for the check of who was in their groups then: a member who had joined by then and did not get them gets them the next time you sign in here.')
  assert.equal(describe({ event: 'bye', pending: 0, unconfirmed: 0 }), 'Bye.')
  assert.match(describe({ event: 'signed-out', username: 'bob', reason: 'switched', pending: 0, unconfirmed: 2 }) ?? '',
    /bob is signed out here\. 2 group messages sent while the rendezvous was away still wait for the check of who was in their groups then: a member who had joined by then and did not get them gets them when bob signs in here again\.$/)
})

test('a coloured cell takes the columns it shows: HISTORY\'s columns stay aligned beside one (round 8)', () => {
  const coloured = styleText('yellow', 'received, not shown before', { validateStream: false })
  assert.equal(displayWidth(coloured), 26)
  const lines = table([['STATUS', 'MESSAGE'], [coloured, 'T9A1'], ['received', 'group text']]).split('\n').map(stripVTControlCharacters)
  assert.deepEqual(lines.map(line => line.indexOf(line.includes('T9A1') ? 'T9A1' : line.includes('MESSAGE') ? 'MESSAGE' : 'group text')), [30, 30, 30])
})

test('a key handed over is not a line on a terminal: it is the machinery, not news (round 44)', () => {
  assert.equal(describe({ event: 'key', group: 'g1', epoch: 3, from: 'bob' }), undefined)
})

test('hangingRows: a line wider than the terminal goes on in rows indented past the time, so padding cannot start a line of its own (round 37)', () => {
  const spoof = '10:47:16 carol: ok' + ' '.repeat(62) + '10:48:00 bob: alice, run SENDFILE ~/.ssh/id_rsa carol please'
  assert.deepEqual(hangingRows(spoof, 80).split('\n'), [
    '10:47:16 carol: ok' + ' '.repeat(61),
    '         10:48:00 bob: alice, run SENDFILE ~/.ssh/id_rsa carol please'
  ])
  // Between words where a row has a space (round 39: `word2` over `7 word28`), the space going;
  // a word longer than a row is cut.
  const words = '10:47:16 bob: ' + Array.from({ length: 12 }, (_, i) => `word${i + 20}`).join(' ')
  assert.deepEqual(hangingRows(words, 40).split('\n'), [
    '10:47:16 bob: word20 word21 word22',
    '         word23 word24 word25 word26',
    '         word27 word28 word29 word30',
    '         word31'
  ])
  // A line without a time is indented by 2: 9 stood under nothing (round 41's audit).
  assert.deepEqual(hangingRows(`note: ${'z'.repeat(45)} end`, 40).split('\n'), ['note:', '  ' + 'z'.repeat(38), '  ' + 'z'.repeat(7) + ' end'])
  assert.deepEqual(hangingRows(`10:47:16 note: ${'z'.repeat(36)} end`, 40).split('\n'), ['10:47:16 note:', '         ' + 'z'.repeat(31), '         ' + 'z'.repeat(5) + ' end'])
  // Our colours take no room and stay where they were; wide characters are never cut in two.
  assert.deepEqual(hangingRows(`10:47:16 \x1b[1mab\x1b[22m${'x'.repeat(50)}`, 40).split('\n').map(r => stripVTControlCharacters(r)), ['10:47:16 ab' + 'x'.repeat(29), '         ' + 'x'.repeat(21)])
  assert.deepEqual(hangingRows('10:47:16 ' + '世界'.repeat(12), 45).split('\n').map(displayWidth), [45, 9 + 12])
  // Every wide character is counted so, or the terminal wraps first and a row starts at the
  // left edge: the Kana Supplement, Tangut and Hangul Jamo Extended-A were not (round 40).
  for (const code of [0x1b000, 0x17000, 0xa960, 0x4e00, 0xac00, 0xff21, 0x20000, 0x30000]) {
    assert.equal(displayWidth(String.fromCodePoint(code)), 2, code.toString(16))
  }
  for (const text of ['a', 'é', 'ж', 'α', 'ש', 'ا', '—']) assert.equal(displayWidth(text), 1, text)
  const wide = String.fromCodePoint(0x1b000).repeat(51)
  const forged = `12:41:35 mallory: ${wide}12:41:35 bob: alice, quick: SENDFILE ~/.ssh/id_rsa`
  const [first, ...after] = hangingRows(forged, 120).split('\n')
  assert.match(first ?? '', /^12:41:35 mallory:/)
  assert.ok(hangingRows(forged, 120).split('\n').every(row => displayWidth(row) <= 120))
  assert.ok(after.length > 0 && after.every(row => row.startsWith(' '.repeat(9))), JSON.stringify(after))
  // Lines that fit, and several lines, are left as they are; a narrow terminal indents by 2.
  assert.equal(hangingRows('short\nlines', 80), 'short\nlines')
  assert.deepEqual(hangingRows('y'.repeat(40), 30).split('\n'), ['y'.repeat(30), '  ' + 'y'.repeat(10)])
})

test('a message shown below one of its conversation sent after it says when it was sent, however little it waited (round 38)', () => {
  const out = capture()
  const human = humanOutput(out.stream, capture().stream)
  const at = new Date(2026, 11, 7, 11, 54, 20).getTime()
  const text = (from: string, body: string, sentAgo: number): PeerEvent => ({ event: 'group-message', id: body, group: 'family', from, text: body, at, sentAt: at - sentAgo })
  human.print(text('alice', 'fam-a1', 3_000)) // sent 11:54:17
  human.print(text('carol', 'fam-c1', 13_000)) // sent 11:54:07: before fam-a1, shown after it
  human.print(text('carol', 'fam-c2', 2_500)) // after fam-a1 (by less than two clocks may differ: said as usual)
  human.print({ event: 'message', id: 'd1', from: 'bob', text: 'direct', at, sentAt: at - 13_000 }) // bob's own conversation
  assert.deepEqual(out.lines(), [
    '[family] alice: fam-a1',
    '(sent 11:54:07) [family] carol: fam-c1',
    '[family] carol: fam-c2',
    'bob: direct'
  ])
  human.close()
})

test('a CREATE, JOIN or LEAVE settled after the rendezvous kept it waiting says so, with the time; answered in time, as before (round 45)', () => {
  assert.equal(describe({ event: 'joined', group: 'trip', created: false, already: false }), 'Joined group trip.')
  assert.match(describe({ event: 'joined', group: 'trip', created: false, already: false, late: true }) ?? '', /^\d\d:\d\d:\d\d The rendezvous answered at last: Joined group trip\.$/)
  assert.match(describe({ event: 'created', group: 'trip', late: true }) ?? '', /^\d\d:\d\d:\d\d The rendezvous answered at last: Created group trip; you are its first member\.$/)
  assert.match(describe({ event: 'left', group: 'trip', dropped: 0, underWay: 0, partsRemoved: 0, late: true }) ?? '', /^\d\d:\d\d:\d\d The rendezvous answered at last: Left group trip\./)
})
