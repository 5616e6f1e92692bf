/**
 * Sending a file (wire scheme: wire.ts). The file is read once, one 64 KiB chunk at a time into a
 * single buffer, and each chunk is sealed once and written to every target: a group file costs one
 * encryption however many members receive it. `FramedStream.write` waits for the stream's drain
 * and each target's credit window bounds what it has not yet stored, so the slowest target sets
 * the pace and memory stays constant on both sides (DESIGN §6).
 */
import { createHash } from 'node:crypto'
import { constants, open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { basename, extname, resolve } from 'node:path'
import { equals } from 'uint8arrays/equals'
import { CHUNK_SIZE, sealChunk } from '../../common/crypto/index.ts'
import { ErrorCode, ParleyError, asParleyError, malformed } from '../../common/errors.ts'
import { formatBytes } from '../../common/format-bytes.ts'
import { patientTimeout } from '../../common/patient-timeout.ts'
import type { FramedStream } from '../../common/wire/frames.ts'
import { MAX_FILE_BYTES } from '../../common/wire/limits.ts'
import { sanitiseFileName } from '../../common/wire/names.ts'
import { STEP_TIMEOUT_MS } from '../constants.ts'
import { CHANGE_CHECK_CHUNKS, HEARTBEAT_CHUNKS, SHA256_BYTES, TRANSFER_ID_BYTES } from './constants.ts'
import { fileError } from './disk.ts'
import { cancelled, checkFileSecret, checkFileSize, chunkCount, chunkLength, creditCount, openCredit, openStop, openVerdict, sealAbandon, sealMeta, windowEnd } from './wire.ts'

/** The few types a chat client previews; anything else travels without a MIME type. */
const MIME_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.ogg': 'audio/ogg',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mov': 'video/quicktime',
  '.pdf': 'application/pdf',
  '.txt': 'text/plain'
}

function mimeTypeOf (path: string): string | undefined {
  return MIME_TYPES[extname(path).toLowerCase()]
}

export interface LocalFile {
  path: string
  /** The name announced: the file's own (no folder) as a receiver would save it (sanitiseFileName):
   * a name with a TAB or ESC in it, or too long, would otherwise pass here and be refused by
   * the signal header at every delivery. The receiver sanitises it again. */
  name: string
  size: number
  mime?: string
}

/** The name a file at `path` is announced under (LocalFile.name), and named by in our own lines. */
export function announcedName (path: string): string {
  return sanitiseFileName(basename(path))
}

/** A local file the user asked to send: it must exist, be a readable regular file, and fit.
 * Its path is made absolute: a queued file is read at delivery, perhaps after a restart from
 * another folder. (The prompt hands it an absolute path already, a relative one taken from the
 * folder the person started the peer in: cli/paths.ts localPath.) */
export async function describeLocalFile (given: string): Promise<LocalFile> {
  const path = resolve(given)
  const handle = await openRegularFile(path)
  try {
    const { size } = await handle.stat()
    if (size > MAX_FILE_BYTES) {
      // In the units a person reads (until 2026-12-07 "is 69793218560 bytes, over the limit of
      // 68719476736 bytes": round 36).
      const bytes = (n: number): string => `${formatBytes(n)} (${n.toLocaleString('en')} bytes)`
      throw new ParleyError(ErrorCode.TooLarge, `${path} is ${bytes(size)}: a file may be at most ${bytes(MAX_FILE_BYTES)}`)
    }
    // /proc and /sys files say 0 bytes and have content: each was taken, then always failed as
    // "got longer while it was being sent" (round 37). One byte read tells them (still 0 bytes
    // after it: not an empty file that was being written).
    if (size === 0 && (await handle.read(Buffer.alloc(1), 0, 1, 0)).bytesRead > 0 && (await handle.stat()).size === 0) {
      throw new ParleyError(ErrorCode.File, `${path} is made by the system as it is read (it says 0 bytes, yet has content): copy it to a file and send that`)
    }
    const mime = mimeTypeOf(path)
    return { path, name: announcedName(path), size, ...(mime !== undefined ? { mime } : {}) }
  } finally {
    await handle.close()
  }
}

/** A file as SENDFILE queues it: where it is, the name announced, and its content then (SHA-256,
 * hex), which its delivery checks (fileToDeliver). */
export interface QueuedFile {
  path: string
  name: string
  sha256: string
}

/** A local file the user asked to send, described and hashed (the hash is cached for its
 * delivery, so a file sent at once is read once for it). `onRead` hears how far the hash got,
 * every READ_REPORT_BYTES, for a file that takes that long to read. `signal` (Ctrl-C at the
 * prompt) stops the reading: the file is not queued, and the error says it was not sent. */
export async function fileToQueue (given: string, onRead?: (read: { name: string, bytes: number, total: number }) => void, signal?: AbortSignal): Promise<QueuedFile> {
  const { path, name } = await describeLocalFile(given)
  const onProgress = onRead === undefined ? undefined : (bytes: number, total: number) => { onRead({ name, bytes, total }) }
  const stopped = (): boolean => signal?.aborted === true
  const notSent = (): ParleyError => new ParleyError(ErrorCode.Usage, `cancelled: ${name} was not sent`)
  if (stopped()) throw notSent()
  const sha256 = await hashFile(path, signal, onProgress).catch((err: unknown) => {
    throw stopped() ? notSent() : err
  })
  // Cancelled as the last bytes were read: still not queued (the caller queues it at once).
  if (stopped()) throw notSent()
  return { path, name, sha256: Buffer.from(sha256).toString('hex') }
}

/** How often reading a file for its hash is reported: a file smaller than this is not. */
const READ_REPORT_BYTES = 4 * 1024 * 1024

/** What a sender whose file changed can do: the outbox never sends a file other than the one
 * SENDFILE took, so only a new SENDFILE sends the file as it is now. */
const SEND_AGAIN = '(send it again to send it as it is now)'

/**
 * A queued file at its delivery, with its SHA-256 for META: refused (ERR_FILE, not retried) when
 * its content is no longer what SENDFILE took (`sent`, hex), so what a recipient gets is what was
 * sent, whenever it is delivered, and every member of a group gets the same file.
 */
export async function fileToDeliver (path: string, sent: string | undefined): Promise<LocalFile & { sha256: Uint8Array }> {
  const local = await describeLocalFile(path)
  const sha256 = await hashFile(local.path)
  if (sent !== undefined && Buffer.from(sha256).toString('hex') !== sent) {
    throw new ParleyError(ErrorCode.File, `${local.path} changed after you sent it ${SEND_AGAIN}`)
  }
  return { ...local, sha256 }
}

/**
 * Hashes of files unchanged since they were hashed (same inode, size and mtime). A group file is
 * delivered to each member separately and retried from the outbox, so without this one
 * SENDGROUPFILE read the whole file once per member and attempt. Safe to reuse: sendFile checks
 * the hash again while it streams, so a file edited meanwhile never completes. SHA-256, streamed
 * through one 64 KiB buffer.
 */
const recentHashes = new Map<string, Uint8Array>()
const RECENT_HASHES = 32

export async function hashFile (path: string, signal?: AbortSignal, onProgress?: (bytes: number, total: number) => void): Promise<Uint8Array> {
  const stopIfCancelled = (): void => { if (signal?.aborted === true) throw cancelled(signal) }
  const handle = await openRegularFile(path)
  try {
    const stats = await handle.stat()
    const key = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`
    const known = recentHashes.get(key)
    stopIfCancelled()
    if (known !== undefined) return known
    const hash = createHash('sha256')
    const buffer = Buffer.allocUnsafe(CHUNK_SIZE)
    for (let position = 0, report = READ_REPORT_BYTES; ;) {
      stopIfCancelled()
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position).catch((err: unknown) => {
        throw fileError(err, `cannot read ${path}`)
      })
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
      position += bytesRead
      if (position >= report) {
        onProgress?.(position, Math.max(position, stats.size))
        report = position + READ_REPORT_BYTES
      }
    }
    const digest = new Uint8Array(hash.digest())
    recentHashes.set(key, digest)
    if (recentHashes.size > RECENT_HASHES) recentHashes.delete(recentHashes.keys().next().value ?? key)
    return digest
  } finally {
    await handle.close()
  }
}

export interface SendFileArgs {
  targets: FramedStream[]
  fileSecret: Uint8Array
  associatedData: Uint8Array
  path: string
  /** 16 random bytes, the same id the caller put at the end of associatedData. */
  id: Uint8Array
  /** hashFile(path): checked again while sending, so a file edited meanwhile never completes. */
  sha256: Uint8Array
  size: number
  mime?: string
  /** When the person sent it (ms since the epoch), told to the receiver in META. */
  sentAt?: number
  /** Resume at this chunk (resumePoint in wire.ts): chunks before it are hashed, not sent. */
  from?: number
  /** Bytes the receiver holds so far. Resuming, the first report is the kept prefix's length, and
   * that same count comes again while the prefix is re-hashed: a heartbeat (watchTransfer). */
  onProgress?: (sentBytes: number, total: number) => void
  /** A receiver took the file (its verdict, wire.ts): what went before may have been refused. */
  onAccepted?: () => void
  signal?: AbortSignal
}

export interface SendFileResult {
  /** Targets dropped on the way (their streams aborted), by index into `targets`. */
  failed: Array<{ index: number, error: ParleyError }>
}

/**
 * Stream the file to every target. A target whose write (or credit, see wire.ts) fails, or that
 * refuses the file in its verdict (the disk budget), is aborted, dropped and reported in `failed`; the others continue (and if none is left, reading stops). A
 * local failure (the file changed size or content: ERR_FILE) or the signal aborts every remaining
 * target and throws, so no receiver ever sees a final chunk of a file that was not the one
 * announced. On success every credit has been read and the streams stay open: the caller reads
 * each receiver's ACK on its own channel next.
 */
export async function sendFile (args: SendFileArgs): Promise<SendFileResult> {
  const { targets, fileSecret, associatedData, path, id, sha256, size, mime, sentAt, onProgress, signal } = args
  const from = args.from ?? 0
  checkFileSecret(fileSecret)
  checkFileSize(size, 'file size')
  if (id.length !== TRANSFER_ID_BYTES) throw malformed(`transfer id must be ${TRANSFER_ID_BYTES} bytes`)
  if (sha256.length !== SHA256_BYTES) throw malformed(`sha256 must be ${SHA256_BYTES} bytes`)
  const chunks = chunkCount(size)
  if (!Number.isSafeInteger(from) || from < 0 || from >= chunks) throw malformed(`cannot resume at chunk ${from} of ${chunks}`)

  const alive = new Set<Target>(targets.map((framed, index) => ({ index, framed, credits: 0, verdict: false })))
  const failed: SendFileResult['failed'] = []

  /** Run `step` on every live target in parallel; drop (and abort) the ones that fail. */
  const eachTarget = async (step: (target: Target) => Promise<void>): Promise<void> => {
    const live = [...alive]
    const results = await Promise.allSettled(live.map(step))
    if (signal?.aborted === true) throw cancelled(signal)
    results.forEach((result, k) => {
      const target = live[k]
      if (result.status === 'fulfilled' || target === undefined) return
      const error = asParleyError(result.reason)
      alive.delete(target)
      failed.push({ index: target.index, error })
      target.framed.abort(error)
    })
  }
  /** The receiver's verdict on META (wire.ts): read once, before the first credit or at the end. */
  const readVerdict = async (target: Target): Promise<void> => {
    if (target.verdict) return
    openVerdict(fileSecret, associatedData, await target.framed.read({ signal }))
    target.verdict = true
    args.onAccepted?.()
  }
  const readCredit = async (target: Target): Promise<void> => {
    await readVerdict(target)
    const sealed = await target.framed.read({ signal })
    try {
      openCredit(fileSecret, associatedData, target.credits, sealed)
    } catch (err) {
      // Not a credit: the receiver's STOP (its disk filled), if it opens as one (wire.ts).
      throw openStop(fileSecret, associatedData, sealed) ?? err
    }
    target.credits++
  }

  if (alive.size === 0) return { failed }
  const handle = await openRegularFile(path)
  try {
    const opened = await statOf(handle, path)
    const meta = sealMeta(fileSecret, associatedData, {
      id, size, sha256, ...(mime !== undefined ? { mime } : {}), ...(from > 0 ? { from } : {}), ...(sentAt !== undefined ? { sentAt } : {})
    })
    await eachTarget(async target => { await target.framed.write(meta, { signal }) })
    const hash = createHash('sha256')
    const buffer = Buffer.allocUnsafe(CHUNK_SIZE)
    // Resuming: the receiver holds chunks [0, from). They are not sent but they are hashed (while
    // the receiver hashes its copy), so a file edited since META's SHA-256 was taken still never
    // reaches a final chunk. Progress starts at the prefix's end, repeated as a heartbeat.
    let sent = 0
    for (let index = 0; index < from; index++) {
      if (signal?.aborted === true) throw cancelled(signal)
      if (index % HEARTBEAT_CHUNKS === 0) onProgress?.(from * CHUNK_SIZE, size)
      const plaintext = buffer.subarray(0, CHUNK_SIZE)
      await readExactly(handle, plaintext, sent, path)
      hash.update(plaintext)
      sent += CHUNK_SIZE
    }
    for (let index = from; index < chunks && alive.size > 0; index++) {
      if (signal?.aborted === true) throw cancelled(signal)
      if (index > from && (index - from) % CHANGE_CHECK_CHUNKS === 0) await checkNotWritten(handle, opened, path)
      const length = chunkLength(size, index)
      const plaintext = buffer.subarray(0, length)
      await readExactly(handle, plaintext, sent, path)
      hash.update(plaintext)
      const final = index === chunks - 1
      if (final) await checkUnchanged(handle, size, hash.digest(), sha256, path)
      // One seal for every target; sealChunk copies, so the buffer is free for the next read.
      const sealed = sealChunk(fileSecret, index, final, associatedData, plaintext)
      await eachTarget(async target => {
        // Flow control counts the chunks that travel: index - from (wire.ts).
        while (index - from >= windowEnd(target.credits)) await readCredit(target)
        await target.framed.write(sealed, { signal })
      })
      sent += length
      onProgress?.(sent, size)
    }
    const credits = creditCount(chunks - from)
    await eachTarget(async target => {
      await readVerdict(target)
      while (target.credits < credits) await readCredit(target)
    })
  } catch (err) {
    const error = asParleyError(err)
    // Our file changed or could no longer be read: this delivery is over (ERR_FILE is not
    // retried), and the receivers are told so (ABANDON, wire.ts) rather than left to keep what
    // they have for a resume that never comes.
    const told = error.code === ErrorCode.File ? await abandon(alive, sealAbandon(fileSecret, associatedData)) : new Set<Target>()
    for (const target of alive) if (!told.has(target)) target.framed.abort(error)
    throw error
  } finally {
    await handle.close()
  }
  return { failed }
}

/** ABANDON to each target (abandonTransfer); the targets told, whose streams must not be
 * aborted: the caller aborts the others. */
async function abandon (targets: Iterable<Target>, frame: Uint8Array): Promise<Set<Target>> {
  const told = new Set<Target>()
  await Promise.all([...targets].map(async target => {
    if (await abandonTransfer(target.framed, frame)) told.add(target)
  }))
  return told
}

/** ABANDON (`frame`), our half closed, then a wait (a step at most) for the receiver to end the
 * stream, which it does once it has read up to ABANDON: an abort before that (ours, or the
 * caller's) resets the stream under the chunks it still reads, up to the window's 2 MiB, and it
 * sees a cut instead (a tester's file that grew in its last chunks, until 2026-12-06). False when
 * the stream failed first: the caller's abort ends it, and the receiver sees a cut. */
export async function abandonTransfer (framed: FramedStream, frame: Uint8Array): Promise<boolean> {
  const signal = patientTimeout(STEP_TIMEOUT_MS)
  try {
    await framed.write(frame, { signal })
    await framed.close({ signal })
    await framed.whenOver(signal)
    return true
  } catch {
    return false
  }
}

interface Target {
  /** Position in the caller's `targets`, for `failed`. */
  index: number
  framed: FramedStream
  /** CREDIT frames read from this target so far. */
  credits: number
  /** Its VERDICT on META was read (and was to go on). */
  verdict: boolean
}

/** Fill `into` from `position`; a file that ends first has shrunk since it was described. */
async function readExactly (handle: FileHandle, into: Uint8Array, position: number, path: string): Promise<void> {
  for (let filled = 0; filled < into.length;) {
    const { bytesRead } = await handle.read(into, filled, into.length - filled, position + filled).catch((err: unknown) => {
      throw fileError(err, `cannot read ${path}`)
    })
    if (bytesRead === 0) throw new ParleyError(ErrorCode.File, `${path} got shorter while it was being sent ${SEND_AGAIN}`)
    filled += bytesRead
  }
}

async function statOf (handle: FileHandle, path: string): Promise<Stats> {
  return await handle.stat().catch((err: unknown) => { throw fileError(err, `cannot read ${path}`) })
}

/** Now and then while it goes out (CHANGE_CHECK_CHUNKS): written to since it was opened? Its
 * size or modification time says so; its hash would say it only after the last chunk. */
async function checkNotWritten (handle: FileHandle, opened: Stats, path: string): Promise<void> {
  const now = await statOf(handle, path)
  if (now.size !== opened.size || now.mtimeMs !== opened.mtimeMs) {
    throw new ParleyError(ErrorCode.File, `${path} changed while it was being sent ${SEND_AGAIN}`)
  }
}

/** Before the final chunk goes out: the file must end where announced and hash as announced. */
async function checkUnchanged (handle: FileHandle, size: number, digest: Uint8Array, sha256: Uint8Array, path: string): Promise<void> {
  const probe = Buffer.allocUnsafe(1)
  const { bytesRead } = await handle.read(probe, 0, 1, size).catch((err: unknown) => {
    throw fileError(err, `cannot read ${path}`)
  })
  if (bytesRead !== 0) throw new ParleyError(ErrorCode.File, `${path} got longer while it was being sent ${SEND_AGAIN}`)
  if (!equals(digest, sha256)) {
    throw new ParleyError(ErrorCode.File, `${path} changed while it was being sent ${SEND_AGAIN}`)
  }
}

/**
 * Open for reading and make sure it is a regular file. O_NONBLOCK keeps open() of a FIFO from
 * waiting for a writer (it has no effect on regular files), so the check below is reached.
 */
async function openRegularFile (path: string): Promise<FileHandle> {
  let handle: FileHandle
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))
  } catch (err) {
    throw fileError(err, `cannot open ${path}`)
  }
  try {
    const stats = await handle.stat()
    if (stats.isDirectory()) throw new ParleyError(ErrorCode.File, `${path} is a folder, not a file`)
    if (!stats.isFile()) throw new ParleyError(ErrorCode.File, `${path} is not a regular file`)
    return handle
  } catch (err) {
    await handle.close()
    throw fileError(err, `cannot read ${path}`)
  }
}
