/**
 * A real peer process for the bench, started as `npm run peer -- 0 --json` starts it and driven
 * over stdin. Unlike harness/processes.ts (PeerProcess) it keeps no event log: a 256 MiB transfer
 * prints thousands of progress lines, and scanning a growing log on every line would cost the
 * bench process CPU that the two peers (one core each) need.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { PEER_PROGRAM } from '../harness/processes.ts'

const ROOT = new URL('../', import.meta.url).pathname

export type PeerEvent = Record<string, unknown> & { event: string }

interface Waiter {
  match: (event: PeerEvent) => boolean
  resolve: (event: PeerEvent) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class BenchPeer {
  readonly child: ChildProcess
  readonly name: string
  readonly #waiters = new Set<Waiter>()
  readonly #stderr: string[] = []
  readonly exited: Promise<number | string>

  private constructor (child: ChildProcess, name: string) {
    this.child = child
    this.name = name
    this.exited = new Promise(resolve => { child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') }) })
    void this.exited.then(code => {
      for (const waiter of this.#waiters) this.#fail(waiter, new Error(`${name} exited (${code}): ${this.#stderr.join('').slice(-2000)}`))
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr.push(chunk)
      if (this.#stderr.length > 100) this.#stderr.shift()
    })
    createInterface({ input: child.stdout! }).on('line', line => {
      let event: PeerEvent
      try {
        event = JSON.parse(line) as PeerEvent
      } catch {
        return
      }
      for (const waiter of this.#waiters) {
        if (waiter.match(event)) {
          this.#waiters.delete(waiter)
          clearTimeout(waiter.timer)
          waiter.resolve(event)
        } else if (event.event === 'error' || event.event === 'undelivered') {
          this.#fail(waiter, new Error(`${name}: ${JSON.stringify(event)}`))
        }
      }
    })
  }

  #fail (waiter: Waiter, err: Error): void {
    this.#waiters.delete(waiter)
    clearTimeout(waiter.timer)
    waiter.reject(err)
  }

  /** Spawn `node [nodeArgs] PEER_PROGRAM 0 --json` (as `npm run peer` does) on 127.0.0.1, never mDNS; resolves at `ready`. */
  static async start (name: string, rendezvous: string, dataDir: string, nodeArgs: string[] = []): Promise<BenchPeer> {
    const child = spawn(process.execPath, [...nodeArgs, ...PEER_PROGRAM, '0', '--rendezvous', rendezvous, '--data', dataDir, '--host', '127.0.0.1', '--json', '--no-mdns'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    const peer = new BenchPeer(child, name)
    await peer.next(e => e.event === 'ready', 30_000)
    return peer
  }

  /** The next event that matches (an `error` event fails it); register before causing it. */
  async next (match: (event: PeerEvent) => boolean, timeoutMs = 120_000): Promise<PeerEvent> {
    return await new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => { this.#fail(waiter, new Error(`${this.name}: no matching event in ${timeoutMs} ms`)) }, timeoutMs)
      }
      this.#waiters.add(waiter)
    })
  }

  send (line: string): void {
    this.child.stdin?.write(line + '\n')
  }

  async run (line: string, match: (event: PeerEvent) => boolean, timeoutMs?: number): Promise<PeerEvent> {
    const result = this.next(match, timeoutMs)
    this.send(line)
    return await result
  }

  /** Peak resident set (VmHWM) of the process so far, in bytes. */
  peakRss (): number {
    return statusField(this.child.pid, 'VmHWM')
  }

  /** Resident set now (VmRSS), in bytes. */
  rss (): number {
    return statusField(this.child.pid, 'VmRSS')
  }

  /** Start a new peak: writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0). */
  resetPeakRss (): boolean {
    return resetPeak(this.child.pid)
  }

  async quit (): Promise<void> {
    this.send('QUIT')
    this.child.stdin?.end()
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 15_000)
    await this.exited
    clearTimeout(timer)
  }
}

export function statusField (pid: number | undefined, field: string): number {
  const status = readFileSync(`/proc/${pid ?? 'self'}/status`, 'utf8')
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (match === null) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(match[1]) * 1024
}

function resetPeak (pid: number | undefined): boolean {
  try {
    writeFileSync(`/proc/${pid ?? 'self'}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}
