/**
 * Receiving a file (wire scheme: wire.ts). The sender chooses nothing on our disk: the name is
 * sanitised, the bytes land in a fresh owner-only `<name>.part` in the downloads folder, each chunk
 * is authenticated before it is written, and only a file whose length and SHA-256 match the
 * announced ones is renamed to a name that did not exist before (DESIGN §6). On any failure the
 * `.part` is deleted and a ParleyError is thrown; the stream is left to the caller (who may still
 * want to report the failure on it before closing).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { basename } from 'node:path'
import { openChunk } from '../../common/crypto/index.ts'
import { ErrorCode, ParleyError, is } from '../../common/errors.ts'
import type { FramedStream } from '../../common/wire/frames.ts'
import { sanitiseFileName } from '../../common/wire/names.ts'
import { createPartFile, ensureDownloadsDir, ensureFreeSpace, fileError, publishPartFile, removeFile } from './disk.ts'
import { cancelled, checkFileSecret, checkFileSize, chunkCount, chunkLength, creditDue, openMeta, sealCredit } from './wire.ts'
import type { FileMeta } from './wire.ts'

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
  onProgress?: (receivedBytes: number, total: number) => void
  signal?: AbortSignal
}

export interface ReceivedFile {
  /** Where the verified file now is: always directly inside downloadsDir. */
  path: string
  /** Its name on disk (sanitised, maybe with a " (n)" suffix). */
  name: string
  size: number
  sha256: Uint8Array
  /** The transfer id from META (the caller may check it against its associated data). */
  id: Uint8Array
  mime?: string
}

export async function receiveFile (args: ReceiveFileArgs): Promise<ReceivedFile> {
  const { framed, fileSecret, associatedData, announcedName, announcedSize, downloadsDir, onProgress, signal } = args
  checkFileSecret(fileSecret)
  if (announcedSize !== undefined) checkFileSize(announcedSize, 'announced file size')

  const meta = openMeta(fileSecret, associatedData, await framed.read({ signal }))
  if (announcedSize !== undefined && meta.size !== announcedSize) {
    throw new ParleyError(ErrorCode.Protocol, `file metadata says ${meta.size} bytes, the header said ${announcedSize}`)
  }
  const name = sanitiseFileName(announcedName)
  await ensureDownloadsDir(downloadsDir)
  await ensureFreeSpace(downloadsDir, meta.size)

  const part = await createPartFile(downloadsDir, name)
  let handle: FileHandle | undefined = part.handle
  try {
    await receiveChunks(framed, handle, meta, fileSecret, associatedData, onProgress, signal)
    await handle.sync().catch((err: unknown) => { throw fileError(err, `cannot write ${part.path}`) })
    await handle.close()
    handle = undefined
    const path = await publishPartFile(part.path, downloadsDir, name)
    return {
      path,
      name: basename(path),
      size: meta.size,
      sha256: meta.sha256,
      id: meta.id,
      ...(meta.mime !== undefined ? { mime: meta.mime } : {})
    }
  } catch (err) {
    await handle?.close().catch(() => undefined) // the error below is the one to report
    const leftover = await removeFile(part.path)
    const error = is(err) ? err : fileError(err, `cannot write ${part.path}`)
    if (leftover !== undefined) error.message += ` (and ${part.path} could not be removed: ${leftover.message})`
    throw error
  }
}

/** Read, authenticate, write and hash every chunk; the file's SHA-256 must match META's. */
async function receiveChunks (
  framed: FramedStream,
  handle: FileHandle,
  meta: FileMeta,
  fileSecret: Uint8Array,
  associatedData: Uint8Array,
  onProgress: ReceiveFileArgs['onProgress'],
  signal: AbortSignal | undefined
): Promise<void> {
  const hash = createHash('sha256')
  const chunks = chunkCount(meta.size)
  let received = 0
  let credits = 0
  for (let index = 0; index < chunks; index++) {
    if (signal?.aborted === true) throw cancelled(signal)
    const sealed = await framed.read({ signal })
    const final = index === chunks - 1
    let plaintext: Uint8Array
    try {
      plaintext = openChunk(fileSecret, index, final, associatedData, sealed)
    } catch (err) {
      // Wrong index, wrong final flag, wrong key or altered bytes: all the same to us.
      throw new ParleyError(ErrorCode.Integrity, `file chunk ${index} failed authentication`, { cause: err })
    }
    const expected = chunkLength(meta.size, index)
    if (plaintext.length > expected) throw new ParleyError(ErrorCode.Protocol, `file chunk ${index} goes beyond the announced size`)
    if (plaintext.length < expected) throw new ParleyError(ErrorCode.Protocol, `file chunk ${index} is short`)
    hash.update(plaintext)
    await writeAll(handle, plaintext)
    received += plaintext.length
    onProgress?.(received, meta.size)
    // Stored: let the sender go further (wire.ts, flow control).
    if (creditDue(index, chunks)) await framed.write(sealCredit(fileSecret, associatedData, credits++), { signal })
  }
  if (!timingSafeEqual(hash.digest(), meta.sha256)) {
    throw new ParleyError(ErrorCode.Integrity, 'file SHA-256 does not match its metadata')
  }
}

async function writeAll (handle: FileHandle, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset)
      .catch((err: unknown) => { throw fileError(err, 'cannot write the received file') })
    offset += bytesWritten
  }
}
