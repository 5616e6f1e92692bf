/** Let the event loop run until `condition` holds (work started in the background got there);
 * a condition still false after 1,000 turns and 10 s fails the test rather than hang it. (Turns
 * alone are a few milliseconds when there is nothing else to run: work on Node's thread pool, a
 * hash, a file, can take longer on a loaded machine, and at half speed did, 2026-12-07.) */
export async function until (condition: () => boolean): Promise<void> {
  const deadline = performance.now() + 10_000
  for (let turns = 0; !condition(); turns++) {
    if (turns > 1_000 && performance.now() > deadline) throw new Error('the condition never came true')
    await new Promise(resolve => setImmediate(resolve))
  }
}

/** Hold the event loop for `ms`: a callback that does not return (a loaded or slow machine). */
export function busyFor (ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) { /* the loop stands still */ }
}
