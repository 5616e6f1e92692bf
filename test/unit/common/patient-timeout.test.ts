/**
 * Patient deadlines (common/patient-timeout.ts): an answer that arrived while our event loop
 * stood still is read before the deadline is called; on a loop that keeps up they are plain
 * deadlines; a loop that never catches up still ends them.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, connect } from 'node:net'
import type { Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { patientTimeout, patientTimer } from '../../../common/patient-timeout.ts'
import { busyFor } from '../../helpers/loop.ts'

/** A TCP connection on loopback: what the server side writes reaches the client's socket at once. */
async function socketPair (): Promise<{ client: Socket, served: Socket, close: () => void }> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  const accepted = once(server, 'connection')
  const client = connect(address.port, '127.0.0.1')
  await once(client, 'connect')
  const [served] = await accepted as [Socket]
  return { client, served, close: () => { client.destroy(); served.destroy(); server.close() } }
}

/** Which comes first: the answer on the socket, or the deadline, when the answer is written and
 * then the loop held for 500 ms (past the 100 ms deadline) in one callback. The callback runs
 * after the sockets were read in its turn (setImmediate), as a peer's work mostly does (it reads
 * a socket, then handles what it read): the next turn starts with the timers. */
async function race (deadline: (ms: number) => AbortSignal): Promise<string[]> {
  const { client, served, close } = await socketPair()
  try {
    const order: string[] = []
    const signal = deadline(100)
    const aborted = new Promise<void>(resolve => {
      signal.addEventListener('abort', () => { order.push('deadline'); resolve() }, { once: true })
    })
    const answered = once(client, 'data').then(() => { order.push('answer') })
    setTimeout(() => { setImmediate(() => { served.write('answer'); busyFor(500) }) }, 10)
    await Promise.all([aborted, answered])
    return order
  } finally {
    close()
  }
}

test('an answer that arrived while the loop stood still wins over a patient deadline', async () => {
  // The premise: Node runs due timers before it reads the sockets, so a plain deadline fires
  // first although the answer was there all along.
  assert.deepEqual(await race(ms => AbortSignal.timeout(ms)), ['deadline', 'answer'])
  assert.deepEqual(await race(patientTimeout), ['answer', 'deadline'])
})

test('on a loop that keeps up, a patient deadline is a deadline', async () => {
  const started = performance.now()
  const signal = patientTimeout(80)
  await once(signal, 'abort')
  // libuv counts whole milliseconds from a start it rounds down, so any timer, ours or a plain
  // one, can fire up to 1 ms before performance.now() says 80 ms have passed (79.x failed a
  // suite run once). A plain timer set just after ours is no steadier a yardstick: it can start
  // a millisecond later and be due after ours.
  assert.ok(performance.now() - started >= 79)
  assert.ok(signal.reason instanceof DOMException)
  assert.equal(signal.reason.name, 'TimeoutError', 'the reason AbortSignal.timeout gives, which callers test for')
})

test('a loop that never catches up still ends a patient deadline', async () => {
  let holds = 0
  const holding = setInterval(() => { holds++; busyFor(250) }, 5)
  try {
    const signal = patientTimeout(100)
    await once(signal, 'abort')
    assert.ok(holds <= 4, `it waited ${holds} stalls; at most its own length once more after the first`)
  } finally {
    clearInterval(holding)
  }
})

test('a cancelled patient timer never fires', async () => {
  let fired = false
  const timer = patientTimer(30, () => { fired = true })
  timer.cancel()
  await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal(fired, false)
})

test('a patient deadline left behind costs no more than AbortSignal.timeout\'s', async () => {
  // Callers drop their deadline once answered; the rendezvous makes thousands a second, each of
  // many seconds. Its timer must not hold it (and its controller) until then.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 4; i++) { gc(); await new Promise(resolve => setImmediate(resolve)) }
  }
  const growth = async (deadline: (ms: number) => AbortSignal): Promise<number> => {
    await settle()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 50_000; i++) deadline(60_000) // made and dropped, as by a request answered at once
    await settle()
    return process.memoryUsage().heapUsed - before
  }
  const plain = await growth(ms => AbortSignal.timeout(ms))
  const patient = await growth(patientTimeout)
  assert.ok(patient < 3 * Math.max(plain, 1e6), `50,000 left behind: ${(patient / 1e6).toFixed(1)} MB against ${(plain / 1e6).toFixed(1)} MB`)
})
