/**
 * The suite's runner: `npm test` runs both parts side by side (after the type check),
 * `npm run test:unit` and `npm run test:integration` one each.
 *
 * - **unit** (test/unit and the soak's checker): every file in this one process
 *   (`--test-isolation=none`). In a process each, the ~100 files cost about 0.3 CPU-s apiece to
 *   start, node and its test runner and the modules they share: 40 of the unit tests' 105 CPU-s.
 * - **integration** (test/integration, test/pty): each file in its own process, two at a time,
 *   as they start and stop real programs and share nothing.
 *
 * Side by side, the in-process files fill the time the integration files spend waiting on their
 * programs. On a machine at half this one's speed (`bash test/soak/slower-machine.sh 1 npm test`)
 * the suite took 357 s in one run of every file in its own process, 296 s so (2026-12-07).
 *
 * The integration part's output is passed through as it comes; the unit part's is held and
 * printed whole when it ends, so that the two do not interleave. Each part prints its own
 * summary; the last lines here add them up. The exit status is 1 if either part failed.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

const TEST = ['--import', './common/compile-cache.js', '--test']
/**
 * The fuzz properties' cases in the suite (test/unit/fuzz/arbitraries.ts): a tenth of the 10,000
 * per decoder that `npm run test:fuzz`, a step of its own in CI, runs (issue 7). At 10,000 they
 * were about 30 of the suite's CPU-s, and every one of the suite's other tests waited on them on a
 * slow machine. FUZZ_RUNS set outside wins.
 */
const SUITE_FUZZ_RUNS = '1000'
const PARTS = {
  unit: [...TEST, '--test-isolation=none', 'test/unit/**/*.test.ts', 'test/soak/*.test.ts'],
  integration: [...TEST, '--test-concurrency=2', '--test-timeout=600000', 'test/integration/**/*.test.ts', 'test/pty/**/*.test.ts']
}
type Part = keyof typeof PARTS

interface Outcome { part: Part, ok: boolean, counts: Map<string, number>, seconds: number }

/** Run one part; its output passed through line by line, or held (`hold`) and printed whole. */
async function run (part: Part, hold: boolean): Promise<Outcome> {
  const started = Date.now()
  const env = { ...process.env, FUZZ_RUNS: process.env.FUZZ_RUNS ?? SUITE_FUZZ_RUNS }
  const child = spawn(process.execPath, PARTS[part], { stdio: ['ignore', 'pipe', 'inherit'], env })
  const held: string[] = []
  const counts = new Map<string, number>()
  createInterface({ input: child.stdout }).on('line', line => {
    // The spec reporter's summary: `ℹ tests 753`, `ℹ pass 753`, `ℹ fail 0`, …
    const count = /^ℹ (\w+) (\d+)$/.exec(line)
    if (count !== null) counts.set(count[1] ?? '', Number(count[2]))
    if (hold) held.push(line)
    else process.stdout.write(line + '\n')
  })
  const ok = await new Promise<boolean>(resolve => { child.once('close', code => { resolve(code === 0) }) })
  if (hold) process.stdout.write(`\n${held.join('\n')}\n`)
  return { part, ok, counts, seconds: Math.round((Date.now() - started) / 1000) }
}

const asked = process.argv[2]
if (asked !== undefined && !(asked in PARTS)) {
  console.error(`usage: node test/run.ts [${Object.keys(PARTS).join('|')}]`)
  process.exit(2)
}
const outcomes = asked === undefined
  ? await Promise.all([run('unit', true), run('integration', false)])
  : [await run(asked as Part, false)]
if (outcomes.length > 1) {
  const total = (key: string): number => outcomes.reduce((sum, o) => sum + (o.counts.get(key) ?? 0), 0)
  const parts = outcomes.map(o => `${o.part} ${o.counts.get('tests') ?? '?'} in ${o.seconds} s${o.ok ? '' : ', FAILED'}`).join(', ')
  console.log(`\nℹ suite: ${total('tests')} tests, ${total('pass')} passed, ${total('fail')} failed (${parts})`)
}
process.exitCode = outcomes.every(o => o.ok) ? 0 : 1
