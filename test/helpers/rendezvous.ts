/**
 * Shared fixtures for rendezvous tests: temp folders, the real server process (spawned exactly as
 * the README runs it), client nodes on loopback (never mDNS), accounts with keys derived once,
 * and an event recorder.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { epochStatement, keyCommitment } from '../../common/crypto/epoch.ts'
import { newGroupKey } from '../../common/crypto/group.ts'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { KDF_PARAMS, deriveAuthKey, deriveMasterKey, deriveWrapKey, newSalt } from '../../common/crypto/password.ts'
import type { KdfParams } from '../../common/crypto/password.ts'
import { wrapSecret } from '../../common/crypto/wrap.ts'
import { createParleyNode } from '../../common/node.ts'
import type { ParleyNode } from '../../common/node.ts'
import type { RendezvousEvent } from '../../common/protocol/rendezvous.ts'

const ROOT = new URL('../../', import.meta.url).pathname

export async function tempDir (prefix = 'parley-test-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

export async function removeDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

export interface ServerProcess {
  child: ChildProcess
  peerId: string
  /** The first listen address, with /p2p/<id>. */
  addr: Multiaddr
  addrs: string[]
  /** Lines the process printed after `ready` (stdout) and everything on stderr. */
  output: string[]
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>
  /** Send `signal` and wait for the process to end. */
  stop (signal?: NodeJS.Signals): Promise<number | string>
}

/** Start `rendezvous/main.ts` as the README does, on 127.0.0.1 with a free port, no mDNS. */
export async function spawnRendezvous (dataDir: string, timeoutMs = 15_000, port = 0, extraArgs: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['rendezvous/main.ts', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir, '--json', '--no-mdns', ...extraArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const output: string[] = []
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output.push(chunk) })
  const exited = new Promise<number | string>(resolve => {
    child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') })
  })
  const lines = createInterface({ input: child.stdout })
  const ready = await new Promise<{ peerId: string, addrs: string[] }>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`rendezvous not ready in ${timeoutMs} ms: ${output.join('')}`)) }, timeoutMs)
    void exited.then(code => {
      clearTimeout(timer)
      reject(new Error(`rendezvous exited (${code}) before ready: ${output.join('')}`))
    })
    lines.on('line', line => {
      output.push(line)
      const event = JSON.parse(line) as { event: string, peerId: string, addrs: string[] }
      if (event.event === 'ready') {
        clearTimeout(timer)
        resolve(event)
      }
    })
  })
  const first = ready.addrs[0]
  if (first === undefined) throw new Error('rendezvous printed no address')
  return {
    child,
    peerId: ready.peerId,
    addr: multiaddr(first),
    addrs: ready.addrs,
    output,
    exited,
    async stop (signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return await exited
    }
  }
}

/** A client libp2p node on loopback with a random port; never mDNS. */
export async function clientNode (privateKey?: PrivateKey): Promise<ParleyNode> {
  return await createParleyNode({
    privateKey: privateKey ?? await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0']
  })
}

export interface Account {
  username: string
  salt: Uint8Array
  kdf: KdfParams
  authKey: Uint8Array
  wrapKey: Uint8Array
  privateKey: PrivateKey
  /** The private key wrapped under wrapKey, as signup sends it. */
  identity: Uint8Array
}

/** An account's keys, derived once (scrypt is slow on purpose); `kdf` other than the current
 * parameters only to make the accounts of an older version. */
export async function makeAccount (username: string, password: string, kdf: KdfParams = KDF_PARAMS): Promise<Account> {
  const salt = newSalt()
  const master = await deriveMasterKey(password, salt, kdf)
  const wrapKey = deriveWrapKey(master)
  const privateKey = await generateKeyPair('Ed25519')
  return {
    username,
    salt,
    kdf: { ...kdf },
    authKey: deriveAuthKey(master),
    wrapKey,
    privateKey,
    identity: wrapSecret(wrapKey, `identity:${username}`, privateKeyToProtobuf(privateKey))
  }
}

/** Collects a subscriber's events; `next` waits for the first unseen one that matches. */
export class EventRecorder {
  readonly events: RendezvousEvent[] = []
  readonly #waiters: Array<{ match: (event: RendezvousEvent) => boolean, resolve: (event: RendezvousEvent) => void }> = []
  #seen = 0

  readonly push = (event: RendezvousEvent): void => {
    this.events.push(event)
    const index = this.#waiters.findIndex(waiter => waiter.match(event))
    if (index !== -1) {
      const [waiter] = this.#waiters.splice(index, 1)
      this.#seen = this.events.length
      waiter?.resolve(event)
    }
  }

  /** The next event (after the last one `next` returned) that matches, within `timeoutMs`. */
  async next (match: (event: RendezvousEvent) => boolean, timeoutMs = 5_000): Promise<RendezvousEvent> {
    const found = this.events.slice(this.#seen).find(match)
    if (found !== undefined) {
      this.#seen = this.events.indexOf(found, this.#seen) + 1
      return found
    }
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no matching event in ${timeoutMs} ms; got ${JSON.stringify(this.events.map(e => e.type))}`))
      }, timeoutMs)
      this.#waiters.push({ match, resolve: event => { clearTimeout(timer); resolve(event) } })
    })
  }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/**
 * libp2p refuses more than 5 new inbound connections per second from one host
 * (connectionManager.inboundConnectionThreshold), and in tests every client is 127.0.0.1.
 * `await pacer()` before opening a new connection to the server keeps under that limit.
 */
export function connectionPacer (perSecond = 4): () => Promise<void> {
  const recent: number[] = []
  return async () => {
    for (;;) {
      const now = Date.now()
      while (recent.length > 0 && now - (recent[0] ?? 0) >= 1_100) recent.shift()
      if (recent.length < perSecond) {
        recent.push(now)
        return
      }
      await sleep(1_100 - (now - (recent[0] ?? now)))
    }
  }
}

/** A signed commitment for `rotate`, made as a peer makes it (common/crypto/epoch.ts), to a
 * random key unless one is given. */
export async function epochProof (maker: PrivateKey, group: string, epoch: number, key: Uint8Array = newGroupKey()): Promise<{ commitment: Uint8Array, signature: Uint8Array }> {
  const commitment = keyCommitment(key, group, epoch)
  return { commitment, signature: await maker.sign(epochStatement(group, epoch, commitment)) }
}
