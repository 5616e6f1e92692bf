/**
 * The file hand-off both peer protocols use once a file stream's channel is up (common/protocol/
 * peer.ts, "The file hand-off"): the receiver answers whether it has the file already (a lost
 * ACK) or which verified prefix it kept from a cut attempt; the sender then streams the rest
 * (send.ts / receive.ts); the receiver stores it and ends with an encrypted ACK of its id. A
 * direct file precedes this with its own offer (`fileOfferBody`); a group file's intro carries
 * the id instead. Either side gives up when the other stops making progress for a step.
 */
import { equals } from 'uint8arrays/equals'
import { CHUNK_SIZE } from '../../common/crypto/index.ts'
import { ErrorCode, ErrorMark, ParleyError, asParleyError, is } from '../../common/errors.ts'
import { decodeFileAck, fileAnswerBody } from '../../common/protocol/peer.ts'
import { endedInsideFrame } from '../../common/wire/frames.ts'
import type { FramedStream } from '../../common/wire/frames.ts'
import type { SealedChannel } from '../transport/channel.ts'
import { STEP_TIMEOUT_MS } from '../constants.ts'
import type { Emit, FileCutCause } from '../events.ts'
import type { SignedInUser } from '../signed-in.ts'
import { sanitiseFileName } from '../../common/wire/names.ts'
import { PartialTransfer } from './partial.ts'
import { keptPartDamaged, partLost, receiveFile, tellInAcksPlace } from './receive.ts'
import { abandonTransfer, announcedName, fileToDeliver, sendFile } from './send.ts'
import type { LocalFile } from './send.ts'
import { resumePoint, sealAbandon } from './wire.ts'
import { watchTransfer } from './progress.ts'
import type { GroupName, Username } from '../../common/wire/names.ts'
import { patientTimeout } from '../../common/patient-timeout.ts'

/** A file about to be handed off: hashed before its stream opens, so the receiver's idle watch
 * does not run while a large file is read between its answer and META. */
export interface OfferedFile extends LocalFile {
  sha256: Uint8Array
  /** When the person sent it (SENDFILE's time): the receiver shows it beside a late arrival. */
  sentAt: number
}

/** A queued file at its delivery, with the name and size its stream's header announces: the file
 * as SENDFILE took it (fileToDeliver), or, when it changed or is gone (ERR_FILE), that error, for
 * handOffFile to tell the receiver. Its size is then no longer known: 0, which no META follows. */
export async function fileToHandOff (path: string, sha256: string | undefined, sentAt: number): Promise<{ file: OfferedFile | ParleyError, name: string, size: number }> {
  try {
    const file = { ...await fileToDeliver(path, sha256), sentAt }
    return { file, name: file.name, size: file.size }
  } catch (err) {
    if (!is(err, ErrorCode.File)) throw err
    return { file: err, name: announcedName(path), size: 0 }
  }
}

/** Run the stream that hands `file` off (its dial, channel and handOffFile). A file given up
 * (fileToHandOff) is told to the receiver if it can be; if not, it is given up all the same: any
 * failure of its stream is that give-up. */
export async function handingOff (file: OfferedFile | ParleyError, stream: () => Promise<void>): Promise<void> {
  try {
    await stream()
  } catch (err) {
    throw file instanceof ParleyError ? file : err
  }
}

export interface HandOff {
  channel: SealedChannel
  framed: FramedStream
  /** The transfer id (the message id). */
  id: Uint8Array
  /** Keys of the file's frames: the session's file secret or the group message's. */
  fileSecret: Uint8Array
  /** fileAssociatedData(header, id). */
  associatedData: Uint8Array
  /** The other side's username, for progress events. */
  peer: string
  emit: Emit
  /** The sender's sign-out: a file being sent stops with it (the receiver keeps what came). */
  stop?: AbortSignal
}

/** The sender's side: read the answer (within `signal`), stream what the receiver lacks, call
 * `onSent` once the bytes are out, then wait for the ACK. `file` is the error instead when the
 * queued file can no longer be sent as SENDFILE took it (ERR_FILE: fileToDeliver): the receiver,
 * which may keep part of it from a cut attempt, is told so (ABANDON in META's place, wire.ts) and
 * that error is thrown, unless the receiver has the whole file already (its ACK was lost). */
export async function handOffFile (handOff: HandOff, file: OfferedFile | ParleyError, signal: AbortSignal, onSent?: () => void): Promise<void> {
  const { channel, framed, id } = handOff
  const { have, resume } = await channel.receive(fileAnswerBody, { signal })
  if (!have) {
    if (file instanceof ParleyError) {
      await abandonTransfer(framed, sealAbandon(handOff.fileSecret, handOff.associatedData, 'before'))
      throw file
    }
    const hex = Buffer.from(id).toString('hex')
    // Progress is said once the receiver took the file (its verdict comes at the window): a
    // refused retry (a full disk) showed the file going in the prompt while it waited (round 14).
    // The first report held is kept too: resuming, it says where the transfer starts.
    let underWay = false
    let accepted = false
    const held: Array<{ bytes: number, total: number }> = []
    const report = (bytes: number, total: number): void => {
      underWay = true
      handOff.emit({ event: 'progress', id: hex, direction: 'send', peer: handOff.peer, name: file.name, bytes, total })
    }
    // A receiver that stops granting credits must not hold this send, the outbox queue behind
    // it and a clean QUIT (issue 7, hostile-peer tests).
    const watch = watchTransfer(STEP_TIMEOUT_MS, (bytes, total) => {
      if (accepted) report(bytes, total)
      else held.splice(Math.min(held.length, 1), 1, { bytes, total })
    })
    try {
      const { failed } = await sendFile({
        targets: [framed],
        fileSecret: handOff.fileSecret,
        associatedData: handOff.associatedData,
        path: file.path,
        id,
        sha256: file.sha256,
        size: file.size,
        mime: file.mime,
        sentAt: file.sentAt,
        // A receiver that kept part of this file from a cut attempt gets the rest only.
        from: resumePoint(resume, file.size, file.sha256),
        signal: handOff.stop === undefined ? watch.signal : AbortSignal.any([watch.signal, handOff.stop]),
        onProgress: watch.onProgress,
        onAccepted: () => {
          accepted = true
          for (const { bytes, total } of held.splice(0)) report(bytes, total)
        }
      })
      if (failed[0] !== undefined) throw failed[0].error
    } catch (err) {
      // Cut, not refused: a receiver's refusal (its full disk) comes at the window, after the
      // first chunks' progress, and is said once a run as any reason is (round 13: at every retry).
      if (underWay && is(err, ErrorCode.Unreachable)) cutsUnderWay.add(err)
      throw err
    } finally {
      watch.done()
    }
  }
  onSent?.()
  const { ack } = decodeFileAck(await channel.receivePlain({ signal: patientTimeout(STEP_TIMEOUT_MS) }))
  if (!equals(ack, id)) throw new ParleyError(ErrorCode.Protocol, 'acknowledgement for another message')
}

export interface Announced {
  from: Username
  group: GroupName | null
  /** The name and size the stream's header announced (a group file's header has no size). */
  name: string
  size?: number
  /** A group file's: aborted when we leave its group, which ends the file there (cause `left`). */
  whileMember?: AbortSignal
  /** Refused once its META is read, nothing of it taken (receive.ts ReceiveFileArgs.refusal). */
  refusal?: ParleyError
}

/** Sends cut after their progress was shown: their `queued` is said again, though it was said
 * at an earlier cut (Outbox), or the sender's status would show the transfer going until it is
 * dropped as silent, 20 s later (round 12: a resumed file whose receiver left again). */
const cutsUnderWay = new ErrorMark()

export function cutUnderWay (err: unknown): boolean {
  return cutsUnderWay.has(err)
}

/** Cuts said in full by their file-cut line, which no warning repeats (Inbox.onInboundError). */
const cutsSaid = new ErrorMark()

export function cutSaid (err: unknown): boolean {
  return cutsSaid.has(err)
}

/** Why a receive that had started stopped, in the words of FileCutCause. The watch's signal fires
 * on a stall (no data, or a rate under the floor); a stream that ended, between frames or inside
 * one, is the sender gone; its ABANDON, the sender giving it up; a bad frame or META is invalid;
 * the disk (or a fault) is ours, and a full one only for now. */
function cutCause (err: unknown, watchSignal: AbortSignal, signedOut: AbortSignal): FileCutCause {
  // Our own sign-out (QUIT, or the account signed in on another device) ends every stream of the
  // session: the sender is not gone, we are (until 2026-12-06 said as the sender gone).
  if (signedOut.aborted) return 'signed-out'
  if (watchSignal.aborted) return 'stalled'
  if (endedInsideFrame(err)) return 'gone'
  if (keptPartDamaged(err)) return 'local'
  switch (asParleyError(err).code) {
    case ErrorCode.Unreachable: return 'gone'
    case ErrorCode.Abandoned: return 'abandoned'
    case ErrorCode.File: case ErrorCode.Internal: return 'local'
    case ErrorCode.NoSpace: return partLost(err) ? 'local' : 'no-space' // nothing kept: not said as kept
    default: return 'invalid'
  }
}

/** The receiver's side: answer, receive the file into the user's downloads and store it in their
 * inbox (unless it is there already), ACK. */
export async function takeFile (handOff: HandOff, announced: Announced, user: Pick<SignedInUser, 'inbox' | 'downloadsDir' | 'signal'>): Promise<void> {
  const { channel, framed, id } = handOff
  const { from } = announced
  const have = user.inbox.hasFile(from, id)
  if (have) {
    // Recorded by an attempt killed before it let its transfer's record go: that goes now
    // (round 49: it stayed a week, one of the sender's kept parts).
    // Not to be answered later for it: a record that cannot go now stays for the week's sweep.
    await PartialTransfer.claim(user.downloadsDir, from, id, announced.group, announced.name).then(async recorded => {
      try {
        await recorded.finish()
      } finally {
        recorded.release()
      }
    }, () => {})
    await channel.send({ have })
  } else {
    // This transfer (from, id) is ours alone now; what a cut attempt kept of it is offered.
    const partial = await PartialTransfer.claim(user.downloadsDir, from, id, announced.group, announced.name)
    const published = partial.published
    if (published !== undefined && announced.refusal === undefined) {
      // Whole and checked by an attempt killed before it was recorded: recorded now, as it is.
      try {
        await user.inbox.onFile({ from, group: announced.group, id, name: sanitiseFileName(announced.name), path: published.path, size: published.size, sha256: published.sha256, sentAt: null })
        await partial.finish()
      } finally {
        partial.release()
      }
      await channel.send({ have: true })
      await channel.send({ ack: id })
      return
    }
    const hex = Buffer.from(id).toString('hex')
    const arrived = { bytes: 0, total: announced.size ?? 0 }
    // A sender that stalls mid-file must not hold the stream and its .part (issue 7).
    const watch = watchTransfer(STEP_TIMEOUT_MS, (bytes, total) => {
      arrived.bytes = bytes
      arrived.total = total
      handOff.emit({ event: 'progress', id: hex, direction: 'receive', peer: from, name: announced.name, bytes, total })
    })
    // Our sign-out ends it too, at once: the part is kept and the cut said before the program goes.
    // So does leaving its group, and nothing of it is kept: the members send us no more.
    const left = announced.whileMember ?? new AbortController().signal
    // Blocking its sender ends it too, and nothing of it is kept.
    const unblocked = user.inbox.whileUnblocked(from)
    const ended = left.aborted ? left : unblocked.signal
    const signal = AbortSignal.any([watch.signal, user.signal, left, unblocked.signal])
    try {
      await channel.send({ have, ...(partial.offer !== undefined ? { resume: partial.offer } : {}) }, { signal })
      const file = await receiveFile({
        framed,
        fileSecret: handOff.fileSecret,
        associatedData: handOff.associatedData,
        announcedName: announced.name,
        ...(announced.size !== undefined ? { announcedSize: announced.size } : {}),
        downloadsDir: user.downloadsDir,
        partial,
        keepUntilRecorded: true,
        refusalOnStop: () => unblocked.signal.aborted ? user.inbox.blockedRefusal(from) : undefined,
        signal,
        onProgress: watch.onProgress,
        ...(announced.refusal === undefined ? {} : { refusal: announced.refusal })
      })
      // Named as sent ("image.png"), saved where `path` says ("image (1).png" beside an older one).
      await user.inbox.onFile({ from, group: announced.group, id, name: file.sentAs, path: file.path, size: file.size, sha256: file.sha256, sentAt: file.sentAt ?? null })
      await partial.finish()
    } catch (err) {
      // A file given up before the rest came (ABANDON in META's place, wire.ts) while part of it
      // was kept here: said as a cut of what was kept, which is removed (until 2026-12-07 it
      // stayed for a week, and the last word here was that the rest would come: round 23).
      if (arrived.bytes === 0 && partial.offer !== undefined && is(err, ErrorCode.Abandoned)) {
        arrived.total = partial.size ?? 0
        arrived.bytes = Math.min(partial.offer.from * CHUNK_SIZE, arrived.total)
      }
      // Said once it had started (a progress was shown): a refusal at the offer is not a cut.
      const cause = left.aborted ? 'left' : unblocked.signal.aborted ? 'blocked' : cutCause(err, watch.signal, user.signal)
      if (cause === 'left' || cause === 'blocked') await partial.discard()
      const refusal = cause === 'blocked' ? user.inbox.blockedRefusal(from) : undefined
      if (refusal !== undefined) await tellInAcksPlace(err, framed, async options => { await channel.send({ code: refusal.code, why: refusal.message.slice(0, 200) }, options) })
      if (arrived.bytes > 0) {
        handOff.emit({ event: 'file-cut', id: hex, from, group: announced.group, name: announced.name, ...arrived, cause, reason: asParleyError(ended.aborted ? ended.reason : err).message })
        // Said now; a chunk cut short (a sender whose process ended between two writes of one)
        // is not also a fault to warn about: it is a sender that went away.
        if (endedInsideFrame(err)) throw new ParleyError(ErrorCode.Unreachable, `${from} went away in the middle of ${announced.name}`, { cause: err })
        // Nor is a full disk or another fault of ours, said in that line with its reason, a
        // refusal of the sender's to warn about too (round 15: a disk too full to keep the part
        // said both); nor our leaving the group.
        if (cause === 'no-space' || cause === 'local' || cause === 'left' || cause === 'blocked') cutsSaid.add(err)
      }
      throw err
    } finally {
      unblocked.done()
      watch.done()
      partial.release()
    }
  }
  await channel.send({ ack: id })
}
