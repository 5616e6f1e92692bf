/**
 * Opening a stream to another peer: reuse an open connection, else dial the addresses the
 * directory gave, within a deadline. A peer behind a NAT cannot be dialled directly: when the
 * directory gives a relayed address (`<rendezvous>/p2p/<relay>/p2p-circuit`), or we hold a
 * reservation on the rendezvous's relay ourselves, a direct dial gets a short head start and
 * the relay is the fallback (issue 13). A relayed connection is "limited" in libp2p's terms
 * (the relay caps its data and duration), so streams are opened on it explicitly with
 * `runOnLimitedConnection`: `dialProtocol` would not reuse it and would dial again.
 * The relay forwards Noise bytes only: Noise runs end to end between the two peers over it.
 *
 * The protocol is proposed optimistically: the stream is handed back as soon as the proposal is
 * written, so the caller's first frame (a session's hello, a file's offer) goes with it rather
 * than a round trip later, and the answers are read and checked ahead of the remote's first
 * frame (FramedStream.proposed). A first contact thus pays one round trip less.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ParleyNode } from '../../common/node.ts'
import { FramedStream } from '../../common/wire/frames.ts'
import { ErrorCode, ParleyError } from '../../common/errors.ts'
import { DIAL_TIMEOUT_MS, DIRECT_DIAL_BEFORE_RELAY_MS } from '../constants.ts'
import type { Username } from '../../common/wire/names.ts'
import { patientTimeout } from '../../common/patient-timeout.ts'

export interface Dialable {
  username: Username
  peerId: string
  addrs: string[]
  /** false: direct addresses only, each given the short head start a relay fallback would
   * have. For dials nobody waits on (sessions opened ahead): a relayed connection costs the
   * rendezvous a circuit and lapses at its limits, so it is opened only for a message. */
  relay?: boolean
}

/** What dialling needs of the node. */
export type Dialer = Pick<ParleyNode, 'getConnections' | 'dial' | 'getMultiaddrs'>

const CIRCUIT = '/p2p-circuit'

export async function openStream (node: Dialer, target: Dialable, protocol: string, signal?: AbortSignal): Promise<FramedStream> {
  const peerId = peerIdFromString(target.peerId)
  const deadline = patientTimeout(DIAL_TIMEOUT_MS)
  const options = { signal: signal === undefined ? deadline : AbortSignal.any([signal, deadline]) }
  try {
    const open = openConnection(node, peerId)
    const connection = open ?? await dial(node, peerId, target, options.signal)
    try {
      return FramedStream.proposed(await connection.newStream(protocol, { ...options, runOnLimitedConnection: true, negotiateFully: false }), protocol)
    } catch (err) {
      // A connection we reused that cannot open a stream within the deadline is dead, though
      // TCP has not said so (a peer that vanished: peers do not ping their connections,
      // common/node.ts). Drop it, so the next attempt dials afresh instead of waiting on it.
      if (open !== undefined && options.signal.aborted && signal?.aborted !== true) connection.abort(err as Error)
      throw err
    }
  } catch (err) {
    const why = dialFailure(err)
    throw new ParleyError(ErrorCode.Unreachable, `${target.username} is not reachable right now${why === undefined ? '' : `: ${why}`}`, { cause: err })
  }
}

/**
 * A few words on why a dial failed, for the person whose message now waits (the `queued` line)
 * or whose command needed the rendezvous:
 * "offline" is not the only reason, and a refused port or another peer at the address is
 * something they can act on. Looks through libp2p's AggregateError (one error per address) and
 * causes; the first reason of this list that is found wins. The whole error stays in `cause`.
 */
export function dialFailure (err: unknown): string | undefined {
  const errors = errorsWithin(err)
  const code = (e: Error): unknown => (e as { code?: unknown }).code
  if (answeredByAnother(err)) return 'another peer answers at their address'
  if (errors.some(e => e.name === 'EncryptionFailedError')) return 'the secure handshake with their address failed'
  if (errors.some(e => code(e) === 'ECONNREFUSED')) return 'connection refused'
  if (errors.some(e => code(e) === 'EHOSTUNREACH' || code(e) === 'ENETUNREACH')) return 'no route to their address'
  if (errors.some(e => e.name === 'TimeoutError' || code(e) === 'ETIMEDOUT')) return NO_ANSWER
  if (errors.some(e => e.name === 'NoValidAddressesError')) return 'no address to dial'
  return undefined
}

const NO_ANSWER = 'no answer in time'

/** Whether the address itself answered why (refused, no route, another peer there): more than a
 * wait that ran out, which a direct attempt's head start often is. */
function answeredWhy (err: unknown): boolean {
  const why = dialFailure(err)
  return why !== undefined && why !== NO_ANSWER
}

/** The error and those inside it: libp2p's AggregateError (one error per address) and causes. */
function errorsWithin (err: unknown): Error[] {
  const seen: Error[] = []
  const collect = (e: unknown, depth: number): void => {
    if (!(e instanceof Error) || depth > 4 || seen.includes(e)) return
    seen.push(e)
    if (e instanceof AggregateError) for (const inner of e.errors) collect(inner, depth + 1)
    collect(e.cause, depth + 1)
  }
  collect(err, 0)
  return seen
}

/** A dial that reached the address, where Noise found another identity than the one dialled. */
export function answeredByAnother (err: unknown): boolean {
  return errorsWithin(err).some(e => e.name === 'EncryptionFailedError' && e.message.includes('does not match expected remote identity'))
}

/** An open connection to the peer, a direct (unlimited) one first. */
function openConnection (node: Dialer, peerId: PeerId): Connection | undefined {
  const open = node.getConnections(peerId).filter(c => c.status === 'open')
  return open.find(c => c.limits === undefined) ?? open[0]
}

async function dial (node: Dialer, peerId: PeerId, { addrs, relay }: Dialable, signal: AbortSignal): Promise<Connection> {
  const parsed = addrs.flatMap(text => {
    try {
      return [multiaddr(text)]
    } catch {
      return [] // one bad address from the directory must not hide the good ones
    }
  })
  // The direct addresses are dialled as given, each ending in the peer's id (so Noise accepts
  // that peer only), not written to libp2p's peer store first and read back by the dial: that
  // write and read (a protobuf each, and an exception for a peer met the first time) were ~2 %
  // of a loaded peer's CPU in the soak. Without any, libp2p's peer store is the last resort.
  const direct = parsed.filter(addr => !isCircuit(addr)).flatMap(addr => withPeerId(addr, peerId))
  const target = direct.length > 0 ? direct : peerId
  // The direct attempt where a relay could follow: quick on a LAN, a silent drop behind a NAT,
  // hence a head start only; on this machine (loopback) a slow dial is a loaded machine, not a
  // NAT: it gets all its time, and the relay is looked for only if it fails (our own relayed
  // addresses come from libp2p's address manager, which builds every address anew: 1 % of a
  // loaded peer's CPU and 2.6 % of its allocations when asked on every dial, issue 11 soak).
  const loopback = direct.some(isLoopback)
  const headStart = (): AbortSignal => loopback ? signal : AbortSignal.any([signal, patientTimeout(DIRECT_DIAL_BEFORE_RELAY_MS)])
  if (relay === false) {
    if (direct.length === 0) throw new ParleyError(ErrorCode.Unreachable, 'no direct address to dial')
    return await node.dial(direct, { signal: headStart() })
  }
  let relayed = loopback ? undefined : relayedAddrs(node, peerId, parsed)
  if (relayed?.length === 0) return await node.dial(target, { signal })
  let directFailure: unknown
  try {
    return await node.dial(target, { signal: headStart() })
  } catch (err) {
    if (signal.aborted) throw err
    relayed ??= relayedAddrs(node, peerId, parsed)
    if (relayed.length === 0) throw err
    directFailure = err
  }
  const connection = openConnection(node, peerId)
  if (connection !== undefined) return connection
  try {
    return await node.dial(relayed, { signal })
  } catch (err) {
    // The relay failing too says less than the direct address did, when that answered why:
    // "connection refused" at their last address, not the relay's "no answer in time" (round 21:
    // a contact restarted on another port while the rendezvous, our relay, was frozen).
    throw answeredWhy(directFailure) ? directFailure : err
  }
}

/** Relayed addresses for the peer: from the directory, and through every relay we hold a
 * reservation on (the rendezvous: the peer reserved there too if it sits behind a NAT). */
function relayedAddrs (node: Dialer, peerId: PeerId, fromDirectory: Multiaddr[]): Multiaddr[] {
  const target = `/p2p/${peerId.toString()}`
  const out = new Set<string>()
  for (const addr of fromDirectory) {
    if (!isCircuit(addr)) continue
    const text = addr.toString()
    out.add(text.endsWith(CIRCUIT) ? text + target : text)
  }
  for (const own of node.getMultiaddrs()) {
    const text = own.toString()
    const at = text.indexOf(CIRCUIT + '/')
    if (at !== -1) out.add(text.slice(0, at + CIRCUIT.length) + target)
  }
  return [...out].map(text => multiaddr(text))
}

/** `addr` ending in `/p2p/<peerId>`; none if it names another peer (a wrong directory entry). */
function withPeerId (addr: Multiaddr, peerId: PeerId): Multiaddr[] {
  const named = addr.getComponents().findLast(component => component.name === 'p2p')?.value
  if (named === undefined) return [addr.encapsulate(`/p2p/${peerId.toString()}`)]
  return named === peerId.toString() ? [addr] : []
}

function isLoopback (addr: Multiaddr): boolean {
  const host = addr.getComponents()[0]?.value ?? ''
  return host.startsWith('127.') || host === '::1'
}

function isCircuit (addr: Multiaddr): boolean {
  return addr.toString().includes(CIRCUIT)
}
