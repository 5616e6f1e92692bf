/**
 * Per-IP caps on inbound connections (issue 12 item 3), as a libp2p connection gater. libp2p
 * limits pending upgrades and connections for the whole node, and new connections per second per
 * IP, but not how many one address may hold: without this, one host opening idle sockets fills
 * every pending-upgrade slot until the upgrade deadline ends them, and everyone else is refused.
 *
 * A connection counts as pending from the moment its socket is accepted until its upgrade (Noise
 * + yamux) completes, and towards the address's total until it closes, however it ends.
 */
import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface'

export interface ConnectionCaps {
  /** Inbound connections one IP address may have mid-upgrade at once. */
  pendingPerIp: number
  /** Inbound connections one IP address may hold open at once. */
  totalPerIp: number
}

interface Counts { pending: number, total: number }

export function perIpConnectionGater (caps: ConnectionCaps): ConnectionGater {
  const byIp = new Map<string, Counts>()
  /** Connections still pending, so an upgrade that completes is uncounted once. */
  const pending = new WeakSet<MultiaddrConnection>()

  const hostOf = (maConn: MultiaddrConnection): string | undefined => {
    const component = maConn.remoteAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')
    return component?.value
  }

  const release = (host: string, maConn: MultiaddrConnection): void => {
    const counts = byIp.get(host)
    if (counts === undefined) return
    if (pending.delete(maConn)) counts.pending--
    counts.total--
    if (counts.total <= 0) byIp.delete(host)
  }

  return {
    denyInboundConnection (maConn) {
      const host = hostOf(maConn)
      if (host === undefined) return false
      const counts = byIp.get(host) ?? { pending: 0, total: 0 }
      if (counts.pending >= caps.pendingPerIp || counts.total >= caps.totalPerIp) return true
      counts.pending++
      counts.total++
      byIp.set(host, counts)
      pending.add(maConn)
      maConn.addEventListener('close', () => { release(host, maConn) }, { once: true })
      return false
    },
    denyInboundUpgradedConnection (_peerId, maConn) {
      const host = hostOf(maConn)
      const counts = host === undefined ? undefined : byIp.get(host)
      if (counts !== undefined && pending.delete(maConn)) counts.pending--
      return false
    }
  }
}
