/**
 * Background work that nobody waits for (sessions opened ahead of a message) must not lengthen
 * the queue in front of work somebody does wait for. Node has no task priorities, so the
 * background asks first: is the event loop keeping up? A zero-delay timer that fires late says
 * the loop has a backlog of callbacks (messages, handshakes) in front of it.
 */
import { setTimeout as sleep } from 'node:timers/promises'

/** A zero-delay timer this late means a backlog: on an idle loop it fires within ~1 ms. At 20
 * ms the load test's sessions opened ahead never ran while peers joined (a 4× run then met its
 * group members in the timed phase, p99 12 s); at 50 they ran between the joins' work (3.4 s). */
const BUSY_LAG_MS = 50
/** How often a busy loop is asked again. */
const POLL_MS = 250

/** How late a zero-delay timer fires now, ms. */
export async function loopLag (): Promise<number> {
  const start = performance.now()
  await sleep(0)
  return performance.now() - start
}

/**
 * Resolves true once the event loop keeps up (`lag` under BUSY_LAG_MS), false if it stayed busy
 * for `maxWaitMs` or `signal` aborted first. `lag` is the measure (a test gives its own).
 */
export async function loopQuiet (signal: AbortSignal, maxWaitMs: number, lag: () => Promise<number> = loopLag): Promise<boolean> {
  const giveUpAt = performance.now() + maxWaitMs
  for (;;) {
    if (signal.aborted) return false
    if (await lag() < BUSY_LAG_MS) return true
    if (performance.now() >= giveUpAt) return false
    await sleep(POLL_MS, undefined, { signal }).catch(() => {})
  }
}
