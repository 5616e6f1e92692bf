/**
 * Trust on first use for the rendezvous (issue 12): the first rendezvous a data folder meets is
 * remembered by its peer id, and from then on only that one is used. Without this, whoever
 * answers mDNS first on a LAN (or sits at host:port) became the directory every contact's
 * address and identity came from.
 *
 * - An address with no peer id (`host:port`, the default) is asked who it is before the peer
 *   starts; a stranger there is refused with a clear error, and the pinned id is added to the
 *   address so Noise refuses an impostor later too.
 * - An address found by mDNS carries its peer id: a stranger is refused the same way.
 * - A multiaddr with `/p2p/<id>` given on the command line is the user's own choice: it replaces
 *   the pin, with a notice.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CODE_P2P } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, ParleyError } from '../common/errors.ts'
import { writeFileAtomic } from '../common/fs.ts'
import { createParleyNode } from '../common/node.ts'

const PIN_FILE = 'rendezvous.pin'
/** How long to wait to learn who answers at an address without a peer id. */
const IDENTIFY_TIMEOUT_MS = 5_000

export type RendezvousSource = 'flag' | 'mdns' | 'default'

export interface PinnedRendezvous {
  addr: Multiaddr
  /** Something the person should know (the pin was set or replaced). */
  notice?: string
}

export async function pinRendezvous (dataDir: string, addr: Multiaddr, source: RendezvousSource, identify = whoAnswers): Promise<PinnedRendezvous> {
  const file = join(dataDir, PIN_FILE)
  const pinned = await readPin(file)
  const given = peerIdOf(addr)
  const bare = given === undefined ? addr : addr.decapsulateCode(CODE_P2P)
  if (given !== undefined && source === 'flag') {
    if (pinned === given) return { addr }
    await writePin(file, given)
    return { addr, notice: pinned === undefined ? undefined : `the rendezvous is now ${given} (was ${pinned}), as given with --rendezvous` }
  }
  const found = given ?? await identify(addr)
  if (found === undefined) {
    // Not reachable now: with a pin, Noise will hold the connection to that identity.
    return { addr: pinned === undefined ? addr : bare.encapsulate(`/p2p/${pinned}`) }
  }
  if (pinned !== undefined && found !== pinned) {
    throw new ParleyError(ErrorCode.IdentityChanged,
      `the rendezvous at ${bare.toString()} is ${found}, not ${pinned} that this data folder knows; ` +
      `if it really changed, start with --rendezvous ${bare.toString()}/p2p/${found}`)
  }
  if (pinned === undefined) await writePin(file, found)
  return { addr: bare.encapsulate(`/p2p/${found}`) }
}

/** The peer id of whoever answers at `addr`, or undefined when nobody does (two tries: a busy
 * server may refuse one connection, and an unpinned start is what this is here to avoid). */
async function whoAnswers (addr: Multiaddr): Promise<string | undefined> {
  const node = await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  try {
    await node.start()
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const connection = await node.dial(addr, { signal: AbortSignal.timeout(IDENTIFY_TIMEOUT_MS) })
        return connection.remotePeer.toString()
      } catch {
        // nobody there, or refused: once more
      }
    }
    return undefined
  } finally {
    await node.stop()
  }
}

function peerIdOf (addr: Multiaddr): string | undefined {
  return addr.getComponents().findLast(component => component.code === CODE_P2P)?.value
}

async function readPin (file: string): Promise<string | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).trim()
    return text === '' ? undefined : text
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ParleyError(ErrorCode.File, `cannot read ${file}: ${(err as Error).message}`)
  }
}

async function writePin (file: string, peerId: string): Promise<void> {
  await writeFileAtomic(file, peerId + '\n')
}
