/**
 * The one libp2p node factory for the rendezvous and every peer: TCP + Noise + yamux + identify,
 * mDNS optional (DESIGN.md §1–§2). Both ends of every connection are authenticated by Noise with
 * the node's Ed25519 identity.
 */
import { readFile } from 'node:fs/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { mdns } from '@libp2p/mdns'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { libp2pLogsWanted, quietLogger } from './quiet-logger.ts'
import type { Identify } from '@libp2p/identify'
import type { Connection, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, CODE_P2P_CIRCUIT } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { perIpConnectionGater } from './connection-caps.ts'
import { writeFileAtomic } from './fs.ts'
import { ErrorCode, ParleyError } from './errors.ts'
import { listenError } from './listen-error.ts'

export type ParleyNode = Libp2p<{ identify: Identify, relay?: CircuitRelayService }>

/** The relay on the rendezvous (issue 13): who may use it and how much. */
export interface RelayServerOptions {
  /** Reservations held at once (one per peer; each is also dropped when its peer disconnects). */
  maxReservations: number
  /** A reservation lasts this long unless renewed (clients renew well before). */
  reservationTtlMs: number
  /** Each relayed connection is reset after this long, or this many bytes each way. */
  durationLimitMs: number
  dataLimitBytes: bigint
  /** Relayed connections being set up at once (hop streams). */
  maxHopStreams: number
  /** May `source` open a relayed connection to `destination` now? (accounts, per-peer rate) */
  allowRelayedConnection: (source: PeerId, destination: PeerId) => boolean
}

export interface NodeOptions {
  privateKey: PrivateKey
  /** Listen multiaddrs, e.g. `/ip4/0.0.0.0/tcp/7000`. */
  listen: string[]
  /** mDNS on the LAN: the rendezvous advertises itself, a peer without --rendezvous discovers it. */
  mdns?: 'advertise' | 'discover'
  /** Connection-level limits: the rendezvous raises them to serve many peers. */
  maxConnections?: number
  /** Inbound connections one IP address may hold (the rendezvous serves whole offices behind one NAT). */
  connectionsPerIp?: number
  /** Connections never closed to make room for a newcomer while they carry nothing
   * (connection-caps.ts): the rendezvous keeps those of peers signed in. */
  keepConnection?: (connection: Connection) => boolean
  /** The rendezvous runs the relay server; a peer reserves a slot on the relay reached at
   * `relayAt` (the rendezvous address) and on no other: a peer claiming to be a relay is not
   * used, so no one else can sit on our relayed traffic or take our one reservation. */
  relay?: { server: RelayServerOptions } | { relayAt: Multiaddr }
}

/** The mDNS service the rendezvous answers under; peers only ask (broadcast: false), so a LAN
 * sees one Parley service, the rendezvous, and never a list of everyone's peers. */
const RENDEZVOUS_MDNS_TAG = '_parley-rendezvous._udp.local'

/** New inbound connections accepted per second from one IP address. */
const INBOUND_CONNECTIONS_PER_SECOND = 100

/** The longest any dial may take (each caller may give a shorter deadline of its own). */
const DIAL_DEADLINE_MS = 30_000

/** Connections idle this long are closed; direct peers redial on demand. */
const CONNECTION_IDLE_MS = 10 * 60_000

/** Inbound connections in their upgrade (Noise, yamux) at once. libp2p's default is 10: ten idle
 * sockets, or a burst of handshakes slowed by a loaded event loop, and every further connection
 * (a peer's first contact, a rendezvous sign-in) is refused until one finishes. Each pending
 * upgrade costs a socket and a few kB until the upgrade deadline below ends it, or a newer one
 * ends it past this many (common/connection-caps.ts). */
const MAX_INCOMING_PENDING_CONNECTIONS = 256

/** Of those, one IP address may hold this many: its next one ends its oldest. 60 peers on one
 * machine (the overload test) or behind one NAT can all make first contact with one peer at once. */
const PENDING_CONNECTIONS_PER_IP = 64

/** libp2p's own limits stand this far above the gater's (connection-caps.ts), so that libp2p
 * never refuses first: a connection the gater ends to make room is counted by libp2p until its
 * close comes, a moment later. */
const LIBP2P_LIMITS_ABOVE_CAPS = 64

/** Inbound connections one IP address may hold open: above what one machine's peers (the
 * 200-peer soak runs on loopback) open to one peer, below maxConnections. */
const CONNECTIONS_PER_IP = 256

/** An inbound connection's whole upgrade (Noise + yamux), and each stream's protocol
 * negotiation (multistream-select), in either direction. libp2p's 10 s aborts legitimate
 * handshakes on an event loop that is busy for seconds; the dialling side then retries and the
 * same work is done again (see dialTimeout below). As long as a dial may take. */
const UPGRADE_DEADLINE_MS = DIAL_DEADLINE_MS

/** libp2p's connection monitor pings every connection every 10 s and aborts it when a ping is
 * not answered within max(5 s, 1.2 × recent round trips): a peer, or the rendezvous, whose event
 * loop stalls for 5 s under load lost all its connections at once, and with them its rendezvous
 * session (the user went offline, everyone's presence churned, every session re-handshook). A
 * dead socket is still found: by TCP itself, by the 10 min idle timeout, and by this ping. */
const PING_INTERVAL_MS = 15_000
/*
 * PEER_CONNECTIONS_UNMONITORED: on a peer, the monitor's ping opened a new stream on every
 * connection every 15 s (stream negotiation, a logger, yamux frames): with a peer's few dozen
 * connections it is noise, but the 200-peer soak spent more on pings than on messages
 * (~75 ping streams/s per worker). A peer learns that a connection died without it: a session
 * that gets no ACK within ACK_TIMEOUT_MS is dropped and its messages redelivered on a new
 * connection; the rendezvous's events stream carries a heartbeat that the client times out on
 * (peer/rendezvous-client.ts), which also keeps that connection, our relay reservation's,
 * mapped in NATs; and TCP reports a connection reset. For the same reason a peer turns off
 * yamux's keep-alive: a ping frame and its answer each way on every connection every 30 s (plus
 * one at once on each new connection) were as many frames as the soak's messages, and they kept
 * idle connections from ever reaching CONNECTION_IDLE_MS. An idle connection to another peer
 * now closes after 10 minutes and is dialled again when there is something to say.
 *
 * PEERS_NOT_IDENTIFIED: identify on every new connection cost each side a stream each way, an
 * Ed25519 signature over a fresh peer record and a verification, and peer-store writes: in the
 * soak, as much CPU as the Noise handshake itself. Peers reach each other at the addresses the
 * directory gives, so nothing of a peer's identify is used; the rendezvous's is (relay, observed
 * address).
 */
const PING_TIMEOUT_MIN_MS = 30_000
const PING_TIMEOUT_MAX_MS = 60_000

export async function createParleyNode (options: NodeOptions): Promise<ParleyNode> {
  const relay = options.relay
  const server = relay !== undefined && 'server' in relay ? relay.server : undefined
  const relayAt = relay !== undefined && 'relayAt' in relay ? relay.relayAt : undefined
  const created: { node?: ParleyNode } = {} // the node, once made, for the relay check
  const isRelay = relayCheck(relayAt, () => created.node)
  const maxConnections = options.maxConnections ?? 300
  const caps = perIpConnectionGater({
    pendingPerIp: PENDING_CONNECTIONS_PER_IP,
    totalPerIp: options.connectionsPerIp ?? CONNECTIONS_PER_IP,
    pending: MAX_INCOMING_PENDING_CONNECTIONS,
    total: maxConnections
  }, () => created.node === undefined ? undefined : { connections: () => created.node?.getConnections() ?? [], keep: options.keepConnection ?? (() => false) })
  const node: ParleyNode = await createLibp2p({
    privateKey: options.privateKey,
    ...(libp2pLogsWanted() ? {} : { logger: quietLogger }),
    addresses: { listen: relayAt === undefined ? options.listen : [...options.listen, '/p2p-circuit'] },
    transports: [
      tcp({ inboundSocketInactivityTimeout: CONNECTION_IDLE_MS, outboundSocketInactivityTimeout: CONNECTION_IDLE_MS }),
      // Every node can dial through a relay; only a peer (relayAt) listens on one.
      circuitRelayTransport({
        reservationCompletionTimeout: RESERVATION_DEADLINE_MS,
        discoveryFilter: relayFilter(isRelay)
      })
    ],
    connectionEncrypters: [noise()],
    // A peer sends no yamux keep-alive pings (PEER_CONNECTIONS_UNMONITORED); the rendezvous
    // keeps yamux's every 30 s.
    streamMuxers: [yamux(relayAt !== undefined ? { enableKeepAlive: false } : {})],
    peerDiscovery: options.mdns === undefined ? [] : [mdns({ serviceTag: RENDEZVOUS_MDNS_TAG, broadcast: options.mdns === 'advertise' })],
    connectionManager: {
      maxConnections: maxConnections + LIBP2P_LIMITS_ABOVE_CAPS,
      // libp2p's default of 5 new inbound connections per second per IP refuses a LAN party of
      // peers (or a whole office behind one NAT) reaching the rendezvous at once; the rendezvous
      // limits abuse per peer itself (requests per second, sign-in slow-down).
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND,
      // A dial given up half-way has spent most of its CPU (Noise, yamux, identify) for nothing
      // and is then retried: under load, short deadlines turned a burst of first contacts into
      // a storm of repeated handshakes that never finished (issue 11 soak: thousands of
      // "EncryptionFailedError: aborted due to timeout"). Peers dial with their own deadline.
      dialTimeout: DIAL_DEADLINE_MS,
      addressDialTimeout: DIAL_DEADLINE_MS,
      maxIncomingPendingConnections: MAX_INCOMING_PENDING_CONNECTIONS + LIBP2P_LIMITS_ABOVE_CAPS,
      inboundUpgradeTimeout: UPGRADE_DEADLINE_MS,
      inboundStreamProtocolNegotiationTimeout: UPGRADE_DEADLINE_MS,
      outboundStreamProtocolNegotiationTimeout: UPGRADE_DEADLINE_MS
    },
    // The rendezvous relays between peers, and takes no relayed connection into itself (round
    // 44: a stranger's relay asked it to, and it did).
    connectionGater: server === undefined
      ? caps
      : { ...caps, denyOutboundRelayedConnection: (source, destination) => !server.allowRelayedConnection(source, destination), denyInboundRelayedConnection: () => true },
    // A peer does not ping its connections (see PEER_CONNECTIONS_UNMONITORED); the rendezvous
    // does, to notice a peer that vanished without closing and mark it offline.
    connectionMonitor: relayAt !== undefined
      ? { enabled: false }
      : { pingInterval: PING_INTERVAL_MS, pingTimeout: { minTimeout: PING_TIMEOUT_MIN_MS, maxTimeout: PING_TIMEOUT_MAX_MS } },
    services: {
      // A peer identifies only the rendezvous (below), not every peer it talks to: see
      // PEERS_NOT_IDENTIFIED. Everyone still answers identify requests.
      identify: identify({ runOnConnectionOpen: relayAt === undefined }),
      ...(server === undefined
        ? {}
        : {
            relay: circuitRelayServer({
              maxInboundHopStreams: server.maxHopStreams,
              maxOutboundStopStreams: server.maxHopStreams,
              reservations: {
                maxReservations: server.maxReservations,
                reservationTtl: server.reservationTtlMs,
                applyDefaultLimit: true,
                defaultDurationLimit: server.durationLimitMs,
                defaultDataLimit: server.dataLimitBytes
              }
            })
          })
    }
  }).catch((err: unknown) => {
    // A port in use or a --host this machine does not have: one line a person can act on, not
    // libp2p's configuration advice (listen-error.ts).
    throw listenError(err) ?? err
  })
  created.node = node
  if (relayAt !== undefined) {
    // The rendezvous's identify tells a peer that it is a relay (circuit relay discovery) and
    // which address it sees us at; run it on each new connection to the rendezvous.
    node.addEventListener('connection:open', event => {
      const connection = event.detail
      if (!isRelay(connection.remotePeer)) return
      void node.services.identify.identify(connection).catch(() => {})
    })
  }
  // The one path around the discovery filter (see relayFilter): a reservation on any peer but
  // the rendezvous (on any peer at all, for a node without `relayAt`, the rendezvous's own: round
  // 44, a stranger's STOP stream had it reserve on the stranger's relay and advertise it) is
  // dropped at once, with that peer's relay claim (its peer-store record).
  node.addEventListener('self:peer:update', () => {
    for (const relayId of reservedOn(node)) {
      if (isRelay(relayId)) continue
      void node.peerStore.delete(relayId).catch(() => {})
      void node.hangUp(relayId).catch(() => {})
    }
  })
  if (server !== undefined) {
    node.addEventListener('peer:disconnect', event => {
      // A reservation outlives its connection by default (until its TTL): a peer restarting under
      // a new identity, or a throw-away identity before sign-in, would hold a slot for nothing.
      node.services.relay?.reservations.delete(event.detail)
      // Nor is a peer gone kept in the peer store: the rendezvous dials nobody, and a record per
      // stranger that ever connected grew it without end (round 44: 18,000 strangers, +260 MB).
      void node.peerStore.delete(event.detail).catch(() => {})
    })
  }
  return node
}

/** A reservation must be made within this long (libp2p's 5 s is short for a loaded relay). */
const RESERVATION_DEADLINE_MS = 15_000

/** Is this peer the relay we reserve on: the peer at `relayAt` (the rendezvous address)? */
function relayCheck (relayAt: Multiaddr | undefined, node: () => ParleyNode | undefined): (peerId: PeerId) => boolean {
  const at = relayAt?.decapsulateCode(CODE_P2P).toString()
  const relayId = relayAt?.getComponents().findLast(c => c.code === CODE_P2P)?.value
  return peerId => {
    if (at === undefined) return false
    if (relayId !== undefined) return relayId === peerId.toString()
    return (node()?.getConnections(peerId) ?? []).some((c: Connection) => c.remoteAddr.decapsulateCode(CODE_P2P).toString() === at)
  }
}

/**
 * libp2p's relay discovery asks this filter before reserving on a peer that speaks the relay
 * protocol ("has" = already seen, skip). Every peer but the rendezvous is "seen", so a peer
 * claiming to be a relay is not reserved on when it connects; the rendezvous is the peer we hold
 * a connection to at its address. It is forgotten when it disconnects, so the reservation is
 * made again when the connection comes back (the reason peers listen on `/p2p-circuit`, relay
 * discovery, rather than on `<rendezvous>/p2p-circuit`: a relay configured by address is not
 * reserved on again after it drops, the known js-libp2p gap). Tested by test/network: the
 * rendezvous down 8 s and restarted. One path bypasses this filter: when discovery (re)starts,
 * libp2p also tries peers from its peer store that said they speak the relay protocol; such a
 * reservation is dropped as soon as it shows in our addresses (createParleyNode).
 */
function relayFilter (isRelay: (peerId: PeerId) => boolean): { has: (peerId: PeerId) => boolean, add: (peerId: PeerId) => void, remove: (peerId: PeerId) => void } {
  const seen = new Set<string>()
  return {
    has: peerId => seen.has(peerId.toString()) || !isRelay(peerId),
    add: peerId => { seen.add(peerId.toString()) },
    remove: peerId => { seen.delete(peerId.toString()) }
  }
}

/** The relays our listen addresses go through (`…/p2p/<relay>/p2p-circuit/…`). */
function reservedOn (node: ParleyNode): PeerId[] {
  const out = new Map<string, PeerId>()
  for (const addr of node.getMultiaddrs()) {
    const components = addr.getComponents()
    const circuit = components.findIndex(c => c.code === CODE_P2P_CIRCUIT)
    const relay = components[circuit - 1]
    if (circuit < 1 || relay?.code !== CODE_P2P || relay.value === undefined || out.has(relay.value)) continue
    try {
      out.set(relay.value, peerIdFromString(relay.value))
    } catch {}
  }
  return [...out.values()]
}

/**
 * Load the node's Ed25519 identity from `file`, or create and save one (owner-only permissions).
 * The peer id that comes from it is the node's network identity across restarts.
 */
export async function loadOrCreateIdentity (file: string): Promise<PrivateKey> {
  try {
    return privateKeyFromProtobuf(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ParleyError(ErrorCode.File, `cannot read the identity key ${file}`, { cause: err })
    }
  }
  const key = await generateKeyPair('Ed25519')
  await saveIdentity(file, key)
  return key
}

async function saveIdentity (file: string, key: PrivateKey): Promise<void> {
  await writeFileAtomic(file, privateKeyToProtobuf(key))
}
