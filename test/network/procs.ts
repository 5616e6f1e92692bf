/**
 * The real programs inside the lab's namespaces: the rendezvous and peers, started exactly as
 * the README starts them (with --json so the tests read their events).
 */
import { createInterface } from 'node:readline'
import type { ChildProcess } from 'node:child_process'
import { PEER_PROGRAM, PeerProcess, RENDEZVOUS_PROGRAM } from '../../harness/processes.ts'
import type { Host, Lab } from './lab.ts'

export interface LabRendezvous {
  child: ChildProcess
  peerId: string
  addrs: string[]
  output: string[]
  exited: Promise<number | string>
  stop (signal?: NodeJS.Signals): Promise<number | string>
}

/** The rendezvous as `npm start` runs it, `--host 0.0.0.0 --port <port>` in `host`'s namespace; `mdns` advertises. */
export async function startRendezvous (lab: Lab, host: Host, dataDir: string, options: { port?: number, mdns?: boolean } = {}): Promise<LabRendezvous> {
  const args = [...RENDEZVOUS_PROGRAM, '--host', '0.0.0.0', '--port', String(options.port ?? 7000), '--data', dataDir, '--json']
  if (options.mdns !== true) args.push('--no-mdns')
  const child = lab.spawnNode(host, args)
  const output: string[] = []
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output.push(chunk) })
  const exited = new Promise<number | string>(resolve => { child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') }) })
  const ready = await new Promise<{ peerId: string, addrs: string[] }>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`rendezvous not ready: ${output.join('')}`)) }, 20_000)
    void exited.then(code => { clearTimeout(timer); reject(new Error(`rendezvous exited (${code}): ${output.join('')}`)) })
    createInterface({ input: child.stdout! }).on('line', line => {
      output.push(line)
      try {
        const event = JSON.parse(line) as { event: string, peerId: string, addrs: string[] }
        if (event.event === 'ready') { clearTimeout(timer); resolve(event) }
      } catch {}
    })
  })
  return {
    child,
    ...ready,
    output,
    exited,
    async stop (signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return await exited
    }
  }
}

/** The peer as `npm run peer -- <port> --json [--rendezvous ADDR]` runs it, in `host`'s namespace, listening on 0.0.0.0
 * as the README runs it on a LAN; without `rendezvous` it finds one by mDNS. */
export async function startPeer (lab: Lab, host: Host, name: string, dataDir: string, options: { rendezvous?: string, port?: number } = {}): Promise<PeerProcess> {
  const args = [...PEER_PROGRAM, String(options.port ?? 5000), '--data', dataDir, '--json']
  if (options.rendezvous !== undefined) args.push('--rendezvous', options.rendezvous, '--no-mdns')
  return await PeerProcess.attach(lab.spawnNode(host, args), name, 30_000)
}

/** Can `from` open a TCP connection to ip:port within `ms`? (checks what the routers let by) */
export function canConnect (lab: Lab, from: Host, ip: string, port: number, ms = 2_000): boolean {
  const script = `const s=require('node:net').connect(${port},'${ip}');s.setTimeout(${ms},()=>{console.log('timeout');process.exit(0)});s.on('connect',()=>{console.log('open');process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)})`
  return lab.exec(from, process.execPath, ['-e', script]).trim() === 'open'
}
