/**
 * The one framing primitive: varint length-prefixed frames over a libp2p v3 stream, with a hard
 * maximum per frame. Every protocol reads and writes through a FramedStream, and ends with a
 * count or an explicit END frame, because a read past the remote's close is an error.
 */
import { byteStream } from '@libp2p/utils'
import { decode as decodeVarint, encode as encodeVarint, encodingLength } from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import type { AbortOptions, Stream } from '@libp2p/interface'
import type { ByteStream } from '@libp2p/utils'
import { ErrorCode, ParleyError, asParleyError } from '../errors.ts'
import { MAX_FRAME_BYTES } from './limits.ts'

/** What a stream that the other side closed is said as (a delivery cut so is queued with it). */
export const CONNECTION_CLOSED = 'the other side closed the connection'

/** How long a remote may keep its half of a stream open after we closed ours. */
const CLOSE_GRACE_MS = 10_000

/** multistream-select's answers are ASCII protocol ids: one decoder for every stream. */
const utf8 = new TextDecoder()

/** multistream-select's header line, the first answer to any protocol proposal. */
const MULTISTREAM_HEADER = '/multistream/1.0.0\n'

export class FramedStream {
  readonly stream: Stream
  readonly #bytes: ByteStream<Stream>
  readonly #maxFrameBytes: number
  /** The longest length prefix a frame within the limit needs. */
  readonly #maxPrefixBytes: number
  /** The protocol proposed without waiting for its answers (optimistic selection), until the
   * first read has read and checked them. */
  #proposed: string | undefined
  #answers: Promise<void> | undefined

  constructor (stream: Stream, maxFrameBytes: number = MAX_FRAME_BYTES) {
    this.stream = stream
    this.#bytes = byteStream(stream)
    this.#maxFrameBytes = maxFrameBytes
    this.#maxPrefixBytes = encodingLength(maxFrameBytes)
  }

  /**
   * A stream whose protocol was proposed optimistically (`negotiateFully: false`, patched into
   * @libp2p/multistream-select: transport/dial.ts): our first frames go out with the proposal
   * instead of a round trip after it, and multistream-select's two answers (its header, then
   * the protocol, or "na" if the remote does not serve it) are the first frames to come back.
   * They share our framing (a varint length, then the bytes), so the first read takes and
   * checks them before anything of the remote's.
   */
  static proposed (stream: Stream, protocol: string, maxFrameBytes?: number): FramedStream {
    const framed = new FramedStream(stream, maxFrameBytes)
    framed.#proposed = protocol
    return framed
  }

  /** The next frame; a typed error if the remote ended, sent an oversized or malformed frame.
   * `maxBytes`: this frame's own limit, under the stream's (a frame before the stream's keys,
   * which anyone may send, is small: waiting for a large one held its bytes for nothing). */
  async read (options?: AbortOptions & { maxBytes?: number }): Promise<Uint8Array> {
    if (this.#proposed !== undefined) {
      this.#answers ??= this.#readAnswers(this.#proposed, options)
      await this.#answers
    }
    try {
      return await this.#readFrame(options, Math.min(options?.maxBytes ?? Infinity, this.#maxFrameBytes))
    } catch (err) {
      throw frameError(err)
    }
  }

  /**
   * One frame: its length prefix (an unsigned varint), then that many bytes. Both are taken
   * from what has already arrived when it holds them, the common case (a frame comes in one
   * chunk); a read waits only for what is missing. (libp2p's lpStream read the prefix a byte at
   * a time, each byte a wait, a promise and a list.)
   * A prefix is refused as soon as it is longer than the largest allowed length needs: read
   * byte by byte into memory, 0xff 0xff 0xff … grew a peer by 600 MB in 15 s (hostile-peer tests).
   */
  async #readFrame (options?: AbortOptions, maxBytes = this.#maxFrameBytes): Promise<Uint8Array> {
    const buffer = this.#bytes.readBuffer
    // Find the prefix's last byte (high bit clear), waiting for bytes only while there is none.
    let prefix = 0
    for (;; prefix++) {
      if (buffer.byteLength <= prefix) {
        // Wait for the next byte: the read takes the prefix so far with it, so put those back.
        let more: Uint8ArrayList
        try {
          more = await this.#bytes.read({ ...options, bytes: prefix + 1 })
        } catch (err) {
          // Ended between two frames: the other side went away (its process ended, say), which
          // is not a fault of the stream; ended inside a frame, it was cut short (frameError).
          if (prefix === 0 && unexpectedEOF(err)) throw new ParleyError(ErrorCode.Unreachable, CONNECTION_CLOSED, { cause: err })
          throw err
        }
        buffer.prepend(more)
      }
      if (prefix === this.#maxPrefixBytes) throw new ParleyError(ErrorCode.Malformed, 'malformed frame length')
      if ((buffer.get(prefix) & 0x80) === 0) break
    }
    const length = decodeVarint(buffer)
    buffer.consume(prefix + 1)
    if (length > maxBytes) throw new ParleyError(ErrorCode.TooLarge, 'frame larger than the limit')
    if (buffer.byteLength >= length) {
      const frame = buffer.subarray(0, length)
      buffer.consume(length)
      return frame
    }
    return (await this.#bytes.read({ ...options, bytes: length })).subarray()
  }

  async #readAnswers (protocol: string, options?: AbortOptions): Promise<void> {
    const line = async (): Promise<string> => {
      try {
        return utf8.decode(await this.#readFrame(options))
      } catch (err) {
        throw frameError(err)
      }
    }
    if (await line() !== MULTISTREAM_HEADER) throw new ParleyError(ErrorCode.Protocol, 'the other side did not answer with multistream-select')
    if (await line() !== `${protocol}\n`) throw new ParleyError(ErrorCode.Unreachable, `the other side does not serve ${protocol}`)
    this.#proposed = undefined
  }

  async write (frame: Uint8Array, options?: AbortOptions): Promise<void> {
    await this.writeAll([frame], options)
  }

  /** Several frames in one stream write: one muxer frame, one Noise frame, one system call. */
  async writeAll (frames: Uint8Array[], options?: AbortOptions): Promise<void> {
    try {
      await this.#bytes.write(new Uint8ArrayList(...frames.flatMap(frame => [encodeVarint(frame.byteLength), frame])), options)
    } catch (err) {
      throw frameError(err)
    }
  }

  /**
   * Close our writing half. The stream keeps counting against the connection's per-protocol
   * limit until the remote closes its half too (DESIGN.md §2), so a remote that never does is
   * given CLOSE_GRACE_MS and then the stream is aborted: a peer cannot pin our stream slots.
   */
  async close (options?: AbortOptions): Promise<void> {
    try {
      await this.stream.close(options)
    } catch (err) {
      this.abort(err)
      return
    }
    if (this.over) return
    const timer = setTimeout(() => { this.abort(new Error('the remote did not close its half of the stream')) }, CLOSE_GRACE_MS)
    timer.unref()
    this.stream.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
  }

  abort (err: unknown): void {
    this.stream.abort(err instanceof Error ? err : new Error(String(err)))
  }

  /** Both halves closed, or the stream aborted or reset. */
  get over (): boolean {
    return this.stream.status === 'closed' || this.stream.status === 'aborted' || this.stream.status === 'reset'
  }

  /** Resolves once the stream is over (the remote closed its half after ours, or it was reset);
   * rejects when `signal` fires first. */
  async whenOver (signal: AbortSignal): Promise<void> {
    if (this.over) return
    await new Promise<void>((resolve, reject) => {
      const done = (): void => { signal.removeEventListener('abort', timedOut); resolve() }
      const timedOut = (): void => { this.stream.removeEventListener('close', done); reject(new Error('the remote did not end the stream')) }
      this.stream.addEventListener('close', done, { once: true })
      signal.addEventListener('abort', timedOut, { once: true })
    })
  }
}

/**
 * Run `work` over `stream` framed (unless it is already), then close it; on failure abort it and
 * rethrow a ParleyError. Every protocol handler and caller goes through here, so no path leaves
 * a half-open stream counting against the connection's per-protocol limit (DESIGN §2).
 */
export async function withFramedStream<T> (stream: Stream | FramedStream, work: (framed: FramedStream) => Promise<T>, maxFrameBytes?: number): Promise<T> {
  const framed = stream instanceof FramedStream ? stream : new FramedStream(stream, maxFrameBytes)
  try {
    return await work(framed)
  } catch (err) {
    framed.abort(err)
    throw asParleyError(err)
  } finally {
    await framed.close()
  }
}

/** The stream ended inside a frame (ERR_PROTOCOL "stream ended early"): the other side's
 * process can end between two writes of one big frame, so this is not always a fault. */
export function endedInsideFrame (err: unknown): boolean {
  return err instanceof ParleyError && err.code === ErrorCode.Protocol && unexpectedEOF(err.cause)
}

/** libp2p's byte stream ended before the bytes a read asked for. */
function unexpectedEOF (err: unknown): boolean {
  return err instanceof Error && err.name === 'UnexpectedEOFError'
}

/** What a failed read or write of a framed stream is, as a typed error in words for a person
 * (exported for its tests). */
export function frameError (err: unknown): ParleyError {
  if (err instanceof ParleyError) return err
  // libp2p rejects some reads and writes with the stream's close Event rather than an Error: a
  // recipient who quits or signs in elsewhere mid-delivery. Said as an end between two frames
  // is (until 2026-12-06 it read "the stream was closed by the other side").
  if (err instanceof Event) {
    const inner = (err as Event & { error?: unknown }).error
    if (inner instanceof Error) return frameError(inner)
    return new ParleyError(ErrorCode.Unreachable, err.type === 'close' ? CONNECTION_CLOSED : `the connection ended (${err.type})`)
  }
  const name = err instanceof Error ? err.name : ''
  switch (name) {
    case 'UnexpectedEOFError':
      return new ParleyError(ErrorCode.Protocol, 'stream ended early', { cause: err })
    case 'AbortError':
    case 'TimeoutError':
      return new ParleyError(ErrorCode.Unreachable, 'timed out', { cause: err })
    // The remote's muxer reset the stream, or the connection under it closed: libp2p's words
    // ("The stream has been reset", "Cannot write to a stream that is closed") reached a person's
    // `queued` line until 2026-12-06 (a tester's finding).
    // A write to a stream already closed under it is the same end seen a moment later: said the
    // same way (until 2026-12-06 "the connection was closed", beside the other wording for one
    // recipient's QUIT: round 7).
    case 'StreamResetError':
    case 'ConnectionClosedError':
    case 'MuxerClosedError':
    case 'StreamStateError':
      return new ParleyError(ErrorCode.Unreachable, CONNECTION_CLOSED, { cause: err })
    default: {
      const wrapped = asParleyError(err)
      return wrapped.code === ErrorCode.Internal
        ? new ParleyError(ErrorCode.Unreachable, `stream failed: ${wrapped.message}`, { cause: err })
        : wrapped
    }
  }
}
