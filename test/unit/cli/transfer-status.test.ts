import { describe, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import { STALE_MS, TransferStatus } from '../../../peer/cli/transfer-status.ts'
import { displayWidth } from '../../../peer/cli/format.ts'
import type { PeerEvent } from '../../../peer/events.ts'
import { humanOutput } from '../../../peer/cli/output.ts'
import { PassThrough, Writable } from 'node:stream'
import { ErrorCode } from '../../../common/errors.ts'

type Progress = Extract<PeerEvent, { event: 'progress' }>

const progress = (fields: Partial<Progress>): Progress =>
  ({ event: 'progress', id: 'aa', direction: 'send', peer: 'bob', name: 'clip.mp4', bytes: 0, total: 100, ...fields })

describe('the transfers status the prompt carries', () => {
  test('is empty without transfers, and shows one with its direction, percentage and peer', () => {
    const status = new TransferStatus()
    assert.equal(status.text(80), undefined)
    assert.equal(status.update(progress({ bytes: 40 })), true)
    assert.equal(status.text(80), '↑ clip.mp4 40% → bob')
    assert.equal(status.update(progress({ bytes: 40 })), false, 'the same figures again change nothing')
    assert.equal(status.update(progress({ bytes: 41 })), true)
    status.update(progress({ id: 'bb', direction: 'receive', peer: 'carol', name: 'song.mp3', bytes: 7, total: 1000 }))
    assert.equal(status.text(80), '↑ clip.mp4 41% → bob  ↓ song.mp3 0% ← carol')
  })

  test('a name of wide characters is cut by the columns it takes, not its characters (round 40: 105 columns of 60)', () => {
    const status = new TransferStatus()
    const wide = String.fromCodePoint(0x1b000).repeat(60) + '.bin'
    status.update(progress({ direction: 'receive', peer: 'mallory', name: wide, bytes: 11, total: 100 }))
    const text = status.text(60) ?? ''
    assert.ok(displayWidth(text) <= 60, `${displayWidth(text)} columns: ${text}`)
    assert.match(text, /^↓ 𛀀+… 11% ← mallory$/u)
  })

  test('a group file is one transfer to several members, its percentage over all of them', () => {
    const status = new TransferStatus()
    status.update(progress({ peer: 'carol', bytes: 0, total: 200 }))
    status.update(progress({ peer: 'bob', bytes: 100, total: 200 }))
    assert.equal(status.text(80), '↑ clip.mp4 25% → bob, carol', 'in name order, not the order they came in (round 10)')
    assert.equal(status.update(progress({ peer: 'bob', bytes: 200, total: 200 })), true, 'bob has it all')
    assert.equal(status.text(80), '↑ clip.mp4 0% → carol')
    assert.equal(status.update(progress({ peer: 'carol', bytes: 200, total: 200 })), true)
    assert.equal(status.active, false)
    assert.equal(status.text(80), undefined)
  })

  test('an empty file is done at once and never shows', () => {
    const status = new TransferStatus()
    assert.equal(status.update(progress({ bytes: 0, total: 0 })), false)
    assert.equal(status.active, false)
  })

  test('a delivery, a queued retry or a received file ends the transfer it names', () => {
    const status = new TransferStatus()
    status.update(progress({ peer: 'bob', bytes: 10 }))
    assert.equal(status.end('receive', 'aa', 'bob'), false, 'another direction is another transfer')
    assert.equal(status.end('send', 'aa', 'carol'), false, 'another peer')
    assert.equal(status.end('send', 'aa', 'bob'), true)
    assert.equal(status.active, false)
  })

  test('a file read for its hash before SENDFILE takes it shows as reading, until its accepted or its error (round 7: seconds of nothing)', () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream
    const human = humanOutput(out, new PassThrough() as unknown as NodeJS.WriteStream)
    human.attachPrompt?.(() => {}, () => {})
    human.print(progress({ id: 'ee', direction: 'read', peer: 'bob', name: 'film.mkv', bytes: 35, total: 100 }))
    assert.equal(human.status?.(40), 'reading film.mkv 35%')
    human.print({ event: 'accepted', id: 'ee', to: 'bob', group: null, kind: 'file', name: 'film.mkv' })
    assert.equal(human.status?.(40), undefined)
    human.print(progress({ id: 'ff', direction: 'read', peer: 'club', name: 'film.mkv', bytes: 35, total: 100 }))
    human.print(progress({ id: 'gg', direction: 'send', peer: 'bob', name: 'song.mp3', bytes: 5, total: 100 }))
    human.print({ event: 'error', code: ErrorCode.File, message: 'film.mkv got shorter while it was being read' })
    assert.equal(human.status?.(40), '↑ song.mp3 5% → bob', 'the failed command\'s reading goes, the transfer stays')
    human.close()
  })

  test('on a terminal, a file that stopped coming in (file-cut) leaves the prompt\'s status at once', () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream
    const err = new PassThrough() as unknown as NodeJS.WriteStream
    let shown = ''
    ;(out as unknown as PassThrough).on('data', (chunk: Buffer) => { shown += chunk.toString() })
    const human = humanOutput(out, err)
    human.attachPrompt?.(() => {}, () => {})
    human.print(progress({ id: 'cc', direction: 'receive', peer: 'erin', name: 'big.bin', bytes: 40, total: 100 }))
    assert.equal(human.status?.(40), '↓ big.bin 40% ← erin')
    human.print({ event: 'file-cut', id: 'cc', from: 'erin', group: null, name: 'big.bin', bytes: 40, total: 100, cause: 'gone', reason: 'the other side closed the connection' })
    assert.equal(human.status?.(40), undefined)
    assert.match(shown, /big\.bin from erin stopped after 40 B of 100 B: the connection to erin was lost; the rest comes once you are connected again with the device erin sent it from/)
    // A sender that gave the file up (its copy changed) is not "back" with the rest (until 2026-12-06 it read so).
    human.print({ event: 'file-cut', id: 'dd', from: 'erin', group: null, name: 'clip.mp4', bytes: 60, total: 100, cause: 'abandoned', reason: 'it changed while it was being sent, or could no longer be read' })
    assert.match(shown, /clip\.mp4 from erin stopped after 60 B of 100 B: erin gave it up \(it changed while it was being sent, or could no longer be read\); what came is removed/)
    // A full disk here: what came is kept, and the rest comes (until 2026-12-06 it was dropped).
    human.print({ event: 'file-cut', id: 'ee', from: 'erin', group: null, name: 'film.mkv', bytes: 70, total: 100, cause: 'no-space', reason: 'cannot write the received file: no space left on the disk' })
    assert.match(shown, /film\.mkv from erin stopped after 70 B of 100 B: this disk is full \(cannot write the received file: no space left on the disk\); what came is kept, and erin sends the rest once there is room/)
    human.close()
  })

  test('after QUIT on a terminal, while what goes out is finished, a line says how far it got every few seconds (nothing was said for up to 30 s)', () => {
    mock.timers.enable({ apis: ['Date'] })
    try {
      const out = Object.assign(new PassThrough(), { isTTY: true, columns: 80 }) as unknown as NodeJS.WriteStream
      let shown = ''
      ;(out as unknown as PassThrough).on('data', (chunk: Buffer) => { shown += chunk.toString() })
      const human = humanOutput(out, new PassThrough() as unknown as NodeJS.WriteStream)
      human.attachPrompt?.(() => {}, () => {})
      human.print(progress({ bytes: 10 }))
      human.detachPrompt?.() // QUIT closed the prompt
      human.print({ event: 'leaving', waitSeconds: 30 })
      human.print(progress({ bytes: 20 }))
      assert.doesNotMatch(shown, /still going out: /, 'not at once: the leaving line was just said')
      mock.timers.tick(3_000)
      human.print(progress({ bytes: 40 }))
      human.print(progress({ bytes: 41 }))
      assert.deepEqual(shown.match(/still going out: .*/g)?.map(line => line.replace(/\x1b\[[0-9;]*m/g, '')), ['still going out: ↑ clip.mp4 40% → bob'])
      human.close()
    } finally {
      mock.timers.reset()
    }
  })

  test('the prompt\'s clearing, a line printed above it and its redrawing reach the terminal as one write (until 2026-12-07 in pieces: the prompt\'s row stood empty between them)', () => {
    // A terminal that takes what was held back in one write (a tty's writev) and records each.
    const writes: string[] = []
    const out = Object.assign(new Writable({
      write (chunk: Buffer, _encoding, done) { writes.push(chunk.toString()); done() },
      writev (chunks, done) { writes.push(chunks.map(({ chunk }) => String(chunk)).join('')); done() }
    }), { isTTY: true, columns: 80 }) as unknown as NodeJS.WriteStream
    const human = humanOutput(out, new PassThrough() as unknown as NodeJS.WriteStream)
    // The prompt as Prompt draws it: cleared, then readline's redraw, each a write of its own.
    human.attachPrompt?.(() => { out.write('\r'); out.write('\x1b[0J') }, () => { out.write('\r\x1b[0J'); out.write(`[${human.status?.(40) ?? ''}] bob> `) })
    human.print(progress({ bytes: 40 }))
    assert.deepEqual(writes, ['\r\x1b[0J\r\x1b[0J[↑ clip.mp4 40% → bob] bob> '], 'a new status redrawn in place')
    writes.length = 0
    human.print({ event: 'message', id: 'ab'.repeat(16), from: 'carol', text: 'hi', at: Date.now(), sentAt: Date.now() })
    assert.equal(writes.length, 1, `a message printed above the prompt: ${JSON.stringify(writes)}`)
    assert.match(writes[0] ?? '', /^\r\x1b\[0J.*carol\S*: hi\n\r\x1b\[0J\[↑ clip\.mp4 40% → bob\] bob> $/)
    human.close()
  })

  test('piped (no terminal), nothing is said of the progress after QUIT either', () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream
    let shown = ''
    ;(out as unknown as PassThrough).on('data', (chunk: Buffer) => { shown += chunk.toString() })
    const human = humanOutput(out, new PassThrough() as unknown as NodeJS.WriteStream)
    human.print({ event: 'leaving', waitSeconds: 30 })
    human.print(progress({ bytes: 40 }))
    assert.doesNotMatch(shown, /going out:/)
    human.close()
  })

  test('a transfer silent for STALE_MS leaves the status (it ended without an event naming it)', () => {
    const status = new TransferStatus()
    status.update(progress({ bytes: 10 }), 1_000)
    status.update(progress({ id: 'bb', bytes: 10 }), 1_000 + STALE_MS / 2)
    assert.equal(status.expire(1_000 + STALE_MS - 1), false)
    assert.equal(status.expire(1_000 + STALE_MS), true)
    assert.equal(status.text(80), '↑ clip.mp4 10% → bob', 'the other one reported later and stays')
  })

  test('a long name is cut to the width given, in characters, with an ellipsis; its percentage and peer stay', () => {
    const status = new TransferStatus()
    status.update(progress({ name: 'ünïcødé-' + 'x'.repeat(60) + '.mp4', bytes: 50 }))
    const text = status.text(24)
    assert.equal(Array.from(text ?? '').length, 24)
    assert.equal(text, '↑ ünïcødé-xxx… 50% → bob', 'until 2026-12-06 the end went: "↑ ünïcødé-xxxxxxxxxxxxx…"')
    status.update(progress({ id: 'other', name: 'song.mp3', bytes: 1 }))
    assert.equal(status.text(28), '↑ ünïcød… 50% → bob  +1 more')
  })

  test('transfers that do not fit are counted, not cut off mid-name (until 2026-12-06 a third read "← b…")', () => {
    const status = new TransferStatus()
    status.update(progress({ id: 'a', name: 'clip.mp4', peer: 'alice', bytes: 40 }))
    status.update(progress({ id: 'b', direction: 'receive', name: 'song.mp3', peer: 'bob', bytes: 7 }))
    status.update(progress({ id: 'c', direction: 'receive', name: 'notes.pdf', peer: 'carol', bytes: 90 }))
    assert.equal(status.text(80), '↑ clip.mp4 40% → alice  ↓ song.mp3 7% ← bob  ↓ notes.pdf 90% ← carol')
    assert.equal(status.text(60), '↑ clip.mp4 40% → alice  ↓ song.mp3 7% ← bob  +1 more')
    assert.equal(status.text(40), '↑ clip.mp4 40% → alice  +2 more')
    const narrow = status.text(24)
    assert.equal(narrow, '↑ … 40% → alice  +2 more', 'the name gives way to the percentage and the peer')
    assert.equal(width(narrow), 24)
    // A percentage is never cut (until 2026-12-06 "↑ big100.bin 3…" at 30 %: a tester's finding).
    const four = new TransferStatus()
    four.update(progress({ id: 'a', name: 'big100.bin', peer: 'bob', bytes: 30 }))
    for (const id of ['b', 'c', 'd']) four.update(progress({ id, name: `${id}.bin`, peer: 'carol', bytes: 1 }))
    assert.equal(four.text(24), '↑ … 30% → bob  +3 more')
  })

  test('with little room the count of the others goes before the first one\'s percentage and peer (until 2026-12-07 "↓ … 7% …  +1 more": round 30)', () => {
    const status = new TransferStatus()
    status.update(progress({ id: 'a', direction: 'receive', name: 'big.mkv', peer: 'alice', bytes: 7 }))
    status.update(progress({ id: 'b', direction: 'receive', name: 'video.mp4', peer: 'carol', bytes: 1 }))
    assert.equal(status.text(24), '↓ … 7% ← alice  +1 more')
    assert.equal(status.text(22), '↓ … 7% ← alice +1 more')
    assert.equal(status.text(17), '↓ big… 7% ← alice', 'bob\'s status at 35 columns: the other one shows once this one ends')
    assert.equal(status.text(14), '↓ … 7% ← alice')
    assert.equal(status.text(12), '↓ 7% ← alice', 'narrower still, the name goes (round 31: at 30 columns `↓ … 30% ←…`)')
    assert.equal(status.text(10), '↓ 7% ← al…', 'then the peer is cut, never the percentage')
  })

  test('a group file too wide counts its members after the first before its name is cut (round 7: "↑ … 81% → carol, da…")', () => {
    const status = new TransferStatus()
    for (const peer of ['carol', 'dave']) status.update(progress({ peer, name: 'clip.mp4', bytes: 81 }))
    assert.equal(status.text(40), '↑ clip.mp4 81% → carol, dave')
    assert.equal(status.text(25), '↑ clip.mp4 81% → carol +1')
    assert.equal(status.text(20), '↑ … 81% → carol +1')
  })
})

const width = (text: string | undefined): number => Array.from(text ?? '').length
