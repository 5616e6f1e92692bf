/**
 * The rendezvous as a js-libp2p-style service: `start()` registers the request and events
 * protocols with explicit stream limits, `stop()` unregisters them and ends every session.
 * One request per stream: read one frame (with a timeout, so stalled streams are dropped), answer
 * one frame, close; a bad request gets an error response and the server keeps serving.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import { ErrorCode, ParleyError, asParleyError, is } from '../common/errors.ts'
import type { ParleyNode } from '../common/node.ts'
import type { NameCardIssuer } from '../common/crypto/name-card.ts'
import {
  EVENTS_PROTOCOL, MAX_REQUEST_BYTES, RENDEZVOUS_PROTOCOL, RENDEZVOUS_REQUESTS_PROTOCOL, REQUEST_STREAM_IDLE_MS, RendezvousError,
  decodeRequest, encodeError
} from '../common/protocol/rendezvous.ts'
import { FramedStream } from '../common/wire/frames.ts'
import {
  MAX_INBOUND_EVENTS_STREAMS, MAX_INBOUND_REQUEST_STREAMS, MAX_OUTBOUND_STREAMS, REQUEST_READ_TIMEOUT_MS,
  RESPONSE_WRITE_TIMEOUT_MS
} from './constants.ts'
import { abortIfLingering, handleEventsStream } from './events.ts'
import { createHandlers, handleRequest } from './handlers.ts'
import type { Handlers } from './handlers.ts'
import type { RelayIdentity } from './addrs.ts'
import { Notifier } from './notify.ts'
import { RequestLimiter, SignInThrottle } from './ratelimit.ts'
import { Sessions } from './sessions.ts'
import type { RendezvousStore } from './store.ts'
import { patientTimeout } from '../common/patient-timeout.ts'

export interface RendezvousServiceInit {
  node: ParleyNode
  store: RendezvousStore
  /** Signs users' name cards: the server's own identity key. */
  nameCards: NameCardIssuer
  /** Overridable for tests; defaults from constants.ts. */
  throttle?: SignInThrottle
  limiter?: RequestLimiter
}

export class RendezvousService {
  readonly sessions = new Sessions()
  readonly #node: ParleyNode
  readonly #log: Logger
  readonly #limiter: RequestLimiter
  readonly #handlers: Handlers
  readonly #notifier: Notifier
  #started = false
  /** This server as a relay (addrs.ts), as long as its addresses stay the same. */
  #relayIdentity: RelayIdentity | undefined
  readonly #onAddressesChanged = (): void => { this.#relayIdentity = undefined }

  constructor (init: RendezvousServiceInit) {
    this.#node = init.node
    this.#log = init.node.logger.forComponent('parley:rendezvous')
    this.#limiter = init.limiter ?? new RequestLimiter()
    this.#notifier = new Notifier(init.store, this.sessions)
    this.#handlers = createHandlers({
      store: init.store,
      sessions: this.sessions,
      notifier: this.#notifier,
      throttle: init.throttle ?? new SignInThrottle(),
      nameCards: init.nameCards,
      relay: () => {
        const relay = init.node.services.relay
        if (relay === undefined) return undefined
        const node = init.node
        // Made when first needed and kept until our addresses change: reading them was a tenth
        // of the rendezvous's CPU in the soak, once per look-up of a peer behind a NAT.
        this.#relayIdentity ??= {
          peerId: node.peerId.toString(),
          addrs: node.getMultiaddrs(),
          reserved: peerId => relay.reservations.has(peerIdFromString(peerId))
        }
        return this.#relayIdentity
      }
    })
  }

  async start (): Promise<void> {
    if (this.#started) return
    await this.#node.handle([RENDEZVOUS_PROTOCOL, RENDEZVOUS_REQUESTS_PROTOCOL], (stream, connection) => this.#onRequest(stream, connection), {
      maxInboundStreams: MAX_INBOUND_REQUEST_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS
    })
    await this.#node.handle(EVENTS_PROTOCOL, (stream, connection) => this.#onEvents(stream, connection), {
      maxInboundStreams: MAX_INBOUND_EVENTS_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS
    })
    this.#node.addEventListener('peer:disconnect', this.#onDisconnect)
    this.#node.addEventListener('self:peer:update', this.#onAddressesChanged)
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.#node.removeEventListener('peer:disconnect', this.#onDisconnect)
    this.#node.removeEventListener('self:peer:update', this.#onAddressesChanged)
    await this.#node.unhandle([RENDEZVOUS_PROTOCOL, RENDEZVOUS_REQUESTS_PROTOCOL, EVENTS_PROTOCOL])
    this.sessions.clear()
  }

  /** The peer's last connection closed: its session ends and it goes offline. */
  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    const peerId = event.detail.toString()
    this.#limiter.forget(peerId)
    const session = this.sessions.end(peerId)
    if (session === undefined) return
    this.#log('%s went offline (disconnected)', session.username)
    this.#notifier.offline(session.username)
  }

  async #onEvents (stream: Stream, connection: Connection): Promise<void> {
    try {
      await handleEventsStream(stream, connection, { sessions: this.sessions, notifier: this.#notifier, log: this.#log, admit: peerId => { this.#limiter.take(peerId) } })
    } catch (err) {
      this.#log.error('events stream handler failed: %s', asParleyError(err).message)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** A request stream: one request and its answer (1.0.0), or one after another until the client
   * closes its half or goes quiet for REQUEST_STREAM_IDLE_MS (1.1.0). */
  async #onRequest (stream: Stream, connection: Connection): Promise<void> {
    const framed = new FramedStream(stream, MAX_REQUEST_BYTES)
    const peerId = connection.remotePeer.toString()
    const several = stream.protocol === RENDEZVOUS_REQUESTS_PROTOCOL
    for (let first = true; ; first = false) {
      let response: Uint8Array
      try {
        const frame = await framed.read({ signal: patientTimeout(first ? REQUEST_READ_TIMEOUT_MS : REQUEST_STREAM_IDLE_MS) })
        response = this.#respond(frame, peerId, connection)
      } catch (err) {
        // Between requests, the client closing its half (the read meets the stream's end) or
        // going quiet ends the stream; a bad frame is answered as on a first request.
        if (!first && (is(err, ErrorCode.Protocol) || is(err, ErrorCode.Unreachable))) {
          await framed.close({ signal: patientTimeout(RESPONSE_WRITE_TIMEOUT_MS) })
          return
        }
        if (first && is(err, ErrorCode.Unreachable)) {
          // Stalled past the read timeout, or the stream broke: drop it, nobody to answer.
          this.#log('dropped a request stream from %s: %s', peerId, err.message)
          framed.abort(err)
          return
        }
        // Oversized, malformed or truncated frame: the client still gets a clear answer.
        await this.#answer(framed, peerId, this.#errorFrame(err, peerId), true)
        return
      }
      // 1.0.0: the one answer closes our half (and aborts a stream the client never closes).
      if (!await this.#answer(framed, peerId, response, !several) || !several) return
    }
  }

  /** The answer to one request frame: its result, or an error frame. Never throws. */
  #respond (frame: Uint8Array, peerId: string, connection: Connection): Uint8Array {
    try {
      this.#limiter.take(peerId)
      const request = decodeRequest(frame)
      const response = handleRequest(this.#handlers, request, {
        peerId,
        connectionId: connection.id,
        remoteAddr: connection.remoteAddr
      })
      this.#log('%s from %s: ok', request.op, peerId)
      return response
    } catch (err) {
      return this.#errorFrame(err, peerId)
    }
  }

  #errorFrame (err: unknown, peerId: string): Uint8Array {
    const error = this.#toWireError(err, peerId)
    return encodeError(error, error instanceof RendezvousError ? error.epoch : undefined)
  }

  /** Write an answer, and after the `last` one close our half; abort if that fails. Whether the
   * stream is still there for the next request. */
  async #answer (framed: FramedStream, peerId: string, response: Uint8Array, last: boolean): Promise<boolean> {
    try {
      await framed.write(response, { signal: patientTimeout(RESPONSE_WRITE_TIMEOUT_MS) })
      if (last) {
        await framed.close({ signal: patientTimeout(RESPONSE_WRITE_TIMEOUT_MS) })
        abortIfLingering(framed.stream)
      }
      return true
    } catch (err) {
      this.#log('could not answer %s: %s', peerId, asParleyError(err).message)
      framed.abort(err)
      return false
    }
  }

  /** What the client is told: the ParleyError's code and message, but never an internal
   * failure's details (those are logged). */
  #toWireError (err: unknown, peerId: string): ParleyError {
    const error = asParleyError(err)
    if (error.code === ErrorCode.Internal) {
      this.#log.error('internal error serving %s: %o', peerId, err)
      return new ParleyError(ErrorCode.Internal, 'internal server error')
    }
    this.#log('request from %s refused: %s %s', peerId, error.code, error.message)
    return error
  }
}

export function rendezvousService (init: RendezvousServiceInit): RendezvousService {
  return new RendezvousService(init)
}
