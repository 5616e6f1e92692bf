/**
 * A soak worker: a child process (forked by run.ts) that hosts many whole Parley peers in
 * process — each a ParleyPeer with its own libp2p node on 127.0.0.1, its own data folder and its
 * own store (or, for the `--bare` baseline, a BarePeer) — and drives them on the coordinator's
 * commands. Everything the peers report that the checks need (receipts, deliveries, errors,
 * warnings) goes back over IPC in batches.
 *
 * It never outlives the coordinator: a lost IPC channel ends it at once (the coordinator
 * disconnects it after `stop`, or dies).
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { multiaddr } from '@multiformats/multiaddr'
import { ParleyPeer } from '../../peer/app.ts'
import { toGroupName, toUsername } from '../../common/wire/names.ts'
import type { PeerEvent } from '../../peer/events.ts'
import { connectionPacer } from '../../harness/pacer.ts'
import { BarePeer } from './bare-peer.ts'
import type { SoakPeer } from './bare-peer.ts'
import { PASSWORD, groupName, makeText, parseText, peerName, seededRandom } from './protocol.ts'
import type {
  DeliveredRecord, DoneReply, EventsBatch, FromWorker, InitCommand, JoinCommand, MeetCommand, NoticeRecord, ReceiptRecord,
  RunCommand, SendOneCommand, SendRecord, StopCommand, ToWorker
} from './protocol.ts'

const FLUSH_MS = 200

let workerIndex = -1
const peers = new Map<number, SoakPeer>()
const sends: SendRecord[] = []
const receipts: ReceiptRecord[] = []
const delivered: DeliveredRecord[] = []
const notices: NoticeRecord[] = []
let queued = 0
/** Why items were parked in outboxes, with counts. */
const queuedReasons: Record<string, number> = {}
let keys = 0
let rendezvousLost = 0
/** Per peer: deliveries handed to Parley and not yet reported `delivered` (overload window). */
const outstanding = new Map<number, number>()
let heldBack = 0
/** Longest time between two ticks of the send loop (ms): the schedule slips by this much when
 * the event loop stalls; and the longest single tick. */
let tickGapMax = 0
let tickRunMax = 0
// Cumulative over the worker's life: a histogram reset from a timer misses the very stall that
// delayed that timer (reset() clears the previous sample time, so the stall is never recorded).
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()
/** Event-loop utilisation since the last batch (1 = the loop never waited for I/O). */
let lastElu = performance.eventLoopUtilization()

function post (message: FromWorker): void {
  if (process.connected) process.send?.(message)
}

function flush (): void {
  const elu = performance.eventLoopUtilization(lastElu)
  lastElu = performance.eventLoopUtilization()
  const batch: EventsBatch = {
    type: 'events',
    worker: workerIndex,
    sends: sends.splice(0),
    receipts: receipts.splice(0),
    delivered: delivered.splice(0),
    notices: notices.splice(0),
    stats: {
      rss: process.memoryUsage.rss(),
      heapUsed: process.memoryUsage().heapUsed,
      loopDelayP99: loopDelay.percentile(99) / 1e6,
      loopDelayMax: loopDelay.max / 1e6,
      utilisation: elu.utilization,
      tickGapMax,
      tickRunMax,
      queued,
      queuedReasons,
      keys,
      rendezvousLost,
      heldBack
    }
  }
  post(batch)
}

const flusher = setInterval(flush, FLUSH_MS)

/** What one peer reports, reduced to what the checks need. Runs inside Parley's emit: cheap. */
function onEvent (index: number, event: PeerEvent): void {
  switch (event.event) {
    case 'message':
    case 'group-message': {
      const parsed = parseText(event.text)
      receipts.push({
        at: index,
        from: event.from,
        group: event.event === 'group-message' ? event.group : null,
        parleyId: event.id,
        msgId: parsed?.msgId,
        sentAt: parsed?.sentAt ?? 0,
        receivedAt: event.at,
        intact: parsed?.intact ?? false
      })
      break
    }
    case 'delivered':
      delivered.push({ from: index, to: event.to, group: event.group, parleyId: event.id, at: Date.now() })
      outstanding.set(index, (outstanding.get(index) ?? 0) - 1)
      break
    case 'error':
    case 'warning':
      notices.push({ peer: index, event: event.event, code: event.code, message: event.message, at: Date.now() })
      break
    case 'undelivered': // a message given up is an error to the soak
      notices.push({ peer: index, event: 'error', code: event.code, message: event.message, at: Date.now() })
      break
    case 'queued': {
      queued++
      const reason = event.reason.replace(/soak\d{4}/g, '<peer>').replace(/\b12D3Koo\w+/g, '<peerId>').replace(/\d+/g, 'N').slice(0, 200)
      queuedReasons[reason] = (queuedReasons[reason] ?? 0) + 1
      break
    }
    case 'key':
      keys++
      break
    case 'rendezvous':
      if (!event.connected) rendezvousLost++
      notices.push({ peer: index, event: 'rendezvous', code: event.connected ? 'RECONNECTED' : 'DISCONNECTED', message: '', at: Date.now() })
      break
    default:
      break
  }
}

/** Run `work` over `items`, at most `limit` at once; each failure is collected, not thrown. */
async function pool<T> (items: T[], limit: number, work: (item: T) => Promise<void>): Promise<Array<{ item: T, error: string }>> {
  const failures: Array<{ item: T, error: string }> = []
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T
      try {
        await work(item)
      } catch (err) {
        failures.push({ item, error: describe(err) })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane))
  return failures
}

function describe (err: unknown): string {
  if (err instanceof Error) return `${(err as { code?: string }).code ?? err.name}: ${err.message}`
  return String(err)
}

/** Reject after `ms`: every step of the worker is bounded in time. */
async function within<T> (ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what}: no answer in ${ms} ms`)) }, ms)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}

function peer (index: number): SoakPeer {
  const found = peers.get(index)
  if (found === undefined) throw new Error(`peer ${index} is not in worker ${workerIndex}`)
  return found
}

async function init (command: InitCommand): Promise<DoneReply['failures']> {
  workerIndex = command.worker
  const rendezvous = multiaddr(command.rendezvous)
  if (command.bare) {
    const failures = await pool(command.peers, command.concurrency, async index => {
      peers.set(index, await within(command.timeoutMs, `${peerName(index)} start`, BarePeer.start(index, rendezvous, event => { onEvent(index, event) })))
    })
    return failures.map(f => ({ peer: f.item, error: f.error }))
  }
  const pace = connectionPacer(command.connectionsPerSecond)
  const failures = await pool(command.peers, command.concurrency, async index => {
    const name = peerName(index)
    const dataDir = join(command.dataRoot, name)
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    const started = await within(command.timeoutMs, `${name} start`, ParleyPeer.start({
      port: 0, host: '127.0.0.1', rendezvous, dataDir, emit: (event, shown) => { onEvent(index, event); shown?.() }
    }))
    peers.set(index, started)
    await pace() // sign-up opens the node's first connection to the rendezvous
    await within(command.timeoutMs, `${name} signup`, started.signup(toUsername(name), PASSWORD))
  })
  return failures.map(f => ({ peer: f.item, error: f.error }))
}

function meet (command: MeetCommand): DoneReply['failures'] {
  for (const p of peers.values()) if (p instanceof BarePeer) p.meet(command.addresses, command.groups)
  return []
}

async function joinGroups (command: JoinCommand): Promise<DoneReply['failures']> {
  const byPeer = new Map<number, string[]>()
  for (const [index, group] of command.joins) byPeer.set(index, [...(byPeer.get(index) ?? []), group])
  const failures = await pool([...byPeer], command.concurrency, async ([index, groups]) => {
    for (const group of groups) {
      await within(command.timeoutMs, `${peerName(index)} join ${group}`, peer(index).join(toGroupName(group)))
    }
  })
  return failures.map(f => ({ peer: f.item[0], error: f.error }))
}

const sequence = new Map<number, number>()
const nextMsgId = (index: number): string => {
  const seq = (sequence.get(index) ?? 0) + 1
  sequence.set(index, seq)
  return `${index}-${seq}`
}
/** Sends still in flight (send resolves once the message is accepted; sendGroup after the key
 * is settled and the items queued). */
const inFlight = new Set<Promise<unknown>>()

function sendDirect (index: number, to: number, phase: string, random: () => number): void {
  const msgId = nextMsgId(index)
  const sentAt = Date.now()
  const record: SendRecord = { msgId, from: index, to, group: null, sentAt, phase }
  outstanding.set(index, (outstanding.get(index) ?? 0) + 1)
  // Recorded once send() settled: a refused one (never accepted) is reported as such.
  const work = peer(index).send(toUsername(peerName(to)), makeText(msgId, sentAt, random))
    .catch((err: unknown) => {
      record.error = describe(err)
      outstanding.set(index, (outstanding.get(index) ?? 0) - 1)
    })
    .finally(() => {
      sends.push(record)
      inFlight.delete(work)
    })
  inFlight.add(work)
}

function sendGroup (index: number, group: string, phase: string, random: () => number, recipients = 0): void {
  const msgId = nextMsgId(index)
  const sentAt = Date.now()
  const record: SendRecord = { msgId, from: index, to: null, group, sentAt, phase }
  outstanding.set(index, (outstanding.get(index) ?? 0) + recipients)
  const work = peer(index).sendGroup(toGroupName(group), makeText(msgId, sentAt, random))
    .catch((err: unknown) => {
      record.error = describe(err)
      outstanding.set(index, (outstanding.get(index) ?? 0) - recipients)
    })
    .finally(() => {
      sends.push(record)
      inFlight.delete(work)
    })
  inFlight.add(work)
}

async function settle (timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (inFlight.size > 0 && Date.now() < deadline) {
    await Promise.race([Promise.allSettled([...inFlight]), new Promise(resolve => setTimeout(resolve, 1_000))])
  }
}

async function sendGroupOnce (command: SendOneCommand): Promise<DoneReply['failures']> {
  const random = seededRandom(workerIndex + 1)
  for (const [index, group] of command.sends) sendGroup(index, group, command.phase, random)
  await settle(60_000)
  return []
}

/**
 * The timed phase: each local peer sends `rate` times a second on average (uniform jitter
 * around the interval), a group message with probability `groupShare` (to one of its groups),
 * else a direct message to a random other peer (or a random one of its contacts). Bounded by
 * time (endAt) and by count; a peer sends at most once per tick, so a stalled event loop lowers
 * the rate actually sent (reported as sends/s) instead of bursting to catch up.
 */
async function run (command: RunCommand): Promise<DoneReply['failures']> {
  const random = seededRandom(command.seed * 1000 + workerIndex)
  const interval = 1000 / command.rate
  const maxPerPeer = Math.ceil((command.endAt - command.startAt) / interval) * 2 + 1
  const groupsOf = new Map<number, string[]>()
  const sizeOf = new Map<string, number>()
  command.plan.groups.forEach((members, g) => {
    sizeOf.set(groupName(g), members.length)
    for (const m of members) groupsOf.set(m, [...(groupsOf.get(m) ?? []), groupName(g)])
  })
  const window = command.window ?? Infinity
  const schedule = new Map<number, { next: number, count: number }>()
  for (const index of peers.keys()) schedule.set(index, { next: command.startAt + random() * interval, count: 0 })

  await new Promise(resolve => setTimeout(resolve, Math.max(0, command.startAt - Date.now())))
  let lastTick = Date.now()
  await new Promise<void>(resolve => {
    const tick = setInterval(() => {
      const now = Date.now()
      tickGapMax = Math.max(tickGapMax, now - lastTick)
      lastTick = now
      if (now >= command.endAt) {
        clearInterval(tick)
        resolve()
        return
      }
      for (const [index, slot] of schedule) {
        // Overload mode (a window): every turn that fell due meanwhile is taken now, so a
        // stalled event loop does not lower the offered load (the window bounds it instead).
        for (let turns = 0; slot.next <= now && slot.count < maxPerPeer && turns < (window === Infinity ? 1 : maxPerPeer); turns++) {
          slot.next += interval * (0.5 + random())
          if ((outstanding.get(index) ?? 0) >= window) {
            heldBack++
            continue
          }
          slot.count++
          sendOne(index)
        }
      }
      tickRunMax = Math.max(tickRunMax, Date.now() - now)
    }, 5)
  })
  await settle(60_000)
  return []

  function sendOne (index: number): void {
    const mine = groupsOf.get(index) ?? []
    if (mine.length > 0 && random() < command.groupShare) {
      const group = mine[Math.floor(random() * mine.length)] ?? ''
      sendGroup(index, group, command.phase, random, (sizeOf.get(group) ?? 1) - 1)
    } else {
      const contacts = command.plan.contacts?.[index]
      let to: number
      if (contacts !== undefined) {
        to = contacts[Math.floor(random() * contacts.length)] ?? 0
      } else {
        to = Math.floor(random() * (command.plan.peers - 1))
        if (to >= index) to++ // anyone but ourselves
      }
      sendDirect(index, to, command.phase, random)
    }
  }
}

async function stop (command: StopCommand): Promise<DoneReply['failures']> {
  const failures = await pool([...peers.keys()], 16, async index => {
    await within(command.timeoutMs, `${peerName(index)} stop`, peer(index).stop())
  })
  peers.clear()
  return failures.map(f => ({ peer: f.item, error: f.error }))
}

async function handle (command: ToWorker): Promise<void> {
  const started = Date.now()
  let failures: DoneReply['failures']
  switch (command.type) {
    case 'init': failures = await init(command); break
    case 'meet': failures = meet(command); break
    case 'join': failures = await joinGroups(command); break
    case 'send-group-once': failures = await sendGroupOnce(command); break
    case 'run': failures = await run(command); break
    case 'stop': failures = await stop(command); break
  }
  flush()
  if (command.type === 'stop') clearInterval(flusher)
  const addresses = command.type === 'init' && command.bare
    ? [...peers].map(([index, p]) => [index, (p as BarePeer).address] as [number, string])
    : undefined
  post({ type: 'done', worker: workerIndex, step: command.type, failures, ms: Date.now() - started, ...(addresses === undefined ? {} : { addresses }) })
}

process.on('message', (message: ToWorker) => {
  handle(message).catch((err: unknown) => {
    post({ type: 'fatal', worker: workerIndex, error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  })
})
// The coordinator is gone (or let us go): nothing here may linger.
process.on('disconnect', () => { process.exit(0) })
// Anything thrown into nowhere by the code under test is an error of the run, not a crash of it.
const uncaught = (err: unknown): void => {
  notices.push({ peer: -1, event: 'error', code: 'UNCAUGHT', message: err instanceof Error ? (err.stack ?? err.message) : String(err), at: Date.now() })
}
process.on('uncaughtException', uncaught)
process.on('unhandledRejection', uncaught)
