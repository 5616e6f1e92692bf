/**
 * Printing events: one JSON object per line with --json (the stable interface scripts and the
 * integration tests use), or lines for a person: time, who, what; errors and warnings on stderr.
 * The only module of the peer that writes events to the terminal. Every string of an event is
 * made safe (safe-text.ts) before a person sees it: remote text can never drive the terminal.
 */
import { styleText } from 'node:util'
import type { FileCutCause, PeerEvent } from '../events.ts'
import { ErrorCode } from '../../common/errors.ts'
import { formatBytes } from '../../common/format-bytes.ts'
import { CONNECTION_CLOSED } from '../../common/wire/frames.ts'
import { byName, clock, hangingRows, table, when } from './format.ts'
import { safeValue } from './safe-text.ts'
import { TransferStatus } from './transfer-status.ts'
import { TERMINAL_KEYS } from './commands.ts'
import { HISTORY_MAX } from '../constants.ts'
import { REFUSED_BY_RECIPIENT } from '../../common/protocol/peer.ts'
import { isWaitingForFirstKey, isWaitingForKey } from '../groups/keyring.ts'
import { DeliveryNotices, SaidWaiting } from './delivery-notices.ts'
import { Unconfirmed } from './unconfirmed.ts'

export interface Output {
  print: (event: PeerEvent) => void
  /** Interactive prompt: called around each print so a message never lands inside the line
   * being typed; `before` clears the prompt line, `after` draws it again with the typed text
   * (and `status()` in front of it). */
  attachPrompt?: (before: () => void, after: () => void) => void
  /** Stop calling the prompt (it is closed). */
  detachPrompt?: () => void
  /** What the prompt shows before the user's name, in at most `width` columns: the file
   * transfers in progress, if any. */
  status?: (width: number) => string | undefined
  /** Stop the timers kept for the status before exit. */
  close: () => void
}

export function jsonOutput (write: (line: string) => void = line => { process.stdout.write(line) }): Output {
  return {
    print: event => { write(JSON.stringify(event) + '\n') },
    close: () => {}
  }
}

type Style = Parameters<typeof styleText>[0]

/** The prompt is redrawn for a transfer's progress at most this often (a person reads no faster). */
const STATUS_REDRAW_MS = 100
/** A message that arrives this long after it was sent says when it was sent. Under a minute is
 * delivery as usual, or two clocks that differ a little. */
const LATE_MS = 60_000
/** A message shown below one of its conversation sent this much later says when it was sent,
 * however little it waited: a catch-up from a second sender came under the first's later texts
 * with nothing to say that it was older (round 38). More than two clocks that differ a little. */
const OUT_OF_ORDER_MS = 2_000
/** How often transfers that went silent are looked for (transfer-status.ts, STALE_MS). */
const STATUS_SWEEP_MS = 5_000
/** After QUIT, while what goes out is finished (no prompt to carry the status), a line says how
 * far it got this often. */
const LEAVING_PROGRESS_MS = 3_000

/** Where an event's line goes and in which style: the text itself is made by `describe`. */
export function humanOutput (out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Output {
  // styleText with a stream colours only a terminal, and honours NO_COLOR / FORCE_COLOR.
  const paint = (stream: NodeJS.WriteStream) => (style: Style, text: string): string => styleText(style, text, { stream })
  const colour = paint(out)
  const transfers = new TransferStatus()
  const shownOrder = new ShownOrder()
  /** Users the last presence line said are offline. */
  const offlineNow = new Set<string>()
  /** Texts said to wait for someone offline, not said again each (delivery-notices.ts); a file
   * is always said (its line asks to leave the file where it is). */
  const saidWaiting = new SaidWaiting()
  const alreadySaidWaiting = (event: Extract<PeerEvent, { event: 'queued' }>): boolean =>
    event.reason === 'offline' && event.name === null && saidWaiting.alreadySaid(event.to, event.group)
  /** A delivery cut as its recipients went away, the presence line saying so coming while its
   * notice was gathered: said as `offline`, as the outbox says one cut after it (round 42: "bob is
   * offline", then "queued for bob (the other side closed the connection)"). */
  const cutAsTheyLeft = (event: Extract<PeerEvent, { event: 'queued' }>, members: string[]): boolean =>
    event.code === ErrorCode.Unreachable && event.reason === CONNECTION_CLOSED && members.every(member => offlineNow.has(member))
  let prompt: { before: () => void, after: () => void } | undefined
  let lastRedraw = -Infinity
  let redrawTimer: NodeJS.Timeout | undefined
  let sweepTimer: NodeJS.Timeout | undefined
  /** QUIT is finishing what goes out (the `leaving` event): when its progress was last said. */
  let leavingSaid: number | undefined
  /** A line for a person, wider than the terminal broken into indented rows (format.ts,
   * hangingRows): a text from another user padded to the width began a row that read as a line
   * of its own (round 37), and notices broke mid-word at the left edge (round 39). */
  const fitted = (text: string, stream: NodeJS.WriteStream): string => stream.isTTY === true ? hangingRows(text, stream.columns) : text
  const line = (text: string): void => { out.write(fitted(text, out) + '\n') }
  // A group message's notices about its members, gathered, are printed as events are (around the prompt).
  const deliveryNotices = new DeliveryNotices(text => { abovePrompt(() => { line(text) }) })

  // Texts whose recipient has not answered for a while: a line, said around the prompt too.
  const unconfirmed = new Unconfirmed(({ to, count, waitedMs, group }) => {
    const where = typeof group === 'string' ? ` in ${group}` : ''
    abovePrompt(() => {
      line(colour('yellow', `${clock()} ${plural(count, 'message')} to ${to}${where} not confirmed yet (sent ${Math.round(waitedMs / 1000)} s ago): ` +
        `${to}'s device has not answered; ${count === 1 ? 'it stays' : 'they stay'} in your outbox until it does`))
    })
  })

  /**
   * What the prompt's clearing, the printing and the prompt's redrawing write goes to the
   * terminal as one write. Written as readline does, piece by piece, the prompt's row stood empty
   * between them (a flicker with every transfer's status, and a screen read then saw no prompt:
   * the pty test's failure in CI). Only for `out`: a write to `err` meanwhile would overtake the
   * ones held back.
   */
  function inOneWrite (write: () => void): void {
    out.cork()
    try {
      write()
    } finally {
      out.uncork()
    }
  }

  /** Print above the prompt: take it off, print, draw it again below. */
  function abovePrompt (print: () => void): void {
    inOneWrite(() => {
      prompt?.before()
      print()
      redraw(false)
    })
  }

  /** Draw the prompt again: below a line just printed (the prompt was cleared before it), or
   * in place, for a new status. */
  function redraw (inPlace: boolean): void {
    clearTimeout(redrawTimer)
    redrawTimer = undefined
    lastRedraw = performance.now()
    if (inPlace) {
      inOneWrite(() => {
        prompt?.before()
        prompt?.after()
      })
    } else {
      prompt?.after()
    }
  }

  /** The status changed: draw the prompt again, at once when a transfer started or ended,
   * else at most every STATUS_REDRAW_MS. */
  function statusChanged (now: boolean): void {
    if (transfers.active) sweepTimer ??= setInterval(sweep, STATUS_SWEEP_MS).unref()
    const wait = STATUS_REDRAW_MS - (performance.now() - lastRedraw)
    if (now || wait <= 0) redraw(true)
    else redrawTimer ??= setTimeout(() => { redraw(true) }, wait).unref()
  }

  function sweep (): void {
    const dropped = transfers.expire()
    if (!transfers.active) {
      clearInterval(sweepTimer)
      sweepTimer = undefined
    }
    if (dropped) redraw(true)
  }

  function progress (event: Extract<PeerEvent, { event: 'progress' }>): void {
    // No prompt to carry a status (a script, or output that is not a terminal): nothing, the
    // `delivered` or `file` line says the end (until 2026-12-06 a line at 100 % said it first,
    // twice for a file received: a tester's finding). After QUIT on a terminal, while what goes
    // out is finished, a line now and then says how far it got (until 2026-12-06 nothing for up
    // to 30 s: a tester's finding).
    if (prompt === undefined) {
      if (leavingSaid === undefined || out.isTTY !== true) return
      transfers.update(event)
      const status = transfers.text(Math.max(24, (out.columns ?? 80) - 20))
      if (status === undefined || Date.now() - leavingSaid < LEAVING_PROGRESS_MS) return
      leavingSaid = Date.now()
      line(colour('dim', `${clock()} still going out: ${status}`))
      return
    }
    const wasActive = transfers.active
    if (transfers.update(event)) statusChanged(wasActive !== transfers.active)
  }

  /** An event that ends a transfer to or from one peer takes it out of the status (the prompt is
   * drawn again after the event's own line); a text's `sent` and its answer are counted for
   * `unconfirmed`. */
  function ending (event: PeerEvent): void {
    switch (event.event) {
      case 'sent': if (event.name === null) unconfirmed.sent(event.id, event.to, event.group); break
      // A file read for its hash is taken, or its command failed (an error that answers one: no
      // `at`): the reading leaves the status.
      case 'accepted': if (event.kind === 'file') transfers.end('read', event.id, event.to ?? event.group ?? ''); break
      case 'error': if (event.at === undefined) transfers.endReading(); break
      case 'delivered': case 'queued': case 'undelivered': case 'withdrawn':
        transfers.end('send', event.id, event.to)
        if (event.event === 'queued') unconfirmed.queued(event.id, event.to)
        else unconfirmed.settled(event.id, event.to)
        break
      case 'file': case 'group-file': case 'file-cut': transfers.end('receive', event.id, event.from); break
      case 'signed-up': case 'logged-in': unconfirmed.clear(); break
      // What was going out stopped with the session: its status goes at once (it stood still
      // until the 20 s after which a silent transfer is dropped: a tester's finding).
      case 'signed-out': unconfirmed.clear(); transfers.clear(); break
      default:
    }
  }

  function print (event: PeerEvent): void {
    if (event.event === 'progress') return progress(event)
    if (event.event === 'warning' || event.event === 'error') {
      const style = event.event === 'warning' ? 'yellow' : 'red'
      // A warning comes on its own, any time later: it carries the time, as the other notices do;
      // so does an error that answers no command (until 2026-12-06 it had none: round 6).
      const text = event.event === 'warning'
        ? `${clock()} warning: ${event.message}`
        : `${event.at === undefined ? '' : `${clock(event.at)} `}error: ${event.message}`
      ending(event)
      err.write(fitted(paint(err)(style, text), err) + '\n')
      return
    }
    ending(event)
    // A delivery withdrawn from a member who left is no news, and no longer waits (round 16: its
    // text was said "not confirmed yet … stays in your outbox" 5 s later).
    if (event.event === 'delivered' || event.event === 'withdrawn') deliveryNotices.withdraw(event.id, event.to)
    if (event.event === 'delivered') saidWaiting.back(event.to)
    if (event.event === 'presence') {
      if (event.online) offlineNow.delete(event.user)
      else offlineNow.add(event.user)
      if (event.online) saidWaiting.back(event.user)
    }
    if (event.event === 'queued' && alreadySaidWaiting(event)) return
    if (event.event === 'delivered' || event.event === 'queued') {
      const key = gatherKey(event)
      // (Several texts are counted where a file's line names the file.)
      if (key !== undefined) {
        return deliveryNotices.add(key, event.id, event.to, (names, messages, members) => event.event === 'queued'
          ? queuedLine({ ...event, to: names, ...(cutAsTheyLeft(event, members) ? { reason: 'offline', code: null } : {}) }, messages, colour)
          : deliveredLine({ ...event, to: names }, messages, colour),
        event.event === 'queued' && isWaitingForKey(event.reason) ? KEY_WAIT_GATHER_MS : undefined)
      }
    }
    if (event.event === 'bye') for (const text of deliveryNotices.drain()) line(text) // before the last line
    if (event.event === 'leaving') leavingSaid = Date.now()
    const text = describe(event, colour, shownOrder.belowLater(event))
    if (text === undefined) return
    // Tables and lists keep their own layout: their rows (table(): two spaces in) wrap as the
    // terminal wraps them. The lines of prose around them (the notice above HISTORY's rows,
    // MEMBERS' and WHO's headings, HELP's last line) break between words as any line does
    // (rounds 43 and 46: at 40 columns `(HISTORY alice 18 sh` / `ows 18)`, `(key epoch` / `5)`).
    if (LAID_OUT.has(event.event)) out.write(text.split('\n').map(row => row.startsWith('  ') ? row : fitted(row, out)).join('\n') + '\n')
    else line(text)
  }

  return {
    print: event => {
      const safe = safeValue(event)
      if (safe.event === 'progress') return print(safe)
      if (safe.event !== 'warning' && safe.event !== 'error') return abovePrompt(() => { print(safe) })
      prompt?.before()
      print(safe)
      redraw(false)
    },
    attachPrompt: (before, after) => {
      prompt = { before, after }
    },
    detachPrompt: () => {
      prompt = undefined
    },
    status: width => transfers.text(width),
    close: () => {
      for (const text of deliveryNotices.drain()) line(text)
      unconfirmed.stop()
      clearTimeout(redrawTimer)
      clearInterval(sweepTimer)
      transfers.clear()
    }
  }
}

/** A message that waited for us (in its sender's outbox while we were away) says when it was
 * sent, beside when it arrived: `06:37:27 (sent 06:37:05) alice: hi`, before the sender's name
 * where its text cannot imitate it. Until 2026-12-06 it had only the time it arrived (a
 * tester's finding). Undefined for a message on time. */
function sentNote (message: { at: number, sentAt: number | null }): string | undefined {
  if (message.sentAt === null || message.at - message.sentAt < LATE_MS) return undefined
  return `(sent ${when(message.sentAt, message.at)})`
}

/** In HISTORY, listed by when it was sent: when a message that waited came. */
function cameNote (message: { at: number, sentAt: number | null }): string | undefined {
  if (message.sentAt === null || message.at - message.sentAt < LATE_MS) return undefined
  return `(came ${when(message.at, message.sentAt)})`
}

function late (message: { at: number, sentAt: number | null }, colour: (style: Style, text: string) => string, belowLater = false): string {
  const note = sentNote(message) ?? (belowLater && message.sentAt !== null ? `(sent ${when(message.sentAt, message.at)})` : undefined)
  return note === undefined ? '' : `${colour('dim', note)} `
}

/** The latest send time shown per conversation (a group, or a user's direct one), to tell a
 * message shown below one sent after it (OUT_OF_ORDER_MS). */
class ShownOrder {
  readonly #latest = new Map<string, number>()

  /** Whether `event`, shown now, comes below one of its conversation sent later than it. */
  belowLater (event: PeerEvent): boolean {
    if (event.event !== 'message' && event.event !== 'group-message' && event.event !== 'file' && event.event !== 'group-file') return false
    const key = event.event === 'group-message' || event.event === 'group-file' ? `#${event.group}` : event.from
    const sent = event.sentAt ?? event.at
    const latest = this.#latest.get(key) ?? -Infinity
    this.#latest.set(key, Math.max(latest, sent))
    return latest - sent >= OUT_OF_ORDER_MS
  }
}

/** A member's status: what the rendezvous says, and whether a direct session is open. With the
 * rendezvous away, one we hold no connection to is not known to be offline ("offline" read wrong
 * beside the deliveries to them that followed: a tester's finding, until 2026-12-06). One it says
 * is offline while a session is still open is `offline, connected` (a frozen process whose
 * connection has not dropped yet, or one that lost the rendezvous), not online, as the header
 * counts them (until 2026-12-06 `online, connected`: round 16). */
function memberStatus (member: { online: boolean, connected: boolean }, lastKnown: boolean): string {
  if (lastKnown && !member.online) return 'not known (no connection now)'
  return member.connected ? `${online(member.online)}, connected` : online(member.online)
}

/** A line about a delivery starts with its file's name (a text's has none). */
const named = (file: string | null): string => file === null ? '' : `${file} `
const plural = (count: number, word: string): string => `${count} ${count === 1 ? word : word.replace(/y$/, 'ie') + 's'}`

/** LEAVE, and what becomes of our messages still on their way to the members. Until 2026-12-06
 * every delivery not yet done was said to be for members who were offline and not to go, those
 * going out too, which then arrived. */
function leftWords (event: Extract<PeerEvent, { event: 'left' }>): string {
  const words = [`Left group ${event.group}.`]
  if (event.underWay > 0) words.push(`${plural(event.underWay, 'delivery')} already under way ${event.underWay === 1 ? 'goes' : 'go'} on: you sent ${event.underWay === 1 ? 'it' : 'them'} as a member.`)
  if (event.dropped > 0) words.push(`${plural(event.dropped, 'delivery')} still waiting will not go: only members send to a group.`)
  if (event.partsRemoved > 0) {
    const [files, them] = event.partsRemoved === 1 ? ['A file', 'it'] : [`${event.partsRemoved} files`, 'them']
    words.push(`${files} of the group that stopped coming will not come now: what came of ${them} is removed.`)
  }
  return words.join(' ')
}

const online = (is: boolean): string => is ? 'online' : 'offline'

/** A file-cut's cause for a person. What was verified is kept (files/partial.ts) and the sender's
 * outbox sends the file again, resuming there, unless the receiver's side was at fault; the
 * error's own words follow only where they tell the person more than the cause does. */
function cutExplained (cause: FileCutCause, from: string, reason: string): string {
  switch (cause) {
    // Either side may have gone (our process stopped, our network): "when alice is back" blamed
    // alice for a receiver that had been frozen (a tester's finding, until 2026-12-06).
    // Nor "when you are both online" (until 2026-12-06): read after a SIGCONT, both were.
    // The device it came from sends the rest: not "alice" wherever she is (after a sign-in
    // elsewhere took over mid-file, alice was online, and the rest waited: round 9).
    case 'gone': return `the connection to ${from} was lost; the rest comes once you are connected again with the device ${from} sent it from`
    case 'stalled': return `${from} stopped sending (${reason}); the rest comes when ${from} sends again`
    case 'invalid': return `what ${from} sent failed a check (${reason})`
    case 'local': return `it could not be saved here (${reason})`
    // What came is kept (until 2026-12-06 it went, and the file came again from its first byte).
    case 'no-space': return `this disk is full (${reason}); what came is kept, and ${from} sends the rest once there is room`
    case 'signed-out': return `you signed out here; ${from} sends it again where you sign in next`
    case 'abandoned': return `${from} gave it up (${reason}); what came is removed`
    case 'left': return `${reason}, so the rest will not come; what came is removed`
    case 'blocked': return `${reason}, so the rest is not taken; what came is removed`
  }
}

/** A CREATE, JOIN or LEAVE settled after the rendezvous kept it waiting (app.ts #settleLater):
 * said with the time, as a line that comes by itself is, and as the answer it is (round 45: a
 * bare "Joined group trip." a minute after the JOIN). */
function answeredLate (event: { late?: true }, text: string): string {
  return event.late === true ? `${clock()} The rendezvous answered at last: ${text}` : text
}

/** Groups of digits a row when a fingerprint is shown: three rows of four, as Signal shows a
 * safety number, 25 columns wide. On one row (71 columns) a narrow terminal broke it inside a
 * group, `… 65` over `821 …`, which is not the number the other screen shows (round 39). */
const FINGERPRINT_GROUPS_A_ROW = 4

function fingerprintRows (fingerprint: string): string {
  const groups = fingerprint.split(' ')
  const rows: string[] = []
  for (let i = 0; i < groups.length; i += FINGERPRINT_GROUPS_A_ROW) rows.push(`  ${groups.slice(i, i + FINGERPRINT_GROUPS_A_ROW).join(' ')}`)
  return rows.join('\n')
}

/** VERIFY for a person. After a change the number to compare is the new identity's (the one the
 * other side sees, and the one TRUST accepts); the pinned one is named last, for reference only,
 * so that nobody compares it by mistake (until 2026-12-06 it was the one shown to compare). */
function verifyText (event: Extract<PeerEvent, { event: 'verify' }>, colour: (style: Style, text: string) => string): string {
  const compare = `Compare it with ${event.user} in person or on a call; it must be the same on both screens.`
  const fingerprint = fingerprintRows(event.fingerprint)
  if (event.lastKnown) return `Fingerprint for you and ${event.user} as pinned here (the rendezvous is out of reach: a change of ${event.user}'s identity there is not known yet):\n${fingerprint}\n${compare}`
  if (!event.changed) return `Fingerprint for you and ${event.user}:\n${fingerprint}\n${compare}`
  return [
    colour('yellow', `${event.user}'s identity has changed since you first talked: the directory now shows ${event.peerId}.`),
    `Fingerprint for you and ${event.user}'s new identity:`,
    fingerprint,
    compare,
    `If it is, TRUST ${event.user} accepts the new identity; until then messages to ${event.user} wait in the outbox and messages from the new identity are refused.`,
    `(For reference only, not to compare: the identity you first talked with was ${event.pinnedPeerId ?? 'unknown'}, fingerprint ${event.pinnedFingerprint ?? 'unknown'}.)`
  ].join('\n')
}

/** Signed out by a sign-in elsewhere, or by another account's here, and what that left in this
 * folder's outbox (until 2026-12-06 nothing said what stayed behind: testers' findings). */
function signedOutText (event: Extract<PeerEvent, { event: 'signed-out' }>): string {
  const { username, pending } = event
  const switched = event.reason === 'switched'
  const what = switched ? `${username} is signed out here.` : `${username} signed in on another device; signed out here. LOGIN again to use this one.`
  const when = `when ${switched ? `${username} signs` : 'you sign'} in here again`
  const [wait, it] = pending === 1 ? ['waits', 'it goes'] : ['wait', 'they go']
  return [
    what,
    ...(pending === 0 ? [] : [`${plural(pending, 'delivery')}${switched ? ` of ${username}'s` : ''} still ${wait} in this folder's outbox: ${it} ${when}.`]),
    ...unconfirmedWords(event.unconfirmed, when)
  ].join(' ')
}

/** Group messages sent while the rendezvous was away whose roll call is still due (groups/
 * roll-call.ts): HISTORY shows them `sent`; said at a sign-out so that nobody takes them for
 * delivered to everyone (until 2026-12-07 nothing was said: round 24). */
function unconfirmedWords (unconfirmed: number, when: string): string[] {
  if (unconfirmed === 0) return []
  const [waits, their, them] = unconfirmed === 1 ? ['waits', 'its group', 'it'] : ['wait', 'their groups', 'them']
  return [`${plural(unconfirmed, 'group message')} sent while the rendezvous was away still ${waits} for the check of who was in ${their} then: a member who had joined by then and did not get ${them} gets ${them} ${when}.`]
}

/** Who must act for a delivery held by a changed identity: the recipient, who refused ours (its
 * reason says so), or we, who see theirs changed (until 2026-12-06 both read "once bob accepts
 * your identity", wrong for the second: a tester's finding). */
function identityWait (to: string, reason: string, it: string, goes: string): { why: string, then: string } {
  // Said short: the warning that came with the change said it all (until 2026-12-06 the whole
  // of it stood again in the brackets: round 10).
  return reason.startsWith(REFUSED_BY_RECIPIENT)
    ? { why: `${to} knows you by another identity`, then: `${it} ${goes} once ${to} accepts your identity` }
    : { why: `${to}'s identity has changed`, then: `${it} ${goes} once you accept ${to}'s new identity (VERIFY ${to}, then TRUST ${to})` }
}

/** What a delivery notice is about: one message (a file by its name), or `count` texts gathered. */
function subject (name: string | null, count: number): string {
  return count > 1 ? `${count} messages ` : named(name)
}

/** A delivered notice, for one message or `count` texts gathered (delivery-notices.ts). */
function deliveredLine (event: Extract<PeerEvent, { event: 'delivered' }>, count: number, colour: (style: Style, text: string) => string): string {
  return colour('green', `${clock()} ${subject(event.name, count)}delivered to ${event.to}${event.group === null ? '' : ` in ${event.group}`}`)
}

/** A queued notice, for one message or `count` texts gathered (delivery-notices.ts). */
function queuedLine (event: Extract<PeerEvent, { event: 'queued' }>, count: number, colour: (style: Style, text: string) => string): string {
  const [it, goes] = count > 1 ? ['they', 'go'] : ['it', 'goes']
  // Offline: it waits for them. Otherwise they are online but could not be reached (or went
  // away mid-delivery), and the outbox tries again within seconds: "when they are back" read
  // wrong beside "bob is online" (until 2026-12-06).
  // Refused until they accept our identity: "shortly" read wrong there (a tester's finding).
  // Cut mid-delivery, they may be leaving: "tried again shortly" read wrong beside "bob is
  // offline" said a moment before (a tester's finding); it goes as soon as it can, either way.
  // Waiting for the group's key, it goes when a member hands it to us (until 2026-12-06 "as
  // soon as leo can be reached", beside leo online).
  let why = event.reason
  let then = `${it} ${goes} as soon as ${event.to} can be reached`
  if (event.reason === 'offline') then = `${it} will be delivered when they are back`
  else if (isWaitingForFirstKey(event.reason)) then = `${it} ${goes} once the rendezvous is back`
  else if (isWaitingForKey(event.reason)) then = `${it} ${goes} once a member hands you the key`
  else if (event.code === ErrorCode.IdentityChanged) ({ why, then } = identityWait(event.to, event.reason, it, goes))
  else if (event.code === ErrorCode.NoSpace) then = `${it} ${goes} once ${event.to}'s disk has room` // not "can be reached": they are (round 11)
  // A file is sent from where it is when it goes, not copied when typed: one moved, deleted or
  // changed meanwhile does not go (round 42: "it will be delivered" read as a promise, and a
  // file deleted the next minute was undelivered at the recipient's return, days later perhaps).
  const keep = event.name === null || event.reason !== 'offline' ? '' : ` (leave ${count > 1 ? 'them' : 'it'} where ${count > 1 ? 'they are' : 'it is'}, unchanged, until then)`
  return colour('yellow', `${clock()} ${subject(event.name, count)}queued for ${event.to}${event.group === null ? '' : ` in ${event.group}`} (${why}); ${then}${keep}`)
}

/** A group message queued while it waits for the group's key (which a member hands us, most
 * often within a second: a new epoch being handed round, and the message goes then): such a
 * queued notice waits this long for the delivery, which drops it: 'queued for leo in
 * trio (waiting for the key …)' followed a second later by 'delivered to leo in trio' was noise
 * (a tester's finding in two rounds, until 2026-12-06). */
const KEY_WAIT_GATHER_MS = 3_000

/** Which line a delivery's notice is gathered into (DeliveryNotices), or undefined to say it at
 * once. The members whose notices come together share a line: per message (and reason) for a
 * queued one and a file (its line names it); per group, or per recipient of direct ones, for
 * delivered texts, counted ('3 messages delivered to bob': a burst of 200 SENDs printed 200
 * 'delivered to bob', a tester's finding, until 2026-12-06). */
function gatherKey (event: Extract<PeerEvent, { event: 'delivered' | 'queued' }>): string | undefined {
  // Direct texts queued together for one reason share a line, as their deliveries do (a pasted
  // burst of SENDs to someone offline made a line each: round 7); a direct file's is its own.
  if (event.event === 'queued') {
    // A group's texts queued together for one reason share a line too, counted, as direct ones
    // do (five lines for five SENDGROUPs to a member offline, until 2026-12-06: round 12); a
    // file's line names it, and one waiting for the key is held on its own (KEY_WAIT_GATHER_MS).
    if (event.group !== null) {
      const own = event.name !== null || isWaitingForKey(event.reason)
      return own ? `queued\n${event.id}\n${event.reason}` : `queued\n${event.group}\n${event.reason}`
    }
    return event.name === null ? `queued\n@${event.to}\n${event.reason}` : undefined
  }
  if (event.name !== null) return event.group === null ? undefined : `delivered\n${event.group}\n${event.id}`
  return `delivered\n${event.group ?? `@${event.to}`}`
}

/** What came in as the last run stopped and was never shown: how many, where, and the HISTORY
 * commands that show them. */
function unshownText (conversations: Extract<PeerEvent, { event: 'unshown' }>['conversations']): string {
  const total = conversations.reduce((sum, c) => sum + c.count, 0)
  const where = conversations.map(c => c.user !== null ? `${c.count} from ${c.user}` : c.group !== null ? `${c.count} in ${c.group}` : `${c.count} elsewhere`)
  const commands = conversations.flatMap(c => c.user !== null ? [`HISTORY ${c.user}`] : c.group !== null ? [`HISTORY #${c.group}`] : [])
  const shows = `${commands.length === 1 ? 'shows' : 'show'} ${total === 1 ? 'it' : 'them'}`
  return `${plural(total, 'message')} came in just before Parley last stopped and ${total === 1 ? 'was' : 'were'} never shown: ${where.join(', ')}. ${commands.slice(0, 3).join(', ')}${commands.length > 3 ? ', …' : ''} ${shows}.`
}

/** The text a person reads for an event (already made safe), or undefined for none. */
/** Events shown as tables or lists, whose rows the terminal wraps as they are. */
const LAID_OUT = new Set<PeerEvent['event']>(['ready', 'groups', 'who', 'members', 'history', 'help'])

/** The line above a HISTORY's rows that says how many earlier messages it did not show, and how
 * to see them; a group's as `#group`, which is never a user's conversation of the same name. */
function earlierNotice (event: Extract<PeerEvent, { event: 'history' }>): string | undefined {
  if (event.earlier === 0 || event.messages.length === 0) return undefined
  const more = Math.min(event.messages.length + event.earlier, HISTORY_MAX)
  const name = event.messages[0]?.group === null ? event.with : `#${event.with}`
  if (event.cut === true) return `${plural(event.earlier, 'earlier message')} not shown (HISTORY shows at most 8 MiB of messages at once)`
  return `${plural(event.earlier, 'earlier message')} not shown (HISTORY ${name} ${more} shows ${more === HISTORY_MAX ? 'the last ' : ''}${more})`
}

export function describe (event: PeerEvent, colour: (style: Style, text: string) => string = (_style, text) => text, belowLater = false): string | undefined {
  const group = (name: string): string => colour('cyan', `[${name}]`)
  const system = (text: string): string => colour('dim', `${clock()} ${text}`)
  switch (event.event) {
    case 'ready': return `Parley peer ${event.peerId}\n  listening on ${event.addrs.join(', ')}\n  rendezvous ${event.rendezvous}\nType HELP for the commands, SIGNUP or LOGIN to start.`
    case 'signed-up': return `Welcome, ${event.username}: your account is ready.`
    case 'logged-in':
      if (event.already) return `You are already signed in as ${event.username}.`
      return event.offline
        ? `Signed in as ${event.username} from this data folder: the rendezvous is out of reach, so known contacts are reached at their last addresses until it is back.`
        : `Signed in as ${event.username}.`
    case 'blocked': return event.already
      ? `${event.user} was blocked already.`
      : `Blocked ${event.user}: nothing ${event.user} sends is taken here, and ${event.user} is told so when it is refused. UNBLOCK ${event.user} undoes it.` +
        (event.partsRemoved === 0 ? '' : ` What came of ${event.partsRemoved === 1 ? `a file of ${event.user}'s that was cut is` : `${event.partsRemoved} files of ${event.user}'s that were cut is`} removed.`)
    case 'unblocked': return event.already ? `${event.user} was not blocked.` : `Unblocked ${event.user}: what ${event.user} sends from now on comes in (what was refused meanwhile does not come).`
    case 'blocklist': return event.users.length === 0 ? 'Nobody is blocked.' : `Blocked: ${event.users.join(', ')}.`
    case 'password-changed': return answeredLate(event, `Password changed: ${event.username} signs in with the new one from now on, here and on any other device.`)
    case 'signed-out': return colour('yellow', `${clock()} ${signedOutText(event)}`)
    case 'signing-out': return system(`Signing ${event.username} out first: what is still going out gets a few seconds more.`)
    case 'unshown': return colour('yellow', unshownText(event.conversations))
    case 'message': return `${clock(event.at)} ${late(event, colour, belowLater)}${colour('bold', event.from)}: ${event.text}`
    case 'group-message': return `${clock(event.at)} ${late(event, colour, belowLater)}${group(event.group)} ${colour('bold', event.from)}: ${event.text}`
    case 'file': return `${clock(event.at)} ${late(event, colour, belowLater)}${colour('bold', event.from)} sent you ${event.name} (${formatBytes(event.size)}), saved as ${event.path}`
    case 'group-file': return `${clock(event.at)} ${late(event, colour, belowLater)}${group(event.group)} ${colour('bold', event.from)} sent ${event.name} (${formatBytes(event.size)}), saved as ${event.path}`
    case 'file-cut': {
      const done = `${formatBytes(event.bytes)}${event.total > 0 ? ` of ${formatBytes(event.total)}` : ''}`
      return colour('yellow', `${clock()} ${event.name} from ${event.from}${event.group === null ? '' : ` in ${event.group}`} stopped after ${done}: ${cutExplained(event.cause, event.from, event.reason)}`)
    }
    case 'accepted': return undefined // the command's answer for scripts (its id); a person sees the line typed
    case 'sent': return undefined // "delivered" follows in a moment; one line per message is enough
    case 'queued': return queuedLine(event, 1, colour)
    case 'delivered': return deliveredLine(event, 1, colour)
    case 'undelivered': return colour('red', `${clock()} ${event.message}`)
    case 'withdrawn': return undefined // the member left: the message is not theirs, no news
    case 'progress': return undefined
    case 'groups':
      if (event.groups.length === 0) return 'No groups yet: CREATE <group> or JOIN <group>.'
      // Numbers in names in their order: grp2 before grp10 (round 17: grp1, grp10, grp11, grp2).
      return table([['GROUP', 'PARTICIPANTS', 'YOU'], ...[...event.groups].sort((a, b) => byName(a.group, b.group)).map(g => [g.group, String(g.members), g.joined ? 'member' : ''])]) +
        (event.cut === true ? `\n(the rendezvous lists ${event.groups.length.toLocaleString('en-US')} groups at most: yours, then the largest; there may be more)` : '')
    case 'created': return answeredLate(event, `Created group ${event.group}; you are its first member.`)
    case 'joined':
      if (event.already) return `You are already in ${event.group}.`
      return answeredLate(event, event.created ? `Created and joined group ${event.group}.` : `Joined group ${event.group}.`)
    case 'left': return answeredLate(event, leftWords(event))
    case 'members': return `${event.group}: ${plural(event.members.length, 'member')}${event.lastKnown ? ' as last known (the rendezvous is out of reach)' : ''}, ${event.members.filter(m => m.online).length} online (key epoch ${event.epoch})\n` +
      table([['USER', 'STATUS'], ...event.members.map(m => [m.username, memberStatus(m, event.lastKnown)])])
    case 'who':
      if (event.lastKnown) {
        if (event.users.length === 0) return 'The rendezvous is out of reach, and you have no contacts yet.'
        return 'Your contacts as last known (the rendezvous is out of reach: online means a connection is open now):\n' +
          table([['USER', 'STATUS'], ...event.users.map(u => [u.username, memberStatus({ online: u.online, connected: u.online }, true)])])
      }
      if (event.users.length === 0) return 'Nobody else is online.'
      return table([['USER', 'STATUS'], ...event.users.map(u => [u.username, online(u.online)])])
    case 'history': {
      if (event.messages.length === 0) return `No messages with ${event.with} yet.`
      // Said above the rows, where the older ones would be.
      const notice = earlierNotice(event)
      const earlier = notice === undefined ? '' : `${notice}\n`
      // Each at the time it is listed by, when it was sent (where its sender said), and when it
      // came if that was a minute or more later: until 2026-12-06 the time it came, so a text sent
      // after a file but there first stood below it with an earlier time (round 15).
      return earlier + table([['SENT', 'FROM', 'STATUS', 'MESSAGE'], ...event.messages.map(m => [
        [when(m.sentAt ?? m.at), cameNote(m)].filter(part => part !== undefined).join(' '),
        // A group's HISTORY is all of one group: its name is not said again on each row (round
        // 39: `[friends] alice` pushed the messages past 40 columns).
        m.from,
        m.direction === 'out' ? m.status : m.unshown ? colour('yellow', 'received, not shown before') : 'received',
        // A file received says where it was saved (its name as sent may not be the file's).
        m.unreadable
          ? colour('yellow', '[stored by an earlier account of this name: it does not open with this one]')
          : m.kind === 'file' ? `[file] ${m.text}${m.direction === 'in' && m.path !== null ? ` (saved as ${m.path})` : ''}` : m.text
      ])])
    }
    case 'verify': return verifyText(event, colour)
    case 'trusted': return event.changed ? `Accepted the new identity of ${event.user}.` : `${event.user}'s identity has not changed: nothing to accept (it stays trusted).`
    case 'presence': return system(`${event.user} is ${online(event.online)}`)
    case 'rendezvous': return event.connected
      ? colour('green', `${clock()} the rendezvous is back`)
      : colour('yellow', `${clock()} lost the rendezvous: reconnecting; known contacts are still reached directly`)
    case 'member-joined': return system(`${group(event.group)} ${event.user} joined${event.whileAway ? ' (while you were away)' : ''}`)
    case 'member-left': return system(`${group(event.group)} ${event.user} left${event.whileAway ? ' (while you were away)' : ''}`)
    // With its epoch: two in a row read as one said twice (round 14).
    // A group key handed over is the machinery, not news: a person reads the messages it opens
    // (round 44: `received the key of family (epoch 3) from alice` within seconds of a join, and
    // to a group's own creator; `--json` keeps the event).
    case 'key': return undefined
    case 'warning': return `warning: ${event.message}`
    case 'error': return `error: ${event.message}`
    case 'help': return [...event.commands, '', TERMINAL_KEYS].join('\n')
    case 'leaving': return system(`Finishing what is still going out before leaving (at most ${event.waitSeconds} s); Ctrl-C leaves now, and the rest goes out the next time you sign in here.`)
    case 'bye': return [
      'Bye.',
      ...(event.pending === 0 ? [] : [`${plural(event.pending, 'delivery')} still wait${event.pending === 1 ? 's' : ''} in the outbox: ${event.pending === 1 ? 'it goes' : 'they go'} out the next time you sign in here.`]),
      ...unconfirmedWords(event.unconfirmed, 'the next time you sign in here')
    ].join(' ')
  }
}
