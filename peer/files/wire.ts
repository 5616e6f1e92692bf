/**
 * The file-transfer wire scheme (DESIGN §4, §6), shared by send.ts and receive.ts; the bodies are
 * in common/protocol/peer.ts with the rest of the peer-to-peer wire.
 *
 * It starts after the stream's signal header (`FILE <name> <size>` or `GROUP <group> <file name>`)
 * and, for direct transfers, the DH handshake. The caller supplies `fileSecret` (32 bytes: the
 * session's fileSecret/peerFileSecret, or a group's per-message file secret) and
 * `associatedData` (header bytes || 16-byte transfer id), which every frame below authenticates.
 *
 *   sender → receiver
 *     META      sealFrame(frameKeysFrom(fileSecret, "parley/file-meta"), seq 0, AD,
 *                 CBOR { id: bytes16, size: uint, sha256: bytes32, mime?: str(<=100), from?: uint,
 *                        sentAt?: uint })
 *     CHUNK i   sealChunk(fileSecret, i, final = (i == n-1), AD, bytes [i*C, min((i+1)*C, size)))
 *     ABANDON   sealFrame(frameKeysFrom(fileSecret, "parley/file-abandon"), seq 0, AD,
 *                 CBOR { why: str(<=200) }), in place of a chunk, then the sender closes
 *   receiver → sender
 *     VERDICT   sealFrame(frameKeysFrom(fileSecret, "parley/file-credit"), seq 0, AD,
 *                 empty (go on) | CBOR { code: str(<=32), why: str(<=200) } (refused))
 *     CREDIT k  sealFrame(frameKeysFrom(fileSecret, "parley/file-credit"), seq k + 1, AD, empty)
 *     STOP      sealFrame(frameKeysFrom(fileSecret, "parley/file-stop"), seq 0, AD,
 *                 CBOR { code: str(<=32), why: str(<=200) }), in place of a credit, then the
 *                 receiver discards what comes until the sender ends the stream
 *
 * with C = CHUNK_SIZE (64 KiB) and i = f … n-1, n = max(1, ceil(size / C)), f = META's `from`
 * (absent: 0). Every chunk but the
 * last carries exactly C bytes; the last is the only one flagged final and carries the rest, so an
 * empty file is one empty final chunk. The receiver therefore knows, from the size in META alone,
 * the exact length and final flag of every chunk: a chunk moved, replayed, re-flagged or cut off
 * fails its MAC (each index has its own key; index and flag are authenticated), a chunk of the
 * wrong length is a protocol error, and the file's SHA-256 is checked before it is published.
 *
 * Flow control (constants.ts explains why the stream's own backpressure is not enough): the
 * receiver sends CREDIT k, k = 0, 1, …, right after it has written chunk (k+1)*E - 1 to disk,
 * for every such chunk except the last one (E = CREDIT_EVERY_CHUNKS), so floor((n-1)/E) credits in
 * all. The sender sends chunk i only once it has read enough credits that i < credits*E + W
 * (W = WINDOW_CHUNKS), and reads every remaining credit after the final chunk, so nothing of this
 * exchange is left on the stream when the caller goes on to its own ACK. A file of up to W chunks
 * (2 MiB) goes out without waiting for a credit; one of up to E chunks (512 KiB) has none at all.
 *
 * With f > 0 every rule above counts chunks from f: the credit schedule and the window run over
 * the n - f chunks that travel (relative index r = i - f), so a resumed transfer is, on the wire,
 * a transfer of the file's tail whose chunks keep their absolute indices (and keys).
 *
 * The five labels differ, so META, CHUNK, CREDIT, ABANDON and STOP frames never share a key.
 *
 * Giving up (2026-12-06). A sender whose file changed, shrank or could no longer be read mid-way
 * drops the delivery (ERR_FILE is not retried: the file it announced is gone). It says so with
 * ABANDON where the next chunk would be, so the receiver removes what it kept of this transfer
 * and tells its person that the sender gave it up, instead of keeping the prefix for a resume
 * that never comes and saying "the rest comes when bob is back". The receiver tries the ABANDON
 * key only on a frame that failed as a chunk, so the chunks' path costs nothing more. An older
 * receiver reads it as a chunk that failed authentication.
 *   A queued file found changed or gone at a retry (the receiver was away when an earlier attempt
 * was cut) is given up too, and the receiver, which may keep a prefix of it, is told the same way
 * with ABANDON in place of META, after its answer (2026-12-07; until then the prefix stayed for
 * PARTIAL_MAX_AGE_MS and the receiver's last word was that the rest would come). The sender no
 * longer knows the file's size then: such a stream's header says 0, which no META contradicts.
 * A receiver that answers that it has the whole file (its ACK was lost) ACKs it instead.
 *
 * The verdict (issue 12, the disk budget). The receiver answers META at once with VERDICT: empty
 * when it takes the file, or the refusal (ERR_TOO_LARGE: the disk cannot take it; ERR_RATE_LIMITED:
 * this sender's transfers in progress are in the way) with a short reason. The sender does not
 * wait for it: it streams as usual and reads the verdict before its first credit, or after its
 * final chunk when the file needs no credit, so an accepted transfer costs no round trip. Refused,
 * it stops there and reports the receiver's error (common/protocol/peer.ts refusalError); the
 * receiver, which has written nothing, discards what the sender sent meanwhile (at most the
 * window) until the sender ends the stream.
 *
 * Stopped mid-way (2026-12-06). A receiver whose disk fills while the file comes in keeps the
 * verified part (partial.ts) and says why with STOP where the next credit would be, as the verdict
 * does at the start: the sender reports the receiver's error (ERR_NO_SPACE, tried again later)
 * instead of a cut connection, and the receiver discards what was sent meanwhile until the sender
 * ends the stream. The sender tries the STOP key only on a frame that failed as a credit. An older
 * sender reads it as a forged credit (ERR_INTEGRITY).
 *
 * Resuming (issue 7). A receiver that kept the verified first k chunks of this transfer (same
 * sender, same transfer id) from an attempt that was cut says so in its answer to the offer,
 * before META: `resume: { from: k, sha256 }`, the SHA-256 of the whole file it was receiving then
 * (resumeSchema in common/protocol/peer.ts; the caller's answer frame carries it, sealed like the rest of its channel). The
 * sender honours it only when that SHA-256 is its file's and 0 < k < n (resumePoint), and says
 * what it does in META's authenticated `from`: k, or nothing (0: from the start). So the sender
 * decides, with the one fact it lacks (is the kept prefix of this same file?), and the receiver
 * learns the decision in an authenticated frame instead of inferring it:
 *   - from = 0: the receiver drops whatever it kept for this id and receives the whole file (a
 *     file edited between attempts has another SHA-256, so it starts over, in one attempt);
 *   - from = k: accepted only if k is exactly what it offered and META's size and SHA-256 are the
 *     kept ones; anything else is ERR_PROTOCOL (and the kept prefix is dropped).
 * The order needs no new round trip and no new frame on either protocol: the answer already
 * exists (`{have}`, direct and group alike) and META is the sender's first file frame. Chunks of
 * the new attempt are sealed under the new attempt's keys (a fresh DH, or a fresh group message
 * nonce); the kept prefix was authenticated chunk by chunk when it arrived, and the whole file's
 * SHA-256 — prefix read back from disk, then the new chunks — is checked before it is published.
 */
import { equals } from 'uint8arrays/equals'
import { CHUNK_SIZE, frameKeysFrom, openFrame, sealFrame } from '../../common/crypto/index.ts'
import { ErrorCode, ParleyError, malformed } from '../../common/errors.ts'
import { fileAbandonBody, fileMetaBody, fileRefusalBody, refusalError } from '../../common/protocol/peer.ts'
import type { FileMeta } from '../../common/protocol/peer.ts'
import { decodeBody, encodeBody } from '../../common/wire/codec.ts'
import { MAX_FILE_BYTES } from '../../common/wire/limits.ts'
import { ABANDON_KEY_INFO, CREDIT_EVERY_CHUNKS, CREDIT_KEY_INFO, FILE_SECRET_BYTES, META_KEY_INFO, STOP_KEY_INFO, WINDOW_CHUNKS } from './constants.ts'

export interface ResumeOffer {
  from: number
  sha256: Uint8Array
}

/**
 * Where the sender starts: the receiver's offered chunk when it is for this very file (same
 * SHA-256) and leaves at least the final chunk to send, else 0. Declining is always allowed and
 * always safe (META tells the receiver), so an offer we cannot honour is not an error.
 */
export function resumePoint (offer: ResumeOffer | undefined, size: number, sha256: Uint8Array): number {
  if (offer === undefined) return 0
  if (offer.from <= 0 || offer.from >= chunkCount(size)) return 0
  if (!equals(offer.sha256, sha256)) return 0
  return offer.from
}

/** Number of chunks a file of `size` bytes travels in (at least one: the final flag). */
export function chunkCount (size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_SIZE))
}

/** Plaintext length of chunk `index`; the chunk is final when it is the last of chunkCount(size). */
export function chunkLength (size: number, index: number): number {
  return Math.min(CHUNK_SIZE, size - index * CHUNK_SIZE)
}

/** Whether the receiver sends a CREDIT after writing chunk `index` of `chunks`. */
export function creditDue (index: number, chunks: number): boolean {
  return (index + 1) % CREDIT_EVERY_CHUNKS === 0 && index < chunks - 1
}

/** How many CREDIT frames a transfer of `chunks` chunks carries in all. */
export function creditCount (chunks: number): number {
  return Math.floor((chunks - 1) / CREDIT_EVERY_CHUNKS)
}

/** The first chunk index the sender may not send before it has read `credits` credits. */
export function windowEnd (credits: number): number {
  return credits * CREDIT_EVERY_CHUNKS + WINDOW_CHUNKS
}

export function checkFileSecret (fileSecret: Uint8Array): void {
  if (fileSecret.length !== FILE_SECRET_BYTES) throw malformed(`file secret must be ${FILE_SECRET_BYTES} bytes`)
}

export function checkFileSize (size: number, what: string): void {
  if (!Number.isSafeInteger(size) || size < 0) throw malformed(`${what} must be a whole number >= 0`)
  if (size > MAX_FILE_BYTES) throw new ParleyError(ErrorCode.TooLarge, `${what} is over the limit of ${MAX_FILE_BYTES} bytes`)
}

export function sealMeta (fileSecret: Uint8Array, associatedData: Uint8Array, meta: FileMeta): Uint8Array {
  const body = encodeBody(meta)
  // Never send what the receiver would refuse (wrong id length, a mime it cannot print, …).
  decodeBody(fileMetaBody, body)
  return sealFrame(frameKeysFrom(fileSecret, META_KEY_INFO), 0n, associatedData, body)
}

export function openMeta (fileSecret: Uint8Array, associatedData: Uint8Array, sealed: Uint8Array): FileMeta {
  // openFrame fails with ERR_INTEGRITY; an authentic but invalid body with ERR_MALFORMED/TOO_LARGE.
  let body: Uint8Array
  try {
    body = openFrame(frameKeysFrom(fileSecret, META_KEY_INFO), 0n, associatedData, sealed)
  } catch (err) {
    // A queued file its sender can no longer send as it was taken: ABANDON in META's place.
    throw openAbandon(fileSecret, associatedData, sealed) ?? err
  }
  return decodeBody(fileMetaBody, body)
}

const NO_BODY = new Uint8Array(0)

export function sealCredit (fileSecret: Uint8Array, associatedData: Uint8Array, k: number): Uint8Array {
  return sealFrame(frameKeysFrom(fileSecret, CREDIT_KEY_INFO), BigInt(k) + 1n, associatedData, NO_BODY)
}

/** ERR_INTEGRITY unless `sealed` is credit number `k` of this transfer. */
export function openCredit (fileSecret: Uint8Array, associatedData: Uint8Array, k: number, sealed: Uint8Array): void {
  const body = openFrame(frameKeysFrom(fileSecret, CREDIT_KEY_INFO), BigInt(k) + 1n, associatedData, sealed)
  if (body.length !== 0) throw new ParleyError(ErrorCode.Protocol, 'file credit frame has a body')
}

/** The verdict on META: `refusal` undefined to go on. */
export function sealVerdict (fileSecret: Uint8Array, associatedData: Uint8Array, refusal?: ParleyError): Uint8Array {
  const body = refusal === undefined ? NO_BODY : encodeBody({ code: refusal.code, why: refusal.message.slice(0, 200) })
  return sealFrame(frameKeysFrom(fileSecret, CREDIT_KEY_INFO), 0n, associatedData, body)
}

/** Returns if the receiver takes the file; throws its refusal (or ERR_INTEGRITY for a forged frame). */
export function openVerdict (fileSecret: Uint8Array, associatedData: Uint8Array, sealed: Uint8Array): void {
  const body = openFrame(frameKeysFrom(fileSecret, CREDIT_KEY_INFO), 0n, associatedData, sealed)
  if (body.length === 0) return
  const { code, why } = decodeBody(fileRefusalBody, body)
  throw refusalError({ id: new Uint8Array(0), code, why })
}

/** The receiver stops a transfer it had taken (its disk filled): `refusal` says why. */
export function sealStop (fileSecret: Uint8Array, associatedData: Uint8Array, refusal: ParleyError): Uint8Array {
  return sealFrame(frameKeysFrom(fileSecret, STOP_KEY_INFO), 0n, associatedData, encodeBody({ code: refusal.code, why: refusal.message.slice(0, 200) }))
}

/** The receiver's STOP as its error, or undefined when `sealed` is not one (the caller reports
 * the credit's own failure). */
export function openStop (fileSecret: Uint8Array, associatedData: Uint8Array, sealed: Uint8Array): ParleyError | undefined {
  let body: Uint8Array
  try {
    body = openFrame(frameKeysFrom(fileSecret, STOP_KEY_INFO), 0n, associatedData, sealed)
  } catch {
    return undefined
  }
  const { code, why } = decodeBody(fileRefusalBody, body)
  return refusalError({ id: new Uint8Array(0), code, why })
}

/** What a receiver is told when its sender gives a file up: the same words whatever happened to
 * the file, which never name the sender's path or folders; `before` the rest was sent, when the
 * sender found it so at a retry (Giving up). */
const ABANDONED_WHY = {
  midway: 'it changed while it was being sent, or could no longer be read',
  before: 'it changed, or could no longer be read, before the rest was sent'
}

export function sealAbandon (fileSecret: Uint8Array, associatedData: Uint8Array, when: keyof typeof ABANDONED_WHY = 'midway'): Uint8Array {
  return sealFrame(frameKeysFrom(fileSecret, ABANDON_KEY_INFO), 0n, associatedData, encodeBody({ why: ABANDONED_WHY[when] }))
}

/** ERR_ABANDONED with the sender's reason when `sealed` is its ABANDON frame; undefined when it
 * is not (the caller reports its own failure). */
export function openAbandon (fileSecret: Uint8Array, associatedData: Uint8Array, sealed: Uint8Array): ParleyError | undefined {
  let body: Uint8Array
  try {
    body = openFrame(frameKeysFrom(fileSecret, ABANDON_KEY_INFO), 0n, associatedData, sealed)
  } catch {
    return undefined // not an ABANDON either: the chunk's own failure is the one to report
  }
  return new ParleyError(ErrorCode.Abandoned, decodeBody(fileAbandonBody, body).why)
}

/** The caller's signal fired: ERR_UNREACHABLE, as FramedStream reports an aborted read or write;
 * a ParleyError reason (the rate floor's, progress.ts) is that error. */
export function cancelled (signal: AbortSignal): ParleyError {
  const reason: unknown = signal.reason
  if (reason instanceof ParleyError) return reason
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError'
  return new ParleyError(ErrorCode.Unreachable, timedOut ? 'file transfer timed out' : 'file transfer cancelled', { cause: reason })
}
