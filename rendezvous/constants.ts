/**
 * Every limit and timing of the rendezvous server, each with the reason for its value. Wire
 * limits (frame sizes, list lengths) live in common/protocol/rendezvous.ts.
 */

/** A client writes its one request right after opening the stream; a stream that has not
 * delivered it in 10 s is stalled or hostile and is dropped. */
export const REQUEST_READ_TIMEOUT_MS = 10_000

/** Writing the response and closing our half: same budget as the read. */
export const RESPONSE_WRITE_TIMEOUT_MS = 10_000

/** After answering, how long the client has to close its half before the stream is aborted,
 * so a client that never closes cannot pin streams against the per-connection limit. */
export const STREAM_LINGER_MS = 5_000

/** Concurrent request streams per connection. A client sends one request at a time with a
 * little overlap (signin + subscribe, a fan of lookups); libp2p's default is 32. */
export const MAX_INBOUND_REQUEST_STREAMS = 16

/** One events stream per session, plus one being replaced while its successor subscribes. */
export const MAX_INBOUND_EVENTS_STREAMS = 2

/** The server never opens streams; keep the outbound allowance minimal. */
export const MAX_OUTBOUND_STREAMS = 1

/** Events queued for one slow subscriber before its stream is dropped (it re-subscribes). */
export const MAX_QUEUED_EVENTS = 256

/** Users one session may watch for presence after looking them up (bounded memory). */
export const MAX_WATCHED_PER_SESSION = 1_000

// Failed sign-in slowdown (DESIGN §3, issue 12 item 4; the policy is in ratelimit.ts).

/** Failures free per (username, source network) pair and per device within the window; the
 * next one starts the backoff. */
export const SIGNIN_FREE_FAILURES = 5
/** Failures free per source network (IPv4 /24, IPv6 /64) across all usernames: several people
 * behind one NAT may mistype. */
export const SIGNIN_SOURCE_FREE_FAILURES = 10
/** Untrusted failures of one username within the window after which only clean sources (no
 * failure in the window) may try it. */
export const SIGNIN_USER_UNDER_ATTACK = 10
/** Failed sign-ins per hour, server-wide, after which only clean sources may try. */
export const SIGNIN_GLOBAL_FAILURES_PER_HOUR = 1_000
/** A count is forgotten only after this long without a failure: far longer than the longest
 * backoff, so waiting out a backoff never resets the count (the old 10-minute window was shorter
 * than the 15-minute cap, which therefore never applied). */
export const SIGNIN_WINDOW_MS = 24 * 60 * 60_000
/** First wait after the free failures; doubles with every further failure. */
export const SIGNIN_BACKOFF_BASE_MS = 2_000
/** Longest wait between two attempts of one pair or source. With the 24-hour window a network
 * guessing one name gets 5 free guesses and 5 more in backoff (2 + 4 + 8 + 16 + 32 s); the name
 * is then under attack and that network, no longer clean, is refused until it has not failed for
 * 24 h: about 10 guesses per name per network per day (the old policy allowed ~750). The owner's
 * own device is never held back by others' failures. */
export const SIGNIN_BACKOFF_MAX_MS = 15 * 60_000

// Per-peer request rate (token bucket).

/** Sustained requests per second per peer: far above any person, well below what would let one
 * peer crowd out the others. */
export const REQUESTS_PER_SECOND = 50
/** Burst allowance: a client starting up (signin, groups, get-keys, lookups) fits easily. */
export const REQUEST_BURST = 100

/** Group membership changes (CREATE, JOIN, LEAVE) per user: a burst, then one every 3 s. Each
 * change is a line on every member's screen and, after a leave, a new key epoch: one user looping
 * JOIN and LEAVE printed 1,040 lines a minute on every member's terminal and was handed the key 74
 * times (round 40). No person changes groups this often. */
export const MEMBERSHIP_CHANGE_BURST = 20
export const MEMBERSHIP_CHANGES_PER_SECOND = 1 / 3

/** New accounts per source network (ratelimit.ts sourceOf): a burst, then one a minute. Peer ids
 * are free, so without it one machine made 74 accounts a second, each a name taken for good, and
 * filled a group to its 256 members in 6 s, every JOIN a line on each member's screen (round
 * 43). A household or an office behind one address is well within it; the rendezvous's own
 * machine (loopback), whose users run the server, is not limited. */
export const SIGNUP_BURST = 10
export const SIGNUPS_PER_SECOND = 1 / 60

/** Entries kept per rate-limit table before the stalest are dropped (bounded memory under a
 * flood of fresh peer ids or usernames). */
export const MAX_TRACKED_KEYS = 100_000

// Command line and files.

export const DEFAULT_PORT = 7000
export const DEFAULT_HOST = '0.0.0.0'
export const DEFAULT_DATA_DIR = './.parley/rendezvous'
/** The server's libp2p Ed25519 key: the same peer id across restarts. */
export const IDENTITY_FILE = 'identity.key'
/** The one sqlite database (DESIGN §7). */
export const DATABASE_FILE = 'rendezvous.sqlite'
/** Connections the server accepts: many peers, each with one connection. */
export const MAX_CONNECTIONS = 1_000
/** Of those, from one IP address: an office or a home behind one NAT, not half the server. */
export const CONNECTIONS_PER_IP = 512

/** A group's epoch may be replaced without a reason (a member left, none yet) only once it is
 * this old: members who cannot get its key (its maker withholds it or is offline) move the group
 * on, but no one can rotate it faster than keys travel (issue 12 item 1). */
export const EPOCH_MIN_AGE_MS = 30_000

/** LIST's largest groups are counted again after this long, or at the next CREATE, JOIN or LEAVE
 * (handlers.ts): with 100,000 groups a count takes the store tens of milliseconds. */
export const LIST_FRESH_MS = 1_000

/** And each member may force such an epoch at most this often per group: one hostile member
 * that rotates to keys it hands to nobody (after a leave, when a rotation is due, anyone may)
 * stalls the group for about EPOCH_MIN_AGE_MS, then an honest member's epoch holds. */
export const MEMBER_ROTATION_INTERVAL_MS = 10 * 60_000

/** The relay for peers behind NAT (issue 13). One reservation per peer, dropped when the peer
 * disconnects; peers renew theirs well before the TTL. */
export const RELAY_MAX_RESERVATIONS = 1_000
export const RELAY_RESERVATION_TTL_MS = 30 * 60_000
/** Each relayed connection is reset after an hour or 1 GiB each way (libp2p's defaults, 2 min
 * and 128 KiB, cut every file); a sender whose connection was reset dials again, within the
 * per-peer rate below, so one account moves at most about that much per relayed connection. */
export const RELAY_DURATION_LIMIT_MS = 60 * 60_000
export const RELAY_DATA_LIMIT_BYTES = 1n << 30n
/** New relayed connections one signed-in peer may open: a burst, then one every 6 s. */
export const RELAY_CONNECTIONS_PER_SECOND = 1 / 6
export const RELAY_CONNECTIONS_BURST = 20
/** Relayed connections being set up at once, across all peers. */
export const RELAY_MAX_HOP_STREAMS = 64
