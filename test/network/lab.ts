/**
 * A network laboratory made of Linux network namespaces (issue 13 item 4): a "public" switch (a
 * bridge), hosts of our own on it, and "home routers" that masquerade a private LAN behind their
 * one public address with nftables, dropping every connection that starts outside (as a home
 * router does). Real rendezvous and peer processes run inside the namespaces with `ip netns exec`.
 *
 * Every address lives only inside namespaces this file creates: the public side uses TEST-NET-2
 * (198.51.100.0/24, RFC 5737), the LANs 10.x. Nothing is added to the machine's own namespace,
 * so no packet of a test can reach any other host. Everything is removed on every exit path:
 * `close()` in a `finally`, and synchronously on process exit and on SIGINT/SIGTERM/SIGHUP;
 * namespaces left by a test process that died (SIGKILL) are removed by the next run.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { PROGRAM_ENV } from '../../harness/processes.ts'
import { removeDir } from '../../harness/temp.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const PREFIX = 'parley-lab'

/** Why this machine cannot run the network tests, or undefined when it can. */
export function labUnavailable (): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  for (const [tool, args] of [['ip', ['netns', 'list']], ['nft', ['--version']]] as const) {
    try {
      execFileSync(tool, args, { stdio: 'ignore' })
    } catch {
      return `\`${tool} ${args.join(' ')}\` does not work here (Debian: apt-get install -y iproute2 nftables)`
    }
  }
  return undefined
}

function run (command: string, args: string[], input?: string): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] })
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || String(err)}`)
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Namespaces `ip netns list` shows, by name. */
function namespaces (): string[] {
  return run('ip', ['netns', 'list']).split('\n').map(line => line.split(' ')[0] ?? '').filter(name => name !== '')
}

/** Kill the processes inside a namespace (ours: nothing else runs in a namespace we made), then
 * remove it; with it go its veth ends, bridge, addresses, routes and nftables rules. */
function removeNamespace (name: string): void {
  try {
    for (const pid of run('ip', ['netns', 'pids', name]).split('\n').map(Number).filter(n => n > 0)) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
  } catch {}
  try { run('ip', ['netns', 'del', name]) } catch {}
}

/** Namespaces a test process that is gone left behind (it was SIGKILLed). */
function removeStale (): void {
  for (const name of namespaces()) {
    const match = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)
    if (match !== null && !alive(Number(match[1]))) removeNamespace(name)
  }
}

export interface Host {
  /** The namespace's name (for `ip netns exec`). */
  ns: string
  /** Its address on the segment it sits on. */
  ip: string
}

export interface Router {
  ns: string
  /** The public (masqueraded) address on the switch. */
  wan: string
  /** The LAN side's address (the hosts' gateway). */
  lan: string
  /** The LAN's prefix, e.g. 10.1.0 (hosts get .2, .3, …). */
  subnet: string
  hosts: number
}

const labs = new Set<Lab>()
let hooked = false

function hookExit (): void {
  if (hooked) return
  hooked = true
  process.on('exit', () => { for (const lab of labs) lab.closeNow() })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const lab of labs) lab.closeNow()
      process.exit(128 + (signal === 'SIGHUP' ? 1 : signal === 'SIGINT' ? 2 : 15))
    })
  }
}

export class Lab {
  readonly #id: string
  readonly #namespaces: string[] = []
  readonly #children = new Set<ChildProcess>()
  readonly #switch: string
  #ports = 0
  #closed = false

  /** The public switch: a bridge in a namespace of its own, on 198.51.100.0/24. */
  static readonly PUBLIC_SUBNET = '198.51.100'

  private constructor (id: string) {
    this.#id = id
    this.#switch = this.#name('sw')
  }

  static create (): Lab {
    removeStale()
    hookExit()
    const lab = new Lab(`${PREFIX}${process.pid}-${labs.size}`)
    labs.add(lab)
    try {
      lab.#addNamespace(lab.#switch)
      lab.#exec(lab.#switch, 'ip', ['link', 'add', 'br0', 'type', 'bridge'])
      lab.#exec(lab.#switch, 'ip', ['link', 'set', 'br0', 'up'])
    } catch (err) {
      lab.closeNow()
      throw err
    }
    return lab
  }

  #name (short: string): string {
    return `${this.#id}-${short}`
  }

  #addNamespace (name: string): void {
    run('ip', ['netns', 'add', name])
    this.#namespaces.push(name)
    this.#exec(name, 'ip', ['link', 'set', 'lo', 'up'])
  }

  #exec (ns: string, command: string, args: string[], input?: string): string {
    return run('ip', ['netns', 'exec', ns, command, ...args], input)
  }

  /** A veth pair from `ns` (named `ifname` there) to a port of the switch's bridge. */
  #plugIntoSwitch (ns: string, ifname: string, address: string): void {
    const port = `p${this.#ports++}`
    run('ip', ['-n', ns, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', port, 'netns', this.#switch])
    this.#exec(this.#switch, 'ip', ['link', 'set', port, 'master', 'br0'])
    this.#exec(this.#switch, 'ip', ['link', 'set', port, 'up'])
    this.#exec(ns, 'ip', ['addr', 'add', address, 'dev', ifname])
    this.#exec(ns, 'ip', ['link', 'set', ifname, 'up'])
  }

  /** A host on the public switch, at 198.51.100.<n>. */
  publicHost (short: string, n: number): Host {
    const ns = this.#name(short)
    this.#addNamespace(ns)
    const ip = `${Lab.PUBLIC_SUBNET}.${n}`
    this.#plugIntoSwitch(ns, 'eth0', `${ip}/24`)
    return { ns, ip }
  }

  /** Hosts on one LAN segment with no router at all (mDNS works among them): the switch's own
   * bridge carries 10.<segment>.0.0/24 here instead of the public subnet. */
  lanHost (short: string, segment: number, n: number): Host {
    const ns = this.#name(short)
    this.#addNamespace(ns)
    const ip = `10.${segment}.0.${n}`
    this.#plugIntoSwitch(ns, 'eth0', `${ip}/24`)
    // No default route on this LAN: multicast (mDNS) needs one of its own to leave the host.
    this.#exec(ns, 'ip', ['route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
    return { ns, ip }
  }

  /**
   * A home router at 198.51.100.<n> on the switch with the LAN 10.<lan>.0.0/24 behind it: it
   * forwards and masquerades what goes out, lets the answers back in and drops every connection
   * that starts outside (to the LAN or to the router itself). Between the hosts of its LAN it is
   * a switch, as a home router is: bridged traffic passes this kernel's forward hook too
   * (bridge-nf-call-iptables), and its policy dropped it (round 50, tester 50c).
   */
  router (short: string, n: number, lan: number): Router {
    const ns = this.#name(short)
    this.#addNamespace(ns)
    const wan = `${Lab.PUBLIC_SUBNET}.${n}`
    this.#plugIntoSwitch(ns, 'wan', `${wan}/24`)
    this.#exec(ns, 'ip', ['link', 'add', 'lanbr', 'type', 'bridge'])
    this.#exec(ns, 'ip', ['addr', 'add', `10.${lan}.0.1/24`, 'dev', 'lanbr'])
    this.#exec(ns, 'ip', ['link', 'set', 'lanbr', 'up'])
    this.#exec(ns, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'])
    this.#exec(ns, 'nft', ['-f', '-'], `
table ip parley_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade
  }
}
table inet parley_filter {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" drop
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lanbr" oifname "wan" accept
    iifname "lanbr" oifname "lanbr" accept
  }
}
`)
    return { ns, wan, lan: `10.${lan}.0.1`, subnet: `10.${lan}.0`, hosts: 0 }
  }

  /** A host on a router's LAN at <subnet>.<2, 3, …>, its default route through the router. */
  behind (router: Router, short: string): Host {
    const ns = this.#name(short)
    this.#addNamespace(ns)
    const ip = `${router.subnet}.${2 + router.hosts++}`
    const port = `h${router.hosts}`
    run('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', router.ns])
    this.#exec(router.ns, 'ip', ['link', 'set', port, 'master', 'lanbr'])
    this.#exec(router.ns, 'ip', ['link', 'set', port, 'up'])
    this.#exec(ns, 'ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0'])
    this.#exec(ns, 'ip', ['link', 'set', 'eth0', 'up'])
    this.#exec(ns, 'ip', ['route', 'add', 'default', 'via', router.lan])
    return { ns, ip }
  }

  /** Run a command inside a namespace to its end (for checks), returning its stdout. */
  exec (host: Host | string, command: string, args: string[]): string {
    return this.#exec(typeof host === 'string' ? host : host.ns, command, args)
  }

  /** Start `node <args>` (from the project root) inside a namespace; killed at close(). */
  spawnNode (host: Host, args: string[]): ChildProcess {
    if (this.#closed) throw new Error('the lab is closed')
    const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, ...args], { cwd: ROOT, env: PROGRAM_ENV, stdio: ['pipe', 'pipe', 'pipe'] })
    this.#children.add(child)
    child.once('exit', () => { this.#children.delete(child) })
    return child
  }

  /** Remove everything: processes first (a namespace lives on while a process is in it). */
  async close (): Promise<void> {
    const exits = [...this.#children].map(async child => await new Promise(resolve => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(undefined)
      else child.once('exit', resolve)
    }))
    for (const child of this.#children) child.kill('SIGKILL')
    await Promise.race([Promise.all(exits), new Promise(resolve => setTimeout(resolve, 5_000))])
    this.closeNow()
  }

  /** The synchronous part of close(), also run on process exit and on a signal. */
  closeNow (): void {
    if (this.#closed) return
    this.#closed = true
    for (const child of this.#children) {
      try { child.kill('SIGKILL') } catch {}
    }
    for (const ns of [...this.#namespaces].reverse()) removeNamespace(ns)
    labs.delete(this)
  }

  /** Namespaces of this lab still present (the tests check it is none after close). */
  leftovers (): string[] {
    return namespaces().filter(name => name.startsWith(`${this.#id}-`))
  }
}

/** A test's teardown: the lab closed and checked gone, then the test's temporary folder. */
export async function tearDown (lab: Lab | undefined, dir: string | undefined): Promise<void> {
  try {
    await lab?.close()
    assert.deepEqual(lab?.leftovers() ?? [], [], 'every namespace is gone')
  } finally {
    if (dir !== undefined) await removeDir(dir)
  }
}
