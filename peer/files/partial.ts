/**
 * Kept prefixes of interrupted transfers, so a retry resumes instead of starting over (issue 7;
 * the wire side is in wire.ts, "Resuming").
 *
 * Where things are. A transfer streams into `<downloads>/<name>.part` as always (DESIGN §6). Its
 * resume state lives beside the downloads folder, in `<downloads>.partial/` (0700), under a name
 * made of what identifies a transfer to us — the Noise-authenticated sender's username and the
 * transfer id, never anything the sender chose as a name:
 *
 *   <sender>-<32 hex id>.state   CBOR { size, sha256, chunks, inflight?, inflightIno? }, 0600
 *   <sender>-<32 hex id>.part    the kept bytes while no attempt runs, 0600
 *
 * `chunks` whole chunks of the file are durable (fsync'd before the state naming them is written,
 * and the state itself is written to a temporary file, fsync'd and renamed over the old one), so
 * the count only ever understates what is on disk: any older state is still a valid one. While a
 * transfer runs, `inflight` names its `.part` in the downloads folder (and `inflightIno` its inode,
 * so a file that later took that name is never mistaken for it); when the stream is cut, the
 * `.part` is moved here and `inflight` dropped, which keeps the downloads folder to finished files
 * and transfers in progress. A receiver killed with -9 leaves its `.part` in downloads and a state
 * naming it: the next attempt adopts it from there (claim).
 *
 * What is kept. Only a prefix of whole, authenticated chunks, and only when the stream was cut
 * (EOF, reset, timeout, our own shutdown) or our disk was full: a chunk that fails
 * authentication, any protocol error, any other local disk error or a whole-file SHA-256
 * mismatch drops everything (receive.ts). Nothing kept is trusted beyond that: a resumed file is
 * published only after the SHA-256 of the kept prefix, read back from disk, and of the new chunks
 * matches META.
 *
 * What is dropped. A prefix whose sender starts the same transfer over (META `from` = 0: another
 * SHA-256, or a sender that does not resume); prefixes older than PARTIAL_MAX_AGE_MS (looked for
 * on the first claim of a process, then at most every PARTIAL_SWEEP_EVERY_MS); beyond
 * MAX_PARTIALS_PER_SENDER per sender, the oldest.
 *
 * One attempt at a time. In this process one transfer (sender, id) is claimed by at most one
 * receive: a newer attempt for the same transfer (the sender retried before we saw the old stream
 * die) aborts the older one through `signal`, waits until it has kept its prefix and released it,
 * then resumes from there.
 */
import { lstat, mkdir, open, readFile, readdir, rename, stat } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { constants } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { CHUNK_SIZE } from '../../common/crypto/index.ts'
import { ErrorCode, ParleyError } from '../../common/errors.ts'
import { writeFileAtomic } from '../../common/fs.ts'
import { MAX_CHUNKS } from '../../common/protocol/peer.ts'
import { bytes, decodeBody, encodeBody, optional, str, uint } from '../../common/wire/codec.ts'
import { MAX_FILE_BYTES, MAX_FILE_NAME_BYTES, MAX_NAME_LENGTH } from '../../common/wire/limits.ts'
import { NAME_PATTERN, isValidName } from '../../common/wire/names.ts'
import {
  DOWNLOADS_DIR_MODE, MAX_NAME_ATTEMPTS, MAX_PARTIALS_PER_SENDER, PARTIAL_DATA_SUFFIX, PARTIAL_DIR_SUFFIX, PARTIAL_MAX_AGE_MS,
  PARTIAL_STATE_SUFFIX, PARTIAL_SWEEP_EVERY_MS, PART_SUFFIX, RECEIVED_FILE_MODE, SHA256_BYTES, TRANSFER_ID_BYTES
} from './constants.ts'
import type { KeptPrefix, KeptPrefixes } from './budget.ts'
import { candidateNumber, copySynced, errnoOf, fileError, moveFile, nameCandidate, removeFile } from './disk.ts'
import { chunkCount } from './wire.ts'
import { logger } from '../log.ts'
import type { FileMeta } from '../../common/protocol/peer.ts'
import type { ResumeOffer } from './wire.ts'

const stateSchema = {
  size: uint(MAX_FILE_BYTES),
  sha256: bytes(SHA256_BYTES, SHA256_BYTES),
  chunks: uint(MAX_CHUNKS),
  inflight: optional(str(1024, 1)),
  inflightIno: optional(str(40, 1, /^[0-9]+$/)),
  /** The group a group file came in (dropGroupPartials); absent for a direct one. */
  group: optional(str(MAX_NAME_LENGTH, 1, NAME_PATTERN)),
  /** The name it was sent under, as made safe, to name it when it is dropped (dropGroupPartials);
   * absent in what was kept before 2026-12-07. */
  name: optional(str(MAX_FILE_NAME_BYTES * 4, 1))
}

export interface PartialState {
  size: number
  sha256: Uint8Array
  chunks: number
  inflight?: string
  inflightIno?: string
  group?: string
  name?: string
}

/** A kept part removed because nothing more of it will come (dropGroupPartials). */
export interface DroppedPart {
  /** The transfer id, 32 hex digits, and its sender. */
  id: string
  sender: string
  /** The name it was sent under, undefined for a part kept before names were. */
  name: string | undefined
  /** Bytes that had come, of `size`. */
  bytes: number
  size: number
}

/** `<sender>-<32 hex>.state` or `.part`: a key we made, whatever else lies in the folder. */
const log = logger('parley:files')

const KEY_PATTERN = /^(.+)-([0-9a-f]{32})\.(state|part)$/

/** The sender part of a key `<sender>-<32 hex>`. */
function senderOf (key: string): string | undefined {
  return KEY_PATTERN.exec(key + PARTIAL_STATE_SUFFIX)?.[1]
}

/** Where the kept prefixes of `downloadsDir` live: beside it, never inside it. */
export function partialDirOf (downloadsDir: string): string {
  return join(dirname(downloadsDir), basename(downloadsDir) + PARTIAL_DIR_SUFFIX)
}

interface Claim {
  controller: AbortController
  released: Promise<void>
}

/** Transfers being received in this process, by `<partial dir>\0<key>`. */
const claims = new Map<string, Claim>()
/** When each partial dir was last swept for stale prefixes, by this process. */
const sweptAt = new Map<string, number>()

export class PartialTransfer {
  /** What to offer the sender (wire.ts resumeSchema), if a usable prefix is kept. */
  readonly offer: ResumeOffer | undefined
  /** The whole file, checked and published by an attempt killed before it was recorded: taken
   * as it is (handoff.ts), not received again. */
  readonly published: PublishedCopy | undefined
  /** Fires when a newer attempt at the same transfer claims it: stop, keep the prefix. */
  readonly signal: AbortSignal
  readonly #dir: string
  readonly #downloadsDir: string
  readonly #key: string
  readonly #size: number | undefined
  readonly #group: string | null
  readonly #name: string | undefined
  readonly #release: () => void
  #inflightIno: string | undefined

  private constructor (args: { dir: string, downloadsDir: string, key: string, group: string | null, name: string | undefined, offer?: ResumeOffer, published?: PublishedCopy, size?: number, signal: AbortSignal, release: () => void }) {
    this.#dir = args.dir
    this.#downloadsDir = args.downloadsDir
    this.#key = args.key
    this.#group = args.group
    this.#name = args.name
    this.offer = args.offer
    this.published = args.published
    this.#size = args.size
    this.signal = args.signal
    this.#release = args.release
  }

  /**
   * Claim the transfer `id` from `sender` (a checked username: [a-z0-9_.-]) for one receive, and
   * find what is kept of it. Never fails for a problem with what is kept: that is dropped, and
   * the offer is empty. Call release() when the receive is over, whatever happened. `group`: the
   * group a group file comes in, and `name` the name it comes under, recorded with what is kept
   * (dropGroupPartials).
   */
  static async claim (downloadsDir: string, sender: string, id: Uint8Array, group: string | null = null, name?: string): Promise<PartialTransfer> {
    if (id.length !== TRANSFER_ID_BYTES) throw new ParleyError(ErrorCode.Malformed, `transfer id must be ${TRANSFER_ID_BYTES} bytes`)
    // Part of a file name: a checked username only (the directory's, never the sender's word).
    if (!isValidName(sender)) throw new ParleyError(ErrorCode.InvalidName, 'invalid sender for a partial file')
    const dir = partialDirOf(downloadsDir)
    const key = `${sender}-${Buffer.from(id).toString('hex')}`
    const claimKey = `${dir}\0${key}`
    for (let older = claims.get(claimKey); older !== undefined; older = claims.get(claimKey)) {
      older.controller.abort(new DOMException('a newer attempt at this transfer took over', 'AbortError'))
      await older.released
    }
    const controller = new AbortController()
    let release!: () => void
    const released = new Promise<void>(resolve => { release = resolve })
    claims.set(claimKey, { controller, released })
    const done = (): void => {
      if (claims.get(claimKey)?.controller === controller) claims.delete(claimKey)
      release()
    }
    try {
      await sweep(dir, downloadsDir)
      const found = await findKept(dir, downloadsDir, key)
      return new PartialTransfer({ dir, downloadsDir, key, group, name, signal: controller.signal, release: done, ...found })
    } catch (err) {
      done()
      throw err
    }
  }

  release (): void {
    this.#release()
  }

  /** The sender's username (the Noise-authenticated one the caller claimed for). */
  get sender (): string {
    return senderOf(this.#key) ?? ''
  }

  /** The transfer's key, `<sender>-<32 hex id>`. */
  get key (): string {
    return this.#key
  }

  /** This sender's other kept prefixes (not claimed by a transfer in progress), for the disk
   * budget (budget.ts) to count and, when they do not fit, to drop. */
  get keptOthers (): KeptPrefixes {
    return {
      list: async () => await this.#keptOthers(),
      drop: async key => { await dropKey(this.#dir, this.#downloadsDir, key) }
    }
  }

  async #keptOthers (): Promise<KeptPrefix[]> {
    const sender = senderOf(this.#key)
    const found: KeptPrefix[] = []
    // No folder yet is no kept part; an entry gone between readdir and stat is one fewer.
    for (const entry of await readdir(this.#dir).catch(() => [] as string[])) {
      const match = KEY_PATTERN.exec(entry)
      if (match === null || match[1] !== sender || match[3] !== 'state') continue
      const key = entry.slice(0, -PARTIAL_STATE_SUFFIX.length)
      if (key === this.#key || claims.has(`${this.#dir}\0${key}`)) continue
      const stats = await stat(join(this.#dir, entry)).catch(() => undefined)
      if (stats === undefined) continue
      let bytes = await regularSize(join(this.#dir, key + PARTIAL_DATA_SUFFIX))
      if (bytes === undefined) {
        // Killed mid-stream: the bytes are still the in-flight .part in downloads.
        const state = await readState(join(this.#dir, entry))
        const inflight = await sameFile(this.#downloadsDir, state?.inflight, state?.inflightIno)
        bytes = inflight !== undefined ? await regularSize(inflight) : undefined
      }
      found.push({ key, bytes: bytes ?? 0, mtimeMs: stats.mtimeMs })
    }
    return found
  }

  /** The kept file's size, to check META against (only with an offer). */
  get size (): number | undefined {
    return this.#size
  }

  get #statePath (): string { return join(this.#dir, this.#key + PARTIAL_STATE_SUFFIX) }
  get #dataPath (): string { return join(this.#dir, this.#key + PARTIAL_DATA_SUFFIX) }

  /** A fresh transfer's `.part` is about to be made at `partPath`: named first, so a kill -9
   * before begin() leaves a record of it, and its empty file is removed (findKept), not left in
   * downloads for good (round 48: `f16.bin.part`, 0 bytes, named nowhere). */
  async intend (partPath: string, meta: FileMeta): Promise<void> {
    // Not synced: it is for a kill, which the page cache outlives, and begin() writes it again
    // synced a moment later; each file received would otherwise pay two fsyncs more.
    await this.#writeState({ size: meta.size, sha256: meta.sha256, chunks: 0, inflight: basename(partPath) }, false)
  }

  /** A fresh transfer's `.part` exists: name it, so a kill -9 leaves something to adopt or sweep. */
  async begin (partPath: string, handle: FileHandle, meta: FileMeta): Promise<void> {
    this.#inflightIno = (await handle.stat({ bigint: true })).ino.toString()
    await this.#writeState({ size: meta.size, sha256: meta.sha256, chunks: 0, inflight: basename(partPath), inflightIno: this.#inflightIno })
  }

  /** The first `chunks` chunks in `handle` are to be kept: make them durable, then count them. */
  async checkpoint (partPath: string, handle: FileHandle, chunks: number, meta: FileMeta): Promise<void> {
    await handle.datasync().catch((err: unknown) => { throw fileError(err, `cannot write ${partPath}`) })
    // Its folder removed (the .part has no name left): said now, not after the rest came into a
    // file nobody can see (round 48: 50 MB more, then "no such file or folder").
    if ((await handle.stat()).nlink === 0) throw new ParleyError(ErrorCode.File, `${partPath} was removed while the file came (its folder with it?)`)
    await this.#writeState({
      size: meta.size, sha256: meta.sha256, chunks, inflight: basename(partPath), ...(this.#inflightIno !== undefined ? { inflightIno: this.#inflightIno } : {})
    })
  }

  /**
   * The stream was cut after `chunks` whole chunks reached `partPath` (already fsync'd and
   * closed by the caller): move it here and record it. Never throws: a prefix we cannot keep is
   * dropped, and the error the caller is about to report is the one that matters. False when
   * there was a prefix and it could not be kept (a full disk may not take its record).
   */
  async keep (partPath: string, chunks: number, meta: FileMeta): Promise<boolean> {
    if (chunks <= 0 || chunks >= chunkCount(meta.size)) {
      await removeFile(partPath)
      await this.discard()
      return true
    }
    try {
      await ensurePartialDir(this.#dir)
      await moveFile(partPath, this.#dataPath)
      await this.#writeState({ size: meta.size, sha256: meta.sha256, chunks })
      await this.#limitPerSender()
      return true
    } catch (err) {
      // Not kept: the sender's retry starts from the beginning instead of resuming.
      log.warn('could not keep the verified part of a cut transfer', err)
      await removeFile(partPath)
      await this.discard()
      return false
    }
  }

  /**
   * Resuming at `offer.from`: move the kept bytes back into the downloads folder as a new
   * `<name>.part` (created exclusively, like any other; DESIGN §6), cut to exactly the kept
   * chunks, opened for writing at explicit positions.
   */
  async reopen (name: string): Promise<{ path: string, handle: FileHandle }> {
    const from = this.offer?.from ?? 0
    if (from === 0 || this.#size === undefined || this.offer === undefined) throw new ParleyError(ErrorCode.Internal, 'nothing kept to resume')
    const ino = (await lstat(this.#dataPath, { bigint: true }).catch((err: unknown) => { throw fileError(err, 'the kept part of the file is gone') })).ino.toString()
    for (let n = 0; n < MAX_NAME_ATTEMPTS; n++) {
      const path = join(this.#downloadsDir, nameCandidate(name, candidateNumber(n), PART_SUFFIX))
      try {
        // Reserve the name ('wx': no existing entry, no link followed), then rename onto it.
        await (await open(path, 'wx', RECEIVED_FILE_MODE)).close()
      } catch (err) {
        if (errnoOf(err) === 'EEXIST') continue
        throw fileError(err, `cannot create ${path}`)
      }
      try {
        // State first: a crash right after it still finds the bytes here (findKept prefers them).
        this.#inflightIno = ino
        await this.#writeState({ size: this.#size, sha256: this.offer.sha256, chunks: from, inflight: basename(path), inflightIno: ino })
        let moved = ino
        try {
          await rename(this.#dataPath, path)
        } catch (err) {
          if (errnoOf(err) !== 'EXDEV') throw err
          // The downloads folder on another file system (disk.ts moveFile): the bytes are copied
          // into the name reserved above, the state then names that copy, and only then do the
          // bytes here go (a crash before still finds them here, which findKept prefers).
          moved = await copySynced(this.#dataPath, path, constants.O_WRONLY)
          this.#inflightIno = moved
          await this.#writeState({ size: this.#size, sha256: this.offer.sha256, chunks: from, inflight: basename(path), inflightIno: moved })
          await removeFile(this.#dataPath)
        }
        const handle = await open(path, constants.O_RDWR | (constants.O_NOFOLLOW ?? 0))
        try {
          if ((await handle.stat({ bigint: true })).ino.toString() !== moved) throw new ParleyError(ErrorCode.File, `${path} was replaced`)
          await handle.truncate(from * CHUNK_SIZE)
        } catch (err) {
          await handle.close()
          throw err
        }
        return { path, handle }
      } catch (err) {
        await removeFile(path)
        throw fileError(err, `cannot resume into ${path}`)
      }
    }
    throw new ParleyError(ErrorCode.File, `too many partial downloads named "${name}" in ${this.#downloadsDir}`)
  }

  /** Published: nothing is left to resume. */
  async finish (): Promise<void> {
    await this.discard()
  }

  /** Drop what is kept of this transfer (not a `.part` in the downloads folder: the caller's). */
  async discard (): Promise<void> {
    await removeFile(this.#dataPath)
    await removeFile(this.#statePath)
  }

  async #writeState (state: PartialState, durable = true): Promise<void> {
    await ensurePartialDir(this.#dir)
    await writeStateFile(this.#statePath, {
      ...state,
      ...(this.#group === null ? {} : { group: this.#group }),
      ...(this.#name === undefined ? {} : { name: this.#name })
    }, durable)
  }

  /**
   * Keep at most MAX_PARTIALS_PER_SENDER prefixes of this sender, counting its transfers in
   * progress too (issue 12: concurrent transfers used to bypass the cap): the newest, this one first.
   */
  async #limitPerSender (): Promise<void> {
    const sender = senderOf(this.#key)
    if (sender === undefined) return
    let live = 0
    for (const claimKey of claims.keys()) {
      const [dir, key] = claimKey.split('\0')
      if (dir === this.#dir && key !== undefined && key !== this.#key && senderOf(key) === sender) live++
    }
    const others = (await this.#keptOthers()).sort((a, b) => b.mtimeMs - a.mtimeMs)
    for (const { key } of others.slice(Math.max(0, MAX_PARTIALS_PER_SENDER - 1 - live))) await dropKey(this.#dir, this.#downloadsDir, key)
  }
}

async function ensurePartialDir (dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DOWNLOADS_DIR_MODE })
  } catch (err) {
    throw fileError(err, `cannot create ${dir}`)
  }
}

async function readState (path: string): Promise<PartialState | undefined> {
  let data: Buffer
  try {
    data = await readFile(path, { flag: constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) })
  } catch {
    return undefined // none kept (the usual case), or not a file we wrote: nothing to resume
  }
  try {
    const state = decodeBody(stateSchema, data)
    const inflight = state.inflight
    if (inflight !== undefined && (inflight !== basename(inflight) || inflight === '.' || inflight === '..' || !inflight.endsWith(PART_SUFFIX))) return undefined
    return state
  } catch {
    return undefined // damaged: as if nothing were kept (the transfer starts over)
  }
}

/** The file `name` in `dir` if it is a regular file (not a link) with inode `ino`. */
async function sameFile (dir: string, name: string | undefined, ino: string | undefined): Promise<string | undefined> {
  if (name === undefined || ino === undefined) return undefined
  const path = join(dir, name)
  const stats = await lstat(path, { bigint: true }).catch(() => undefined)
  return stats?.isFile() === true && stats.ino.toString() === ino ? path : undefined
}

/** Regular file size, or undefined when missing or not a regular file. */
async function regularSize (path: string): Promise<number | undefined> {
  const stats = await lstat(path).catch(() => undefined)
  return stats?.isFile() === true ? stats.size : undefined
}

/**
 * What is kept of `key`: its state, and its bytes — here, or (a receiver killed mid-stream) still
 * in the downloads folder, adopted back here. Anything unusable is dropped.
 */
async function findKept (dir: string, downloadsDir: string, key: string): Promise<{ offer?: ResumeOffer, size?: number, published?: PublishedCopy }> {
  const statePath = join(dir, key + PARTIAL_STATE_SUFFIX)
  const dataPath = join(dir, key + PARTIAL_DATA_SUFFIX)
  const state = await readState(statePath)
  if (state === undefined) {
    await removeFile(dataPath)
    await removeFile(statePath)
    return {}
  }
  try {
    let size = await regularSize(dataPath)
    await removeIntended(downloadsDir, state)
    const inflight = await sameFile(downloadsDir, state.inflight, state.inflightIno)
    // Killed after the whole file was checked and published, before it was recorded: that file
    // is the transfer's (round 48: it was received again, and kept twice, `m50.bin` beside
    // `m50 (1).bin`, the first named nowhere).
    const published = size === undefined ? await publishedCopy(downloadsDir, state, inflight) : undefined
    if (published !== undefined) {
      if (inflight !== undefined) await removeFile(inflight) // its other name, not yet removed
      return { published, size: state.size }
    }
    if (size === undefined && inflight !== undefined) {
      // Killed mid-stream: its .part is still in downloads. Bring it here, then say so.
      await moveFile(inflight, dataPath)
      size = await regularSize(dataPath)
    } else if (inflight !== undefined) {
      await removeFile(inflight) // a copy we no longer need (kept bytes win: see reopen)
    }
    const chunks = Math.min(state.chunks, Math.floor((size ?? 0) / CHUNK_SIZE), chunkCount(state.size) - 1)
    if (size === undefined || chunks <= 0) {
      // Cut before its first checkpoint (or its bytes are gone): nothing to resume from, which is
      // no fault to log (it was logged as one, ERR_INTERNAL "nothing usable kept", until 2026-12-06).
      await dropKey(dir, downloadsDir, key)
      return {}
    }
    if (state.inflight !== undefined) {
      // The same record, brought here: no longer in flight, and the chunks the bytes hold.
      const { inflight: _inflight, inflightIno: _inflightIno, ...kept } = state
      await writeStateFile(statePath, { ...kept, chunks })
    }
    return { offer: { from: chunks, sha256: state.sha256 }, size: state.size }
  } catch (err) {
    // A folder that refuses changes now (made read-only, immutable): what is kept stays, for an
    // attempt once it takes them (round 48: dropped, and the file came again whole).
    // (Refused now rather than started afresh, whose new record would take this one's place.)
    if (FOLDER_REFUSES.has(errnoOf(err) ?? '')) throw fileError(err, `cannot take back what came of this file before into ${downloadsDir}`)
    log.warn('a kept part of a transfer could not be reopened; the transfer starts over', err)
    await dropKey(dir, downloadsDir, key)
    return {}
  }
}

/** Errors of a folder that refuses changes for now, not of a kept part that is damaged. */
const FOLDER_REFUSES = new Set(['EPERM', 'EACCES', 'EROFS'])

/** A transfer's file, whole and checked, published under its name before it was recorded. */
export interface PublishedCopy { path: string, size: number, sha256: Uint8Array }

/**
 * The file a transfer in flight was published as (receive.ts publishes it by a hard link to its
 * `.part`, the same inode, then removes the `.part`): looked for only when the `.part` is gone, or
 * still has that second name. A file of the state's size whose inode is the `.part`'s.
 */
async function publishedCopy (downloadsDir: string, state: PartialState, inflight: string | undefined): Promise<PublishedCopy | undefined> {
  if (state.inflight === undefined || state.inflightIno === undefined) return undefined
  if (inflight !== undefined && (await lstat(inflight).catch(() => undefined))?.nlink !== 2) return undefined
  for (const entry of await readdir(downloadsDir).catch(() => [] as string[])) {
    if (entry === state.inflight) continue
    const path = join(downloadsDir, entry)
    const stats = await lstat(path, { bigint: true }).catch(() => undefined)
    if (stats?.isFile() === true && stats.ino.toString() === state.inflightIno && stats.size === BigInt(state.size)) return { path, size: state.size, sha256: state.sha256 }
  }
  return undefined
}

/** A record killed as its .part was made (PartialTransfer.intend: named, no inode yet): the
 * empty file, if it was made, goes with it. */
async function removeIntended (downloadsDir: string, state: PartialState): Promise<void> {
  if (state.inflight === undefined || state.inflightIno !== undefined) return
  const made = join(downloadsDir, state.inflight)
  if (await regularSize(made) === 0) await removeFile(made)
}

/** Write the state durably and atomically (common/fs.ts). */
async function writeStateFile (path: string, state: PartialState, durable = true): Promise<void> {
  try {
    await writeFileAtomic(path, encodeBody({ ...state }), RECEIVED_FILE_MODE, durable)
  } catch (err) {
    throw fileError(err, `cannot record the partial file ${path}`)
  }
}

/** Remove a key's bytes, state, and its in-flight `.part` in downloads if it is still that file. */
async function dropKey (dir: string, downloadsDir: string, key: string): Promise<void> {
  const statePath = join(dir, key + PARTIAL_STATE_SUFFIX)
  const state = await readState(statePath)
  if (state !== undefined) await removeIntended(downloadsDir, state)
  const inflight = await sameFile(downloadsDir, state?.inflight, state?.inflightIno)
  if (inflight !== undefined) await removeFile(inflight)
  await removeFile(join(dir, key + PARTIAL_DATA_SUFFIX))
  await removeFile(statePath)
  await removeFile(statePath + '.tmp')
}

/** Drop prefixes nobody resumed for PARTIAL_MAX_AGE_MS; at most every PARTIAL_SWEEP_EVERY_MS. */
async function sweep (dir: string, downloadsDir: string): Promise<void> {
  const now = Date.now()
  if (now - (sweptAt.get(dir) ?? -Infinity) < PARTIAL_SWEEP_EVERY_MS) return
  sweptAt.set(dir, now)
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch {
    return // no folder yet: nothing to sweep
  }
  /** Each key's most recent change: its state, or its bytes when they were written later. */
  const newest = new Map<string, number>()
  for (const entry of entries) {
    const stats = await lstat(join(dir, entry)).catch(() => undefined)
    if (stats === undefined) continue
    const match = KEY_PATTERN.exec(entry.replace(/\.tmp$/, ''))
    if (match === null) {
      // Not a name we make: nothing to resume. Gone once it is as old as a stale prefix.
      if (stats.isFile() && now - stats.mtimeMs >= PARTIAL_MAX_AGE_MS) await removeFile(join(dir, entry))
      continue
    }
    const key = `${match[1] ?? ''}-${match[2] ?? ''}`
    newest.set(key, Math.max(newest.get(key) ?? -Infinity, stats.mtimeMs))
  }
  for (const [key, mtime] of newest) {
    if (now - mtime >= PARTIAL_MAX_AGE_MS && !claims.has(`${dir}\0${key}`)) await dropKey(dir, downloadsDir, key)
  }
}

/**
 * Files of `group` (of `sender` alone, if given) that were cut and will never be resumed: we
 * left the group, so its members' outboxes no longer send us its files (until 2026-12-07 their
 * parts stayed a week, and the last word about them was that the rest would come: round 27), or
 * their sender left it, and its outbox dropped them (round 38: the same). What is kept of them is
 * removed now. A transfer in progress is left to its receive (the sender goes on with what is
 * under way). What was removed; never fails.
 */
export async function dropGroupPartials (downloadsDir: string, group: string, sender?: string): Promise<DroppedPart[]> {
  const dir = partialDirOf(downloadsDir)
  const dropped: DroppedPart[] = []
  for (const kept of await keptGroupParts(downloadsDir)) {
    if (kept.group !== group || (sender !== undefined && kept.sender !== sender)) continue
    const key = `${kept.sender}-${kept.id}`
    if (claims.has(`${dir}\0${key}`)) continue
    await dropKey(dir, downloadsDir, key)
    dropped.push(kept)
  }
  return dropped
}

/** Remove what is kept of every file `sender` sent (direct or to a group) and was cut, but not a
 * transfer in progress (its receive drops it as it stops: handoff.ts): BLOCK. */
export async function dropPartialsFrom (downloadsDir: string, sender: string): Promise<DroppedPart[]> {
  const dir = partialDirOf(downloadsDir)
  const dropped: DroppedPart[] = []
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    const [, from, hex, kind] = KEY_PATTERN.exec(entry) ?? []
    if (from !== sender || hex === undefined || kind !== 'state') continue
    const key = `${from}-${hex}`
    if (claims.has(`${dir}\0${key}`)) continue
    const state = await readState(join(dir, entry))
    await dropKey(dir, downloadsDir, key)
    dropped.push({ id: hex, sender: from, name: state?.name, bytes: Math.min((state?.chunks ?? 0) * CHUNK_SIZE, state?.size ?? 0), size: state?.size ?? 0 })
  }
  return dropped
}

/** What is kept of group files that were cut, with their group. */
export async function keptGroupParts (downloadsDir: string): Promise<Array<DroppedPart & { group: string }>> {
  const dir = partialDirOf(downloadsDir)
  const found: Array<DroppedPart & { group: string }> = []
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    const [, sender, hex, kind] = KEY_PATTERN.exec(entry) ?? []
    if (sender === undefined || hex === undefined || kind !== 'state') continue
    const state = await readState(join(dir, entry))
    if (state?.group === undefined) continue
    found.push({ id: hex, sender, group: state.group, name: state.name, bytes: Math.min(state.chunks * CHUNK_SIZE, state.size), size: state.size })
  }
  return found
}

/**
 * At sign-in: what a receiver killed mid-stream left in the downloads folder (the `.part` a state
 * names in flight) is brought here, as a cut transfer's is, so the downloads folder holds finished
 * files and transfers in progress only, also when its sender never comes back for it (round 20: a
 * 31 MB big2.bin.part stayed there after a restart, its sender having given it up). A transfer
 * claimed meanwhile is left to its receive. Never fails: what cannot be tidied stays as it was.
 */
export async function tidyPartials (downloadsDir: string): Promise<void> {
  const dir = partialDirOf(downloadsDir)
  const entries = await readdir(dir).catch(() => [] as string[])
  for (const entry of entries) {
    const [, sender, hex, kind] = KEY_PATTERN.exec(entry) ?? []
    if (sender === undefined || hex === undefined || kind !== 'state') continue
    const claimed = (): boolean => claims.has(`${dir}\0${sender}-${hex}`)
    if (claimed() || (await readState(join(dir, entry)))?.inflight === undefined) continue
    try {
      // Claimed as a receive would (no await between the look and its registering): one that
      // starts meanwhile takes over, waiting for this one to let go. Claiming adopts the .part.
      if (claimed()) continue
      const transfer = await PartialTransfer.claim(downloadsDir, sender, Buffer.from(hex, 'hex'))
      transfer.release()
    } catch (err) {
      log.warn(`could not tidy the kept part of a transfer from ${sender}`, err)
    }
  }
}

/** What is recorded of a transfer, read only (tests, diagnostics); undefined if nothing valid. */
export async function readPartialState (downloadsDir: string, sender: string, id: Uint8Array): Promise<PartialState | undefined> {
  return await readState(join(partialDirOf(downloadsDir), `${sender}-${Buffer.from(id).toString('hex')}${PARTIAL_STATE_SUFFIX}`))
}

/** For tests: forget when each folder was swept, so the next claim sweeps again. */
export function resetSweeps (): void {
  sweptAt.clear()
}
