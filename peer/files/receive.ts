/**
 * Receiving a file (wire scheme: wire.ts). The sender chooses nothing on our disk: the name is
 * sanitised, the bytes land in a fresh owner-only `<name>.part` in the downloads folder, each chunk
 * is authenticated before it is written, and only a file whose length and SHA-256 match the
 * announced ones is renamed to a name that did not exist before (DESIGN §6). On any failure a
 * ParleyError is thrown and the `.part` is deleted — except, for a caller that passed a claimed
 * PartialTransfer, when the stream was cut (EOF, reset, timeout, cancelled) or the disk was full
 * (ERR_NO_SPACE): then the verified prefix is kept for a later attempt to resume (partial.ts;
 * wire.ts, "Resuming"). The stream is left to the caller (who may still want to report the
 * failure on it before closing).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { basename } from 'node:path'
import { CHUNK_SIZE, openChunk } from '../../common/crypto/index.ts'
import { ErrorCode, ErrorMark, ParleyError, is } from '../../common/errors.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { FramedStream } from '../../common/wire/frames.ts'
import { sanitiseFileName } from '../../common/wire/names.ts'
import { diskBudget } from './budget.ts'
import type { DiskBudget, Reservation } from './budget.ts'
import { createPartFile, ensureDownloadsDir, fileError, publishPartFile, reasonOf, removeFile } from './disk.ts'
import { CHECKPOINT_CHUNKS, HEARTBEAT_CHUNKS, REFUSAL_DRAIN_MS, WINDOW_CHUNKS } from './constants.ts'
import type { PartialTransfer } from './partial.ts'
import { cancelled, checkFileSecret, checkFileSize, chunkCount, chunkLength, creditCount, creditDue, openAbandon, openMeta, sealCredit, sealStop, sealVerdict } from './wire.ts'
import type { FileMeta } from '../../common/protocol/peer.ts'

export interface ReceiveFileArgs {
  framed: FramedStream
  fileSecret: Uint8Array
  associatedData: Uint8Array
  /** The name from the signal header: only a suggestion, sanitised before use. */
  announcedName: string
  /** The size from a `FILE <name> <size>` header: META must agree. Omit it when the header carries
   * none (`GROUP <group> <file name>`): META's size, authenticated and at most MAX_FILE_BYTES, rules. */
  announcedSize?: number
  downloadsDir: string
  /** This transfer, claimed (PartialTransfer.claim) and its offer sent: resume from what it kept,
   * keep the prefix if the stream is cut. Without it nothing is ever kept or resumed. The caller
   * releases it. */
  partial?: PartialTransfer
  /** The sender's checked username, for its share of the disk budget (default: the partial's). */
  sender?: string
  /** The caller records the file, then finishes the claimed partial itself: its record stays
   * until then, so a receiver killed between the two finds the file published (partial.ts
   * publishedCopy) instead of receiving it again (round 48: a second copy, `f3 (1).bin`). */
  keepUntilRecorded?: boolean
  /** What to tell the sender when the transfer stops for `reason` (its signal's, or an error),
   * if anything: said as a STOP, a refusal it does not try again (a sender our user blocked). */
  refusalOnStop?: (reason: ParleyError) => ParleyError | undefined
  /** Refuse the file with this once META is read (a sender our user blocked, on a group stream:
   * the refusal needs the stream's keys), and take nothing of it. */
  refusal?: ParleyError
  /** The disk budget to reserve in (default: this process's, budget.ts). */
  budget?: DiskBudget
  /** Bytes stored so far. Resuming, the first report is the kept prefix's length, and that same
   * count comes again while the prefix is re-hashed: a heartbeat (watchTransfer). */
  onProgress?: (receivedBytes: number, total: number) => void
  signal?: AbortSignal
}

export interface ReceivedFile {
  /** Where the verified file now is: always directly inside downloadsDir. */
  path: string
  /** Its name on disk (sanitised, maybe with a " (n)" suffix). */
  name: string
  /** The name it was sent under, sanitised: what the person is told arrived. `name` differs
   * when the downloads held a file of that name already. */
  sentAs: string
  size: number
  sha256: Uint8Array
  /** The transfer id from META (the caller may check it against its associated data). */
  id: Uint8Array
  mime?: string
  /** When its sender says it was sent (META's, absent from an older sender). */
  sentAt?: number
  /** The chunk this attempt started at (0 unless it resumed a kept prefix). */
  resumedFrom: number
}

/** The stream, read and written through here so that a cut (as opposed to bad data) is known. */
class Wire {
  /** The stream was cut (EOF, reset, timeout, cancelled), as opposed to carrying bad data. */
  cut = false
  readonly #framed: FramedStream
  readonly #signal: AbortSignal | undefined

  constructor (framed: FramedStream, signal: AbortSignal | undefined) {
    this.#framed = framed
    this.#signal = signal
  }

  /** Throws (a cut) if the signal fired. */
  check (): void {
    if (this.#signal?.aborted === true) {
      this.cut = true
      throw cancelled(this.#signal)
    }
  }

  async read (): Promise<Uint8Array> {
    try {
      return await this.#framed.read({ signal: this.#signal })
    } catch (err) {
      this.#failed(err)
      throw this.#reason(err)
    }
  }

  async write (frame: Uint8Array): Promise<void> {
    try {
      await this.#framed.write(frame, { signal: this.#signal })
    } catch (err) {
      this.#failed(err)
      throw this.#reason(err)
    }
  }

  /** Our own signal's reason rather than the stream's report of it (the rate floor's ERR_RATE_LIMITED). */
  #reason (err: unknown): unknown {
    return this.#signal?.aborted === true ? cancelled(this.#signal) : err
  }

  /** FramedStream says ERR_PROTOCOL only for a stream that ended inside a frame, ERR_UNREACHABLE
   * for one that ended between two, a reset, an abort or a timeout; an oversized or malformed
   * frame is bad data, not a cut. */
  #failed (err: unknown): void {
    this.cut = this.#signal?.aborted === true || (is(err) && (err.code === ErrorCode.Unreachable || err.code === ErrorCode.Protocol))
  }
}

export async function receiveFile (args: ReceiveFileArgs): Promise<ReceivedFile> {
  const { framed, fileSecret, associatedData, announcedName, announcedSize, downloadsDir, partial, onProgress } = args
  checkFileSecret(fileSecret)
  if (announcedSize !== undefined) checkFileSize(announcedSize, 'announced file size')
  const signals = [args.signal, partial?.signal].filter(s => s !== undefined)
  const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0]
  const wire = new Wire(framed, signal)

  let meta: FileMeta
  let from: number
  try {
    meta = openMeta(fileSecret, associatedData, await wire.read())
    if (announcedSize !== undefined && meta.size !== announcedSize) {
      throw new ParleyError(ErrorCode.Protocol, `file metadata says ${meta.size} bytes, the header said ${announcedSize}`)
    }
    from = meta.from ?? 0
    if (from >= chunkCount(meta.size)) throw new ParleyError(ErrorCode.Protocol, `file metadata resumes at chunk ${from} of ${chunkCount(meta.size)}`)
    if (from > 0 && !resumable(partial, from, meta)) throw new ParleyError(ErrorCode.Protocol, `file metadata resumes at chunk ${from}, which was not offered`)
    // The sender starts over (another SHA-256, or no resume on its side): what was kept goes.
    if (from === 0) await partial?.discard()
  } catch (err) {
    // Cut before META: what was kept stays as it was. Any other failure: the sender's kept
    // prefix goes with it (ERR_PROTOCOL and ERR_INTEGRITY drop everything, partial.ts).
    if (!wire.cut) await partial?.discard()
    throw err
  }

  if (args.refusal !== undefined) {
    await refuse(framed, fileSecret, associatedData, args.refusal, signal)
    throw args.refusal
  }
  const name = sanitiseFileName(announcedName)
  let part: { path: string, handle: FileHandle } | undefined
  let handle: FileHandle | undefined
  /** Whole chunks in the .part: kept ones plus those written by this attempt; credits sent. */
  const stored = { chunks: from, credits: 0 }
  let checkpoints: Checkpoints | undefined
  let reservation: Reservation | undefined
  let verdictSent = false
  /** A downloads folder this side cannot write to (its permissions, a read-only or full disk):
   * refused with the verdict, in words without our paths, as a refusal that passes (the sender
   * tries again, and the person here may mend the folder; ERR_NO_SPACE for a full disk, else
   * ERR_UNREACHABLE). What was kept of this transfer stays. Until 2026-12-07 the go-on verdict
   * went first, the sender read a stream closed under it ("the other side closed the
   * connection") and tried again within seconds, and each try was a warning here (round 25). */
  const refuseUnwritable = async (err: unknown): Promise<never> => {
    const error = is(err) ? err : fileError(err, `cannot write to ${downloadsDir}`)
    if (error.code !== ErrorCode.File && error.code !== ErrorCode.NoSpace) throw error
    await refuse(framed, fileSecret, associatedData, unsavable(error), signal)
    if (error.code === ErrorCode.File) unwritable.add(error)
    throw new Refused(error)
  }
  /** The .part to receive into: the kept one, or a new one (removed again if its record fails). */
  const openPart = async (): Promise<{ path: string, handle: FileHandle }> => {
    if (from > 0 && partial !== undefined) return await partial.reopen(name)
    const created = await createPartFile(downloadsDir, name, partial === undefined ? undefined : async path => { await partial.intend(path, meta) })
    try {
      await partial?.begin(created.path, created.handle, meta)
    } catch (err) {
      await created.handle.close().catch(() => undefined)
      await removeFile(created.path)
      throw err
    }
    return created
  }
  try {
    await ensureDownloadsDir(downloadsDir).catch(refuseUnwritable)
    // The disk budget (budget.ts): refused, the sender hears why (wire.ts, the verdict); what
    // was kept of this transfer stays (the refusal may pass), and nothing else is written.
    const sender = args.sender ?? partial?.sender
    try {
      reservation = await (args.budget ?? diskBudget).reserve({
        downloadsDir,
        bytes: meta.size - from * CHUNK_SIZE,
        alreadyKept: from * CHUNK_SIZE,
        ...(sender !== undefined && sender !== '' ? { sender } : {}),
        ...(partial !== undefined ? { key: partial.key, kept: partial.keptOthers } : {})
      })
    } catch (err) {
      const refusal = is(err) ? err : fileError(err, `cannot check the free space in ${downloadsDir}`)
      await refuse(framed, fileSecret, associatedData, refusal, signal)
      throw new Refused(refusal)
    }
    // Where it goes is made before the sender is told to go on (refuseUnwritable).
    const opened = await openPart().catch(refuseUnwritable)
    part = opened
    // Ours to close from here on, the verdict's write included: a stream cut just then left the
    // handle to the garbage collector (until 2026-12-07; the unit tests in one process showed it).
    handle = opened.handle
    await wire.write(sealVerdict(fileSecret, associatedData))
    verdictSent = true
    const held = reservation
    const written = part
    if (partial !== undefined) checkpoints = new Checkpoints(async chunks => { await partial.checkpoint(written.path, written.handle, chunks, meta) })
    const hash = createHash('sha256')
    if (from > 0) await hashPrefix(handle, from, hash, meta.size, wire, onProgress, part.path)
    let onDisk = from * CHUNK_SIZE
    await receiveChunks(wire, handle, meta, from, hash, stored, fileSecret, associatedData, (received, total) => {
      held.consume(received - onDisk) // on disk now: statfs counts them from here on
      onDisk = received
      onProgress?.(received, total)
    }, checkpoints)
    await checkpoints?.settle()
    await handle.sync().catch((err: unknown) => { throw fileError(err, `cannot write ${part?.path ?? 'the received file'}`) })
    await handle.close()
    handle = undefined
    const path = await publishPartFile(part.path, downloadsDir, name)
    if (args.keepUntilRecorded !== true) await partial?.finish()
    return {
      path,
      name: basename(path),
      sentAs: name,
      size: meta.size,
      sha256: meta.sha256,
      id: meta.id,
      ...(meta.mime !== undefined ? { mime: meta.mime } : {}),
      ...(meta.sentAt !== undefined ? { sentAt: meta.sentAt } : {}),
      resumedFrom: from
    }
  } catch (err) {
    if (err instanceof Refused) throw err.refusal
    const error = is(err) ? err : fileError(err, `cannot write ${part?.path ?? 'the received file'}`)
    await checkpoints?.settle().catch(() => undefined) // none may write the state after this
    // A full disk is for now: what was verified is kept for the retry, as for a cut (until
    // 2026-12-06 it went, and a file cut as the disk filled came again from its first byte).
    const full = error.code === ErrorCode.NoSpace
    await cleanUp(error, full)
    // Only where the sender reads a credit next: with every credit sent (the last chunks, a small
    // file), what it reads next is the ACK, and the cut says enough.
    const creditsDue = creditCount(chunkCount(meta.size) - from) > stored.credits
    // This side's disk failed (full, or a folder made read-only, removed, an I/O error): the
    // sender is told so (STOP, wire.ts), not left to find the stream cut, and tries again later,
    // as for a folder found unwritable at the start (refuseUnwritable), in the same words without
    // our paths. Until 2026-12-07 a full disk's STOP carried the error as it is here, a path
    // (`cannot write /home/…/x.part`) in some, and any other failure left the sender with `the
    // other side closed the connection` (round 48).
    if ((full || error.code === ErrorCode.File) && !wire.cut && creditsDue) {
      await tellAndDrain(framed, async options => { await framed.write(sealStop(fileSecret, associatedData, unsavable(error)), options) }, signal)
    }
    // Stopped by our user (BLOCK): told at once, not left to find the stream cut and try again
    // (round 49: told only at its next try). Our own signal fired, so only the drain's deadline.
    const told = args.refusalOnStop?.(error)
    if (told !== undefined && creditsDue) await tellAndDrain(framed, async options => { await framed.write(sealStop(fileSecret, associatedData, told), options) }, undefined)
    else if (told !== undefined && verdictSent) ackReadNext.add(error) // tellInAcksPlace
    throw error
  } finally {
    reservation?.release()
  }

  /** After a failure: the verified prefix kept (a cut, a full disk) or everything dropped. */
  async function cleanUp (error: ParleyError, full: boolean): Promise<void> {
    if (part === undefined) {
      // No .part yet (no folder, no free name, the kept bytes would not move back): a local
      // failure, not a cut, so what was kept goes too, unless the disk is full.
      if (!full) await partial?.discard()
      return
    }
    if ((wire.cut || full) && partial !== undefined && handle !== undefined) {
      // Keep the verified prefix: durable first, counted second (partial.ts). The bytes of the
      // chunk that did not fit go first: they free the room that recording the prefix takes.
      if (full) await handle.truncate(stored.chunks * CHUNK_SIZE).catch(() => undefined)
      const synced = await handle.datasync().then(() => true, () => false)
      await handle.close().catch(() => undefined) // the cut is the failure to report
      handle = undefined
      const kept = await partial.keep(part.path, synced ? stored.chunks : 0, meta) && (synced || stored.chunks === 0)
      // Not said as kept when it was not (round 14: "what came is kept" as the disk, still
      // filling, refused even the record of it).
      if (full && !kept) {
        error.message += ', nor keep what came'
        partsLost.add(error)
      }
      return
    }
    await handle?.close().catch(() => undefined) // the error is the one to report
    const leftover = await removeFile(part.path)
    // One that cannot be removed (its folder made read-only) stays named in its record, which a
    // retry resumes from once it can (round 48: 50 MB named nowhere, and the file came again whole).
    if (leftover === undefined) await partial?.discard()
    if (leftover !== undefined) error.message += ` (and ${part.path} could not be removed: ${leftover.message})`
  }
}

/** What the sender is told of a failure of this side's disk: a refusal that passes (ERR_NO_SPACE
 * for a full disk, else ERR_UNREACHABLE: it tries again later), in words without our paths. */
function unsavable (error: ParleyError): ParleyError {
  const code = error.code === ErrorCode.NoSpace ? ErrorCode.NoSpace : ErrorCode.Unreachable
  return new ParleyError(code, `it cannot be saved there now (${reasonOf(error)})`)
}

/** Files refused because the downloads folder cannot be written to (refuseUnwritable): a
 * condition of this peer's own, said as such (Inbox.onInboundError). */
const unwritable = new ErrorMark()

export function downloadsUnwritable (err: unknown): boolean {
  return unwritable.has(err)
}

/** Full-disk failures whose verified part could not be kept either: the file comes again whole. */
const partsLost = new ErrorMark()

export function partLost (err: unknown): boolean {
  return partsLost.has(err)
}

/** A refusal by the disk budget, already told to the sender: thrown past the clean-up as it is. */
class Refused extends Error {
  readonly refusal: ParleyError
  constructor (refusal: ParleyError) {
    super(refusal.message)
    this.refusal = refusal
  }
}

async function refuse (framed: FramedStream, fileSecret: Uint8Array, associatedData: Uint8Array, refusal: ParleyError, signal: AbortSignal | undefined): Promise<void> {
  await tellAndDrain(framed, async options => { await framed.write(sealVerdict(fileSecret, associatedData, refusal), options) }, signal)
}

/** Files stopped by our user (ReceiveFileArgs.refusalOnStop) with the verdict sent and no credit
 * left to send: what their sender reads next is the ACK. */
const ackReadNext = new ErrorMark()

/**
 * A file stopped by our user in its last chunks, where the sender reads no more credits and so
 * no STOP, but the ACK next: its sender is told why in the ACK's place (common/protocol/peer.ts,
 * the file hand-off), and gives it up at once, as after a STOP. Until 2026-12-07 it read a cut
 * stream and was refused only at its next try, and an UNBLOCK before that took the file again,
 * whole (round 49). `tell` writes that answer on the hand-off's channel. Anywhere else (a STOP
 * said it, or the verdict the sender reads first is not out) it does nothing.
 */
export async function tellInAcksPlace (err: unknown, framed: FramedStream, tell: (options: AbortOptions) => Promise<void>): Promise<void> {
  if (ackReadNext.has(err)) await tellAndDrain(framed, tell, undefined)
}

/**
 * Tell the sender why (`tell`: a refusing verdict, a STOP, wire.ts, or a refusal in the ACK's
 * place), then discard what it sent before it read that: an honest sender stops at its next
 * credit (at most the window) and ends the stream; a stream we aborted at once could lose the
 * frame with it. Bounded by frames and by REFUSAL_DRAIN_MS.
 */
async function tellAndDrain (framed: FramedStream, tell: (options: AbortOptions) => Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  const deadline = AbortSignal.timeout(REFUSAL_DRAIN_MS)
  const options = { signal: signal !== undefined ? AbortSignal.any([signal, deadline]) : deadline }
  try {
    await tell(options)
    for (let n = 0; n <= WINDOW_CHUNKS; n++) await framed.read(options)
  } catch {
    // The sender ended the stream (what we wait for), or it is gone, or too slow to: done.
  }
}

/**
 * Checkpoints (partial.ts) run beside the transfer, not in its way: an fsync of 4 MiB and of the
 * state file took ~5 % of a transfer's time when the loop waited for them. One runs at a time; a
 * checkpoint due while one runs is skipped (the next catches up). The count is safe because every
 * chunk it counts was written before its fsync started. A failed checkpoint fails the transfer
 * at the next chunk; settle() waits for the one running, so nothing writes the state afterwards.
 */
class Checkpoints {
  readonly #run: (chunks: number) => Promise<void>
  #running: Promise<void> | undefined
  /** Boxed: what a checkpoint threw, whatever it is. */
  #failed: { error: unknown } | undefined

  constructor (run: (chunks: number) => Promise<void>) {
    this.#run = run
  }

  due (chunks: number): void {
    if (this.#failed !== undefined) throw this.#failed.error
    if (this.#running !== undefined) return
    this.#running = this.#run(chunks)
      .catch((err: unknown) => { this.#failed = { error: err ?? new Error('checkpoint failed') } })
      .finally(() => { this.#running = undefined })
  }

  async settle (): Promise<void> {
    await this.#running
    if (this.#failed !== undefined) throw this.#failed.error
  }
}

/** META resumes at `from`: only the very chunk offered, of the very file kept. */
function resumable (partial: PartialTransfer | undefined, from: number, meta: FileMeta): boolean {
  const offer = partial?.offer
  return offer !== undefined && offer.from === from && partial?.size === meta.size &&
    offer.sha256.length === meta.sha256.length && timingSafeEqual(offer.sha256, meta.sha256)
}

/** Hash the kept chunks [0, from) back from disk: nothing kept is trusted without the final check. */
async function hashPrefix (
  handle: FileHandle,
  from: number,
  hash: ReturnType<typeof createHash>,
  size: number,
  wire: Wire,
  onProgress: ReceiveFileArgs['onProgress'],
  path: string
): Promise<void> {
  const buffer = Buffer.allocUnsafe(CHUNK_SIZE)
  for (let index = 0; index < from; index++) {
    wire.check()
    if (index % HEARTBEAT_CHUNKS === 0) onProgress?.(from * CHUNK_SIZE, size)
    for (let filled = 0; filled < CHUNK_SIZE;) {
      const { bytesRead } = await handle.read(buffer, filled, CHUNK_SIZE - filled, index * CHUNK_SIZE + filled)
        .catch((err: unknown) => { throw fileError(err, `cannot read ${path}`) })
      if (bytesRead === 0) throw new ParleyError(ErrorCode.File, `${path} is shorter than the part kept of it`)
      filled += bytesRead
    }
    hash.update(buffer)
  }
}

/** Read, authenticate, write and hash chunks from..n-1; the file's SHA-256 must match META's. */
async function receiveChunks (
  wire: Wire,
  handle: FileHandle,
  meta: FileMeta,
  from: number,
  hash: ReturnType<typeof createHash>,
  stored: { chunks: number, credits: number },
  fileSecret: Uint8Array,
  associatedData: Uint8Array,
  onProgress: ReceiveFileArgs['onProgress'],
  checkpoints: Checkpoints | undefined
): Promise<void> {
  const chunks = chunkCount(meta.size)
  let received = from * CHUNK_SIZE
  for (let index = from; index < chunks; index++) {
    wire.check()
    const sealed = await wire.read()
    const final = index === chunks - 1
    let plaintext: Uint8Array
    try {
      plaintext = openChunk(fileSecret, index, final, associatedData, sealed)
    } catch (err) {
      // The sender giving up (ABANDON, wire.ts), or a chunk with a wrong index, final flag, key
      // or bytes: all the same to us.
      throw openAbandon(fileSecret, associatedData, sealed) ??
        new ParleyError(ErrorCode.Integrity, `file chunk ${index} failed authentication`, { cause: err })
    }
    const expected = chunkLength(meta.size, index)
    if (plaintext.length > expected) throw new ParleyError(ErrorCode.Protocol, `file chunk ${index} goes beyond the announced size`)
    if (plaintext.length < expected) throw new ParleyError(ErrorCode.Protocol, `file chunk ${index} is short`)
    hash.update(plaintext)
    await writeAll(handle, plaintext, index * CHUNK_SIZE)
    stored.chunks = index + 1
    received += plaintext.length
    onProgress?.(received, meta.size)
    // Stored: let the sender go further (wire.ts, flow control: counted from `from`).
    if (creditDue(index - from, chunks - from)) await wire.write(sealCredit(fileSecret, associatedData, stored.credits++))
    if (!final && (index + 1) % CHECKPOINT_CHUNKS === 0) checkpoints?.due(index + 1)
  }
  if (!timingSafeEqual(hash.digest(), meta.sha256)) {
    if (from === 0) throw new ParleyError(ErrorCode.Integrity, 'file SHA-256 does not match its metadata')
    const damaged = new ParleyError(ErrorCode.Integrity, 'the file does not match its SHA-256: the part kept here from an earlier try was damaged, and the file comes again whole')
    keptPartsDamaged.add(damaged)
    throw damaged
  }
}

/**
 * A resumed file whose whole SHA-256 does not match: every chunk that came was authenticated, and
 * its sender checked its own copy as it read it, so what changed is the part kept here from the
 * earlier try (round 42: said as the sender's fault, "what alice sent failed a check", with a
 * warning of refused data from alice). Still ERR_INTEGRITY, which the sender tries again, from the
 * start now: the kept part is dropped with the failure.
 */
const keptPartsDamaged = new ErrorMark()

export function keptPartDamaged (err: unknown): boolean {
  return keptPartsDamaged.has(err)
}

async function writeAll (handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, position + offset)
      .catch((err: unknown) => { throw fileError(err, 'cannot write the received file') })
    offset += bytesWritten
  }
}
