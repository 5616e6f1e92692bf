/**
 * A libp2p node as a peer builds it (common/node.ts), listening on a free loopback port, with a
 * fresh identity: what the tests that need a real node on the other end of a TCP connection use.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createParleyNode } from '../../common/node.ts'
import type { ParleyNode } from '../../common/node.ts'

export async function loopbackNode (): Promise<ParleyNode> {
  return await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
}

/** Two loopback nodes for `body`, both stopped once it ends, however it ends. */
export async function withLoopbackPair<T> (body: (a: ParleyNode, b: ParleyNode) => Promise<T>): Promise<T> {
  const [a, b] = [await loopbackNode(), await loopbackNode()]
  try {
    return await body(a, b)
  } finally {
    await Promise.all([a, b].map(async node => { await node.stop() }))
  }
}
