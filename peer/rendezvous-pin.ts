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
 * - Where the pinned rendezvous was last reached is kept beside its id: a peer started while a
 *   LAN's rendezvous is down (mDNS finds nothing) keeps trying it there, not at the default
 *   127.0.0.1:7000 where it would never sign in again until restarted.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, ParleyError } from '../common/errors.ts'
import { writeFileAtomic } from '../common/fs.ts'
import { createParleyNode } from '../common/node.ts'
import { patientTimeout } from '../common/patient-timeout.ts'
import { ANSWER_PATIENCE_MS } from './constants.ts'

const PIN_FILE = 'rendezvous.pin'
/** How long to wait to learn who answers at an address without a peer id. */
const IDENTIFY_TIMEOUT_MS = 5_000

export type RendezvousSource = 'flag' | 'mdns' | 'default'

export interface PinnedRendezvous {
  addr: Multiaddr
  /** Something the person should know (the pin was set or replaced). */
  notice?: string
  /** Nobody answered at `addr` and the folder has no pin yet: call it with the address and
   * peer id the first connection there learns, and that one is pinned. */
  pinWhenIdentified?: (server: Multiaddr) => Promise<void>
}

export async function pinRendezvous (dataDir: string, addr: Multiaddr, source: RendezvousSource, identify = whoAnswers): Promise<PinnedRendezvous> {
  const file = join(dataDir, PIN_FILE)
  const pin = await readPin(file)
  const pinned = pin?.peerId
  const given = peerIdOf(addr)
  const bare = given === undefined ? addr : addr.decapsulateCode(CODE_P2P)
  if (given !== undefined && source === 'flag') {
    if (pinned === given) {
      await rememberWhere(file, pin, bare)
      return { addr }
    }
    await writePin(file, { peerId: given, at: bare.toString() })
    return { addr, notice: pinned === undefined ? undefined : `the rendezvous is now ${given} (was ${pinned}), as given with --rendezvous` }
  }
  // Pinned, who answers is asked for ANSWER_PATIENCE_MS only: if it is slow or frozen, Noise holds
  // the connection to the pinned identity anyway (until 2026-12-06 a frozen rendezvous held the
  // start 10 s: round 20). Unpinned, it is what we learn its identity from: it gets its time.
  const found = given ?? await identify(addr, pinned === undefined ? undefined : ANSWER_PATIENCE_MS)
  if (found === undefined) {
    // Not reachable now: with a pin, Noise will hold the connection to that identity. Nothing
    // said where (no flag, no mDNS answer): where the pinned one was last reached.
    if (pinned === undefined) return { addr, pinWhenIdentified: pinOnce(file) }
    const last = source === 'default' ? lastAddress(pin) : undefined
    return { addr: (last ?? bare).encapsulate(`/p2p/${pinned}`) }
  }
  if (pinned !== undefined && found !== pinned) {
    throw new ParleyError(ErrorCode.IdentityChanged,
      `the rendezvous at ${bare.toString()} is ${found}, not ${pinned} that this data folder knows; ` +
      `if it really changed, start with --rendezvous ${bare.toString()}/p2p/${found}`)
  }
  if (pinned === undefined) await writePin(file, { peerId: found, at: bare.toString() })
  else await rememberWhere(file, pin, bare)
  return { addr: bare.encapsulate(`/p2p/${found}`) }
}

/** The pin, made from the first address with a peer id it is given, and only if the folder has
 * none by then (until 2026-12-07 a folder that met no answer at its first start stayed unpinned
 * for the whole run, whatever it then signed in to: round 23). */
function pinOnce (file: string): (server: Multiaddr) => Promise<void> {
  let done = false
  return async server => {
    const found = peerIdOf(server)
    if (done || found === undefined) return
    done = true
    if (await readPin(file) !== undefined) return
    await writePin(file, { peerId: found, at: server.decapsulateCode(CODE_P2P).toString() })
  }
}

/** Keep `bare` as where the pinned rendezvous answers, if the pin says otherwise. */
async function rememberWhere (file: string, pin: Pin | undefined, bare: Multiaddr): Promise<void> {
  if (pin === undefined || pin.at === bare.toString()) return
  await writePin(file, { peerId: pin.peerId, at: bare.toString() })
}

function lastAddress (pin: Pin | undefined): Multiaddr | undefined {
  if (pin?.at === undefined) return undefined
  try {
    const addr = multiaddr(pin.at)
    return peerIdOf(addr) === undefined ? addr : undefined
  } catch {
    return undefined // a damaged second line: the default address, as before it existed
  }
}

/** The peer id of whoever answers at `addr`, or undefined when nobody does (two tries: a busy
 * server may refuse one connection, and an unpinned start is what this is here to avoid); within
 * `withinMs` in all, if given. */
async function whoAnswers (addr: Multiaddr, withinMs?: number): Promise<string | undefined> {
  const node = await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  const deadline = withinMs === undefined ? undefined : patientTimeout(withinMs)
  try {
    await node.start()
    for (let attempt = 0; attempt < 2 && deadline?.aborted !== true; attempt++) {
      try {
        const timeout = patientTimeout(IDENTIFY_TIMEOUT_MS)
        const connection = await node.dial(addr, { signal: deadline === undefined ? timeout : AbortSignal.any([timeout, deadline]) })
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

/** The pin file: the rendezvous's peer id, then (optional, since issue 13) the address it was
 * last reached at, without its /p2p/ part. */
interface Pin {
  peerId: string
  at?: string
}

async function readPin (file: string): Promise<Pin | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ParleyError(ErrorCode.File, `cannot read ${file}: ${(err as Error).message}`)
  }
  const [peerId = '', at = ''] = text.split('\n').map(line => line.trim())
  if (peerId === '') return undefined
  return at === '' ? { peerId } : { peerId, at }
}

async function writePin (file: string, pin: Pin): Promise<void> {
  await writeFileAtomic(file, `${pin.peerId}\n${pin.at ?? ''}\n`)
}
