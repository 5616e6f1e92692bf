/**
 * Finding the rendezvous: the --rendezvous flag (`host:port` or a multiaddr), else mDNS on the
 * LAN for a short while, else 127.0.0.1:7000 (DESIGN §8).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createParleyNode } from '../common/node.ts'

export const DEFAULT_RENDEZVOUS = '127.0.0.1:7000'
/** mDNS answers on a LAN come within tens of milliseconds; 2 s covers a slow Wi-Fi. */
const DISCOVERY_TIMEOUT_MS = 2_000

/** The first rendezvous that answers on the LAN, as a dialable multiaddr with its peer id. */
export async function discoverRendezvous (timeoutMs = DISCOVERY_TIMEOUT_MS): Promise<Multiaddr | undefined> {
  const node = await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: [], mdns: 'discover' })
  try {
    return await new Promise<Multiaddr | undefined>(resolve => {
      const timer = setTimeout(() => { resolve(undefined) }, timeoutMs)
      node.addEventListener('peer:discovery', event => {
        const tcp = event.detail.multiaddrs.find(ma => ma.toString().includes('/tcp/'))
        if (tcp === undefined) return
        clearTimeout(timer)
        const text = tcp.toString()
        resolve(multiaddr(text.includes('/p2p/') ? text : `${text}/p2p/${event.detail.id.toString()}`))
      })
    })
  } finally {
    await node.stop()
  }
}
