/**
 * A data folder is its owner's alone. It holds what another user of the machine would most like
 * to change: the rendezvous identity a peer pinned (`rendezvous.pin`), the command history, the
 * stores. Parley makes each of its files owner-only, but in a folder others may write to they
 * can rename a file of their own over any of them, and a peer would then trust their rendezvous.
 * So the folder is made 0700; an existing one others may write to is closed to them, and the
 * person told (round 37: a folder made 0777 beforehand stayed so); one that belongs to another user is
 * refused, since its owner can change it whatever its mode.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs'
import { ErrorCode, ParleyError } from './errors.ts'

/** Write permission for the group or others: what lets them replace a file in the folder.
 * Reading is left as the person set it (a home folder is often 0755, and --data may be one). */
const WRITABLE_BY_OTHERS = 0o022

/**
 * Make `dir` (0700) if missing, or keep an existing one to its owner: the folder's mode is
 * tightened to 0700 if others could write to it, and the returned text says so (undefined when
 * nothing changed). ERR_FILE for a folder of another user or one that cannot be made.
 */
export function keepDataFolderPrivate (dir: string): string | undefined {
  let mode: number
  let uid: number
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    ;({ mode, uid } = statSync(dir))
  } catch (err) {
    throw new ParleyError(ErrorCode.File, `cannot use the data folder ${dir}: ${(err as Error).message}`, { cause: err })
  }
  // Windows has no uid, and its folders no Unix modes to tighten.
  const me = process.getuid?.()
  if (me === undefined) return undefined
  if (uid !== me) {
    throw new ParleyError(ErrorCode.File,
      `the data folder ${dir} belongs to another user (uid ${uid}), who could change what it holds: use a folder of your own (--data DIR)`)
  }
  if ((mode & WRITABLE_BY_OTHERS) === 0) return undefined
  const was = (mode & 0o777).toString(8).padStart(4, '0')
  try {
    chmodSync(dir, 0o700)
  } catch (err) {
    throw new ParleyError(ErrorCode.File, `other users can write to the data folder ${dir} (mode ${was}), and it cannot be closed to them: ${(err as Error).message}`, { cause: err })
  }
  return `other users could write to the data folder ${dir} (mode ${was}) and replace what it holds; it is now 0700, yours alone`
}
