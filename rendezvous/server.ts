/**
 * A whole rendezvous server: identity and store from the data folder, a libp2p node listening
 * on host:port, the rendezvous service. main.ts runs one from the command line; tests run one
 * in-process.
 */
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { NameCardIssuer } from '../common/crypto/name-card.ts'
import { createParleyNode, loadOrCreateIdentity } from '../common/node.ts'
import type { ParleyNode } from '../common/node.ts'
import {
  IDENTITY_FILE, MAX_CONNECTIONS, CONNECTIONS_PER_IP, RELAY_DATA_LIMIT_BYTES, RELAY_DURATION_LIMIT_MS, RELAY_MAX_HOP_STREAMS,
  RELAY_MAX_RESERVATIONS, RELAY_RESERVATION_TTL_MS
} from './constants.ts'
import { relayPolicy } from './relay.ts'
import { rendezvousService } from './service.ts'
import type { RendezvousService } from './service.ts'
import { openStore } from './store.ts'
import type { RendezvousStore } from './store.ts'

export interface ServerOptions {
  dataDir: string
  host: string
  port: number
  /** Advertise on the LAN by mDNS (never in tests: multicast leaves loopback). */
  mdns: boolean
  /** Connections in all, and from one IP address (defaults: MAX_CONNECTIONS, CONNECTIONS_PER_IP). */
  maxConnections?: number
  connectionsPerIp?: number
}

export interface RendezvousServer {
  node: ParleyNode
  store: RendezvousStore
  service: RendezvousService
  peerId: string
  /** Full listen multiaddrs, each ending in /p2p/<peerId>. */
  addrs: string[]
  stop (): Promise<void>
}

export async function startRendezvousServer (options: ServerOptions): Promise<RendezvousServer> {
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
  const privateKey = await loadOrCreateIdentity(join(options.dataDir, IDENTITY_FILE))
  const store = openStore(options.dataDir)
  let node: ParleyNode | undefined
  let service: RendezvousService | undefined
  const allowRelayedConnection = relayPolicy(peerId => service?.sessions.get(peerId) !== undefined)
  try {
    const family = options.host.includes(':') ? 'ip6' : 'ip4'
    node = await createParleyNode({
      privateKey,
      listen: [`/${family}/${options.host}/tcp/${options.port}`],
      mdns: options.mdns ? 'advertise' : undefined,
      maxConnections: options.maxConnections ?? MAX_CONNECTIONS,
      connectionsPerIp: options.connectionsPerIp ?? CONNECTIONS_PER_IP,
      // A full rendezvous makes room by closing a connection that carries nothing, never the one
      // a peer signed in on (round 48); others under a signed-in identity are not kept (round
      // 49: a throw-away account held 1,000 of them).
      keepConnection: connection => service?.sessions.get(connection.remotePeer.toString())?.connectionId === connection.id,
      relay: {
        server: {
          maxReservations: RELAY_MAX_RESERVATIONS,
          reservationTtlMs: RELAY_RESERVATION_TTL_MS,
          durationLimitMs: RELAY_DURATION_LIMIT_MS,
          dataLimitBytes: RELAY_DATA_LIMIT_BYTES,
          maxHopStreams: RELAY_MAX_HOP_STREAMS,
          allowRelayedConnection
        }
      }
    })
    service = rendezvousService({ node, store, nameCards: new NameCardIssuer(privateKey) })
    await service.start()
    const running = service
    const started = node
    let stopping: Promise<void> | undefined
    return {
      node,
      store,
      service: running,
      peerId: node.peerId.toString(),
      addrs: node.getMultiaddrs().map(addr => addr.toString()),
      async stop () {
        stopping ??= (async () => {
          try {
            await running.stop()
            await started.stop()
          } finally {
            store.close()
          }
        })()
        await stopping
      }
    }
  } catch (err) {
    // Best-effort cleanup after a failed start: the start error is the one worth reporting.
    await Promise.resolve(node?.stop()).catch(() => {})
    store.close()
    throw err
  }
}
