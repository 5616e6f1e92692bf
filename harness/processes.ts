/**
 * The real programs, started the way the README runs them (the rendezvous as `npm start` starts
 * it: RENDEZVOUS_PROGRAM, and the peer as `npm run peer` does: PEER_PROGRAM) on 127.0.0.1 with
 * --json and no mDNS: a rendezvous server that resolves once it prints `ready`, and peers driven
 * line by line over stdin whose JSON events are collected to be awaited. The integration tests,
 * the benchmark and the demo all drive them through here. Like npm's pre-scripts, loading this
 * module first rebuilds the programs' bundles if a source changed (build/bundle.ts), so nothing
 * here runs code older than the sources.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { BUNDLES, ensureBundles } from '../build/bundle.ts'

const ROOT = new URL('../', import.meta.url).pathname

await ensureBundles()

/**
 * What `npm run peer` gives node (package.json's "peer" script after `node`): its V8 flags,
 * then the peer's bundle. Whatever starts a real peer (the integration, pseudo-terminal and
 * network tests, the benchmark, the demo) starts it with these, so it runs the program the README
 * runs.
 */
export const PEER_PROGRAM: readonly string[] = npmProgram('peer', BUNDLES.peer.out)

/** What `npm start` gives node: the rendezvous's bundle (and its flags, if it gets any). */
export const RENDEZVOUS_PROGRAM: readonly string[] = npmProgram('start', BUNDLES.rendezvous.out)

function npmProgram (script: string, program: string): string[] {
  const { scripts } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }
  const [command, ...args] = (scripts[script] ?? '').split(/\s+/)
  if (command !== 'node' || args.at(-1) !== program) throw new Error(`package.json's "${script}" script is not "node [flags] ${program}": ${scripts[script]}`)
  return args
}

/** The environment the programs run in. Started from a test file (node --test sets
 * NODE_TEST_CONTEXT in each file's process), their passwords are hashed at the tests' cost
 * (PARLEY_TEST_WEAK_SCRYPT, common/crypto/password.ts: N = 2^17 is tested by the unit tests of
 * that cost); the benchmark, the demo and the load test run them as shipped. */
const { PARLEY_TEST_WEAK_SCRYPT: _, ...shipped } = process.env
/** The programs as shipped, for the tests of the password cost itself. */
export const SHIPPED_ENV: NodeJS.ProcessEnv = shipped
export const PROGRAM_ENV: NodeJS.ProcessEnv = process.env.NODE_TEST_CONTEXT === undefined
  ? SHIPPED_ENV
  : { ...SHIPPED_ENV, PARLEY_TEST_WEAK_SCRYPT: '1' }

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

/** Start the rendezvous as `npm start` does, on 127.0.0.1 with a free port, no mDNS. */
export async function spawnRendezvous (dataDir: string, timeoutMs = 15_000, port = 0, extraArgs: string[] = [], env = PROGRAM_ENV): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...RENDEZVOUS_PROGRAM, '--port', String(port), '--host', '127.0.0.1', '--data', dataDir, '--json', '--no-mdns', ...extraArgs], {
    cwd: ROOT,
    env,
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

export type PeerEventLine = Record<string, unknown> & { event: string }

/** The node arguments of a peer as `npm run peer` starts it, on 127.0.0.1 with --json. */
function peerArgs (rendezvous: string, dataDir: string, extra: string[]): string[] {
  return [...PEER_PROGRAM, '0', '--rendezvous', rendezvous, '--data', dataDir, '--host', '127.0.0.1', '--json', '--no-mdns', ...extra]
}

/** A real peer process, started as `npm run peer -- <port>` starts it (PEER_PROGRAM), with
 * --json, driven line by line over stdin; its JSON events are collected to be awaited. */
export class PeerProcess {
  readonly child: ChildProcess
  readonly events: PeerEventLine[] = []
  readonly stderr: string[] = []
  readonly exited: Promise<number | string>
  readonly #waiters = new Set<() => void>()
  readonly name: string

  private constructor (child: ChildProcess, name: string) {
    this.child = child
    this.name = name
    this.exited = new Promise(resolve => { child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') }) })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderr.push(chunk) })
    createInterface({ input: child.stdout! }).on('line', line => {
      try {
        this.events.push(JSON.parse(line) as PeerEventLine)
      } catch {
        this.stderr.push(`(not JSON) ${line}`)
      }
      for (const wake of this.#waiters) wake()
    })
  }

  /** Start a peer on 127.0.0.1 with its own data folder; resolves at its `ready` event. */
  static async start (name: string, rendezvous: string, dataDir: string, extra: string[] = [], env = PROGRAM_ENV): Promise<PeerProcess> {
    const child = spawn(process.execPath, peerArgs(rendezvous, dataDir, extra), { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] })
    return await PeerProcess.attach(child, name)
  }

  /**
   * A peer as `start` runs it, with `mountPoint` (a folder that exists) a tmpfs of `size` of its
   * own: mounted in a mount namespace made for its process (`unshare -rm`: no root needed, and
   * nothing outside the process sees it). The same process all along (unshare and sh exec), so
   * `/proc/<pid>/root` sees its mounts (`mounted`).
   */
  static async startOnOwnDisk (name: string, rendezvous: string, dataDir: string, mountPoint: string, size: string): Promise<PeerProcess> {
    const child = spawn('unshare', ['-rm', 'sh', '-c', `mount -t tmpfs -o size=${size},mode=0700 tmpfs "$0" && exec "$@"`, mountPoint,
      process.execPath, ...peerArgs(rendezvous, dataDir, [])], { cwd: ROOT, env: PROGRAM_ENV, stdio: ['pipe', 'pipe', 'pipe'] })
    return await PeerProcess.attach(child, name, 30_000)
  }

  /** `path` as this process sees it, through its own mounts (startOnOwnDisk). */
  mounted (path: string): string {
    return join(`/proc/${this.child.pid}/root`, path)
  }

  /** A peer process started some other way (inside a network namespace, say), with --json. */
  static async attach (child: ChildProcess, name: string, timeoutMs?: number): Promise<PeerProcess> {
    const peer = new PeerProcess(child, name)
    await peer.waitFor(e => e.event === 'ready', timeoutMs)
    return peer
  }

  send (line: string): void {
    this.child.stdin?.write(line + '\n')
  }

  /** The first event (from index `from` on) that matches; rejects after `timeoutMs`. */
  async waitFor (match: (event: PeerEventLine) => boolean, timeoutMs = 20_000, from = 0): Promise<PeerEventLine> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.events.slice(from).find(match)
      if (found !== undefined) return found
      const left = deadline - Date.now()
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(`${this.name}: no matching event within ${timeoutMs} ms; events: ${JSON.stringify(this.events.slice(-15))}; stderr: ${this.stderr.join('').slice(-2000)}`)
      }
      await new Promise<void>(resolve => {
        const wake = (): void => { clearTimeout(timer); this.#waiters.delete(wake); resolve() }
        const timer = setTimeout(wake, Math.min(left, 250))
        this.#waiters.add(wake)
      })
    }
  }

  /** Type a command and wait for the event it leads to (only events after the command count). */
  async run (line: string, match: (event: PeerEventLine) => boolean, timeoutMs?: number): Promise<PeerEventLine> {
    const from = this.events.length
    this.send(line)
    return await this.waitFor(match, timeoutMs, from)
  }

  /** QUIT, and wait for a clean exit. */
  async quit (): Promise<number | string> {
    this.send('QUIT')
    this.child.stdin?.end()
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 15_000)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }

  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<number | string> {
    this.child.kill(signal)
    return await this.exited
  }
}

export const is = (event: string, fields: Record<string, unknown> = {}) => (e: PeerEventLine): boolean =>
  e.event === event && Object.entries(fields).every(([key, value]) => e[key] === value)

/** The named peer processes of one test, on one rendezvous, each in `dir/<name>`: a name's
 * latest process (a restart replaces it), and every process ever started, to kill at the end. */
export class PeerCast {
  readonly #rendezvous: string
  readonly #dir: string
  readonly #latest = new Map<string, PeerProcess>()
  readonly #started: PeerProcess[] = []

  constructor (rendezvous: string, dir: string) {
    this.#rendezvous = rendezvous
    this.#dir = dir
  }

  /** Start (or restart) `name`'s peer on its data folder; resolves at its `ready`. */
  async start (name: string): Promise<PeerProcess> {
    const child = await PeerProcess.start(name, this.#rendezvous, join(this.#dir, name))
    this.add(name, child)
    return child
  }

  /** A process started some other way (another data folder, say) that now plays `name`. */
  add (name: string, child: PeerProcess): void {
    this.#started.push(child)
    this.#latest.set(name, child)
  }

  get (name: string): PeerProcess {
    const found = this.#latest.get(name)
    if (found === undefined) throw new Error(`no peer ${name}`)
    return found
  }

  /** Each name's latest process. */
  entries (): Array<[string, PeerProcess]> {
    return [...this.#latest]
  }

  async killAll (): Promise<void> {
    await Promise.all(this.#started.map(async p => await p.kill()))
  }
}
