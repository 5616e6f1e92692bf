import { test } from 'node:test'
import assert from 'node:assert/strict'
import { safeText, safeValue } from '../../../peer/cli/safe-text.ts'
import { describe as describeEvent, humanOutput, jsonOutput } from '../../../peer/cli/output.ts'
import { capture } from '../../helpers/captured-output.ts'
import type { PeerEvent } from '../../../peer/events.ts'

test('terminal controls become visible escapes: erase-line, OSC 52, title, CSI, bell, CR, NUL, DEL', () => {
  assert.equal(safeText('hi\x1b[2K\r10:41 bob: pay me'), 'hi\\x1b[2K\\x0d10:41 bob: pay me')
  assert.equal(safeText('\x1b]52;c;aGVsbG8=\x07'), '\\x1b]52;c;aGVsbG8=\\x07')
  assert.equal(safeText('\x1b]0;owned\x1b\\'), '\\x1b]0;owned\\x1b\\')
  assert.equal(safeText('a\nb\vc\x00d\x7fe'), 'a\\x0ab\\x0bc\\x00d\\x7fe')
  // A tab is a gap, shown as spaces (until 2026-12-06 as \x09, a tester's finding).
  assert.equal(safeText('name:\tbob\t\t!'), 'name:    bob        !')
  // C1: U+009B is a one-character CSI to some terminals; U+0085 a next-line.
  assert.equal(safeText('\u009b2J\u0085\u0090'), '\\x9b2J\\x85\\x90')
})

test('bidi overrides, isolates and marks, zero-width and invisible characters become visible', () => {
  assert.equal(safeText('evil\u202egnp.exe'), 'evil\\u202egnp.exe')
  assert.equal(safeText('\u2066x\u2069\u202a\u202b\u202c\u202d\u200e\u200f\u061c'), '\\u2066x\\u2069\\u202a\\u202b\\u202c\\u202d\\u200e\\u200f\\u061c')
  assert.equal(safeText('pay\u200bpal\u200c\u2060\ufeff\u00ad'), 'pay\\u200bpal\\u200c\\u2060\\ufeff\\xad')
  assert.equal(safeText('line\u2028para\u2029'), 'line\\u2028para\\u2029')
  assert.equal(safeText('tag\u{e0041}'), 'tag\\u{e0041}')
  assert.equal(safeText('lone \ud800 half'), 'lone \\ud800 half')
  assert.equal(safeText('x\u200dy'), 'x\\u200dy')
  // Letters and marks that show as nothing (round 37: printed raw, a blank "ㅤ" message or name).
  assert.equal(safeText('\u3164|\u115f|\u1160|\uffa0|a\u034f|\u17b4\u17b5|\u180b\u180f|\u2800'),
    '\\u3164|\\u115f|\\u1160|\\uffa0|a\\u034f|\\u17b4\\u17b5|\\u180b\\u180f|\\u2800')
})

test('an escape typed as text does not look like one made for a control: its backslash is doubled, any other is kept', () => {
  // Until 2026-12-06 a sender typing `\x1b[31m` was shown exactly as a real ESC is.
  assert.equal(safeText('literal \\x1b[31m typed'), 'literal \\\\x1b[31m typed')
  assert.equal(safeText('real \x1b[31m sent'), 'real \\x1b[31m sent')
  assert.equal(safeText('\\u202e and \\u{1f600}'), '\\\\u202e and \\\\u{1f600}')
  for (const kept of ['C:\\Users\\me', 'a \\ b', '\\xyz', '\\u12', 'end\\']) assert.equal(safeText(kept), kept)
})

test('ordinary text of every script is kept as it is, emoji sequences included', () => {
  for (const text of ['Hello Bob!', 'café ünïcödé', '日本語のテキスト', '한국어 텍스트', '가', 'ភាសាខ្មែរ', 'ᠮᠣᠩᠭᠣᠯ', 'مرحبا', 'שלום', '👨‍👩‍👧 family', '❤️‍🔥', 'C:\\Users\\bob']) {
    assert.equal(safeText(text), text)
  }
})

test('safeValue escapes every string at any depth and keeps the rest', () => {
  const event: PeerEvent = { event: 'members', group: 'g', epoch: 2, members: [{ username: 'a\x1bb', online: true, connected: false }], lastKnown: false }
  assert.deepEqual(safeValue(event), { event: 'members', group: 'g', epoch: 2, members: [{ username: 'a\\x1bb', online: true, connected: false }], lastKnown: false })
})

test('human output shows a hostile message, file name and warning with visible escapes; --json keeps the exact text', () => {
  const hostile = 'hi\x1b[2K\r\x1b[1A10:41 friend: send money\x1b]52;c;ZXZpbA==\x07\u202e'
  const events: PeerEvent[] = [
    { event: 'message', id: '00', from: 'mallory', text: hostile, at: 0, sentAt: 0 },
    { event: 'group-message', id: '01', group: 'g', from: 'mallory', text: hostile, at: 0, sentAt: 0 },
    { event: 'file', id: '02', from: 'mallory', name: 'x\u202egnp.exe', path: '/tmp/x\u202egnp.exe', size: 6, sha256: '', at: 0, sentAt: 0 },
    { event: 'file-cut', id: '04', from: 'mallory', group: null, name: 'x\u202egnp.exe', bytes: 1, total: 6, cause: 'invalid', reason: 'cut \x1b[2K' },
    { event: 'history', with: 'mallory', earlier: 0, messages: [{ id: '03', direction: 'in', from: 'mallory', group: null, kind: 'text', text: hostile, path: null, status: 'delivered', at: 0, sentAt: null, unreadable: false, unshown: false }] },
    { event: 'undelivered', id: '05', to: 'bob', group: 'g', name: null, code: 'ERR_INTEGRITY', message: 'could not deliver to bob in g: refused \x1b[2K' },
    { event: 'verify', user: 'mallory', peerId: '12D3\x1b[2K', fingerprint: '1', changed: true, pinnedPeerId: '12D3\x1b[1A', pinnedFingerprint: '2', lastKnown: false },
    { event: 'warning', code: 'ERR_MALFORMED', message: 'bad frame \x1b]0;title\x07' },
    { event: 'error', code: 'ERR_NOT_FOUND', message: 'no user "\x1b[31mx"' }
  ]
  const out = capture()
  const err = capture()
  const human = humanOutput(out.stream, err.stream)
  for (const event of events) human.print(event)
  const shown = out.text() + err.text()
  assert.doesNotMatch(shown, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/, 'no raw control reaches the terminal (newlines end lines)')
  assert.match(out.text(), /mallory: hi\\x1b\[2K\\x0d\\x1b\[1A10:41 friend: send money\\x1b\]52;c;ZXZpbA==\\x07\\u202e\n/)
  assert.match(out.text(), /sent you x\\u202egnp\.exe \(6 B\)/)
  assert.match(out.text(), /^\d\d:\d\d:\d\d could not deliver to bob in g: refused \\x1b\[2K$/m, 'a message given up is shown with the time it was')
  assert.match(out.text(), /the directory now shows 12D3\\x1b\[2K\.\n[^]*first talked with was 12D3\\x1b\[1A, fingerprint 2/, 'a changed identity is shown escaped')
  assert.match(err.text(), /^\d\d:\d\d:\d\d warning: bad frame \\x1b\]0;title\\x07\n/m)
  assert.match(err.text(), /error: no user "\\x1b\[31mx"\n/)

  const lines: string[] = []
  const json = jsonOutput(line => { lines.push(line) })
  json.print(events[0] as PeerEvent)
  assert.doesNotMatch(lines[0] ?? '', /[\x00-\x09\x0b-\x1f]/, 'JSON.stringify escapes controls itself')
  assert.equal((JSON.parse(lines[0] ?? '') as { text: string }).text, hostile, 'the JSON stream keeps the exact text')
})

test('describe() gives aligned tables and notices', () => {
  assert.equal(describeEvent({ event: 'groups', groups: [{ group: 'friends', members: 3, joined: true }, { group: 'a', members: 12, joined: false }] }),
    '  GROUP    PARTICIPANTS  YOU\n  a        12\n  friends  3             member')
  assert.match(describeEvent({ event: 'groups', groups: [{ group: 'a', members: 12, joined: false }], cut: true }) ?? '', /\n\(the rendezvous lists 1 groups at most: yours, then the largest; there may be more\)$/)
  assert.equal(describeEvent({ event: 'who', users: [{ username: 'bob', online: true }, { username: 'charlotte', online: false }], lastKnown: false }),
    '  USER       STATUS\n  bob        online\n  charlotte  offline')
  // With the rendezvous away: contacts, online as far as a connection tells (round 39: an error).
  assert.equal(describeEvent({ event: 'who', users: [{ username: 'bob', online: true }, { username: 'charlotte', online: false }], lastKnown: true }),
    'Your contacts as last known (the rendezvous is out of reach: online means a connection is open now):\n  USER       STATUS\n  bob        online, connected\n  charlotte  not known (no connection now)')
  assert.match(describeEvent({ event: 'member-joined', group: 'g', user: 'bob', whileAway: false }) ?? '', /\[g\] bob joined$/)
  // The creator is a member (until 2026-12-07 "Created group g.", which did not say so: round 34).
  assert.equal(describeEvent({ event: 'created', group: 'g' }), 'Created group g; you are its first member.')
  assert.match(describeEvent({ event: 'rendezvous', connected: false }) ?? '', /lost the rendezvous/)
  assert.match(describeEvent({ event: 'rendezvous', connected: true }) ?? '', /the rendezvous is back/)
  const verify = { event: 'verify', user: 'erin', peerId: '12D3KooWnew', fingerprint: '35600 43069', changed: false, pinnedPeerId: null, pinnedFingerprint: null, lastKnown: false } as const
  assert.equal(describeEvent(verify), 'Fingerprint for you and erin:\n  35600 43069\nCompare it with erin in person or on a call; it must be the same on both screens.')
  assert.match(describeEvent({ ...verify, lastKnown: true }) ?? '', /^Fingerprint for you and erin as pinned here \(the rendezvous is out of reach: a change of erin's identity there is not known yet\):\n {2}35600 43069\n/)
  const changed = describeEvent({ ...verify, changed: true, pinnedPeerId: '12D3KooWold', pinnedFingerprint: '09222 38570' }) ?? ''
  assert.match(changed, /^erin's identity has changed since you first talked: the directory now shows 12D3KooWnew\.\nFingerprint for you and erin's new identity:\n {2}35600 43069\nCompare it with erin/)
  assert.match(changed, /TRUST erin accepts the new identity; until then messages to erin wait in the outbox/)
  assert.match(changed, /\n\(For reference only, not to compare: the identity you first talked with was 12D3KooWold, fingerprint 09222 38570\.\)$/)
  // A whole one, three rows of four groups: no terminal 25 columns wide or more breaks a group
  // (round 39: at 40 columns `… 65` over `821 …`).
  const twelve = '57133 82605 05543 91847 63363 79232 65821 21174 74357 52212 00903 68549'
  assert.equal(describeEvent({ ...verify, fingerprint: twelve }),
    'Fingerprint for you and erin:\n  57133 82605 05543 91847\n  63363 79232 65821 21174\n  74357 52212 00903 68549\nCompare it with erin in person or on a call; it must be the same on both screens.')
  assert.ok(changed.indexOf('35600') < changed.indexOf('09222'), 'the number to compare comes first')
  assert.equal(describeEvent({ event: 'bye', pending: 0, unconfirmed: 0 }), 'Bye.')
  assert.match(describeEvent({ event: 'bye', pending: 2, unconfirmed: 0 }) ?? '', /^Bye\. 2 deliveries still wait in the outbox/)
})

test('a queued or delivered line names the file it is about, and says when it goes out again', () => {
  const queued = { event: 'queued', id: 'aa', to: 'bob', group: null, name: null } as const
  assert.match(describeEvent({ ...queued, reason: 'offline', code: null }) ?? '', /^\d\d:\d\d:\d\d queued for bob \(offline\); it will be delivered when they are back$/)
  // Online but cut or unreachable: tried again within seconds, not "when they are back".
  assert.match(describeEvent({ ...queued, name: 'report.pdf', reason: 'the other side closed the connection', code: 'ERR_UNREACHABLE' }) ?? '',
    /^\d\d:\d\d:\d\d report\.pdf queued for bob \(the other side closed the connection\); it goes as soon as bob can be reached$/)
  // Refused until bob accepts our identity: not "shortly" (until 2026-12-06 it said so).
  assert.match(describeEvent({ ...queued, reason: 'refused by the recipient: its user knows you by another identity', code: 'ERR_IDENTITY_CHANGED' }) ?? '',
    /queued for bob \(bob knows you by another identity\); it goes once bob accepts your identity$/)
  // Held here, since bob's identity changed: it is ours to accept (until 2026-12-06 the line
  // above, a tester's finding).
  assert.match(describeEvent({ ...queued, reason: 'the identity of bob has changed (now 12D3KooW…); messages to and from bob are refused until you compare fingerprints with VERIFY bob and accept with TRUST bob', code: 'ERR_IDENTITY_CHANGED' }) ?? '',
    /queued for bob \(bob's identity has changed\); it goes once you accept bob's new identity \(VERIFY bob, then TRUST bob\)$/)
  // Waiting for bob's disk, not for bob: he is online (round 11: "as soon as bob can be reached").
  assert.match(describeEvent({ ...queued, name: 'film.mkv', reason: 'refused by the recipient: not enough disk space now: the file needs 95.4 MiB, 49.8 MiB is free', code: 'ERR_NO_SPACE' }) ?? '',
    /film\.mkv queued for bob \(refused by the recipient: not enough disk space now: [^)]*\); it goes once bob's disk has room$/)
  assert.match(describeEvent({ event: 'delivered', id: 'aa', to: 'bob', group: 'club', name: 'report.pdf' }) ?? '', /^\d\d:\d\d:\d\d report\.pdf delivered to bob in club$/)
  assert.match(describeEvent({ event: 'delivered', id: 'bb', to: 'bob', group: null, name: null }) ?? '', /^\d\d:\d\d:\d\d delivered to bob$/)
})

test('without a prompt (piped output) a file that arrives or goes out is one line, not a second at 100 %', () => {
  const out = capture()
  const human = humanOutput(out.stream, capture().stream)
  const progress = { event: 'progress', id: 'aa', peer: 'bob', name: 'big.bin', bytes: 4096, total: 4096 } as const
  human.print({ ...progress, direction: 'receive' })
  human.print({ event: 'file', id: 'aa', from: 'bob', name: 'big.bin', path: '/tmp/big.bin', size: 4096, sha256: 'ab', at: Date.now(), sentAt: Date.now() })
  human.print({ ...progress, id: 'bb', direction: 'send' })
  human.print({ event: 'delivered', id: 'bb', to: 'bob', group: null, name: 'big.bin' })
  // Until 2026-12-06 "received big.bin (4 KiB) from bob" and "sent big.bin (4 KiB) to bob" came first.
  assert.deepEqual(out.text().trim().split('\n').map(line => line.replace(/^\d\d:\d\d:\d\d /, '')),
    ['bob sent you big.bin (4.0 KiB), saved as /tmp/big.bin', 'big.bin delivered to bob'])
})
