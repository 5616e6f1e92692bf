/**
 * `npm run peer -- <port> [--rendezvous ADDR] [--data DIR] [--host HOST] [--json] [--no-mdns]`
 */
import { parseArgs } from 'node:util'
import { join } from 'node:path'
import type { Multiaddr } from '@multiformats/multiaddr'
import { asParleyError } from '../common/errors.ts'
import { ParleyPeer } from './app.ts'
import { DEFAULT_RENDEZVOUS, discoverRendezvous } from './discover.ts'
import { parseRendezvousAddress } from './rendezvous-client.ts'
import { humanOutput, jsonOutput } from './cli/output.ts'
import { runPrompt } from './cli/prompt.ts'

const USAGE = 'usage: npm run peer -- <port> [--rendezvous host:port|multiaddr] [--data DIR] [--host 0.0.0.0] [--json] [--no-mdns]'

async function main (): Promise<number> {
  let args
  try {
    args = parseArgs({
      allowPositionals: true,
      options: {
        rendezvous: { type: 'string' },
        data: { type: 'string' },
        host: { type: 'string', default: '0.0.0.0' },
        json: { type: 'boolean', default: false },
        'no-mdns': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    })
  } catch (err) {
    process.stderr.write(`${asParleyError(err).message}\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = args
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const portText = positionals[0] ?? '0'
  const port = Number(portText)
  if (positionals.length > 1 || !/^[0-9]{1,5}$/.test(portText) || port > 65535) {
    process.stderr.write(`the port must be a number from 0 to 65535\n${USAGE}\n`)
    return 2
  }
  const output = values.json ? jsonOutput() : humanOutput()
  let rendezvous: Multiaddr
  try {
    rendezvous = values.rendezvous !== undefined
      ? parseRendezvousAddress(values.rendezvous)
      : (values['no-mdns'] ? undefined : await discoverRendezvous()) ?? parseRendezvousAddress(DEFAULT_RENDEZVOUS)
  } catch (err) {
    output.print({ event: 'error', code: asParleyError(err).code, message: asParleyError(err).message })
    return 2
  }
  const dataDir = values.data ?? join('.parley', `peer-${port}`)
  const peer = await ParleyPeer.start({ port, host: values.host, rendezvous, dataDir, emit: output.print })
  let stopping = false
  const stop = async (): Promise<void> => {
    if (stopping) return
    stopping = true
    await peer.stop()
    output.print({ event: 'bye' })
    output.close()
  }
  process.once('SIGINT', () => { void stop().then(() => process.exit(0)) })
  process.once('SIGTERM', () => { void stop().then(() => process.exit(0)) })
  await runPrompt(peer, output, process.stdin.isTTY)
  await peer.drain()
  await stop()
  return 0
}

process.exit(await main())
