/**
 * Delivery notices said together for a person (peer/cli/delivery-notices.ts), through the real
 * human output on a captured stream, with the clock mocked: one line for the members whose ACKs
 * (or queued for one reason) come within the gathering time, names sorted, another line for any
 * later; texts to the same members counted, direct ones too; a queued for the key dropped when
 * its delivery comes; what is gathered is said before `Bye.`; --json keeps one event per member.
 */
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import { capture } from '../../helpers/captured-output.ts'
import { humanOutput, jsonOutput } from '../../../peer/cli/output.ts'
import { ErrorCode } from '../../../common/errors.ts'
import { GATHER_MS, namesInWords } from '../../../peer/cli/delivery-notices.ts'
import type { PeerEvent } from '../../../peer/events.ts'

const delivered = (id: string, to: string, group: string | null, name: string | null = null): PeerEvent =>
  ({ event: 'delivered', id, to, group, name })

describe('delivery notices, said together', () => {
  beforeEach(() => { mock.timers.enable({ apis: ['setTimeout', 'Date'] }) })
  afterEach(() => { mock.timers.reset() })

  test('a text waiting for someone offline is said once, not again under each later one, until they are back (round 44: 15 messages, 15 lines); a file always is', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    const queued = (to: string, id: string, group: string | null = 'work', name: string | null = null): PeerEvent => ({ event: 'queued', id, to, group, name, reason: 'offline', code: null })
    human.print(queued('erin', 'm1'))
    human.print(queued('erin', 'm2'))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines(), ['2 messages queued for erin in work (offline); they will be delivered when they are back'])
    for (const id of ['m3', 'm4']) {
      human.print(queued('erin', id))
      mock.timers.tick(GATHER_MS)
    }
    human.print(queued('erin', 'd1', null))
    human.print(queued('frank', 'm5'))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines().slice(1), [
      'queued for erin (offline); it will be delivered when they are back',
      'queued for frank in work (offline); it will be delivered when they are back'
    ], 'erin said once in work; her direct text is another conversation (round 45); frank is news')
    human.print(queued('erin', 'f1', 'work', 'plan.pdf'))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines().slice(3), ['plan.pdf queued for erin in work (offline); it will be delivered when they are back (leave it where it is, unchanged, until then)'])
    // Back, and away again: said again.
    human.print({ event: 'presence', user: 'erin', online: true })
    human.print({ event: 'presence', user: 'erin', online: false })
    human.print(queued('erin', 'm6'))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines().slice(-1), ['queued for erin in work (offline); it will be delivered when they are back'])
    human.close()
  })

  test('the members who answer together make one line; a late one another; a direct file is said at once', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    for (const to of ['dave', 'bob', 'carol']) human.print(delivered('m1', to, 'club'))
    human.print(delivered('f2', 'bob', null, 'report.pdf'))
    assert.deepEqual(out.lines(), ['report.pdf delivered to bob'], 'the group\'s line waits for the others')
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines(), ['report.pdf delivered to bob', 'delivered to bob, carol and dave in club'])
    human.print(delivered('m1', 'erin', 'club', null))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines().slice(2), ['delivered to erin in club'])
    human.close()
  })

  test('direct texts delivered together to one recipient are counted in one line (a burst of 200 made 200 lines)', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    for (const id of ['m1', 'm2', 'm3']) human.print(delivered(id, 'bob', null))
    human.print(delivered('m4', 'carol', null))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines(), ['3 messages delivered to bob', 'delivered to carol'])
    human.print(delivered('m5', 'bob', null))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines().slice(2), ['delivered to bob'])
    human.close()
  })

  test('a file\'s deliveries name the file; each message has its own line', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    human.print(delivered('f1', 'bob', 'club', 'clip.mp4'))
    human.print(delivered('m1', 'bob', 'club'))
    human.print(delivered('f1', 'carol', 'club', 'clip.mp4'))
    human.print(delivered('m1', 'carol', 'club'))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines(), ['clip.mp4 delivered to bob and carol in club', 'delivered to bob and carol in club'])
    human.close()
  })

  test('texts delivered to the same members together are counted in one line; a member late for several gets one line', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    for (const id of ['m1', 'm2', 'm3']) for (const to of ['bob', 'carol']) human.print(delivered(id, to, 'club'))
    human.print(delivered('m4', 'bob', 'club'))
    human.print(delivered('h1', 'bob', 'hall'))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines(), ['3 messages delivered to bob and carol in club', 'delivered to bob in club', 'delivered to bob in hall'])
    // dave was frozen: his three come later, together (until 2026-12-06 three identical lines).
    for (const id of ['m1', 'm2', 'm3']) human.print(delivered(id, 'dave', 'club'))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines().slice(3), ['3 messages delivered to dave in club'])
    human.close()
  })

  test('queued for the same reason is gathered too, by reason; direct texts counted, a direct file said at once', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    const queued = (to: string, reason: string, group: string | null = 'club', id = 'm1', name: string | null = null): PeerEvent => ({ event: 'queued', id, to, group, name, reason, code: null })
    human.print(queued('gina', 'offline'))
    human.print(queued('frank', 'offline'))
    human.print(queued('dave', 'the other side closed the connection'))
    // A burst of SENDs to someone offline (round 7: a line each), and a file.
    for (const id of ['d1', 'd2', 'd3']) human.print(queued('henry', 'offline', null, id))
    human.print(queued('henry', 'offline', null, 'f1', 'song.mp3'))
    // A burst of SENDGROUPs with a member offline (round 12: a line each); a group file's own line.
    for (const id of ['g1', 'g2', 'g3', 'g4']) human.print(queued('ivy', 'offline', 'hall', id))
    human.print(queued('ivy', 'offline', 'hall', 'f2', 'map.png'))
    assert.deepEqual(out.lines(), ['song.mp3 queued for henry (offline); it will be delivered when they are back (leave it where it is, unchanged, until then)'])
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines().slice(1), [
      'queued for frank and gina in club (offline); it will be delivered when they are back',
      'queued for dave in club (the other side closed the connection); it goes as soon as dave can be reached',
      '3 messages queued for henry (offline); they will be delivered when they are back',
      '4 messages queued for ivy in hall (offline); they will be delivered when they are back',
      'map.png queued for ivy in hall (offline); it will be delivered when they are back (leave it where it is, unchanged, until then)'
    ])
    human.close()
  })

  test('a delivery cut as its recipient goes, the presence line coming while its notice is gathered, is said as offline (round 42)', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    human.print({ event: 'queued', id: 'f9', to: 'carol', group: 'friends', name: 'clip.mp4', reason: 'the other side closed the connection', code: ErrorCode.Unreachable })
    human.print({ event: 'presence', user: 'carol', online: false })
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines(), ['carol is offline', 'clip.mp4 queued for carol in friends (offline); it will be delivered when they are back (leave it where it is, unchanged, until then)'])
    human.close()
  })

  test('queued for the key is held a while: a delivery meanwhile drops it; what is still waiting then is said', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    const reason = 'waiting for the key of trio (epoch 3) from another member'
    for (const to of ['leo', 'kim']) human.print({ event: 'queued', id: 'm1', to, group: 'trio', name: null, reason, code: 'ERR_UNREACHABLE' })
    mock.timers.tick(1_000)
    human.print(delivered('m1', 'leo', 'trio'))
    mock.timers.tick(GATHER_MS)
    assert.deepEqual(out.lines(), ['delivered to leo in trio'], 'no queued line for leo, who got it a second later')
    mock.timers.tick(2_000)
    assert.deepEqual(out.lines().slice(1), [`queued for kim in trio (${reason}); it goes once a member hands you the key`])
    human.close()
  })

  test('queued for a group\'s first key, which the rendezvous\'s return brings, says so (round 25: "from another member")', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    const reason = 'trio has no key yet: its first is made once the rendezvous answers'
    human.print({ event: 'queued', id: 'm1', to: 'kim', group: 'trio', name: null, reason, code: 'ERR_UNREACHABLE' })
    mock.timers.tick(GATHER_MS + 3_000)
    assert.deepEqual(out.lines(), [`queued for kim in trio (${reason}); it goes once the rendezvous is back`])
    human.close()
  })

  test('what is gathered is said before Bye., not lost with the program', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    human.print(delivered('m1', 'bob', 'club'))
    human.print({ event: 'bye', pending: 0, unconfirmed: 0 })
    assert.equal(out.lines()[0], 'delivered to bob in club')
    assert.equal(out.lines().length, 2)
    human.close()
    assert.equal(out.lines().length, 2, 'said once')
  })

  test('--json keeps one delivered event per member', () => {
    const lines: string[] = []
    const json = jsonOutput(line => { lines.push(line) })
    for (const to of ['bob', 'carol']) json.print(delivered('m1', to, 'club'))
    assert.deepEqual(lines.map(line => (JSON.parse(line) as { to: string }).to), ['bob', 'carol'])
  })
})

test('names in words: one, two, a few, many', () => {
  assert.equal(namesInWords(['bob']), 'bob')
  assert.equal(namesInWords(['bob', 'carol']), 'bob and carol')
  assert.equal(namesInWords(['bob', 'carol', 'dave', 'erin', 'frank']), 'bob, carol, dave, erin and frank')
  assert.equal(namesInWords(['bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi']), 'bob, carol, dave, erin and 3 others')
})
