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

/** A MIME type as sent in META: "type/subtype", RFC 6838 caps each half at 127, we need far less. */
export const MAX_MIME_LENGTH = 100

/** Suffix of a file still being received (DESIGN §6); renamed away only after the hash checks. */
export const PART_SUFFIX = '.part'

/** Downloads folder: only its owner may list or enter it. */
export const DOWNLOADS_DIR_MODE = 0o700

/** Received files: only their owner may read them. */
export const RECEIVED_FILE_MODE = 0o600

/** Most file systems refuse a name longer than 255 bytes (NAME_MAX). */
export const MAX_DISK_NAME_BYTES = 255

/** "name (1).ext" … "name (9999).ext": past that the folder is full of the same name; give up. */
export const MAX_NAME_ATTEMPTS = 10_000

/** HKDF info of the receiver's CREDIT frames (wire.ts); distinct from META's and the chunks'. */
export const CREDIT_KEY_INFO = 'parley/file-credit'

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
