/**
 * Watching a file transfer: a per-chunk idle timeout, and progress reports for a person or a
 * script at most every 100 ms (always the last one).
 *
 * Why per chunk: libp2p 3.3 streams have no idle timeout of their own and the socket's resets
 * on any traffic, so a stalled transfer would hold its stream and its `.part` for as long as the
 * connection lives; a whole file may take longer than any fixed deadline, so each chunk gets it.
 * Why throttled: a chunk is 64 KiB, so unthrottled a 256 MiB file made 4096 events a side, which
 * the benchmark measured at ~6 % of the sender's CPU.
 */
export const PROGRESS_INTERVAL_MS = 100

export function throttledProgress (report: (bytes: number, total: number) => void, intervalMs = PROGRESS_INTERVAL_MS): (bytes: number, total: number) => void {
  let last = -Infinity
  return (bytes, total) => {
    const now = performance.now()
    if (bytes < total && now - last < intervalMs) return
    last = now
    report(bytes, total)
  }
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
 * prefix, send.ts and receive.ts): it restarts the idle timer and is not reported again.
 */
export function watchTransfer (idleMs: number, report: (bytes: number, total: number) => void): TransferWatch {
  const controller = new AbortController()
  let previous: number | undefined
  let timer: NodeJS.Timeout | undefined
  const done = (): void => { clearTimeout(timer) }
  const restart = (): void => {
    done()
    timer = setTimeout(() => { controller.abort(new DOMException(`no data for ${idleMs} ms`, 'TimeoutError')) }, idleMs)
  }
  restart()
  const throttled = throttledProgress(report)
  return {
    signal: controller.signal,
    onProgress: (bytes, total) => {
      restart()
      if (bytes === previous) return
      previous = bytes
      throttled(bytes, total)
    },
    done
  }
}
