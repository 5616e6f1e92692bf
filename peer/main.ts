/**
 * `npm run peer -- <port> [--rendezvous ADDR] [--data DIR] [--host HOST] [--json] [--no-mdns]`
 *
 * Ends cleanly, exit status 0, on QUIT, the end of input, Ctrl-C, Ctrl-D, SIGINT, SIGTERM and
 * SIGHUP: the prompt stops, deliveries in progress get their moment, what still waits in the
 * outbox is reported. A person never sees a stack trace: an unexpected failure prints one line
 * and its details go to `<data>/errors.log`. A start that cannot go ahead (a data folder another
 * peer runs on, a port in use) is one line and exit status 1.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Multiaddr } from '@multiformats/multiaddr'
import { readArguments } from '../common/cli-args.ts'
import { keepDataFolderPrivate } from '../common/data-folder.ts'
import { lockDataFolder } from '../common/data-lock.ts'
import type { DataLock } from '../common/data-lock.ts'
import { ErrorCode, asParleyError } from '../common/errors.ts'
import { ParleyPeer } from './app.ts'
import { DEFAULT_RENDEZVOUS, discoverRendezvous } from './discover.ts'
import { parseRendezvousAddress } from './rendezvous-client.ts'
import { pinRendezvous } from './rendezvous-pin.ts'
import type { RendezvousSource } from './rendezvous-pin.ts'
import type { PeerEvent } from './events.ts'
import { OutgoingActivity } from './outgoing-activity.ts'
import { humanOutput, jsonOutput } from './cli/output.ts'
import { NameBook } from './cli/complete.ts'
import { logError, unexpectedErrors } from './cli/error-log.ts'
import { flushLog, writeLogTo } from './log.ts'
import { HistoryFile } from './cli/history.ts'
import { Prompt, drawsPrompt } from './cli/prompt.ts'

const USAGE = 'usage: npm run peer -- <port> [--rendezvous host:port|multiaddr] [--data DIR] [--host 0.0.0.0] [--json] [--no-mdns]'
const PORT_RANGE = 'the port must be a number from 0 to 65535'

/** A command line the peer cannot read: what is wrong, named as the rendezvous names its own
 * (`parley peer: …`; until 2026-12-07 the line had no prefix), then the usage; exit status 2.
 * With --json anywhere on it, an `error` event instead, as the rendezvous says it (until
 * 2026-12-07 plain text: round 24). */
function refuseUsage (problem: string): number {
  if (process.argv.includes('--json')) jsonOutput().print({ event: 'error', code: ErrorCode.Usage, message: `${problem}\n${USAGE}` })
  else process.stderr.write(`parley peer: ${problem}\n${USAGE}\n`)
  return 2
}

/** After Ctrl-C or a signal, how long deliveries in progress may still take. */
const SIGNAL_DRAIN_MS = 3_000
/** After QUIT or the end of input: long enough for what is in flight, bounded all the same (a
 * big file or an unreachable peer must not hold the program: what is left goes out next time).
 * The whole leave, said to the person (`leaving`): the drain gets it less what the sign-out may
 * take after a drain that ran out (until 2026-12-07 the drain got all of it, and a QUIT said to
 * take at most 30 s took 34: round 25). */
const QUIT_LEAVE_MS = 30_000
/** After a drain that ran out: the sign-out's last moments for what is stuck (session.ts's
 * graces), then the node's stop. */
const STOP_AFTER_DRAIN_MS = 5_000
/** A QUIT whose deliveries take longer than this says that it waits for them (a quick message
 * goes out within it, unsaid). */
const LEAVING_NOTICE_MS = 500
/** QUIT waits for deliveries while they move: after this long without a file's byte (of one
 * that can finish in time), an ACK or any delivery settling, what is left is stuck (a frozen
 * peer) and goes out next time (peer/outgoing-activity.ts). */
const DRAIN_STUCK_MS = 5_000
/** At exit, how long the last lines of parley.log may take to reach the disk. */
const LOG_FLUSH_MS = 1_000
/** Once a signal came, the program is gone this long after it, whatever still hangs. */
const SIGNAL_EXIT_DEADLINE_MS = 10_000

async function main (): Promise<number> {
  const argv = process.argv.slice(2)
  // A negative port reads as an option to parseArgs (`-1`): it is a port that is no port.
  if (/^-[0-9]/.test(argv[0] ?? '')) return refuseUsage(PORT_RANGE)
  let args
  try {
    args = readArguments(argv, {
      rendezvous: { type: 'string' },
      data: { type: 'string' },
      host: { type: 'string', default: '0.0.0.0' },
      json: { type: 'boolean', default: false },
      'no-mdns': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    })
  } catch (err) {
    return refuseUsage(asParleyError(err).message)
  }
  const { values, positionals } = args
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const portText = positionals[0]
  if (portText === undefined) {
    // As the usage says: the port names the default data folder too (.parley/peer-<port>), so a
    // peer started without one took peer-0's, not the one it used before (until 2026-12-06).
    return refuseUsage('which port? npm run peer -- <port> (0: any free port)')
  }
  const port = Number(portText)
  if (positionals.length > 1) {
    // Said as what it is: `peer 5000 extra` was told its port was no number (a tester's finding).
    return refuseUsage(`one port only, then options: ${JSON.stringify((positionals[1] ?? '').slice(0, 40))} is not an option (they start with --)`)
  }
  if (!/^[0-9]{1,5}$/.test(portText) || port > 65535) return refuseUsage(PORT_RANGE)
  // An address that cannot be read is the command line's fault, said as the others are (until
  // 2026-12-07 it came later, without the prefix or the usage line).
  let given: Multiaddr | undefined
  try {
    given = values.rendezvous === undefined ? undefined : parseRendezvousAddress(values.rendezvous)
  } catch (err) {
    return refuseUsage(asParleyError(err).message)
  }
  const dataDir = values.data ?? join('.parley', `peer-${port}`)
  writeThrough(process.stdout)
  const output = values.json ? jsonOutput() : humanOutput()
  // Before anything else is read or written in the folder: it must be ours alone
  // (common/data-folder.ts), and a second peer on it would share our outbox and store
  // (common/data-lock.ts).
  let lock: DataLock
  let tightened: string | undefined
  try {
    tightened = keepDataFolderPrivate(dataDir)
    lock = lockDataFolder(dataDir, 'peer')
  } catch (err) {
    output.print({ event: 'error', code: asParleyError(err).code, message: asParleyError(err).message })
    return 1
  }
  if (tightened !== undefined) output.print({ event: 'warning', code: ErrorCode.File, message: tightened })
  const unexpected = unexpectedErrors(output, join(dataDir, 'errors.log'))
  // What the program gets over by itself (retries, fallbacks) is written down here (peer/log.ts).
  writeLogTo(join(dataDir, 'parley.log'))
  // A terminal or pipe that went away (EPIPE) is no failure to report: there is no one to tell.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  process.on('uncaughtException', unexpected)
  process.on('unhandledRejection', unexpected)

  let rendezvous: Multiaddr
  let pinWhenIdentified: ((server: Multiaddr) => Promise<void>) | undefined
  try {
    const discovered = given !== undefined || values['no-mdns'] ? undefined : await discoverRendezvous()
    const source: RendezvousSource = given !== undefined ? 'flag' : discovered !== undefined ? 'mdns' : 'default'
    const found = given ?? discovered ?? parseRendezvousAddress(DEFAULT_RENDEZVOUS)
    const pinned = await pinRendezvous(dataDir, found, source)
    rendezvous = pinned.addr
    pinWhenIdentified = pinned.pinWhenIdentified
    if (pinned.notice !== undefined) output.print({ event: 'warning', code: ErrorCode.IdentityChanged, message: pinned.notice })
  } catch (err) {
    output.print({ event: 'error', code: asParleyError(err).code, message: asParleyError(err).message })
    return 2
  }

  const names = new NameBook()
  const outgoing = new OutgoingActivity()
  const emit = (event: PeerEvent, shown?: () => void): void => {
    names.observe(event)
    outgoing.observe(event)
    output.print(event)
    if (event.event === 'signed-out') started.prompt?.signedOut()
    // A message counts as shown once its line left the process (until 2026-12-06 at once, and a
    // kill -9 lost the lines still in node's buffer unsaid: 55 of a burst of 600 under load).
    // Written through (writeThrough), it has; else an empty write's callback says when.
    if (shown === undefined) return
    if (process.stdout.writableLength === 0) shown()
    else process.stdout.write('', err => { if (err == null) shown() })
  }
  // A signal ends the prompt as QUIT does; it also cuts short a drain already under way (the
  // terminal went away after QUIT, say), and a second one does not wait at all. Taken from before
  // the peer starts: a SIGINT sent as soon as `ready` is out (a script's) stops it cleanly too
  // (until 2026-12-06 it could come before these handlers and end the process unsaid).
  const started: { prompt?: Prompt } = {} // the prompt, once there is one
  let signalled = false
  let onSignal = (): void => {}
  const signal = new Promise<void>(resolve => { onSignal = resolve })
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(name, () => {
      if (signalled) process.exit(0)
      signalled = true
      setTimeout(() => { process.exit(0) }, SIGNAL_EXIT_DEADLINE_MS).unref()
      onSignal()
      started.prompt?.close(true)
    })
  }
  let peer: ParleyPeer
  try {
    // Not given, the rendezvous is looked for again by mDNS when it cannot be reached where it was
    // (its machine may have another address now), with mDNS not turned off.
    const findRendezvous = given === undefined && !values['no-mdns'] ? async () => await discoverRendezvous() : undefined
    peer = await ParleyPeer.start({ port, host: values.host, rendezvous, dataDir, emit, onRendezvousIdentified: pinWhenIdentified, findRendezvous })
  } catch (err) {
    const error = asParleyError(err)
    if (error.code === ErrorCode.Internal) unexpected(err)
    else output.print({ event: 'error', code: error.code, message: error.message })
    return 1
  }

  const interactive = drawsPrompt(values.json, process.stdin, process.stdout)
  const prompt = new Prompt(peer, output, {
    interactive,
    terminalInput: process.stdin.isTTY,
    history: new HistoryFile(join(dataDir, 'history')),
    names,
    onUnexpected: err => { logError(join(dataDir, 'errors.log'), err) }
  })
  started.prompt = prompt
  if (signalled) prompt.close(true)
  await prompt.run()
  prompt.dropTypingUntilExit()
  const drainMs = prompt.interrupted ? SIGNAL_DRAIN_MS : QUIT_LEAVE_MS - STOP_AFTER_DRAIN_MS
  outgoing.start(drainMs)
  const drained = peer.drain()
  // A file still going out holds a QUIT for up to drainMs: said, with how to leave at once (until
  // 2026-12-06 the screen stayed as it was, the transfer's status frozen in the closed prompt).
  let leavingSaid = false
  if (!prompt.interrupted) {
    void Promise.race([drained.then(() => false), sleep(LEAVING_NOTICE_MS, true, { ref: false }), signal.then(() => false)])
      .then(waiting => {
        if (!waiting || signalled) return
        output.print({ event: 'leaving', waitSeconds: QUIT_LEAVE_MS / 1000 })
        leavingSaid = true
      })
  }
  // A signal during the drain still lets what is in flight finish for a moment, unless the
  // person was told that Ctrl-C leaves now: then it does (until 2026-12-06 it took 3 s more and
  // another progress line: round 7).
  const drainedInTime = await Promise.race([
    drained.then(() => true),
    sleep(drainMs, false, { ref: false }),
    stuck(outgoing),
    signal.then(async () => { if (!leavingSaid) await sleep(SIGNAL_DRAIN_MS); return false })
  ])
  // Interrupted, or run out, the drain was the grace: what is in flight now stops (and goes out
  // next time).
  const left = await peer.stop(prompt.interrupted || signalled || !drainedInTime ? 0 : undefined)
  lock.release()
  output.print({ event: 'bye', ...left })
  output.close()
  await Promise.race([flushLog(), sleep(LOG_FLUSH_MS)])
  return 0
}

/** Resolves false once nothing that goes out has moved for DRAIN_STUCK_MS. */
async function stuck (outgoing: OutgoingActivity): Promise<false> {
  for (;;) {
    const still = outgoing.stillFor()
    if (still >= DRAIN_STUCK_MS) return false
    await sleep(DRAIN_STUCK_MS - still, undefined, { ref: false })
  }
}

process.exit(await main())

/**
 * Our output written through to a pipe (a `--json` reader, `| tee`), as node writes to a terminal
 * or a file: a line is in the pipe once printed. Node buffers a pipe's writes in the process
 * instead, without bound when the reader is slow (940 kB for 5,000 lines in a test), and a kill
 * -9 loses them. A reader that stops reading now holds the peer, as a terminal's Ctrl-S does,
 * and what it was not given is not taken from the network meanwhile.
 */
function writeThrough (stream: NodeJS.WriteStream): void {
  const handle = (stream as { _handle?: { setBlocking?: (blocking: boolean) => number } })._handle
  if (stream.isTTY !== true) handle?.setBlocking?.(true)
}
