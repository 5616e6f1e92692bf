/**
 * A sealed channel: encrypted, authenticated frames over one FramedStream, with a sequence
 * number per direction so a replayed, reordered or dropped frame fails its MAC. The signal
 * header is the associated data of every frame, so a body cannot be moved to another stream.
 *
 * Direct sessions get their keys from a fresh X25519 exchange on every stream (DESIGN §4:
 * a new key every session, even between peers that talked before). Group streams get theirs
 * from the group key and a per-message nonce (see group/).
 */
import type { AbortOptions } from '@libp2p/interface'
import { deriveDirectSessionKeys, generateEphemeralKeyPair, openFrame, sealFrame, x25519SharedSecret } from '../../common/crypto/index.ts'
import type { DirectSessionKeys, FrameKeys } from '../../common/crypto/index.ts'
import { decodeHandshakeAnswer, helloBody } from '../../common/protocol/peer.ts'
import { ErrorCode, is } from '../../common/errors.ts'
import { decodeBody, encodeBody } from '../../common/wire/codec.ts'
import type { InferSchema, Schema } from '../../common/wire/codec.ts'
import type { FramedStream } from '../../common/wire/frames.ts'
import { MAX_OPENING_FRAME_BYTES } from '../../common/wire/limits.ts'

export interface ChannelKeys {
  send: FrameKeys
  receive: FrameKeys
}

export class SealedChannel {
  readonly framed: FramedStream
  readonly associatedData: Uint8Array
  readonly #keys: ChannelKeys
  #sendSeq = 0n
  #receiveSeq = 0n
  /** Ciphertext bytes sealed and opened so far: the 3DES key budget is the caller's to watch
   * (NIST SP 800-67r2: at most 2^20 blocks per key; a long-lived session re-keys before). */
  sentBytes = 0
  receivedBytes = 0

  constructor (framed: FramedStream, keys: ChannelKeys, associatedData: Uint8Array) {
    this.framed = framed
    this.#keys = keys
    this.associatedData = associatedData
  }

  async send (body: Record<string, unknown>, options?: AbortOptions): Promise<void> {
    const sealed = sealFrame(this.#keys.send, this.#sendSeq++, this.associatedData, encodeBody(body))
    this.sentBytes += sealed.length
    await this.framed.write(sealed, options)
  }

  async receive<S extends Schema> (schema: S, options?: AbortOptions): Promise<InferSchema<S>> {
    return decodeBody(schema, await this.receivePlain(options))
  }

  /** The next frame opened but not decoded, for protocols whose schema depends on a field. */
  async receivePlain (options?: AbortOptions): Promise<Uint8Array> {
    const sealed = await this.framed.read(options)
    this.receivedBytes += sealed.length
    return openFrame(this.#keys.receive, this.#receiveSeq++, this.associatedData, sealed)
  }
}

/** What a sender our user knows by another identity is told: by then its user has been warned,
 * here, with the VERIFY and TRUST to use. It holds no names: the sender knows who it dialled. */
const NOT_TRUSTED = {
  code: ErrorCode.IdentityChanged,
  why: 'its user knows you by another identity and takes nothing from this one until they compare ' +
    'fingerprints (VERIFY) and accept it (TRUST)'
}

export interface DirectChannel {
  channel: SealedChannel
  keys: DirectSessionKeys
}

/**
 * Dialler's side: write the signal header and our hello (our ephemeral key, and our name card if
 * we have one) in one write (no round trip spent on the header), then read the responder's key.
 */
export async function initiateDirectChannel (
  framed: FramedStream, header: Uint8Array, localPeerId: string, remotePeerId: string, options?: AbortOptions & { card?: Uint8Array | undefined }
): Promise<DirectChannel> {
  const ephemeral = generateEphemeralKeyPair()
  const hello = options?.card === undefined ? { eph: ephemeral.publicKey } : { eph: ephemeral.publicKey, card: options.card }
  await framed.writeAll([header, encodeBody(hello)], { signal: options?.signal })
  const reply = decodeHandshakeAnswer(await framed.read(options))
  const keys = deriveDirectSessionKeys({
    sharedSecret: x25519SharedSecret(ephemeral.privateKey, reply.eph),
    initiatorEphemeral: ephemeral.publicKey,
    responderEphemeral: reply.eph,
    initiatorPeerId: localPeerId,
    responderPeerId: remotePeerId,
    role: 'initiator'
  })
  return { channel: new SealedChannel(framed, keys, header), keys }
}

/**
 * Listener's side, after it has read the header: read the dialler's hello, learn who sent it
 * (`identify`, given the name card the hello carried, if any: the caller checks it, else asks
 * the directory) before spending a key pair on an answer, then answer with our key. A sender
 * `identify` refuses (by throwing) gets no key: a sender our user knows by another identity is
 * told so (until 2026-12-06 it read "the other side closed the connection" and could only
 * guess), any other just sees the stream close.
 */
export async function acceptDirectChannel<T> (
  framed: FramedStream, header: Uint8Array, localPeerId: string, remotePeerId: string,
  identify: (card: Uint8Array | undefined) => Promise<T>, options?: AbortOptions
): Promise<DirectChannel & { from: T }> {
  const hello = decodeBody(helloBody, await framed.read({ ...options, maxBytes: MAX_OPENING_FRAME_BYTES }))
  let from: T
  try {
    from = await identify(hello.card)
  } catch (err) {
    if (is(err, ErrorCode.IdentityChanged)) await framed.write(encodeBody(NOT_TRUSTED), options).catch(() => {})
    // A sender our user blocked is told so, and gives up (the code is not retryable).
    else if (is(err, ErrorCode.Forbidden)) await framed.write(encodeBody({ code: err.code, why: err.message }), options).catch(() => {})
    throw err
  }
  const ephemeral = generateEphemeralKeyPair()
  await framed.write(encodeBody({ eph: ephemeral.publicKey }), options)
  const keys = deriveDirectSessionKeys({
    sharedSecret: x25519SharedSecret(ephemeral.privateKey, hello.eph),
    initiatorEphemeral: hello.eph,
    responderEphemeral: ephemeral.publicKey,
    initiatorPeerId: remotePeerId,
    responderPeerId: localPeerId,
    role: 'responder'
  })
  return { channel: new SealedChannel(framed, keys, header), keys, from }
}
