/**
 * Serving one inbound stream of a peer protocol: read its signal header within the step
 * deadline, refuse a header that belongs on another protocol, hand the rest to the protocol's
 * code; the stream is closed in every case and a failure is reported, never thrown (nobody
 * awaits a stream handler).
 */
import type { Connection, Stream } from '@libp2p/interface'
import { ErrorCode, ParleyError, asParleyError } from '../../common/errors.ts'
import type { ParleyNode } from '../../common/node.ts'
import { withFramedStream } from '../../common/wire/frames.ts'
import type { FramedStream } from '../../common/wire/frames.ts'
import { parseHeader } from '../../common/wire/headers.ts'
import { MAX_OPENING_FRAME_BYTES } from '../../common/wire/limits.ts'
import type { ParsedHeader } from '../../common/wire/headers.ts'
import { MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, STEP_TIMEOUT_MS } from '../constants.ts'
import type { SignedInPort, SignedInUser } from '../signed-in.ts'
import { patientTimeout } from '../../common/patient-timeout.ts'

export interface Inbound<H extends ParsedHeader> {
  framed: FramedStream
  header: H
  /** The header as it came: the associated data of the stream's sealed frames. */
  headerBytes: Uint8Array
  /** The Noise-authenticated peer id of the sender. */
  remotePeerId: string
  /** The deadline for the stream's steps. */
  signal: AbortSignal
}

export interface InboundRules<H extends ParsedHeader> {
  /** Which signal headers this protocol serves. */
  accepts: (header: ParsedHeader) => header is H
  /** What to say of any other header. */
  refusal: string
  serve: (inbound: Inbound<H>) => Promise<void>
  onError: (remotePeerId: string, err: ParleyError) => void
}

/** Stream limits of a peer protocol, per connection (defaults: peer/constants.ts). */
export interface ProtocolLimits {
  maxInboundStreams?: number
  maxOutboundStreams?: number
}

/**
 * A peer protocol's handler, registered by a service's start() and removed by its stop(). Each
 * stream waits (at most a step) for the user whose sign-in is opening, and is refused without
 * one. Streams also come over the relay, a "limited" connection in libp2p's terms, so the
 * handler runs on those too.
 */
export class ProtocolHandler {
  readonly #node: Pick<ParleyNode, 'handle' | 'unhandle'>
  readonly #protocol: string
  readonly #signedIn: Pick<SignedInPort, 'next'>
  readonly #serve: (user: SignedInUser, stream: Stream, connection: Connection) => Promise<void>
  readonly #limits: Required<ProtocolLimits>
  #registered = false

  constructor (
    node: Pick<ParleyNode, 'handle' | 'unhandle'>, protocol: string, signedIn: Pick<SignedInPort, 'next'>,
    serve: (user: SignedInUser, stream: Stream, connection: Connection) => Promise<void>, limits: ProtocolLimits = {}
  ) {
    this.#node = node
    this.#protocol = protocol
    this.#signedIn = signedIn
    this.#serve = serve
    this.#limits = {
      maxInboundStreams: limits.maxInboundStreams ?? MAX_INBOUND_STREAMS,
      maxOutboundStreams: limits.maxOutboundStreams ?? MAX_OUTBOUND_STREAMS
    }
  }

  get registered (): boolean {
    return this.#registered
  }

  async register (): Promise<void> {
    if (this.#registered) return
    await this.#node.handle(this.#protocol, (stream, connection) => { void this.#handle(stream, connection) }, { ...this.#limits, runOnLimitedConnection: true })
    this.#registered = true
  }

  async unregister (): Promise<void> {
    if (!this.#registered) return
    this.#registered = false
    await this.#node.unhandle(this.#protocol)
  }

  async #handle (stream: Stream, connection: Connection): Promise<void> {
    let user: SignedInUser
    try {
      user = await this.#signedIn.next()
    } catch (err) {
      stream.abort(err as Error)
      return
    }
    const work = this.#serve(user, stream, connection)
    user.track?.(work)
    await work
  }
}

export async function serveInbound<H extends ParsedHeader> (stream: Stream, connection: Connection, rules: InboundRules<H>): Promise<void> {
  const remotePeerId = connection.remotePeer.toString()
  try {
    await withFramedStream(stream, async framed => {
      const signal = patientTimeout(STEP_TIMEOUT_MS)
      const headerBytes = await framed.read({ signal, maxBytes: MAX_OPENING_FRAME_BYTES })
      const header = parseHeader(headerBytes)
      if (!rules.accepts(header)) throw new ParleyError(ErrorCode.Protocol, rules.refusal)
      await rules.serve({ framed, header, headerBytes, remotePeerId, signal })
    })
  } catch (err) {
    rules.onError(remotePeerId, asParleyError(err))
  }
}
