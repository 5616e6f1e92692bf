/**
 * Summaries of repeated measurements: every figure the bench reports is the median of its runs,
 * with the min and max beside it, so one noisy run on a shared 2-core machine cannot carry a
 * conclusion on its own.
 */

export interface Summary {
  median: number
  min: number
  max: number
  /** Every sample, in the order measured. */
  samples: number[]
}

/** The p-th percentile (0 ≤ p ≤ 100) by linear interpolation between closest ranks. */
export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of no values')
  if (!(p >= 0 && p <= 100)) throw new RangeError('percentile must be within 0..100')
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.ceil(rank)
  const a = sorted[low] ?? 0
  const b = sorted[high] ?? a
  return a + (b - a) * (rank - low)
}

function median (values: readonly number[]): number {
  return percentile(values, 50)
}

export function summarize (samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError('summary of no samples')
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples: [...samples] }
}

/** Seconds since `start` (a process.hrtime.bigint() reading). */
export function secondsSince (start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9
}

/** Milliseconds since `start` (a process.hrtime.bigint() reading). */
export function msSince (start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6
}

export const MiB = 1024 * 1024
/** Throughput is reported in MB/s of 10^6 bytes, as tools such as `openssl speed` do. */
export const MB = 1_000_000
