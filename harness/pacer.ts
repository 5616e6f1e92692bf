/** Pacing new connections from this host to a rendezvous server (the tests, the benchmark, the load test). */
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * libp2p refuses more than 5 new inbound connections per second from one host
 * (connectionManager.inboundConnectionThreshold), and in tests and benchmarks every client is 127.0.0.1.
 * `await pacer()` before opening a new connection to the server keeps under that limit.
 */
export function connectionPacer (perSecond = 4): () => Promise<void> {
  const recent: number[] = []
  return async () => {
    for (;;) {
      const now = Date.now()
      while (recent.length > 0 && now - (recent[0] ?? 0) >= 1_100) recent.shift()
      if (recent.length < perSecond) {
        recent.push(now)
        return
      }
      await sleep(1_100 - (now - (recent[0] ?? now)))
    }
  }
}
