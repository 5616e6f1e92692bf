/**
 * Watching a file transfer: a per-chunk idle timeout, a minimum average rate (issue 12), and
 * progress reports for a person or a script at most every 100 ms (always the last one).
 *
 * Why per chunk: libp2p 3.3 streams have no idle timeout of their own and the socket's resets
 * on any traffic, so a stalled transfer would hold its stream and its `.part` for as long as the
 * connection lives; a whole file may take longer than any fixed deadline, so each chunk gets it.
 * Why throttled: a chunk is 64 KiB, so unthrottled a 256 MiB file made 4096 events a side, which
 * the benchmark measured at ~6 % of the sender's CPU.
 */
import { ErrorCode, ParleyError } from '../../common/errors.ts'
import { MIN_TRANSFER_BYTES_PER_S, RATE_GRACE_MS, RATE_SAMPLE_EVERY_MS, RATE_WINDOW_MS } from './constants.ts'
import { patientTimer } from '../../common/patient-timeout.ts'
import type { PatientTimer } from '../../common/patient-timeout.ts'

const PROGRESS_INTERVAL_MS = 100

export function throttledProgress (report: (bytes: number, total: number) => void, intervalMs = PROGRESS_INTERVAL_MS): (bytes: number, total: number) => void {
  let last = -Infinity
  return (bytes, total) => {
    const now = performance.now()
    if (bytes < total && now - last < intervalMs) return
    last = now
    report(bytes, total)
  }
}

/** The minimum rate (constants.ts explains the values); `now` is for tests. */
export interface RateFloorOptions {
  minBytesPerS: number
  windowMs: number
  graceMs: number
  sampleEveryMs: number
  now: () => number
}

const DEFAULT_RATE_FLOOR: RateFloorOptions = {
  minBytesPerS: MIN_TRANSFER_BYTES_PER_S,
  windowMs: RATE_WINDOW_MS,
  graceMs: RATE_GRACE_MS,
  sampleEveryMs: RATE_SAMPLE_EVERY_MS,
  now: () => performance.now()
}

/**
 * The average rate over a sliding window: samples (time, bytes) at least sampleEveryMs apart, the
 * oldest kept being the last one at or before the window's start. Judged only after the grace
 * period and over a whole window, at each progress report (a transfer that reports nothing at all
 * is the idle timer's). `restart` starts over (local work such as re-hashing a kept prefix is not
 * the remote's slowness).
 */
export class RateFloor {
  readonly #options: RateFloorOptions
  #startedAt: number
  #samples: Array<{ at: number, bytes: number }> = []

  constructor (options: Partial<RateFloorOptions> = {}) {
    this.#options = { ...DEFAULT_RATE_FLOOR, ...options }
    this.#startedAt = this.#options.now()
  }

  restart (bytes?: number): void {
    this.#startedAt = this.#options.now()
    this.#samples = bytes === undefined ? [] : [{ at: this.#startedAt, bytes }]
  }

  /** `bytes` so far; returns the cut (a ParleyError) if the transfer is below the floor. */
  sample (bytes: number): ParleyError | undefined {
    const { minBytesPerS, windowMs, graceMs, sampleEveryMs, now } = this.#options
    const at = now()
    const last = this.#samples.at(-1)
    if (last === undefined || at - last.at >= sampleEveryMs) this.#samples.push({ at, bytes })
    // Keep one sample at or before the window's start, none older.
    while (this.#samples.length > 1 && (this.#samples[1]?.at ?? Infinity) <= at - windowMs) this.#samples.shift()
    const base = this.#samples[0]
    if (base === undefined || at - this.#startedAt < graceMs || at - base.at < windowMs) return undefined
    const seconds = (at - base.at) / 1000
    const rate = (bytes - base.bytes) / seconds
    if (rate >= minBytesPerS) return undefined
    return new ParleyError(ErrorCode.RateLimited,
      `file transfer cut: ${formatRate(rate)} over the last ${Math.round(seconds)} s, below the minimum of ${formatRate(minBytesPerS)}`)
  }
}

function formatRate (bytesPerS: number): string {
  return bytesPerS >= 1024 ? `${(bytesPerS / 1024).toFixed(1)} KiB/s` : `${Math.max(0, Math.round(bytesPerS))} bytes/s`
}

export interface TransferWatch {
  /** Aborts (TimeoutError) when no chunk moved for `idleMs`. */
  signal: AbortSignal
  /** Pass as the transfer's onProgress: restarts the idle timer, reports (throttled). */
  onProgress: (bytes: number, total: number) => void
  /** Stop the timer: call when the transfer ended, either way. */
  done: () => void
}

/**
 * A report of the same count as the one before is a heartbeat (a resumed transfer re-hashing its
 * prefix, send.ts and receive.ts): it restarts the idle timer and is not reported again, and the
 * rate floor starts over from it. A transfer below the rate floor (RateFloor; `floor: false` for
 * none) is aborted with the floor's ERR_RATE_LIMITED as the signal's reason.
 */
export function watchTransfer (idleMs: number, report: (bytes: number, total: number) => void, options: { floor?: Partial<RateFloorOptions> | false } = {}): TransferWatch {
  const controller = new AbortController()
  let previous: number | undefined
  let timer: PatientTimer | undefined
  const floor = options.floor === false ? undefined : new RateFloor(options.floor)
  const done = (): void => { timer?.cancel() }
  const restart = (): void => {
    done()
    // Patient (common/patient-timeout.ts): a chunk that arrived while our own loop stood still
    // is not "no data".
    timer = patientTimer(idleMs, () => { controller.abort(new DOMException(`no data for ${idleMs} ms`, 'TimeoutError')) })
  }
  restart()
  const throttled = throttledProgress(report)
  return {
    signal: controller.signal,
    onProgress: (bytes, total) => {
      if (controller.signal.aborted) return
      restart()
      if (bytes === previous) {
        floor?.restart(bytes)
        return
      }
      previous = bytes
      const cut = floor?.sample(bytes)
      if (cut !== undefined) {
        done()
        controller.abort(cut)
        return
      }
      throttled(bytes, total)
    },
    done
  }
}
