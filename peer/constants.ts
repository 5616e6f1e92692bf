/**
 * The peer's limits and timings, each with the reason for its value.
 */

export const DIRECT_PROTOCOL = '/parley/direct/1.0.0'
export const GROUP_PROTOCOL = '/parley/group/1.0.0'

/** Inbound streams per connection and protocol: a group fan-out opens one stream per message,
 * a busy sender may have a few in flight; more than this from one peer is a flood. */
export const MAX_INBOUND_STREAMS = 32
export const MAX_OUTBOUND_STREAMS = 64

/** A handshake or an ACK that takes longer than this means the other side is gone. */
export const STEP_TIMEOUT_MS = 15_000

/** Dialling a peer: long enough for a LAN, short enough that SEND falls back to the outbox fast. */
export const DIAL_TIMEOUT_MS = 5_000

/** Outbox retry when no presence event arrives (the rendezvous may be down; DESIGN §6). */
export const OUTBOX_RETRY_MS = 30_000

/** Incoming streams (messages, files, key hand-overs) per sender per second, and the burst: far
 * above what a person types or a group fan-out sends, low enough to keep a flood off the disk. */
export const INBOUND_MESSAGES_PER_SECOND = 50
export const INBOUND_MESSAGES_BURST = 100

/** HISTORY without a count shows this many, and never more than the maximum. */
export const HISTORY_DEFAULT = 20
export const HISTORY_MAX = 1000
