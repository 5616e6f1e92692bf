/**
 * Durable files (issue 15 item 4): the one atomic write every program here uses for a small file
 * that must survive a crash whole (identity keys, account parameters, pins, transfer state), and
 * the folder fsync that makes a created or renamed name itself durable.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ErrorCode, ParleyError } from './errors.ts'

/** Folder fsync is not supported everywhere (some file systems, some platforms): skipped there. */
const NO_DIR_SYNC = new Set(['EISDIR', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EACCES', 'EBADF'])

/**
 * Make a folder's entries durable (a name created, linked, renamed or removed in it): fsync on the
 * folder itself. A file's own fsync does not cover the name that points at it, so without this a
 * power cut could lose a file that was reported as saved. A real I/O error is ERR_FILE.
 */
export async function syncDir (dir: string): Promise<void> {
  let handle: FileHandle | undefined
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch (err) {
    const errno = (err as { code?: unknown } | null)?.code
    if (typeof errno !== 'string' || !NO_DIR_SYNC.has(errno)) {
      throw new ParleyError(ErrorCode.File, `cannot make ${dir} durable: ${(err as Error).message}`, { cause: err })
    }
  } finally {
    await handle?.close().catch(() => undefined)
  }
}

/**
 * Replace `path` with `data`, whole or not at all, durably: a temporary file beside it is written
 * and fsync'd, renamed over `path`, and the folder fsync'd. The folder is made (owner-only) if
 * missing; the file gets `mode` (owner-only by default: these are keys and state). Not `durable`:
 * without the fsyncs, whole or not at all across a killed process, not across a power cut.
 */
export async function writeFileAtomic (path: string, data: Uint8Array | string, mode = 0o600, durable = true): Promise<void> {
  const temporary = `${path}.tmp`
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    const handle = await open(temporary, 'w', mode)
    try {
      await handle.writeFile(data)
      if (durable) await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, path)
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined)
    if (err instanceof ParleyError) throw err
    throw new ParleyError(ErrorCode.File, `cannot write ${path}: ${(err as Error).message}`, { cause: err })
  }
  if (durable) await syncDir(dirname(path))
}
