/**
 * The receiving side's file-system work: create the downloads folder, open a fresh `.part` file,
 * and publish a verified file under a name that does not exist yet. Nothing here follows a link
 * or replaces an existing file: every name is created exclusively (O_CREAT|O_EXCL, or link(2),
 * which fails when the target exists), so a name taken between our check and our write is just
 * skipped, never overwritten (DESIGN §6).
 */
import { link, lstat, mkdir, open, rename, unlink } from 'node:fs/promises'
import { constants } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { randomInt } from 'node:crypto'
import { join } from 'node:path'
import { ErrorCode, ParleyError } from '../../common/errors.ts'
import { syncDir } from '../../common/fs.ts'
import { DOWNLOADS_DIR_MODE, MAX_DISK_NAME_BYTES, MAX_NAME_ATTEMPTS, PART_SUFFIX, RECEIVED_FILE_MODE, SEQUENTIAL_NAMES } from './constants.ts'

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EISDIR: 'is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the disk',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
  // A folder to make where a file of its name is (until 2026-12-07 said in Node's words).
  EEXIST: 'a file of that name is in the way',
  // Node's own refusal of a path holding a NUL byte, before it asks the system: the one invalid
  // value a path typed or received can give our file calls (until 2026-12-07 said in Node's
  // words, "The argument 'path' must be a string, Uint8Array, or URL without null bytes": round 31).
  ERR_INVALID_ARG_VALUE: 'no file can be named with a NUL character'
}

export function errnoOf (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** A file-system error's errno in a person's words, if it is one we have words for. */
function knownReason (err: unknown): string | undefined {
  const errno = errnoOf(err)
  return errno !== undefined ? REASONS[errno] : undefined
}

/** What went wrong with a file-system call, in a person's words and without its path (for the
 * other side of a transfer, whom our folders are none of their business). */
export function reasonOf (err: unknown): string {
  return knownReason(err instanceof ParleyError ? err.cause : err) ?? 'an error of the disk'
}

/** Errors of a disk that is full for now: space is freed, so what failed is tried again. */
const FULL = new Set(['ENOSPC', 'EDQUOT'])

/** A Node file-system error as ERR_FILE (ERR_NO_SPACE for a full disk) with a message a person
 * can act on. */
export function fileError (err: unknown, what: string): ParleyError {
  if (err instanceof ParleyError) return err
  const errno = errnoOf(err)
  const reason = knownReason(err) ?? (err instanceof Error ? err.message : String(err))
  const code = errno !== undefined && FULL.has(errno) ? ErrorCode.NoSpace : ErrorCode.File
  return new ParleyError(code, `${what}: ${reason}`, { cause: err })
}

/** The downloads folder, created owner-only if missing; an existing folder keeps its mode. */
export async function ensureDownloadsDir (dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DOWNLOADS_DIR_MODE })
  } catch (err) {
    throw fileError(err, `cannot create the downloads folder ${dir}`)
  }
}

/** File systems that cannot fsync a folder (or open one for it) answer with one of these. */
/**
 * The n-th candidate for `name` plus `tail`: n = 0 is the name itself, then "stem (n).ext".
 * The stem is shortened (by whole code points) so the result stays within NAME_MAX bytes.
 */
export function nameCandidate (name: string, n: number, tail = ''): string {
  if (n === 0 && Buffer.byteLength(name + tail) <= MAX_DISK_NAME_BYTES) return name + tail
  const extension = /\.[^.]{1,10}$/.exec(name)?.[0] ?? ''
  const suffix = n === 0 ? '' : ` (${n})`
  let stem = [...name.slice(0, name.length - extension.length)]
  while (stem.length > 0 && Buffer.byteLength(stem.join('') + suffix + extension + tail) > MAX_DISK_NAME_BYTES) {
    stem = stem.slice(0, -1)
  }
  return stem.join('') + suffix + extension + tail
}

/** The number nameCandidate's `attempt`-th try uses: 0 (the name itself), 1, 2, … in turn, then
 * at random, so that a folder holding many files of one name costs a few tries, not one each. */
export function candidateNumber (attempt: number): number {
  return attempt < SEQUENTIAL_NAMES ? attempt : randomInt(SEQUENTIAL_NAMES, 1_000_000_000)
}

/** A new, empty, owner-only `<name>.part` (or `<name> (n).part`) in `dir`, opened for writing. */
export async function createPartFile (dir: string, name: string, intend?: (path: string) => Promise<void>): Promise<{ path: string, handle: FileHandle }> {
  for (let n = 0; n < MAX_NAME_ATTEMPTS; n++) {
    const path = join(dir, nameCandidate(name, candidateNumber(n), PART_SUFFIX))
    try {
      // Named first where a record is kept (`intend`), but not a name taken already, which the
      // record would then claim.
      if (intend !== undefined) {
        if (await lstat(path).then(() => true, () => false)) continue
        await intend(path)
      }
      // 'wx' = O_CREAT|O_EXCL: fails on any existing entry, a symbolic link included.
      return { path, handle: await open(path, 'wx', RECEIVED_FILE_MODE) }
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') continue
      throw fileError(err, `cannot create ${path}`)
    }
  }
  throw new ParleyError(ErrorCode.File, `too many partial downloads named "${name}" in ${dir}`)
}

/** File systems without hard links (FAT, some network shares) answer link(2) with one of these. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK'])

/**
 * Give the verified `partPath` its final name in `dir`: `name`, else `name (1).ext`, … — the
 * first that does not exist. link(2) fails with EEXIST instead of replacing, so a file that
 * appears under that name meanwhile is never overwritten. Returns the final path.
 */
export async function publishPartFile (partPath: string, dir: string, name: string): Promise<string> {
  const path = await linkUnderFreeName(partPath, dir, name)
  // The new name (and the .part's removal) survive a power cut before the caller ACKs.
  await syncDir(dir)
  return path
}

async function linkUnderFreeName (partPath: string, dir: string, name: string): Promise<string> {
  let hardLinks = true
  for (let n = 0; n < MAX_NAME_ATTEMPTS;) {
    const path = join(dir, nameCandidate(name, candidateNumber(n)))
    try {
      if (hardLinks) {
        await link(partPath, path)
        // Published; a .part we cannot unlink now is a leftover, not a failed transfer.
        await removeFile(partPath)
      } else {
        await moveOntoReservation(partPath, path)
      }
      return path
    } catch (err) {
      const errno = errnoOf(err)
      if (hardLinks && errno !== undefined && NO_HARD_LINKS.has(errno)) {
        hardLinks = false // same candidate again, the other way
        continue
      }
      if (errno !== 'EEXIST') throw fileError(err, `cannot save ${path}`)
      n++
    }
  }
  throw new ParleyError(ErrorCode.File, `too many files named "${name}" in ${dir}`)
}

/** Without hard links: reserve the name exclusively, then rename onto our own empty reservation. */
async function moveOntoReservation (partPath: string, path: string): Promise<void> {
  await (await open(path, 'wx', RECEIVED_FILE_MODE)).close()
  try {
    await rename(partPath, path)
  } catch (err) {
    await removeFile(path)
    throw err
  }
}

/**
 * Move a file we made to `to` (a path of ours: replaced if there, no link followed). Where the
 * two are on different file systems (a downloads folder that is a mount, or a link to another
 * disk: EXDEV), by copying the bytes, synced, then removing the original: until 2026-12-07 the
 * move failed there, and a cut file never kept what came (round 46: every cut started over).
 */
export async function moveFile (from: string, to: string): Promise<void> {
  try {
    await rename(from, to)
  } catch (err) {
    if (errnoOf(err) !== 'EXDEV') throw err
    await copySynced(from, to, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC)
    await removeFile(from)
  }
}

/** Copy `from`'s bytes into `to`, opened with `flags` (never through a link), and sync them;
 * the inode written to. */
export async function copySynced (from: string, to: string, flags: number): Promise<string> {
  const target = await open(to, flags | (constants.O_NOFOLLOW ?? 0), RECEIVED_FILE_MODE)
  try {
    const ino = (await target.stat({ bigint: true })).ino.toString()
    const source = await open(from, 'r')
    try {
      const buffer = Buffer.allocUnsafe(COPY_CHUNK_BYTES)
      for (let position = 0; ;) {
        const { bytesRead } = await source.read(buffer, 0, buffer.length, position)
        if (bytesRead === 0) break
        await target.write(buffer, 0, bytesRead, position)
        position += bytesRead
      }
    } finally {
      await source.close()
    }
    await target.sync()
    return ino
  } finally {
    await target.close()
  }
}

/** A cross-device copy's reads and writes. */
const COPY_CHUNK_BYTES = 1024 * 1024

/**
 * Delete a file we created, on a failure or clean-up path. A file already gone is fine; any other
 * failure is returned (not thrown) so that it never hides the error that brought us here.
 */
export async function removeFile (path: string): Promise<Error | undefined> {
  try {
    await unlink(path)
    return undefined
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined
    return err instanceof Error ? err : new Error(String(err))
  }
}
