/**
 * The rendezvous server's command line (DESIGN §8):
 *
 *   npm run rendezvous -- [--port 7000] [--host 0.0.0.0] [--data DIR] [--json] [--no-mdns]
 *                         [--max-connections 1000] [--connections-per-ip 512]
 *
 * Prints its listen multiaddrs (one per line, or with --json one line
 * `{"event":"ready","peerId":...,"addrs":[...]}`), advertises itself by mDNS unless --no-mdns,
 * and stops cleanly (exit 0) on SIGINT/SIGTERM. The only module of the server that uses console.
 */
import { clearLine, cursorTo } from 'node:readline'
import { readArguments } from '../common/cli-args.ts'
import { keepDataFolderPrivate } from '../common/data-folder.ts'
import { lockDataFolder } from '../common/data-lock.ts'
import { ErrorCode, asParleyError } from '../common/errors.ts'
import { CONNECTIONS_PER_IP, DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, MAX_CONNECTIONS } from './constants.ts'
import { startRendezvousServer } from './server.ts'
import type { RendezvousServer } from './server.ts'

const USAGE = 'usage: npm run rendezvous -- [--port 7000] [--host 0.0.0.0] [--data DIR] [--json] [--no-mdns] ' +
  `[--max-connections ${MAX_CONNECTIONS}] [--connections-per-ip ${CONNECTIONS_PER_IP}]`

interface Options {
  port: number
  host: string
  dataDir: string
  json: boolean
  mdns: boolean
  maxConnections: number
  connectionsPerIp: number
}

/** The connection limits are the server's capacity: an operator sizes them to the machine and
 * to the largest office behind one NAT address. */
const MAX_CONNECTION_LIMIT = 1_000_000

function count (name: string, text: string): number {
  if (!/^[0-9]{1,7}$/.test(text) || Number(text) < 1 || Number(text) > MAX_CONNECTION_LIMIT) {
    throw new Error(`--${name} must be a number from 1 to ${MAX_CONNECTION_LIMIT}, not "${text}"`)
  }
  return Number(text)
}

function parseOptions (argv: string[]): Options {
  const { values, positionals } = readArguments(argv, {
    port: { type: 'string', default: String(DEFAULT_PORT) },
    host: { type: 'string', default: DEFAULT_HOST },
    data: { type: 'string', default: DEFAULT_DATA_DIR },
    json: { type: 'boolean', default: false },
    'no-mdns': { type: 'boolean', default: false },
    'max-connections': { type: 'string', default: String(MAX_CONNECTIONS) },
    'connections-per-ip': { type: 'string', default: String(CONNECTIONS_PER_IP) },
    help: { type: 'boolean', short: 'h', default: false }
  })
  if (positionals.length > 0) throw new Error(`${JSON.stringify(positionals[0]?.slice(0, 40))} is not an option (they start with --; the port is --port N)`)
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  if (!/^[0-9]{1,5}$/.test(values.port) || Number(values.port) > 65535) {
    throw new Error(`--port must be a number from 0 to 65535, not "${values.port}"`)
  }
  if (!/^[0-9a-fA-F.:]+$/.test(values.host)) throw new Error(`--host must be an IP address, not "${values.host}"`)
  const maxConnections = count('max-connections', values['max-connections'])
  const connectionsPerIp = count('connections-per-ip', values['connections-per-ip'])
  if (connectionsPerIp > maxConnections) throw new Error('--connections-per-ip must not be more than --max-connections')
  return { port: Number(values.port), host: values.host, dataDir: values.data, json: values.json, mdns: !values['no-mdns'], maxConnections, connectionsPerIp }
}

function report (options: Options, server: RendezvousServer): void {
  if (options.json) {
    console.log(JSON.stringify({ event: 'ready', peerId: server.peerId, addrs: server.addrs }))
    return
  }
  console.log(`parley rendezvous ${server.peerId} listening on:`)
  for (const addr of server.addrs) console.log(addr)
}

/** Exit status 2 for a command line that is not ours to run, 1 for a start or stop that failed:
 * as the peer's (until 2026-12-06 the rendezvous said 1 for both). */
const USAGE_EXIT = 2

function fail (options: Partial<Options>, code: ErrorCode, message: string, exitStatus = 1): never {
  if (options.json === true) console.log(JSON.stringify({ event: 'error', code, message }))
  else console.error(`parley rendezvous: ${message}`)
  process.exit(exitStatus)
}

function warn (options: Options, code: ErrorCode, message: string): void {
  if (options.json) console.log(JSON.stringify({ event: 'warning', code, message }))
  else console.error(`parley rendezvous: warning: ${message}`)
}

async function main (): Promise<void> {
  let options: Options
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (err) {
    fail({ json: process.argv.includes('--json') }, ErrorCode.Usage, `${err instanceof Error ? err.message : String(err)}\n${USAGE}`, USAGE_EXIT)
  }
  let server: RendezvousServer
  try {
    // Before the store and identity are opened: a second server on them would share both
    // (common/data-lock.ts). Held until the process ends.
    const tightened = keepDataFolderPrivate(options.dataDir)
    if (tightened !== undefined) warn(options, ErrorCode.File, tightened)
    lockDataFolder(options.dataDir, 'rendezvous')
    server = await startRendezvousServer({
      dataDir: options.dataDir, host: options.host, port: options.port, mdns: options.mdns, maxConnections: options.maxConnections, connectionsPerIp: options.connectionsPerIp
    })
  } catch (err) {
    const error = asParleyError(err)
    fail(options, error.code, `cannot start: ${error.message}`)
  }
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    server.stop().then(() => {
      // Said either way: a person who pressed Ctrl-C sees the server is down, not only its prompt.
      if (options.json) console.log(JSON.stringify({ event: 'stopped', signal }))
      else {
        // The terminal echoed Ctrl-C as ^C where the cursor was: the line is said over it
        // ('^Cparley rendezvous stopped (SIGINT).' until 2026-12-07: round 35), as the peer does.
        if (process.stdout.isTTY) {
          cursorTo(process.stdout, 0)
          clearLine(process.stdout, 0)
        }
        console.log(`parley rendezvous stopped (${signal}).`)
      }
      process.exit(0)
    }, (err: unknown) => {
      const error = asParleyError(err)
      fail(options, error.code, `error while stopping: ${error.message}`)
    })
  }
  process.on('SIGINT', () => { shutdown('SIGINT') })
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  // Said ready only once a signal stops it cleanly: a Ctrl-C (or a script's SIGINT) right after
  // the addresses appeared ended it by the signal's default, unsaid (seen at half speed).
  report(options, server)
}

await main()
