/**
 * The events protocol (`/parley/events/1.0.0`): a signed-in client opens one stream and writes
 * `{ subscribe: true }`; the server answers `{ ok: true }`, keeps the stream and pushes event
 * frames. When the stream ends (the client closed it, the connection dropped, or it was replaced)
 * the session it belonged to ends and the user goes offline (unless it was replaced).
 */
import type { Connection, Logger, Stream } from '@libp2p/interface'
import { ErrorCode, ParleyError, asParleyError } from '../common/errors.ts'
import {
  EVENTS_HEARTBEAT_MS, MAX_REQUEST_BYTES, decodeSubscribe, encodeError, encodeEvent, encodeSubscribed
} from '../common/protocol/rendezvous.ts'
import type { ServerEvent, WireEvent } from '../common/protocol/rendezvous.ts'
import { FramedStream } from '../common/wire/frames.ts'
import { WeakMemo } from '../common/weak-memo.ts'
import {
  MAX_QUEUED_EVENTS, REQUEST_READ_TIMEOUT_MS, RESPONSE_WRITE_TIMEOUT_MS, STREAM_LINGER_MS
} from './constants.ts'
import type { Notifier } from './notify.ts'
import type { EventSink, Sessions } from './sessions.ts'
import { patientTimeout } from '../common/patient-timeout.ts'

export interface EventsDeps {
  sessions: Sessions
  notifier: Notifier
  log: Logger
  /** Counts a subscription against the peer's request rate (throws ERR_RATE_LIMITED past it):
   * each one has the holders of the subscriber's missing keys asked again (round 43: 270
   * subscriptions a second, closing each, cost nothing of the subscriber's budget). */
  admit?: (peerId: string) => void
}

/** Sessions.notify hands one event object to the channel of every user it concerns, and the
 * heartbeat is the same object every time: each is encoded (schema check, names, CBOR) once. */
const frames = new WeakMemo<WireEvent, Uint8Array>(encodeEvent)
const PING: WireEvent = { type: 'ping' }

/** One subscriber's stream: events are queued and written in order, one at a time; a subscriber
 * that falls MAX_QUEUED_EVENTS behind, or does not take a frame within the write timeout, is
 * dropped (it will re-subscribe). */
class EventChannel implements EventSink {
  readonly #framed: FramedStream
  readonly #log: Logger
  readonly #queue: Uint8Array[] = []
  readonly #heartbeat: NodeJS.Timeout
  #pumping = false
  #closing = false
  #finished = false

  constructor (framed: FramedStream, log: Logger) {
    this.#framed = framed
    this.#log = log
    this.#heartbeat = setInterval(() => { this.#push(PING) }, EVENTS_HEARTBEAT_MS)
    this.#heartbeat.unref()
  }

  send (event: ServerEvent): void {
    this.#push(event)
  }

  close (event?: ServerEvent): void {
    if (event !== undefined) this.#push(event)
    this.#closing = true
    this.#pump()
  }

  /** Stop for good: abort on `err`, else close our half after what is queued. */
  finish (err?: unknown): void {
    if (err !== undefined) {
      this.#end()
      this.#framed.abort(err)
      return
    }
    this.close()
  }

  #push (event: WireEvent): void {
    if (this.#closing || this.#finished) return
    if (this.#queue.length >= MAX_QUEUED_EVENTS) {
      this.finish(new ParleyError(ErrorCode.Unreachable, 'events subscriber too slow'))
      return
    }
    this.#queue.push(frames.get(event))
    this.#pump()
  }

  #pump (): void {
    if (this.#pumping || this.#finished) return
    this.#pumping = true
    void (async () => {
      try {
        for (let frame = this.#queue.shift(); frame !== undefined; frame = this.#queue.shift()) {
          await this.#framed.write(frame, { signal: patientTimeout(RESPONSE_WRITE_TIMEOUT_MS) })
        }
        if (this.#closing && !this.#finished) {
          this.#end()
          await this.#framed.close({ signal: patientTimeout(RESPONSE_WRITE_TIMEOUT_MS) })
          abortIfLingering(this.#framed.stream)
        }
      } catch (err) {
        this.#log('events stream failed: %s', asParleyError(err).message)
        this.#end()
        this.#framed.abort(err)
      } finally {
        this.#pumping = false
      }
      if (this.#queue.length > 0 || (this.#closing && !this.#finished)) this.#pump()
    })()
  }

  #end (): void {
    this.#finished = true
    this.#queue.length = 0
    clearInterval(this.#heartbeat)
  }
}

/** The handler for one events stream; resolves when that stream is over. */
export async function handleEventsStream (stream: Stream, connection: Connection, deps: EventsDeps): Promise<void> {
  const { sessions, notifier, log } = deps
  const framed = new FramedStream(stream, MAX_REQUEST_BYTES)
  const peerId = connection.remotePeer.toString()
  let channel: EventChannel | undefined
  let failure: unknown
  try {
    decodeSubscribe(await framed.read({ signal: patientTimeout(REQUEST_READ_TIMEOUT_MS) }))
    deps.admit?.(peerId)
    const session = sessions.get(peerId)
    if (session === undefined) {
      await framed.write(encodeError(new ParleyError(ErrorCode.NotSignedIn, 'sign in first')),
        { signal: patientTimeout(RESPONSE_WRITE_TIMEOUT_MS) })
      return
    }
    await framed.write(encodeSubscribed(), { signal: patientTimeout(RESPONSE_WRITE_TIMEOUT_MS) })
    channel = new EventChannel(framed, log)
    sessions.attach(session, channel)
    notifier.subscribed(session)
    log('%s subscribed to events', session.username)
    try {
      // The client sends nothing more: this read ends when it closes the stream or it breaks.
      await framed.read()
      failure = new ParleyError(ErrorCode.Protocol, 'unexpected frame on the events stream')
    } catch (err) {
      if (!(err instanceof ParleyError && err.code === ErrorCode.Protocol)) failure = err
    }
    if (sessions.detach(session, channel) && sessions.end(peerId, session) !== undefined) {
      log('%s went offline (events stream ended)', session.username)
      notifier.offline(session.username)
    }
  } catch (err) {
    failure = err
    if (channel === undefined) {
      await framed.write(encodeError(asParleyError(err)), { signal: patientTimeout(RESPONSE_WRITE_TIMEOUT_MS) })
        .then(() => { failure = undefined }, () => {})
    }
  } finally {
    if (channel !== undefined) {
      channel.finish(failure)
    } else if (failure !== undefined) {
      framed.abort(failure)
    } else {
      await framed.close({ signal: patientTimeout(RESPONSE_WRITE_TIMEOUT_MS) })
      abortIfLingering(framed.stream)
    }
  }
}

/** Our half is closed; give the remote STREAM_LINGER_MS to close its half, then abort, so a peer
 * that never closes cannot pin streams against the connection's limit (DESIGN §2). */
export function abortIfLingering (stream: Stream): void {
  if (stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset') return
  const timer = setTimeout(() => {
    if (stream.status === 'open' || stream.status === 'closing') stream.abort(new Error('remote did not close the stream'))
  }, STREAM_LINGER_MS)
  timer.unref()
  stream.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
}
