/**
 * Constants of the file-streaming module, each with the reason for its value.
 */

/** HKDF info of the META frame's keys; distinct from every chunk label "parley/chunk/<i>". */
export const META_KEY_INFO = 'parley/file-meta'

/** The transfer id: 16 random bytes, also the tail of the caller's associated data. */
export const TRANSFER_ID_BYTES = 16

/** SHA-256 digest length. */
export const SHA256_BYTES = 32

/** Session fileSecret/peerFileSecret and groupFileSecret are all 32 bytes (common/crypto). */
export const FILE_SECRET_BYTES = 32

/** Suffix of a file still being received (DESIGN §6); renamed away only after the hash checks. */
export const PART_SUFFIX = '.part'

/** Downloads folder: only its owner may list or enter it. */
export const DOWNLOADS_DIR_MODE = 0o700

/** Received files: only their owner may read them. */
export const RECEIVED_FILE_MODE = 0o600

/** Most file systems refuse a name longer than 255 bytes (NAME_MAX). */
export const MAX_DISK_NAME_BYTES = 255

/** "name (1).ext" … "name (99).ext" are tried in turn, then names numbered at random
 * (disk.ts candidateNumber): a sender of 10,000 files of one name made each later save of it probe
 * every number, and the 10,001st could never be saved (round 43). Attempts in all, of which a
 * random number is all but certain to succeed at its first. */
export const SEQUENTIAL_NAMES = 100
export const MAX_NAME_ATTEMPTS = SEQUENTIAL_NAMES + 100

/** HKDF info of the receiver's CREDIT frames (wire.ts); distinct from META's and the chunks'. */
export const CREDIT_KEY_INFO = 'parley/file-credit'
/** The key of a sender's ABANDON frame (wire.ts): its own label, so it is never a chunk's. */
export const ABANDON_KEY_INFO = 'parley/file-abandon'
/** The key of a receiver's STOP frame (wire.ts): its own label, so it is never a credit's. */
export const STOP_KEY_INFO = 'parley/file-stop'

/**
 * Flow control (wire.ts). libp2p v3 yamux credits its window as soon as data reaches the frame
 * reader's buffer, not when we consume it, and a stream aborts past 4 MiB of unread data
 * (DESIGN §2): a sender faster than the receiver's disk or CPU would kill the transfer. So the
 * sender keeps at most WINDOW_CHUNKS sealed chunks (32 × ~64 KiB ≈ 2 MiB, half the limit) beyond
 * what the receiver has written to disk, and the receiver grants CREDIT_EVERY_CHUNKS more each
 * time it has written that many: 24 chunks (1.5 MiB) of slack cover the round trip of a credit.
 */
export const WINDOW_CHUNKS = 32
export const CREDIT_EVERY_CHUNKS = 8

/**
 * Resuming an interrupted transfer (partial.ts, issue 7). The verified prefix of a cut transfer is
 * kept beside the downloads folder, in `<downloads>.partial/` (never inside it: the downloads
 * folder only ever holds finished files and the `.part` of a transfer in progress).
 */
export const PARTIAL_DIR_SUFFIX = '.partial'
/** A kept prefix and its state file: `<sender>-<32 hex id>.part` and `.state`. */
export const PARTIAL_DATA_SUFFIX = '.part'
export const PARTIAL_STATE_SUFFIX = '.state'
/**
 * While a file streams, the receiver makes its prefix durable (fsync, then an fsync'd state file
 * naming the chunk count) every CHECKPOINT_CHUNKS chunks (4 MiB), so that a receiver killed with
 * -9 or a machine that crashes loses at most that much. Each checkpoint costs two fsyncs; at 4 MiB
 * apart that is a few per second at full 3DES speed, well under 1 % of a transfer. A transfer cut
 * while the receiver lives (EOF, reset, timeout) is checkpointed exactly, chunk for chunk.
 */
export const CHECKPOINT_CHUNKS = 64
/** A kept prefix nobody resumed for this long is deleted (the sender gave up, or changed). */
export const PARTIAL_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000
/** How often a long-running peer looks for such stale prefixes (also on its first transfer). */
export const PARTIAL_SWEEP_EVERY_MS = 60 * 60 * 1000
/**
 * Kept prefixes per sender, counting its transfers in progress (issue 12: concurrent transfers
 * bypassed the cap): a sender's outbox delivers one item at a time to us, so one is all an honest
 * sender ever resumes; one spare covers a file cut while another was being kept. The oldest goes
 * first, so a hostile sender cannot fill our disk with prefixes it never finishes; a transfer
 * beyond this many live ones of the same sender is refused (budget.ts).
 */
export const MAX_PARTIALS_PER_SENDER = 2
/**
 * Resuming re-hashes the kept prefix on both sides (up to MAX_FILE_BYTES: minutes); every this
 * many chunks (4 MiB) the transfer reports its unchanged progress as a heartbeat, so its idle
 * watchdog (progress.ts) does not take a long re-hash for a stalled peer.
 */
export const HEARTBEAT_CHUNKS = 64

/**
 * A file written to while it goes out is caught by its hash only after its last chunk; every this
 * many chunks (4 MiB) the sender also looks at its size and modification time, and gives it up
 * as soon as either moved (round 19: 285 MiB of a 286 MiB file sent for nothing).
 */
export const CHANGE_CHECK_CHUNKS = 64

/**
 * Disk budget (issue 12 item 6, budget.ts). Every transfer in progress reserves the bytes it still
 * has to write; an offer is accepted only if its own fit in the file system's free space (statfs)
 * minus this margin and minus what the live transfers have reserved, so four concurrent 55 GiB
 * offers can no longer all be accepted on a disk with 78 GiB free. The margin keeps room for what
 * is not a file transfer: the peer's own SQLite store and logs, the system, other programs.
 */
const DISK_MARGIN_BYTES = 1024 ** 3
/** On a small file system the margin is this share of its size instead (a 4 GiB card keeps
 * 205 MiB free, a 30 MiB one 1.5 MiB): until 2026-12-06 anything under 1 GiB free took no file
 * at all, a 1,000-byte one included (round 10). */
const DISK_MARGIN_SHARE = 0.05

/** What a file system of `size` bytes keeps free of received files. */
export function diskMarginFor (size: number): number {
  return Math.min(DISK_MARGIN_BYTES, Math.floor(size * DISK_MARGIN_SHARE))
}
/**
 * One sender's share: the full size of its live transfers plus the bytes of its kept prefixes. At
 * least one file of the largest size (MAX_FILE_BYTES) must fit, or an honest sender (whose outbox
 * sends us one file at a time) could be refused; kept prefixes of its own are dropped (oldest
 * first) before anything is refused, since they only save a re-send.
 */
export const SENDER_QUOTA_BYTES = 64 * 1024 ** 3
/**
 * Minimum transfer rate (progress.ts), both directions. The per-chunk idle timer (15 s) lets a
 * peer hold a transfer open for ever with one 64 KiB chunk every 14 s (~4.6 KiB/s), and with it
 * its reservation, its stream and its `.part`. A transfer that averages less than
 * MIN_TRANSFER_BYTES_PER_S over the last RATE_WINDOW_MS, once RATE_GRACE_MS have passed since it
 * started (or since it last did local work: re-hashing a kept prefix), is cut, as a stall is: its
 * verified prefix is kept and the sender's outbox retries later. 8 KiB/s (64 kbit/s) is about
 * twice that trickle and far below any link a person would send a file over (a GPRS/EDGE phone
 * link passes); averaged over a minute, a few seconds of stall do not count against a real link.
 */
export const MIN_TRANSFER_BYTES_PER_S = 8 * 1024
export const RATE_WINDOW_MS = 60_000
export const RATE_GRACE_MS = 60_000
/** The rate is judged from samples at least this far apart (a few dozen per window, any size). */
export const RATE_SAMPLE_EVERY_MS = 1_000
/**
 * A refused transfer (the verdict, wire.ts): how long the receiver waits for the sender to read
 * the refusal and end the stream, discarding what it sent meanwhile, before it aborts the stream.
 * An honest sender reads it before its first credit, within a round trip of the window.
 */
export const REFUSAL_DRAIN_MS = 5_000
