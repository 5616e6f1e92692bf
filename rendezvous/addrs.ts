/**
 * The addresses a peer registers, made dialable by others. A peer listening on 0.0.0.0 (or ::)
 * reports that wildcard; nobody can dial it, so the server puts in the IP it saw the peer's
 * connection come from (a LAN peer then becomes reachable at its LAN address).
 *
 * Every other peer dials what the directory says, so an account must not be able to point them
 * anywhere (issue 12): only the address the server saw, private LAN addresses (peers behind the
 * same NAT), and loopback when the peer itself came over loopback are kept. Link-local (the
 * 169.254.169.254 metadata service), multicast, other public hosts and DNS names are dropped.
 *
 * A peer behind a NAT also holds a slot on the relay this server runs (issue 13) and reports
 * `<relay address>/p2p/<relay id>/p2p-circuit`: kept only when the relay is this server, at one
 * of its own listen addresses (a loopback one only for a peer that came over loopback). A
 * circuit through any other relay would send everyone's first contact through a host the
 * account chose, so it is dropped.
 */
import { BlockList } from 'node:net'
import { CODE_IP4, CODE_IP6, CODE_P2P, CODE_P2P_CIRCUIT, multiaddr } from '@multiformats/multiaddr'
import type { Component, Multiaddr } from '@multiformats/multiaddr'

const WILDCARDS = new Map<number, string>([[CODE_IP4, '0.0.0.0'], [CODE_IP6, '::']])

/** This server as a relay: its peer id, the addresses it listens on, and who holds a slot. One
 * identity per set of listen addresses (what is derived from them is kept with it). */
export interface RelayIdentity {
  peerId: string
  addrs: readonly Multiaddr[]
  /** Does this peer hold a reservation on the relay now? */
  reserved?: (peerId: string) => boolean
}

/**
 * A user's directory addresses as `asker` gets them: the published ones, plus the relayed ones
 * through this server while the user holds a reservation on its relay (a peer reserves after it
 * signed in, and again after a relay restart, so what it published may lack them). Loopback
 * relay addresses only for an asker on the same machine.
 */
export function directoryAddrs (published: readonly string[], peerId: string, asker: Multiaddr | undefined, relay: RelayIdentity | undefined): string[] {
  if (relay?.reserved?.(peerId) !== true) return [...published]
  const kept = circuitsThrough(relay, asker)
  return [...published, ...kept.filter(addr => !published.includes(addr))]
}

/** The circuit addresses through `relay` an asker may be told, made once per relay identity and
 * kind of asker (on this machine or not: the only thing about the asker they depend on). Every
 * look-up of a peer behind a NAT needed them, and parsing them again each time was a fifth of the
 * rendezvous's CPU in the soak. */
const circuits = new WeakMap<RelayIdentity, { local?: string[], remote?: string[] }>()

function circuitsThrough (relay: RelayIdentity, asker: Multiaddr | undefined): string[] {
  const host = asker === undefined ? undefined : ipHost(asker.getComponents())
  const local = onLoopback(host)
  let made = circuits.get(relay)
  if (made === undefined) {
    made = {}
    circuits.set(relay, made)
  }
  const make = (): string[] => {
    const relayed = relay.addrs.map(addr => `${addr.decapsulateCode(CODE_P2P).toString()}/p2p/${relay.peerId}/p2p-circuit`)
    return rewriteAddrs(relayed, asker, relay)
  }
  return local ? (made.local ??= make()) : (made.remote ??= make())
}

/**
 * `addrs` with each wildcard host replaced by the host of `observed` (the connection's remote
 * address) when both are the same IP family. A wildcard that cannot be replaced, an address that
 * does not parse, and duplicates are dropped; any /p2p/ suffix is removed (the directory
 * carries the peer id separately). Order is kept.
 */
export function rewriteAddrs (addrs: readonly string[], observed: Multiaddr | undefined, relay?: RelayIdentity): string[] {
  const observedHost = observed === undefined ? undefined : ipHost(observed.getComponents())
  const out: string[] = []
  for (const text of addrs) {
    let addr: Multiaddr
    try {
      addr = multiaddr(text)
      if (addr.getComponents().some(c => c.code === CODE_P2P_CIRCUIT)) {
        const circuit = throughRelay(addr, relay, observedHost)
        if (circuit !== undefined && !out.includes(circuit)) out.push(circuit)
        continue
      }
      addr = addr.decapsulateCode(CODE_P2P)
    } catch {
      continue
    }
    const components = addr.getComponents()
    const first = components[0]
    if (first === undefined) continue
    if (WILDCARDS.get(first.code) === canonical(first)) {
      if (observedHost === undefined || observedHost.code !== first.code) continue
      addr = multiaddr([observedHost, ...components.slice(1)].map(({ code, name, value }) => ({ code, name, value })))
    }
    if (!mayPublish(addr.getComponents()[0], observedHost)) continue
    const result = addr.toString()
    if (!out.includes(result)) out.push(result)
  }
  return out
}

/**
 * `<relay address>/p2p/<relay id>/p2p-circuit` if `addr` is exactly that (with or without the
 * peer's own /p2p/ at the end) for this server as the relay; anything else is undefined.
 */
function throughRelay (addr: Multiaddr, relay: RelayIdentity | undefined, observedHost: Component | undefined): string | undefined {
  if (relay === undefined) return undefined
  const components = addr.getComponents()
  const circuit = components.findIndex(c => c.code === CODE_P2P_CIRCUIT)
  const rest = components.slice(circuit + 1)
  if (rest.length > 1 || (rest.length === 1 && rest[0]?.code !== CODE_P2P)) return undefined
  const relayId = components[circuit - 1]
  if (circuit < 2 || relayId?.code !== CODE_P2P || relayId.value !== relay.peerId) return undefined
  const transport = components.slice(0, circuit - 1)
  if (transport.some(c => c.code === CODE_P2P || c.code === CODE_P2P_CIRCUIT)) return undefined
  const base = multiaddr(transport.map(({ code, name, value }) => ({ code, name, value })))
  if (!relay.addrs.some(own => own.decapsulateCode(CODE_P2P).equals(base))) return undefined
  const host = base.getComponents()[0]
  if (host?.value === undefined || !WILDCARDS.has(host.code) || WILDCARDS.get(host.code) === canonical(host)) return undefined
  if (onLoopback(host) && !onLoopback(observedHost)) return undefined
  return `${base.toString()}/p2p/${relay.peerId}/p2p-circuit`
}

/** The first component of an address if it is an IPv4 or IPv6 host (not a wildcard). */
function ipHost (components: Component[]): Component | undefined {
  const first = components[0]
  if (first === undefined || !WILDCARDS.has(first.code) || WILDCARDS.get(first.code) === canonical(first)) return undefined
  return first
}

/** IPv6 wildcard spellings (`::`, `0:0::0`, …) compare equal. */
function canonical (component: Component): string | undefined {
  if (component.code !== CODE_IP6 || component.value === undefined) return component.value
  return /^[0:]+$/.test(component.value) ? '::' : component.value
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/** Is this host component a loopback address (an asker or an address on this machine)? */
function onLoopback (host: Component | undefined): boolean {
  return host?.value !== undefined && LOOPBACK.check(host.value, host.code === CODE_IP4 ? 'ipv4' : 'ipv6')
}

/** RFC 1918, shared address space (carrier-grade NAT, RFC 6598) and IPv6 unique local. */
const PRIVATE = new BlockList()
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4')
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4')
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4')
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4')
PRIVATE.addSubnet('fc00::', 7, 'ipv6')

/** An address other peers may be told to dial, given the one the server saw (see the top). */
function mayPublish (host: Component | undefined, observed: Component | undefined): boolean {
  if (host === undefined || host.value === undefined || !WILDCARDS.has(host.code)) return false
  const family = host.code === CODE_IP4 ? 'ipv4' : 'ipv6'
  if (observed !== undefined && observed.code === host.code && canonical(observed) === canonical(host)) return true
  if (onLoopback(host)) return onLoopback(observed)
  return PRIVATE.check(host.value, family)
}
