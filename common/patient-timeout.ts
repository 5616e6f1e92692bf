/**
 * Deadlines on the other side's silence, not on our own event loop (issue 11, item 5).
 *
 * Node runs due timers at the start of each turn of its event loop, before it reads the sockets.
 * After a turn that took long (a loaded peer on a slow machine: seconds), a deadline that fell
 * due meanwhile fires before the answer it waits for is read, though that answer sat in the
 * socket all along. The work in flight (a handshake, a request, a session) is then thrown away
 * and done again, on the machine that had no time to spare: a slow machine's overload fed itself
 * (the default soak at a quarter of this machine's speed, whose workers took turns of up to 18 s,
 * retried 848 deliveries and refused SENDs whose rendezvous look-ups had hit their 15 s deadline).
 *
 * So a patient deadline does not count the time the loop stood still: when its timer fires late
 * by more than STALL_MS, it waits again for as long as it was late, up to its own length once
 * more in all (a loop that never catches up still ends it: after twice its length of waiting,
 * plus the stalls themselves). And it expires only after one reading of the sockets
 * (setImmediate runs after the poll phase), so an answer that has arrived wins over it.
 */

/** A timer this late says the loop stood still (an idle loop fires within a few ms). */
const STALL_MS = 200

export interface PatientTimer {
  cancel: () => void
}

/** Call `expire` after `ms` of the event loop running (see above); `cancel` stops it. */
export function patientTimer (ms: number, expire: () => void): PatientTimer {
  let due = performance.now() + ms
  let spare = ms
  let timer: NodeJS.Timeout | undefined
  let immediate: NodeJS.Immediate | undefined
  const fire = (): void => {
    const late = performance.now() - due
    if (late > STALL_MS && spare > 0) {
      const extra = Math.min(late, spare)
      spare -= extra
      due = performance.now() + extra
      timer = setTimeout(fire, extra).unref()
      return
    }
    timer = undefined
    // Not unref'd: an unref'd immediate waits for the loop's next wake-up, which an idle loop
    // may not have for seconds. It lives for one turn only.
    immediate = setImmediate(expire)
  }
  timer = setTimeout(fire, ms).unref()
  return {
    cancel: () => {
      clearTimeout(timer)
      clearImmediate(immediate)
    }
  }
}

/** The controller of each patient signal, alive as long as its signal is (see patientTimeout). */
const controllers = new WeakMap<AbortSignal, AbortController>()
/** A signal nobody holds any more needs no timer: it is cancelled when the signal is collected. */
const cancelWhenCollected = new FinalizationRegistry<PatientTimer>(timer => { timer.cancel() })

/**
 * `AbortSignal.timeout(ms)`, patient (see above): aborts with the same TimeoutError. Like
 * AbortSignal.timeout's, its timer holds the signal weakly and does not keep the process alive:
 * a request answered at once leaves no timer behind for `ms` (the rendezvous reads thousands of
 * frames a second, each under a deadline of many seconds).
 */
export function patientTimeout (ms: number): AbortSignal {
  const controller = new AbortController()
  const signal = controller.signal
  controllers.set(signal, controller)
  const held = new WeakRef(signal)
  const timer = patientTimer(ms, () => {
    const alive = held.deref()
    if (alive !== undefined) controllers.get(alive)?.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  })
  cancelWhenCollected.register(signal, timer)
  return signal
}

/**
 * `answer` if it comes within `ms` of the loop running (patient, as above: one that came while the
 * loop stood still is taken), else undefined; the work goes on either way. For a question to the
 * rendezvous whose last answer would do meanwhile (peer/constants.ts ANSWER_PATIENCE_MS).
 */
export async function answerWithin<T> (answer: Promise<T>, ms: number): Promise<T | undefined> {
  // Waited out already (by the caller that asked first): an answer already here is taken.
  if (ms <= 0) return await Promise.race([answer, Promise.resolve(undefined)])
  let timer: PatientTimer | undefined
  try {
    return await Promise.race([answer, new Promise<undefined>(resolve => { timer = patientTimer(ms, () => { resolve(undefined) }) })])
  } finally {
    timer?.cancel()
  }
}

/** A question under way (SharedQuestions), and its answer within what is left of a patience
 * counted from when it was asked. */
export interface Asked<T> {
  answer: Promise<T>
  /** The answer if it comes within `ms` of the asking, else undefined (see answerWithin). */
  within: (ms: number) => Promise<T | undefined>
}

/**
 * One question under way per key (a group's list, a user's address): callers meanwhile share it,
 * and one who comes after the first has waited its patience does not wait again. Its failure goes
 * to its waiters; one left running past its patience has none, and is dropped silently.
 */
export class SharedQuestions<T> {
  readonly #asking = new Map<string, Asked<T>>()

  /** Whether a question of this key is under way (its askers share it). */
  has (key: string): boolean {
    return this.#asking.has(key)
  }

  ask (key: string, start: () => Promise<T>): Asked<T> {
    const running = this.#asking.get(key)
    if (running !== undefined) return running
    const since = Date.now()
    const answer = start()
    const asked: Asked<T> = { answer, within: async ms => await answerWithin(answer, ms - (Date.now() - since)) }
    this.#asking.set(key, asked)
    answer.catch(() => {}).finally(() => { if (this.#asking.get(key) === asked) this.#asking.delete(key) })
    return asked
  }
}
