/**
 * The shape of one result row and of results.json, shared by every suite and bench/run.ts.
 */
import type { Summary } from './stats.ts'

/** Which way is better for a figure: throughput up, latency and memory down. */
type Better = 'higher' | 'lower'

interface Goal {
  /** What the goal says, e.g. ">= 0.85 of the limit". */
  text: string
  met: boolean
}

export interface ResultRow {
  suite: string
  /** What was measured, e.g. "seal 64 KiB frames". */
  metric: string
  unit: string
  better: Better
  parley: Summary
  /** The same work without Parley's layer, measured in the same run on the same machine. */
  baseline?: { label: string, summary: Summary }
  /** parley.median / baseline.median. */
  ratio?: number
  goal?: Goal
  note?: string
  /** Why the baseline could not be measured in this run (the row then has none): shown, never skipped. */
  error?: string
}

export interface SuiteOptions {
  quick: boolean
  /** Progress lines for the person running the bench (stderr). */
  log: (line: string) => void
  /** The rows of the suites that ran before this one in the same run. */
  earlier?: readonly ResultRow[]
}

export type Suite = (options: SuiteOptions) => Promise<ResultRow[]>

export function row (fields: Omit<ResultRow, 'ratio'>): ResultRow {
  const ratio = fields.baseline !== undefined && fields.baseline.summary.median !== 0
    ? fields.parley.median / fields.baseline.summary.median
    : undefined
  return { ...fields, ...(ratio !== undefined ? { ratio } : {}) }
}
