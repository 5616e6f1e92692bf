/**
 * What the soak coordinator (run.ts) and its workers (worker.ts) share: the IPC messages, the
 * plan (who is called what, who is in which group), the message text format and a seeded
 * random generator, so a run can be repeated with the same `--seed`.
 */
import { createHash } from 'node:crypto'

export const PASSWORD = 'Soak test password 42'

export interface SoakPlan {
  peers: number
  /** Groups, each a list of peer indexes; the first member creates the group. */
  groups: number[][]
  /** Each peer's direct-message contacts (peer indexes); null: anyone at random. */
  contacts: number[][] | null
}

export const peerName = (index: number): string => `soak${String(index).padStart(4, '0')}`
export const groupName = (index: number): string => `soakgroup${String(index).padStart(3, '0')}`

/**
 * `count` groups of `size` consecutive peers, each starting `stride` after the previous one
 * (wrapping around): with stride < size neighbouring groups overlap by size - stride members.
 */
export function planGroups (peers: number, count: number, size: number): number[][] {
  const members = Math.min(size, peers)
  const stride = count > 0 ? Math.max(1, Math.floor(peers / count)) : 1
  const groups: number[][] = []
  for (let g = 0; g < count; g++) {
    const list: number[] = []
    for (let k = 0; k < members; k++) list.push((g * stride + k) % peers)
    groups.push(list)
  }
  return groups
}

/** `count` distinct random other peers for each peer (null when that is everyone anyway). */
export function planContacts (peers: number, count: number, seed: number): number[][] | null {
  if (count >= peers - 1) return null
  const random = seededRandom(seed ^ 0x5eed)
  const contacts: number[][] = []
  for (let i = 0; i < peers; i++) {
    const chosen = new Set<number>()
    while (chosen.size < count) {
      const other = Math.floor(random() * peers)
      if (other !== i) chosen.add(other)
    }
    contacts.push([...chosen])
  }
  return contacts
}

/** mulberry32: small, fast, good enough to pick targets reproducibly. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// ---- message texts ---------------------------------------------------------------------------

const WORDS = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'Ünïcödé', '✓', 'line', 'tab\there', 'MiXeD', 'Case', '0123456789', '😀']

function checksum (body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16)
}

/**
 * `soak <msgId> <sentAtMs> <words…> #<checksum>`: the id and send time the receiver reports,
 * several words (a receiver that keeps only the first word fails the checksum), mixed case and
 * non-ASCII (nothing may be lower-cased or mangled), and a checksum over all of it, so a
 * message that arrives at all arrives whole.
 */
export function makeText (msgId: string, sentAt: number, random: () => number): string {
  const words: string[] = []
  const count = 3 + Math.floor(random() * 20)
  for (let i = 0; i < count; i++) words.push(WORDS[Math.floor(random() * WORDS.length)] ?? 'x')
  const body = `soak ${msgId} ${sentAt} ${words.join(' ')}`
  return `${body} #${checksum(body)}`
}

export interface ParsedText {
  msgId: string
  sentAt: number
  intact: boolean
}

/** The id and send time of a soak text, and whether it arrived unchanged; undefined if foreign. */
export function parseText (text: string): ParsedText | undefined {
  const match = /^soak (\S+) (\d+) (.*) #([0-9a-f]{16})$/su.exec(text)
  if (match === null) return undefined
  const [, msgId = '', sentAt = '0', , sum = ''] = match
  const body = text.slice(0, text.length - sum.length - 2)
  return { msgId, sentAt: Number(sentAt), intact: checksum(body) === sum }
}

// ---- IPC: coordinator → worker --------------------------------------------------------------

export interface InitCommand {
  type: 'init'
  worker: number
  /** Global peer indexes this worker hosts. */
  peers: number[]
  rendezvous: string
  dataRoot: string
  /** New rendezvous connections per second this worker may open (sign-ups). */
  connectionsPerSecond: number
  /** Sign-ups (scrypt + connection) in flight at once in this worker. */
  concurrency: number
  timeoutMs: number
  /** Bare libp2p peers (bare-peer.ts) instead of Parley's: the baseline; no sign-up. */
  bare: boolean
}

/** Bare peers only: everyone's address by peer index, and the groups (no rendezvous to ask). */
export interface MeetCommand {
  type: 'meet'
  addresses: string[]
  groups: number[][]
}

export interface JoinCommand {
  type: 'join'
  /** [peer index, group name] pairs; one peer's joins run one after the other. */
  joins: Array<[number, string]>
  concurrency: number
  timeoutMs: number
}

export interface SendOneCommand {
  type: 'send-group-once'
  /** [peer index, group name]: one group message each (the warm-up that makes group keys). */
  sends: Array<[number, string]>
  phase: string
}

export interface RunCommand {
  type: 'run'
  /** Wall-clock time (Date.now()) to start and stop sending. */
  startAt: number
  endAt: number
  /** Send actions per peer per second. */
  rate: number
  /** Share of send actions that are group messages (the rest are direct). */
  groupShare: number
  seed: number
  /** The whole plan, so a peer knows every possible direct target and its own groups. */
  plan: SoakPlan
  phase: string
  /** Overload mode: a peer with this many deliveries sent but not yet `delivered` skips its
   * turn (counted as held back), so the backlog left when the overload ends is bounded on any
   * machine. Absent: no limit. */
  window?: number
}

export interface StopCommand {
  type: 'stop'
  timeoutMs: number
}

export type ToWorker = InitCommand | MeetCommand | JoinCommand | SendOneCommand | RunCommand | StopCommand

// ---- IPC: worker → coordinator --------------------------------------------------------------

/** One message a peer handed to Parley (send() returned / sendGroup() resolved) or failed to. */
export interface SendRecord {
  msgId: string
  from: number
  /** Direct: the recipient's index; group: null. */
  to: number | null
  group: string | null
  sentAt: number
  phase: string
  /** The call threw: the message was never accepted. */
  error?: string
}

export interface ReceiptRecord {
  /** The receiving peer's index. */
  at: number
  from: string
  group: string | null
  parleyId: string
  /** undefined: a text that is not a soak message at all. */
  msgId: string | undefined
  sentAt: number
  receivedAt: number
  intact: boolean
}

export interface DeliveredRecord {
  /** The sending peer's index. */
  from: number
  to: string
  group: string | null
  parleyId: string
  at: number
}

export interface NoticeRecord {
  peer: number
  /** `rendezvous`: the peer lost (code DISCONNECTED) or regained (RECONNECTED) the rendezvous. */
  event: 'error' | 'warning' | 'rendezvous'
  code: string
  message: string
  at: number
}

export interface WorkerStats {
  rss: number
  heapUsed: number
  /** Event-loop delay over the worker's life so far, ms. */
  loopDelayP99: number
  loopDelayMax: number
  /** Event-loop utilisation since the last report (0..1). */
  utilisation: number
  tickGapMax: number
  /** Longest single tick of the send loop (ms). */
  tickRunMax: number
  queued: number
  /** Why items were parked in the outbox, with counts (ids and names folded away). */
  queuedReasons: Record<string, number>
  keys: number
  rendezvousLost: number
  /** Send turns skipped because the peer's window of unacknowledged deliveries was full. */
  heldBack: number
}

export interface EventsBatch {
  type: 'events'
  worker: number
  sends: SendRecord[]
  receipts: ReceiptRecord[]
  delivered: DeliveredRecord[]
  notices: NoticeRecord[]
  stats: WorkerStats
}

export interface DoneReply {
  type: 'done'
  worker: number
  step: ToWorker['type']
  /** Peers that failed this step, with why. */
  failures: Array<{ peer: number, error: string }>
  ms: number
  /** `init` of bare peers: [peer index, listen address] of each. */
  addresses?: Array<[number, string]>
}

export interface FatalReply {
  type: 'fatal'
  worker: number
  error: string
}

export type FromWorker = EventsBatch | DoneReply | FatalReply
