/**
 * The file-transfer wire scheme (DESIGN §4, §6), shared by send.ts and receive.ts.
 *
 * It starts after the stream's signal header (`FILE <name> <size>` or `GROUP <group> <file name>`)
 * and, for direct transfers, the DH handshake. The caller supplies `fileSecret` (32 bytes: the
 * session's fileSecret/peerFileSecret, or a group's per-message file secret) and
 * `associatedData` (header bytes || 16-byte transfer id), which every frame below authenticates.
 *
 *   sender → receiver
 *     META      sealFrame(frameKeysFrom(fileSecret, "parley/file-meta"), seq 0, AD,
 *                 CBOR { id: bytes16, size: uint, sha256: bytes32, mime?: str(<=100) })
 *     CHUNK i   sealChunk(fileSecret, i, final = (i == n-1), AD, bytes [i*C, min((i+1)*C, size)))
 *   receiver → sender
 *     CREDIT k  sealFrame(frameKeysFrom(fileSecret, "parley/file-credit"), seq k, AD, empty)
 *
 * with C = CHUNK_SIZE (64 KiB) and i = 0 … n-1, n = max(1, ceil(size / C)). Every chunk but the
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
 * The three labels differ, so META, CHUNK and CREDIT frames never share a key.
 */
import { CHUNK_SIZE, frameKeysFrom, openFrame, sealFrame } from '../../common/crypto/index.ts'
import { ErrorCode, ParleyError, malformed } from '../../common/errors.ts'
import { bytes, decodeBody, encodeBody, optional, str, uint } from '../../common/wire/codec.ts'
import type { InferSchema } from '../../common/wire/codec.ts'
import { MAX_FILE_BYTES } from '../../common/wire/limits.ts'
import {
  CREDIT_EVERY_CHUNKS, CREDIT_KEY_INFO, FILE_SECRET_BYTES, MAX_MIME_LENGTH, META_KEY_INFO, SHA256_BYTES, TRANSFER_ID_BYTES, WINDOW_CHUNKS
} from './constants.ts'

/** type/subtype from the token alphabet of RFC 6838 §4.2, no parameters: safe to print. */
const MIME_PATTERN = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i

export const metaSchema = {
  id: bytes(TRANSFER_ID_BYTES, TRANSFER_ID_BYTES),
  size: uint(MAX_FILE_BYTES),
  sha256: bytes(SHA256_BYTES, SHA256_BYTES),
  mime: optional(str(MAX_MIME_LENGTH, 3, MIME_PATTERN))
}

export type FileMeta = InferSchema<typeof metaSchema>

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
  decodeBody(metaSchema, body)
  return sealFrame(frameKeysFrom(fileSecret, META_KEY_INFO), 0n, associatedData, body)
}

export function openMeta (fileSecret: Uint8Array, associatedData: Uint8Array, sealed: Uint8Array): FileMeta {
  // openFrame fails with ERR_INTEGRITY; an authentic but invalid body with ERR_MALFORMED/TOO_LARGE.
  const body = openFrame(frameKeysFrom(fileSecret, META_KEY_INFO), 0n, associatedData, sealed)
  return decodeBody(metaSchema, body)
}

const NO_BODY = new Uint8Array(0)

export function sealCredit (fileSecret: Uint8Array, associatedData: Uint8Array, k: number): Uint8Array {
  return sealFrame(frameKeysFrom(fileSecret, CREDIT_KEY_INFO), BigInt(k), associatedData, NO_BODY)
}

/** ERR_INTEGRITY unless `sealed` is credit number `k` of this transfer. */
export function openCredit (fileSecret: Uint8Array, associatedData: Uint8Array, k: number, sealed: Uint8Array): void {
  const body = openFrame(frameKeysFrom(fileSecret, CREDIT_KEY_INFO), BigInt(k), associatedData, sealed)
  if (body.length !== 0) throw new ParleyError(ErrorCode.Protocol, 'file credit frame has a body')
}

/** The caller's signal fired: ERR_UNREACHABLE, as FramedStream reports an aborted read or write. */
export function cancelled (signal: AbortSignal): ParleyError {
  const reason: unknown = signal.reason
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError'
  return new ParleyError(ErrorCode.Unreachable, timedOut ? 'file transfer timed out' : 'file transfer cancelled', { cause: reason })
}
