/**
 * Every limit on the wire, in one place, each with the reason for its value.
 */

/** A file chunk is 64 KiB (DESIGN.md §4); a sealed chunk adds IV, padding and tag, and the body
 * codec adds a few bytes of CBOR. 80 KiB leaves room without letting a peer make us buffer more. */
export const MAX_FRAME_BYTES = 80 * 1024

/** Signal headers are one short line: `GROUP <group> <file name>` at most. */
export const MAX_HEADER_BYTES = 512

/** A frame before a peer stream's keys, which anyone who connects may send: the header, the
 * hello (an X25519 key and a name card of at most 384 bytes), a group file's intro. Read with
 * this limit, not MAX_FRAME_BYTES: a stranger's 80 KiB prefix held 80 KiB per stream while it
 * waited for the rest (round 43: 270 MB from 1,600 streams). */
export const MAX_OPENING_FRAME_BYTES = 1024

/** Usernames and group names: 1–32 characters of [a-z0-9_.-] (issue 3). */
export const MAX_NAME_LENGTH = 32

/** A text message, in UTF-8 bytes. Generous for chat, small enough to keep frames bounded. */
export const MAX_TEXT_BYTES = 16 * 1024

/** A file name as it travels, in UTF-8 bytes (most file systems stop at 255). */
export const MAX_FILE_NAME_BYTES = 255

/** Largest file a peer accepts: 64 GiB, far above any chat attachment, below what would
 * overflow a chunk counter or a JavaScript safe integer. */
export const MAX_FILE_BYTES = 64 * 1024 ** 3
