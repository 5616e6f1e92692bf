/**
 * Suite: Prosody 0.12 (XMPP, what a user would pick instead of Parley) as a baseline, on loopback
 * in the same run: a private Prosody (bench/prosody-server.ts) and @xmpp/client connections in
 * this process, beside Parley's figures from the direct and groups suites of the same run (run
 * here if they were not part of it).
 *
 * Method, as the Parley rows measure theirs:
 * - 1:1: one message at a time from alice to bob's bare JID, timed from the send until bob's
 *   client has parsed it (same process, same clock); p50 and p99 of each run, median of the runs.
 * - Groups: a MUC room per size with the sender and 4 / 16 / 64 members joined; one groupchat
 *   message timed until every member has received it; median of the runs.
 * - Throughput: 4 sender → recipient pairs, each with 4 messages in flight (a message is done when
 *   its recipient has it).
 * Parley's SEND and SENDGROUP are timed until the receivers' ACKs are back (for SEND, after the
 * receiver stored the message), more than Prosody's one-way delivery: a ratio under 1 is Parley
 * faster even so. So the 1:1 latency is also timed until the recipient's XEP-0184 receipt is back
 * at the sender (a round trip, as an ACK), and compared once more with Parley's SEND to an inbox
 * that stores nothing (Prosody archives nothing here): the protocols alone.
 */
import { randomBytes } from 'node:crypto'
import { client, xml } from '@xmpp/client'
import type { Client, Element } from '@xmpp/client'
import { directSuite, TEXT as DIRECT_TEXT } from './direct.ts'
import { groupsSuite, TEXT as GROUP_TEXT } from './groups.ts'
import { pool } from './nodes.ts'
import { DOMAIN, MUC_DOMAIN, ProsodyUnavailableError, startProsody } from './prosody-server.ts'
import type { Account, Prosody } from './prosody-server.ts'
import { row } from './report.ts'
import type { ResultRow, SuiteOptions } from './report.ts'
import { msSince, percentile, secondsSince, summarize } from './stats.ts'
import type { Summary } from './stats.ts'

const newId = (): string => randomBytes(12).toString('hex')

const MUC = 'http://jabber.org/protocol/muc'
/** XEP-0184 message delivery receipts: the XMPP counterpart of Parley's ACK. */
const RECEIPTS = 'urn:xmpp:receipts'
/** Connections opened at once (each is a TCP connection, SCRAM and a resource bind). */
const CONNECT_CONCURRENCY = 8
/** As bench/direct.ts's throughput: 4 pairs, 4 messages in flight each. */
const PAIRS = 4
const IN_FLIGHT = 4
/** A message or receipt not there by then is lost: the measurement fails rather than hang. */
const ARRIVAL_TIMEOUT_MS = 30_000

/** One connected XMPP account, with arrivals matched to waiters by stanza id. */
interface Peer {
  account: Account
  xmpp: Client
  /** Resolves when a message with a body and this id reaches this client, or (`receipt`) the
   * delivery receipt for the message with this id; call it before the message is sent. */
  arrival: (id: string, receipt?: boolean) => Promise<void>
}

/** The Parley figures the Prosody rows stand beside. */
interface ParleyFigures {
  sendP50: Summary
  sendP99: Summary
  /** SEND p50 to an inbox that keeps nothing: no sqlite, no fsync, as Prosody keeps nothing here. */
  sendP50NoStore: Summary
  pairsRate: Summary
  /** Group size → SENDGROUP ms. */
  group: Map<number, Summary>
}

function parleyFigures (rows: readonly ResultRow[]): ParleyFigures | undefined {
  const find = (suite: string, metric: string): Summary | undefined => rows.find(r => r.suite === suite && r.metric === metric)?.parley
  const sendP50 = find('direct', 'SEND latency p50 (open session)')
  const sendP99 = find('direct', 'SEND latency p99 (open session)')
  const sendP50NoStore = find('direct', 'SEND p50, inbox without store')
  const pairsRate = find('direct', 'SEND/s, 4 pairs, 4 in flight each')
  const group = new Map<number, Summary>()
  for (const r of rows) {
    const size = r.suite === 'groups' ? /^SENDGROUP to (\d+) online/.exec(r.metric)?.[1] : undefined
    if (size !== undefined) group.set(Number(size), r.parley)
  }
  if (sendP50 === undefined || sendP99 === undefined || sendP50NoStore === undefined || pairsRate === undefined || group.size === 0) return undefined
  return { sendP50, sendP99, sendP50NoStore, pairsRate, group }
}

/** Parley's figures from this run's direct and groups suites, or measured now by those suites. */
async function measureParley (options: SuiteOptions): Promise<ParleyFigures> {
  const earlier = parleyFigures(options.earlier ?? [])
  if (earlier !== undefined) return earlier
  options.log('Parley figures: running the direct and groups suites (not part of this run)')
  const rows = [...await directSuite(options), ...await groupsSuite(options)]
  const figures = parleyFigures(rows)
  if (figures === undefined) throw new Error('the direct and groups suites did not report the figures the Prosody rows compare with')
  return figures
}

async function connectPeer (prosody: Prosody, account: Account): Promise<Peer> {
  const xmpp = client({ service: prosody.service, domain: DOMAIN, username: account.username, password: account.password, resource: 'bench' })
  // Every waiter is registered before its message is sent, so an arrival nobody waits for (the
  // room's echo to the sender, the body of a message timed by its receipt) is simply ignored.
  const waiting = new Map<string, () => void>()
  xmpp.on('error', () => {}) // a failure surfaces as a rejected start() or a missing arrival
  xmpp.on('stanza', (stanza: Element) => {
    if (!stanza.is('message')) return
    const receipt = stanza.getChild('received', RECEIPTS)?.attrs.id
    const id = receipt !== undefined ? `receipt:${receipt}` : stanza.getChild('body') !== undefined ? stanza.attrs.id : undefined
    if (id === undefined) return
    const from = stanza.attrs.from
    if (receipt === undefined && from !== undefined && stanza.getChild('request', RECEIPTS) !== undefined) {
      xmpp.send(xml('message', { to: from, id: newId() }, xml('received', { xmlns: RECEIPTS, id }))).catch(() => {})
    }
    const done = waiting.get(id)
    if (done === undefined) return
    waiting.delete(id)
    done()
  })
  await xmpp.start()
  xmpp.socket?.setNoDelay?.(true) // as libp2p's TCP transport (and the server here) do
  await xmpp.send(xml('presence')) // available: messages to the bare JID reach this resource
  return {
    account,
    xmpp,
    arrival: async (id, receipt = false) => {
      const key = receipt ? `receipt:${id}` : id
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(key)
          reject(new Error(`${account.username}: no ${receipt ? 'receipt for' : 'message'} ${id} within ${ARRIVAL_TIMEOUT_MS} ms`))
        }, ARRIVAL_TIMEOUT_MS)
        waiting.set(key, () => { clearTimeout(timer); resolve() })
      })
    }
  }
}

/** Join `room` and wait for the room's own presence back (the join is complete then). */
async function join (peer: Peer, room: string): Promise<void> {
  const occupant = `${room}/${peer.account.username}`
  const joined = new Promise<void>(resolve => {
    const onStanza = (stanza: Element): void => {
      if (stanza.is('presence') && stanza.attrs.from === occupant) {
        peer.xmpp.off('stanza', onStanza)
        resolve()
      }
    }
    peer.xmpp.on('stanza', onStanza)
  })
  await peer.xmpp.send(xml('presence', { to: occupant }, xml('x', { xmlns: MUC })))
  await joined
}

/** One message from `from` to `to`'s bare JID; resolves when `to` has it, or (`receipt`) when
 * `from` has `to`'s delivery receipt for it. */
async function chat (from: Peer, to: Peer, receipt = false): Promise<void> {
  const id = newId()
  const arrived = receipt ? from.arrival(id, true) : to.arrival(id)
  arrived.catch(() => {}) // awaited below; observed now in case the send fails first
  await from.xmpp.send(xml('message', { to: `${to.account.username}@${DOMAIN}`, type: 'chat', id },
    xml('body', {}, DIRECT_TEXT), ...(receipt ? [xml('request', { xmlns: RECEIPTS })] : [])))
  await arrived
}

/** One groupchat message from `from` to `room`; resolves when every one of `members` has it. */
async function groupchat (from: Peer, room: string, members: readonly Peer[]): Promise<void> {
  const id = newId()
  const arrived = Promise.all(members.map(async m => { await m.arrival(id) }))
  arrived.catch(() => {}) // awaited below; observed now in case the send fails first
  await from.xmpp.send(xml('message', { to: room, type: 'groupchat', id }, xml('body', {}, GROUP_TEXT)))
  await arrived
}

interface ProsodyFigures {
  p50: Summary
  p99: Summary
  /** Until the sender has the recipient's XEP-0184 receipt: a round trip, as Parley's ACK. */
  receiptP50: Summary
  rate: Summary
  group: Map<number, Summary>
}

/** alice and bob (1:1), m0… (group members, alice sends), s0…/r0… (the pairs). */
function accountsFor (largestGroup: number): Account[] {
  const account = (username: string): Account => ({ username, password: randomBytes(12).toString('hex') })
  return [account('alice'), account('bob'), ...Array.from({ length: largestGroup }, (_, i) => account(`m${i}`)),
    ...Array.from({ length: PAIRS }, (_, i) => [account(`s${i}`), account(`r${i}`)]).flat()]
}

async function measureProsody (prosody: Prosody, accounts: readonly Account[], parley: ParleyFigures, { quick, log }: SuiteOptions): Promise<ProsodyFigures> {
  // The same counts as the Parley rows: runs from their samples, sizes from their metrics.
  const latencyRuns = parley.sendP50.samples.length
  const perRun = quick ? 40 : 200 // bench/direct.ts
  const pairRuns = parley.pairsRate.samples.length
  const perPair = quick ? 50 : 250 // bench/direct.ts
  const sizes = [...parley.group.keys()].sort((a, b) => a - b)
  const largest = Math.max(...sizes)

  const peers: Peer[] = []
  try {
    const connected = new Array<Peer | undefined>(accounts.length)
    await pool(accounts.length, CONNECT_CONCURRENCY, async i => { connected[i] = await connectPeer(prosody, accounts[i]!) })
    peers.push(...connected.filter(p => p !== undefined))
    const byName = (name: string): Peer => peers.find(p => p.account.username === name)!
    const alice = byName('alice')
    const bob = byName('bob')

    // 1:1 latency.
    const timed = async (receipt: boolean): Promise<number> => {
      const start = process.hrtime.bigint()
      await chat(alice, bob, receipt)
      return msSince(start)
    }
    for (let i = 0; i < 20; i++) { await timed(false); await timed(true) } // warm-up
    const p50: number[] = []; const p99: number[] = []; const receiptP50: number[] = []
    for (let run = 0; run < latencyRuns; run++) {
      const samples: number[] = []; const receipts: number[] = []
      for (let i = 0; i < perRun; i++) { samples.push(await timed(false)); receipts.push(await timed(true)) }
      p50.push(percentile(samples, 50)); p99.push(percentile(samples, 99)); receiptP50.push(percentile(receipts, 50))
      log(`prosody 1:1 run ${run + 1}/${latencyRuns}: p50 ${p50.at(-1)!.toFixed(2)} ms, p99 ${p99.at(-1)!.toFixed(2)} ms; with receipt back p50 ${receiptP50.at(-1)!.toFixed(2)} ms`)
    }

    // Throughput: 4 pairs, 4 in flight each.
    const pairs = Array.from({ length: PAIRS }, (_, i) => ({ from: byName(`s${i}`), to: byName(`r${i}`) }))
    const measureRate = async (): Promise<number> => {
      const start = process.hrtime.bigint()
      await Promise.all(pairs.map(async pair => { await pool(perPair, IN_FLIGHT, async () => { await chat(pair.from, pair.to) }) }))
      return PAIRS * perPair / secondsSince(start)
    }
    await measureRate() // warm-up
    const rate: number[] = []
    for (let run = 0; run < pairRuns; run++) {
      rate.push(await measureRate())
      log(`prosody throughput run ${run + 1}/${pairRuns}: ${rate.at(-1)!.toFixed(0)} messages/s`)
    }

    // Groups: a room per size, alice sends, members m0… receive.
    const members = Array.from({ length: largest }, (_, i) => byName(`m${i}`))
    const group = new Map<number, Summary>()
    for (const n of sizes) {
      const room = `group${n}@${MUC_DOMAIN}`
      await join(alice, room)
      await pool(n, CONNECT_CONCURRENCY, async i => { await join(members[i]!, room) })
      const timedGroup = async (): Promise<number> => {
        const start = process.hrtime.bigint()
        await groupchat(alice, room, members.slice(0, n))
        return msSince(start)
      }
      for (let i = 0; i < 3; i++) await timedGroup() // warm-up, as bench/groups.ts
      const samples: number[] = []
      for (let run = 0; run < parley.group.get(n)!.samples.length; run++) samples.push(await timedGroup())
      group.set(n, summarize(samples))
      log(`prosody MUC ${n} members: ${summarize(samples).median.toFixed(2)} ms`)
    }
    return { p50: summarize(p50), p99: summarize(p99), receiptP50: summarize(receiptP50), rate: summarize(rate), group }
  } finally {
    await Promise.all(peers.map(async p => { await p.xmpp.stop().catch(() => {}) }))
  }
}

function rows (parley: ParleyFigures, prosody: ProsodyFigures | { error: string }, version: string): ResultRow[] {
  const measured = 'error' in prosody ? undefined : prosody
  const label = (what: string): string => `Prosody ${version} ${what}`
  const compare = (metric: string, unit: string, better: 'lower' | 'higher', ours: Summary, theirs: Summary | undefined, what: string, note?: string): ResultRow => {
    const faster = theirs === undefined ? undefined : (better === 'lower' ? ours.median < theirs.median : ours.median > theirs.median)
    return row({
      suite: 'prosody',
      metric,
      unit,
      better,
      parley: ours,
      ...(theirs !== undefined ? { baseline: { label: label(what), summary: theirs } } : {}),
      ...(faster !== undefined ? { goal: { text: 'faster than Prosody', met: faster } } : {}),
      ...('error' in prosody ? { error: prosody.error } : {}),
      ...(note !== undefined ? { note } : {})
    })
  }
  const sizes = [...parley.group.keys()].sort((a, b) => a - b)
  return [
    compare('1:1 message p50: SEND until ACK / XMPP until received', 'ms', 'lower', parley.sendP50, measured?.p50, '1:1 chat',
      'Parley: the direct and groups suites\' figures from this run; Prosody: private server on 127.0.0.1, no TLS, @xmpp/client connections in this process'),
    compare('1:1 message p99', 'ms', 'lower', parley.sendP99, measured?.p99, '1:1 chat'),
    compare('1:1 p50: SEND until ACK / XMPP until receipt (XEP-0184)', 'ms', 'lower', parley.sendP50, measured?.receiptP50, '1:1 chat + receipt'),
    compare('1:1 p50, nothing stored: SEND to a storeless inbox / XMPP until receipt', 'ms', 'lower',
      parley.sendP50NoStore, measured?.receiptP50, '1:1 chat + receipt', 'a round trip on both sides and nothing persisted on either (Prosody keeps no archive here): the protocols alone'),
    compare('messages/s, 4 pairs, 4 in flight each', 'msg/s', 'higher', parley.pairsRate, measured?.rate, '1:1 chat'),
    ...sizes.map(n => compare(`group message to ${n} online: SENDGROUP all ACKed / MUC all received`, 'ms', 'lower',
      parley.group.get(n)!, measured?.group.get(n), 'MUC'))
  ]
}

export async function prosodySuite (options: SuiteOptions): Promise<ResultRow[]> {
  const parley = await measureParley(options)
  const accounts = accountsFor(Math.max(...parley.group.keys()))
  options.log(`starting a private Prosody with ${accounts.length} accounts`)
  let prosody: Prosody
  try {
    prosody = await startProsody(accounts)
  } catch (err) {
    if (!(err instanceof ProsodyUnavailableError)) throw err
    options.log(`Prosody baseline not measured: ${err.message}`)
    return rows(parley, { error: err.message }, '0.12')
  }
  try {
    return rows(parley, await measureProsody(prosody, accounts, parley, options), prosody.version)
  } finally {
    await prosody.stop()
  }
}
