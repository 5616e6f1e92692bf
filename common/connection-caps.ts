/**
 * Caps on inbound connections (issue 12 item 3), as a libp2p connection gater. libp2p limits
 * pending upgrades and connections for the whole node, and new connections per second per IP,
 * but it refuses whoever comes next once a limit is reached: sockets that never speak, or
 * connections that carry nothing, held by one stranger, kept everyone else out (round 48: 256
 * silent sockets from 4 addresses, re-opened as each timed out, and 1,000 idle connections from
 * 2 addresses under one throw-away identity, shut the rendezvous and a peer to new connections).
 *
 * So room is made where it can be, at the expense of those holding places for nothing:
 * - one address may have `pendingPerIp` connections mid-upgrade, and all together `pending`:
 *   past either, the next one ends the oldest that is idle (SILENT_MS without a byte from its
 *   far end, or still mid-upgrade after STALLED_MS: an honest client speaks first, at once, and
 *   finishes in milliseconds, or seconds on a loaded machine). With none idle, a newcomer past
 *   `pending` ends the oldest of the address holding the most, if it holds more than the
 *   newcomer's share (sockets that each send a byte and stall, from a few addresses: round 49);
 *   otherwise it is refused, so a burst of honest handshakes on a busy machine, each from its
 *   own address, is never ended half-way by the next one. An IPv6 address counts as its /64;
 * - `total` open connections: the next inbound one ends the oldest inbound connection that has
 *   carried no stream for STREAMLESS_GRACE_MS and is not one the node keeps (`room.keep`: the
 *   rendezvous keeps the connection each signed-in peer signed in on, not the others it opens
 *   under that identity: round 49); with none to end, it is refused.
 * One address may hold at most `totalPerIp` connections: past that its next one ends its own
 * oldest that carries nothing, as above, or is refused.
 *
 * A connection counts as pending from the moment its socket is accepted until its upgrade (Noise
 * + yamux) completes, and towards the address's total until it closes, however it ends. libp2p's
 * own limits must be above these (common/node.ts), or it refuses before this gater is asked.
 */
import type { Connection, ConnectionGater, MultiaddrConnection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ConnectionCaps {
  /** Inbound connections one IP address may have mid-upgrade at once. */
  pendingPerIp: number
  /** Inbound connections one IP address may hold open at once. */
  totalPerIp: number
  /** Inbound connections mid-upgrade at once, from all addresses. */
  pending: number
  /** Connections open at once, both ways, before a new inbound one must make room. */
  total: number
}

/** The node's connections, and which of them it keeps whatever they carry. Undefined until the
 * node exists (the gater is made first). */
export interface ConnectionRoom {
  connections: () => Connection[]
  keep: (connection: Connection) => boolean
}

/** A connection that has carried no stream for this long may be ended to make room: an honest
 * peer opens its first stream as soon as it has connected. */
export const STREAMLESS_GRACE_MS = 2_000

/** A pending connection whose far end has sent nothing this long may be ended for a newcomer. */
export const SILENT_MS = 1_000
/** …and so may one still mid-upgrade after this long, whatever it sent (a handshake begun and
 * left). libp2p's own deadline for an upgrade is longer (common/node.ts UPGRADE_DEADLINE_MS). */
const STALLED_MS = 10_000

interface Counts { pending: number, total: number }
interface Pending { maConn: MultiaddrConnection, host: string, since: number }

/**
 * The address a connection's caps count it under: an IPv4 address, or an IPv6 address's /64 (one
 * host, or one LAN, is handed a whole /64: counted per address, one machine could open as many
 * sockets as it likes, each from another address). An IPv4 address mapped into IPv6 is that IPv4.
 */
export function addressGroup (ip: string): string {
  if (!ip.includes(':')) return ip
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped?.[1] !== undefined) return mapped[1]
  const [head = '', tail] = ip.toLowerCase().split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const words = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${words.slice(0, 4).map(word => word.replace(/^0+(?=.)/, '')).join(':')}::/64`
}

/** The address group (addressGroup) a connection comes from, if it has an IP address. */
function groupOf (address: Multiaddr): string | undefined {
  const component = address.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')
  return component?.value === undefined ? undefined : addressGroup(component.value)
}

/** Bytes read from a connection's socket so far (a TCP connection's; undefined for another). */
function bytesRead (maConn: MultiaddrConnection): number | undefined {
  const socket = (maConn as { socket?: { bytesRead?: unknown } }).socket
  return typeof socket?.bytesRead === 'number' ? socket.bytesRead : undefined
}

export function perIpConnectionGater (caps: ConnectionCaps, room: () => ConnectionRoom | undefined = () => undefined, now: () => number = Date.now): ConnectionGater {
  const byIp = new Map<string, Counts>()
  /** Connections mid-upgrade, oldest first. */
  const pending = new Set<Pending>()
  const pendingOf = new WeakMap<MultiaddrConnection, Pending>()
  /** When each connection was last seen carrying a stream (or opened). */
  const lastBusy = new WeakMap<Connection, number>()

  const hostOf = (maConn: MultiaddrConnection): string | undefined => groupOf(maConn.remoteAddr)

  const upgraded = (maConn: MultiaddrConnection): void => {
    const entry = pendingOf.get(maConn)
    if (entry === undefined || !pending.delete(entry)) return
    const counts = byIp.get(entry.host)
    if (counts !== undefined) counts.pending--
  }

  const release = (host: string, maConn: MultiaddrConnection): void => {
    upgraded(maConn)
    const counts = byIp.get(host)
    if (counts === undefined) return
    counts.total--
    if (counts.total <= 0) byIp.delete(host)
  }

  const end = (maConn: MultiaddrConnection, why: string): void => {
    upgraded(maConn) // its place is free now, whenever its close comes
    maConn.abort(new Error(why))
  }

  /** The oldest idle pending connection (of `host`, if given): silent, or stalled. */
  const oldestIdle = (host?: string): Pending | undefined => {
    const at = now()
    for (const entry of pending) {
      if (host !== undefined && entry.host !== host) continue
      const age = at - entry.since
      if ((age >= SILENT_MS && bytesRead(entry.maConn) === 0) || age >= STALLED_MS) return entry
    }
    return undefined
  }

  /** Every slot taken and none idle (sockets that each send a byte and stall: round 49): the
   * oldest pending connection of the address holding the most, if it holds more than the
   * newcomer's would with it. Many addresses, each with one slot, are refused alike. */
  const oldestOfHeaviest = (newcomer: string, newcomerPending: number): Pending | undefined => {
    let heaviest: string | undefined
    let most = newcomerPending + 1
    for (const [group, counts] of byIp) {
      if (group !== newcomer && counts.pending > most) {
        heaviest = group
        most = counts.pending
      }
    }
    return heaviest === undefined ? undefined : oldestPending(heaviest)
  }

  const oldestPending = (host: string): Pending | undefined => {
    for (const entry of pending) if (entry.host === host) return entry
    return undefined
  }

  /** End the oldest inbound connection idle past its grace that the node does not keep; false if
   * there is none. */
  const madeRoom = (from?: string): boolean => {
    const here = room()
    if (here === undefined) return from === undefined
    const connections = here.connections()
    if (from === undefined && connections.length < caps.total) return true
    const at = now()
    let oldest: Connection | undefined
    for (const connection of connections) {
      if (connection.direction !== 'inbound' || connection.status !== 'open') continue
      if (from !== undefined && groupOf(connection.remoteAddr) !== from) continue
      if (connection.streams.length > 0) {
        lastBusy.set(connection, at)
        continue
      }
      const busy = lastBusy.get(connection) ?? connection.timeline.open
      if (at - busy < STREAMLESS_GRACE_MS || here.keep(connection)) continue
      if (oldest === undefined || busy < (lastBusy.get(oldest) ?? oldest.timeline.open)) oldest = connection
    }
    if (oldest === undefined) return false
    oldest.abort(new Error('a connection that carried nothing, closed to make room'))
    return true
  }

  return {
    denyInboundConnection (maConn) {
      const host = hostOf(maConn)
      if (host === undefined) return false
      const counts = byIp.get(host) ?? { pending: 0, total: 0 }
      // An address at its share makes room among its own idle connections, or is refused.
      if (counts.total >= caps.totalPerIp && !madeRoom(host)) return true
      const full = counts.pending >= caps.pendingPerIp ? host : pending.size >= caps.pending ? null : undefined
      const idle = full === undefined ? undefined : full === null ? oldestIdle() ?? oldestOfHeaviest(host, counts.pending) : oldestIdle(full)
      if (full !== undefined && idle === undefined) return true
      if (!madeRoom()) return true
      if (idle !== undefined) end(idle.maConn, 'an idle connection mid-upgrade, ended to make room')
      counts.pending++
      counts.total++
      byIp.set(host, counts)
      const entry = { maConn, host, since: now() }
      pending.add(entry)
      pendingOf.set(maConn, entry)
      maConn.addEventListener('close', () => { release(host, maConn) }, { once: true })
      return false
    },
    denyInboundUpgradedConnection (_peerId, maConn) {
      upgraded(maConn)
      return false
    }
  }
}
