/**
 * `npm run bench [-- --quick] [--only crypto,files,…] [--out FILE]`
 *
 * Runs the suites one after the other (they share a 2-core machine, so never at once), prints a
 * table and writes the results with the machine they were measured on. The full run writes
 * bench/results.json; --quick (small sizes, fewer runs: for CI, under a minute) writes
 * bench/results-quick.json unless --out says otherwise, so it never overwrites the full figures.
 */
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os'
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { cryptoSuite } from './crypto.ts'
import { filesSuite } from './files.ts'
import { directSuite } from './direct.ts'
import { burstSuite } from './burst.ts'
import { groupsSuite } from './groups.ts'
import { rendezvousSuite } from './rendezvous.ts'
import { relaySuite } from './relay.ts'
import { prosodySuite } from './prosody.ts'
import { formatTable } from './table.ts'
import type { ResultRow, Suite } from './report.ts'
import { secondsSince } from './stats.ts'

const SUITES: Record<string, Suite> = {
  crypto: cryptoSuite,
  files: filesSuite,
  direct: directSuite,
  burst: burstSuite,
  groups: groupsSuite,
  rendezvous: rendezvousSuite,
  relay: relaySuite,
  /** Last: it reuses the direct and groups figures of this run (and runs those suites itself when they were left out). */
  prosody: prosodySuite
}

const USAGE = `usage: npm run bench -- [--quick] [--only ${Object.keys(SUITES).join(',')}] [--out FILE]`

async function main (): Promise<number> {
  let values
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const names = values.only?.split(',').map(s => s.trim()).filter(s => s !== '') ?? Object.keys(SUITES)
  const unknown = names.filter(name => SUITES[name] === undefined)
  if (unknown.length > 0) {
    process.stderr.write(`unknown suite ${unknown.join(', ')}\n${USAGE}\n`)
    return 2
  }
  const quick = values.quick
  const out = values.out ?? new URL(quick ? './results-quick.json' : './results.json', import.meta.url).pathname
  const log = (line: string): void => { process.stderr.write(`  ${line}\n`) }

  // The figures are only as good as the machine is quiet: record how busy it was.
  const loadBefore = loadavg()
  if ((loadBefore[0] ?? 0) > 0.5 * cpus().length) {
    process.stderr.write(`warning: load average ${loadBefore[0]?.toFixed(2)} on ${cpus().length} cores; other work will skew the figures\n`)
  }
  const started = process.hrtime.bigint()
  const rows: ResultRow[] = []
  const failures: Array<{ suite: string, error: string }> = []
  const durations: Record<string, number> = {}
  for (const name of names) {
    const suite = SUITES[name]!
    process.stderr.write(`${name}…\n`)
    const suiteStart = process.hrtime.bigint()
    try {
      rows.push(...await suite({ quick, log, earlier: [...rows] }))
    } catch (err) {
      // One broken suite must not hide the others' figures; it still fails the run.
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err)
      failures.push({ suite: name, error })
      process.stderr.write(`${name} FAILED: ${error}\n`)
    }
    durations[name] = secondsSince(suiteStart)
  }
  const seconds = secondsSince(started)

  const cpuList = cpus()
  const results = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    seconds,
    suiteSeconds: durations,
    machine: {
      cpu: cpuList[0]?.model ?? 'unknown',
      cores: cpuList.length,
      memoryBytes: totalmem(),
      platform: `${platform()} ${release()} ${arch()}`,
      node: process.version,
      openssl: process.versions.openssl,
      /** 1-minute load average before and after the run (other processes skew the figures). */
      loadBefore: loadBefore[0],
      loadAfter: loadavg()[0]
    },
    results: rows,
    failures
  }
  await writeFile(out, JSON.stringify(results, null, 2) + '\n')
  process.stdout.write(`\nParley bench (${results.mode}) — ${results.machine.cpu}, ${results.machine.cores} cores, Node ${process.version}, ${results.date}, load ${results.machine.loadBefore?.toFixed(2)}→${results.machine.loadAfter?.toFixed(2)}\n\n`)
  process.stdout.write(formatTable(rows) + '\n')
  process.stdout.write(`\n${rows.filter(r => r.goal?.met === true).length} goals met, ${rows.filter(r => r.goal?.met === false).length} missed; ` +
    `${rows.filter(r => r.error !== undefined).length} baselines not measured; ${seconds.toFixed(1)} s; results in ${out}\n`)
  if (failures.length > 0) process.stdout.write(`FAILED suites: ${failures.map(f => f.suite).join(', ')}\n`)
  return failures.length > 0 ? 1 : 0
}

process.exit(await main())
