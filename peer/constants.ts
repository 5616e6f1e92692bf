/**
 * The peer's limits and timings, each with the reason for its value.
 */

/** Inbound streams per connection and protocol: a session or two, a few files in flight; more
 * than this from one peer is a flood. */
export const MAX_INBOUND_STREAMS = 32
export const MAX_OUTBOUND_STREAMS = 64

/** A direct session waiting for acks that hears none for this long presumes its remote gone
 * and ends (its messages are retried on a new session). Long, because a loaded receiver may be
 * slowing us down on purpose (backpressure) and progress of any ack resets it. */
export const ACK_TIMEOUT_MS = 30_000

/** A direct session re-keys (retires; the next message opens a new one with a new DH) after an
 * hour (issue 11) ... */
export const SESSION_MAX_AGE_MS = 60 * 60_000

/** ... or once its send key has sealed 2 MiB (2^18 3DES blocks): a quarter of NIST SP 800-67r2's
 * 2^20-block limit, so the messages already in flight when it retires (at most SESSION_WINDOW
 * texts of ≤ 17 KiB sealed) still stay under it. The receiver refuses a key past the limit. */
export const TDES_REKEY_BYTES = 2 * 1024 * 1024

/** A handshake or an ACK that takes longer than this means the other side is gone. */
export const STEP_TIMEOUT_MS = 15_000

/**
 * How long a question to the rendezvous waits when its last answer would do meanwhile (a group's
 * member list, where a contact was last seen): it answers in milliseconds when it is there, and a
 * frozen one never, its 15 s silence holding every group message at the sender and at each
 * member's check of the sender, and every message to a contact without an open session (rounds
 * 19 and 20). The question goes on, and its answer is taken when it comes.
 */
export const ANSWER_PATIENCE_MS = 2_000

/** Dialling a peer: long enough for a loaded machine to finish the TCP + Noise + yamux set-up
 * (a dial given up at 5 s had done most of that work for nothing, then was retried, and under
 * load the retries became a storm: issue 11); deliveries to other recipients go on meanwhile. */
export const DIAL_TIMEOUT_MS = 30_000
/** With a relay to fall back on, a direct dial gets this long first: a peer behind a NAT whose
 * router drops what comes in never answers, and first contact then goes through the relay. */
export const DIRECT_DIAL_BEFORE_RELAY_MS = 4_000

/** New direct sessions (dial + X25519) opening at once: a fan-out to 64 new members, or many
 * first contacts at once, is worked through a few at a time instead of all timing out together. */
export const MAX_SESSIONS_OPENING = 8

/** Outbox retry when no presence event arrives (the rendezvous may be down; DESIGN §6). */
export const OUTBOX_RETRY_MS = 30_000

/** New incoming streams (sessions, files) per sender per second, and the burst: a session
 * carries every message, so streams are few; more than this from one peer is a flood, refused
 * (ERR_RATE_LIMITED; the sender retries later). */
export const INBOUND_STREAMS_PER_SECOND = 50
export const INBOUND_STREAMS_BURST = 100

/** Messages per sender per second on its sessions, and the burst. Never refused: a receiver
 * waits out the debt before reading on, which slows the sender down (backpressure, issue 11).
 * Above a pasted burst (2,000 lines at 1,000/s), low enough to keep a flood of 16 KiB texts
 * from writing more than a few MB/s into our history. */
export const INBOUND_MESSAGES_PER_SECOND = 1_000
export const INBOUND_MESSAGES_BURST = 4_000

/** HISTORY without a count shows this many, and never more than the maximum; a count over the
 * maximum is refused, not cut without a word (until 2026-12-06 the command took 999,999 and
 * showed 1,000: a tester's finding). */
export const HISTORY_DEFAULT = 20
export const HISTORY_MAX = 10_000
/** …and no more than this of stored messages at once, the latest first (store.ts history). */
export const HISTORY_MAX_BYTES = 8 * 1024 * 1024

/** WHO adds at most this many of the latest direct contacts the rendezvous did not list (they
 * are offline). */
export const WHO_CONTACTS = 100

/** One presence line per user at most this often; a change within it waits (presence-lines.ts). */
export const PRESENCE_HOLD_MS = 5_000
