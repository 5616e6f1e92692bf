/**
 * Who may use the relay on the rendezvous (issue 13): it relays between accounts only, both
 * ends signed in, and each source opens new relayed connections at a bounded rate (each one is
 * capped in time and bytes by the relay's limits, rendezvous/constants.ts), so the rendezvous
 * is no free proxy for anyone who can reach it.
 */
import type { PeerId } from '@libp2p/interface'
import { RateLimiter } from '../common/rate-limiter.ts'
import type { Clock } from '../common/rate-limiter.ts'
import { RELAY_CONNECTIONS_BURST, RELAY_CONNECTIONS_PER_SECOND } from './constants.ts'

export function relayPolicy (signedIn: (peerId: string) => boolean, now?: Clock): (source: PeerId, destination: PeerId) => boolean {
  const limiter = new RateLimiter({ perSecond: RELAY_CONNECTIONS_PER_SECOND, burst: RELAY_CONNECTIONS_BURST, now })
  return (source, destination) => {
    if (!signedIn(source.toString()) || !signedIn(destination.toString())) return false
    try {
      limiter.take(source.toString())
      return true
    } catch {
      return false
    }
  }
}
