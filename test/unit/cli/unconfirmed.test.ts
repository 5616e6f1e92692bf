/**
 * Texts whose recipient does not answer (peer/cli/unconfirmed.ts), through the real human
 * output on a captured stream with the clock mocked: nothing while ACKs come as usual; once a
 * text has waited UNCONFIRMED_MS, one line per recipient counting its texts, each counted once;
 * files (their status shows them), answered texts and texts already said to be queued never.
 */
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import { capture } from '../../helpers/captured-output.ts'
import { humanOutput } from '../../../peer/cli/output.ts'
import { UNCONFIRMED_MS } from '../../../peer/cli/unconfirmed.ts'
import type { PeerEvent } from '../../../peer/events.ts'

const sent = (id: string, to: string, name: string | null = null, group: string | null = null): PeerEvent => ({ event: 'sent', id, to, group, name })
const delivered = (id: string, to: string): PeerEvent => ({ event: 'delivered', id, to, group: null, name: null })

describe('texts not confirmed by their recipient', () => {
  beforeEach(() => { mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'] }) })
  afterEach(() => { mock.timers.reset() })

  test('a recipient that does not answer gets one line for its texts after a while; each text is counted once; answered ones never', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    human.print(sent('m1', 'bob'))
    human.print(sent('m2', 'bob'))
    human.print(sent('m3', 'carol'))
    human.print(delivered('m3', 'carol'))
    human.print(sent('f1', 'bob', 'big.bin')) // a file: its status in the prompt shows it
    mock.timers.tick(UNCONFIRMED_MS - 1_000)
    assert.deepEqual(out.lines(), ['delivered to carol'], 'nothing before the wait is over')
    mock.timers.tick(1_000)
    assert.deepEqual(out.lines().slice(1), ["2 messages to bob not confirmed yet (sent 5 s ago): bob's device has not answered; they stay in your outbox until it does"])
    human.print(sent('m4', 'bob'))
    mock.timers.tick(UNCONFIRMED_MS)
    assert.deepEqual(out.lines().slice(2), ["1 message to bob not confirmed yet (sent 5 s ago): bob's device has not answered; it stays in your outbox until it does"], 'only the one not counted before')
    human.print({ event: 'queued', id: 'm1', to: 'bob', group: null, name: null, reason: 'bob is not reachable right now: no answer in time', code: 'ERR_UNREACHABLE' })
    human.print(delivered('m2', 'bob'))
    human.print(delivered('m4', 'bob'))
    mock.timers.tick(60_000)
    assert.deepEqual(out.lines().slice(3), ['queued for bob (bob is not reachable right now: no answer in time); it goes as soon as bob can be reached', '2 messages delivered to bob'],
      'their answers end it: nothing more')
    human.close()
  })

  test('texts sent a moment apart share the line said when the first is due; a group is named when they were all sent in it', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    human.print(sent('m1', 'erin'))
    mock.timers.tick(300)
    human.print(sent('m2', 'erin'))
    human.print(sent('g1', 'kim', null, 'fam'))
    human.print(sent('g2', 'kim', null, 'fam'))
    mock.timers.tick(UNCONFIRMED_MS)
    assert.deepEqual(out.lines(), [
      "2 messages to erin not confirmed yet (sent 5 s ago): erin's device has not answered; they stay in your outbox until it does",
      "2 messages to kim in fam not confirmed yet (sent 5 s ago): kim's device has not answered; they stay in your outbox until it does"
    ])
    human.close()
  })

  test('a text said to be queued is not counted again when a retry of it goes out unanswered (the person knows it waits)', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    human.print(sent('m1', 'bob', null))
    human.print({ event: 'queued', id: 'm1', to: 'bob', group: null, name: null, reason: 'bob is not reachable right now: no answer in time', code: 'ERR_UNREACHABLE' })
    human.print(sent('m1', 'bob', null)) // the retry; refused again, which no event says
    mock.timers.tick(UNCONFIRMED_MS * 2)
    assert.equal(out.lines().length, 1, out.lines().join('\n'))
    human.print(delivered('m1', 'bob'))
    human.print(sent('m1', 'bob', null)) // (a later run of the same id: counted again)
    mock.timers.tick(UNCONFIRMED_MS)
    assert.equal(out.lines().length, 3, out.lines().join('\n'))
    human.close()
  })

  test('a group text withdrawn from a member who left before it reached them is no news, and no longer waits (round 16: "not confirmed yet" 5 s later)', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    human.print(sent('g1', 'dave', null, 'churn'))
    human.print({ event: 'withdrawn', id: 'g1', to: 'dave', group: 'churn', name: null })
    mock.timers.tick(UNCONFIRMED_MS * 2)
    assert.deepEqual(out.lines(), [])
    human.close()
  })

  test('a sign-in forgets what the account before sent', () => {
    const out = capture()
    const human = humanOutput(out.stream, capture().stream)
    human.print(sent('m1', 'bob'))
    human.print({ event: 'logged-in', username: 'ivan', peerId: 'p', offline: false, already: false })
    mock.timers.tick(UNCONFIRMED_MS * 2)
    assert.deepEqual(out.lines(), ['Signed in as ivan.'])
    human.close()
  })
})
