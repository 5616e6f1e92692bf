/** Let the event loop run until `condition` holds (work started in the background got there);
 * a condition still false after 1,000 turns fails the test rather than hang it. */
export async function until (condition: () => boolean): Promise<void> {
  for (let turns = 0; !condition(); turns++) {
    if (turns > 1_000) throw new Error('the condition never came true')
    await new Promise(resolve => setImmediate(resolve))
  }
}

/** Hold the event loop for `ms`: a callback that does not return (a loaded or slow machine). */
export function busyFor (ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) { /* the loop stands still */ }
}
