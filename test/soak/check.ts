/**
 * The soak's verdict, from the records the workers sent: every message accepted by Parley must
 * reach each intended recipient exactly once, whole, from the right sender and in the right
 * group; nobody else may get it; the sender must see `delivered` for each recipient; and no
 * `error` may be reported. Pure functions, so the checks themselves are unit-tested
 * (check.test.ts) without starting a single node.
 */
import { groupName, peerName } from './protocol.ts'
import type { DeliveredRecord, NoticeRecord, ReceiptRecord, SendRecord, SoakPlan } from './protocol.ts'

export interface Records {
  plan: SoakPlan
  sends: SendRecord[]
  receipts: ReceiptRecord[]
  delivered: DeliveredRecord[]
  notices: NoticeRecord[]
}

export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

export interface Problem {
  kind: string
  detail: string
}

export interface Analysis {
  sent: { direct: number, group: number, failed: number }
  /** (message, recipient) pairs that should arrive. */
  expected: number
  received: number
  lost: number
  duplicated: number
  misdelivered: number
  corrupted: number
  /** Expected pairs that arrived but whose sender never saw `delivered`. */
  unacknowledged: number
  /** `delivered` events that match no receipt, or repeat one. */
  strayDelivered: number
  errors: number
  warnings: number
  /** receive time − send time, ms, by phase and kind. */
  latency: Record<string, LatencySummary | null>
  /** Time from the send to the sender's `delivered` (the receiver's ACK), ms, for a phase. */
  ackLatency: Record<string, LatencySummary | null>
  /** Pairs of peers that exchanged anything, and arrival latency by phase split in two: `first
   * meeting`, sent before anything had arrived between its two peers in either direction (a
   * direct message then waited for their connection and session; group members open theirs
   * ahead, at sign-in and JOIN, so theirs mostly did not), and `met before`. */
  meetings: { pairs: number, latency: Record<string, LatencySummary | null> }
  /** A few examples of each problem, for the report. */
  examples: Problem[]
}

export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const a = sorted[low] ?? 0
  const b = sorted[Math.ceil(rank)] ?? a
  return a + (b - a) * (rank - low)
}

export function summarise (values: number[]): LatencySummary | null {
  if (values.length === 0) return null
  const sorted = Float64Array.from(values).sort()
  const list = Array.from(sorted)
  return {
    count: list.length,
    p50: percentile(list, 50),
    p90: percentile(list, 90),
    p99: percentile(list, 99),
    max: list[list.length - 1] ?? NaN,
    mean: list.reduce((a, b) => a + b, 0) / list.length
  }
}

const MAX_EXAMPLES = 8

export function analyse (records: Records): Analysis {
  const { plan } = records
  const examples: Problem[] = []
  const note = (kind: string, detail: string): void => {
    if (examples.filter(e => e.kind === kind).length < MAX_EXAMPLES) examples.push({ kind, detail })
  }
  const indexOf = new Map<string, number>()
  for (let i = 0; i < plan.peers; i++) indexOf.set(peerName(i), i)
  const membersOf = new Map<string, number[]>()
  plan.groups.forEach((members, g) => { membersOf.set(groupName(g), members) })

  // What should arrive: msgId → recipients.
  const sends = new Map<string, SendRecord>()
  const recipients = new Map<string, Set<number>>()
  const sent = { direct: 0, group: 0, failed: 0 }
  let expected = 0
  for (const send of records.sends) {
    if (sends.has(send.msgId)) note('duplicate-send-id', send.msgId)
    sends.set(send.msgId, send)
    if (send.error !== undefined) {
      sent.failed++
      note('send-failed', `${send.msgId} from ${peerName(send.from)}: ${send.error}`)
      continue
    }
    let to: number[]
    if (send.group === null) {
      sent.direct++
      to = send.to === null ? [] : [send.to]
    } else {
      sent.group++
      to = (membersOf.get(send.group) ?? []).filter(m => m !== send.from)
    }
    recipients.set(send.msgId, new Set(to))
    expected += to.length
  }

  // What did arrive.
  const seen = new Map<string, ReceiptRecord>()
  let received = 0
  let duplicated = 0
  let misdelivered = 0
  let corrupted = 0
  const latencies = new Map<string, number[]>()
  for (const receipt of records.receipts) {
    const where = `${peerName(receipt.at)} got ${receipt.msgId ?? '(foreign text)'} from ${receipt.from}${receipt.group === null ? '' : ` in ${receipt.group}`}`
    if (receipt.msgId === undefined || !receipt.intact) {
      corrupted++
      note('corrupted', where)
      continue
    }
    const send = sends.get(receipt.msgId)
    const wanted = recipients.get(receipt.msgId)
    if (send === undefined || wanted === undefined || !wanted.has(receipt.at) ||
        receipt.from !== peerName(send.from) || receipt.group !== send.group) {
      misdelivered++
      note('misdelivered', where)
      continue
    }
    const key = `${receipt.msgId}|${receipt.at}`
    if (seen.has(key)) {
      duplicated++
      note('duplicated', where)
      continue
    }
    seen.set(key, receipt)
    received++
    const bucket = `${send.phase}/${send.group === null ? 'direct' : 'group'}`
    const list = latencies.get(bucket) ?? []
    list.push(receipt.receivedAt - send.sentAt)
    latencies.set(bucket, list)
  }

  let lost = 0
  for (const [msgId, to] of recipients) {
    for (const r of to) {
      if (seen.has(`${msgId}|${r}`)) continue
      lost++
      const send = sends.get(msgId)
      note('lost', `${msgId} from ${send === undefined ? '?' : peerName(send.from)} to ${peerName(r)}${send?.group == null ? '' : ` in ${send.group}`}`)
    }
  }

  // Every arrival must be matched by the sender's `delivered`, once.
  const deliveredBy = new Map<string, DeliveredRecord[]>()
  for (const d of records.delivered) {
    const key = `${d.parleyId}|${d.to}`
    deliveredBy.set(key, [...(deliveredBy.get(key) ?? []), d])
  }
  let unacknowledged = 0
  const ackLatencies = new Map<string, number[]>()
  const matched = new Set<string>()
  for (const receipt of seen.values()) {
    const send = sends.get(receipt.msgId ?? '')
    if (send === undefined) continue
    const key = `${receipt.parleyId}|${peerName(receipt.at)}`
    const ack = deliveredBy.get(key)?.find(d => d.from === send.from && d.group === send.group)
    if (ack === undefined) {
      unacknowledged++
      note('unacknowledged', `${receipt.msgId} to ${peerName(receipt.at)} arrived but ${peerName(send.from)} saw no delivered`)
      continue
    }
    matched.add(key)
    const list = ackLatencies.get(send.phase) ?? []
    list.push(ack.at - send.sentAt)
    ackLatencies.set(send.phase, list)
  }
  let strayDelivered = 0
  for (const [key, list] of deliveredBy) {
    const extra = matched.has(key) ? list.length - 1 : list.length
    if (extra > 0) {
      strayDelivered += extra
      note('stray-delivered', `${key} ×${list.length}${matched.has(key) ? '' : ' (no such arrival)'}`)
    }
  }

  let errors = 0
  let warnings = 0
  for (const n of records.notices) {
    if (n.event === 'error') {
      errors++
      note('error', `${n.peer >= 0 ? peerName(n.peer) : 'worker'} ${n.code}: ${n.message}`)
    } else if (n.event === 'warning') {
      warnings++
      note('warning', `${peerName(n.peer)} ${n.code}: ${n.message}`)
    }
  }

  const latency: Record<string, LatencySummary | null> = {}
  // Phase by phase in the order they ran (the record order), then direct, group, all.
  for (const phase of new Set(records.sends.map(s => s.phase))) {
    const direct = latencies.get(`${phase}/direct`) ?? []
    const group = latencies.get(`${phase}/group`) ?? []
    if (direct.length > 0) latency[`${phase}/direct`] = summarise(direct)
    if (group.length > 0) latency[`${phase}/group`] = summarise(group)
    if (direct.length > 0 && group.length > 0) latency[`${phase}/all`] = summarise([...direct, ...group])
  }
  const ackLatency: Record<string, LatencySummary | null> = {}
  for (const [phase, list] of ackLatencies) ackLatency[phase] = summarise(list)
  const meetings = splitByMeeting([...seen.values()], sends, indexOf)

  return {
    sent,
    expected,
    received,
    lost,
    duplicated,
    misdelivered,
    corrupted,
    unacknowledged,
    strayDelivered,
    errors,
    warnings,
    latency,
    ackLatency,
    meetings,
    examples
  }
}

/** Arrival latency of first meetings against pairs that had met (see Analysis.meetings). */
function splitByMeeting (arrivals: ReceiptRecord[], sends: Map<string, SendRecord>, indexOf: Map<string, number>): Analysis['meetings'] {
  const pairOf = (a: number, b: number): string => a < b ? `${a}|${b}` : `${b}|${a}`
  const firstArrival = new Map<string, number>()
  for (const receipt of arrivals) {
    const pair = pairOf(indexOf.get(receipt.from) ?? -1, receipt.at)
    firstArrival.set(pair, Math.min(firstArrival.get(pair) ?? Infinity, receipt.receivedAt))
  }
  const lists = new Map<string, { first: number[], met: number[] }>()
  for (const receipt of arrivals) {
    const send = sends.get(receipt.msgId ?? '')
    if (send === undefined) continue
    const phase = lists.get(send.phase) ?? { first: [], met: [] }
    lists.set(send.phase, phase)
    const first = send.sentAt < (firstArrival.get(pairOf(send.from, receipt.at)) ?? Infinity)
    phase[first ? 'first' : 'met'].push(receipt.receivedAt - send.sentAt)
  }
  const latency: Record<string, LatencySummary | null> = {}
  for (const [phase, { first, met }] of lists) {
    if (first.length > 0) latency[`${phase}/first meeting`] = summarise(first)
    if (met.length > 0) latency[`${phase}/met before`] = summarise(met)
  }
  return { pairs: firstArrival.size, latency }
}
