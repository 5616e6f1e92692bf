/**
 * Issue 11: a burst of 2,000 SEND lines piped into one real peer's stdin at once (as a script or
 * a paste would) reaches the other real peer whole: every message exactly once, every text
 * intact. Timing is reported, never asserted (the rate is a benchmark figure: bench/burst.ts).
 * Then 500 SENDGROUP lines to a group of the two, which asked the rendezvous for the member
 * list at every line until 2026-12-06 and met its rate limit (ERR_RATE_LIMITED, messages lost).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { ServerProcess } from '../../harness/processes.ts'

const PASSWORD = 'Correct Horse 9'
const BURST = 2_000
/** Generous: the burst takes a few seconds here; a much slower machine still fits. */
const DEADLINE_MS = 120_000
/** Five times the rendezvous's request burst (100). */
const GROUP_BURST = 500

describe('bursts piped through the CLI', () => {
  let dir: string
  let server: ServerProcess | undefined
  const peers: PeerProcess[] = []

  before(async () => {
    dir = await tempDir('parley-burst-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    for (const name of ['alice', 'bob']) {
      const peer = await PeerProcess.start(name, server.addr.toString(), join(dir, name))
      peers.push(peer)
      const event = await peer.run(`SIGNUP ${name} ${PASSWORD}`, e => e.event === 'signed-up' || e.event === 'error')
      assert.equal(event.event, 'signed-up', JSON.stringify(event))
    }
  })

  after(async () => {
    await Promise.all(peers.map(async p => await p.kill()))
    await server?.stop()
    await removeDir(dir)
  })

  test('every message arrives exactly once, intact', { timeout: DEADLINE_MS + 30_000 }, async () => {
    const [alice, bob] = peers as [PeerProcess, PeerProcess]
    const texts = Array.from({ length: BURST }, (_, i) => `burst-${i} ${'x'.repeat(i % 97)} ümlaut  two  spaces`)
    const from = bob.events.length
    const started = Date.now()
    // The whole burst in one write: the CLI gets it as fast as the pipe takes it.
    alice.child.stdin?.write(texts.map(text => `SEND bob ${text}\n`).join(''))

    const want = new Set(texts)
    const arrived = (): number => bob.events.slice(from).filter(e => e.event === 'message').length
    let elapsed = 0
    for (;;) {
      const count = arrived()
      if (count >= BURST) {
        elapsed = Date.now() - started
        break
      }
      if (Date.now() - started > DEADLINE_MS || bob.child.exitCode !== null || alice.child.exitCode !== null) {
        const errors = alice.events.filter(e => e.event === 'error' || e.event === 'undelivered' || e.event === 'warning').slice(0, 5)
        assert.fail(`${count} of ${BURST} arrived within ${DEADLINE_MS} ms; alice's errors: ${JSON.stringify(errors)}; stderr: ${alice.stderr.join('').slice(-1000)}`)
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const messages = bob.events.slice(from).filter(e => e.event === 'message')
    const seen = new Set<string>()
    const ids = new Set<unknown>()
    for (const message of messages) {
      assert.equal(message.from, 'alice')
      const text = String(message.text)
      assert.ok(want.has(text), `unexpected text ${JSON.stringify(text).slice(0, 200)}`)
      assert.ok(!seen.has(text), `${text.slice(0, 20)} arrived twice`)
      assert.ok(!ids.has(message.id), `id ${String(message.id)} arrived twice`)
      seen.add(text)
      ids.add(message.id)
    }
    assert.equal(seen.size, BURST)
    assert.deepEqual(messages.map(m => String(m.text)), texts, 'in the order typed')
    const failed = alice.events.filter(e => e.event === 'error' || e.event === 'undelivered')
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3)))
    // A moment for stray duplicates to show, then count again.
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(bob.events.slice(from).filter(e => e.event === 'message').length, BURST)
    // Every one is acknowledged to the sender too.
    const delivered = (): number => alice.events.filter(is('delivered', { to: 'bob' })).length
    for (let waited = 0; delivered() < BURST; waited += 100) {
      assert.ok(waited < DEADLINE_MS, `${delivered()} of ${BURST} acknowledged to alice`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    console.log(`# burst: ${BURST} messages in ${elapsed} ms (${Math.round(BURST / (elapsed / 1000))} messages/s, reported, not asserted)`)
  })

  test(`${GROUP_BURST} piped SENDGROUP lines to a group of two all arrive, none refused`, { timeout: DEADLINE_MS + 30_000 }, async () => {
    const [alice, bob] = peers as [PeerProcess, PeerProcess]
    await alice.run('JOIN duo', is('joined', { group: 'duo' }))
    await bob.run('JOIN duo', is('joined', { group: 'duo' }))
    const aliceFrom = alice.events.length
    const bobFrom = bob.events.length
    const texts = Array.from({ length: GROUP_BURST }, (_, i) => `d${String(i).padStart(3, '0')}`)
    alice.child.stdin?.write(texts.map(text => `SENDGROUP duo ${text}\n`).join(''))

    const arrived = (): string[] => bob.events.slice(bobFrom).filter(is('group-message', { group: 'duo', from: 'alice' })).map(e => String(e.text))
    const failed = (): unknown[] => alice.events.slice(aliceFrom).filter(e => e.event === 'error' || e.event === 'undelivered')
    for (const started = Date.now(); arrived().length < GROUP_BURST;) {
      const stuck = Date.now() - started > DEADLINE_MS || alice.child.exitCode !== null || bob.child.exitCode !== null
      assert.ok(!stuck, `${arrived().length} of ${GROUP_BURST} arrived; alice's errors: ${JSON.stringify(failed().slice(0, 3))}`)
      // Refused commands never arrive: stop at the first rather than wait for the deadline.
      assert.deepEqual(failed().slice(0, 3), [])
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    assert.deepEqual(arrived(), texts, 'every line once, in the order typed')
    assert.deepEqual(failed(), [])
  })
})
