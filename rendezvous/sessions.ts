/**
 * Who is signed in (DESIGN §3). A session is keyed by the Noise-authenticated remote peer id of
 * the connection that signed in; an account has exactly one peer id, so this is also one
 * session per username. A session lives while that peer stays connected and its events stream
 * (if it opened one) stays open; a user is online while it has a session.
 */
import type { ServerEvent } from '../common/protocol/rendezvous.ts'
import type { Multiaddr } from '@multiformats/multiaddr'
import { MAX_WATCHED_PER_SESSION } from './constants.ts'

/** Where a session's events go: the events stream (rendezvous/events.ts). */
export interface EventSink {
  send (event: ServerEvent): void
  /** Close the stream; `event` is sent first when given (`session-replaced`). */
  close (event?: ServerEvent): void
}

export interface Session {
  readonly peerId: string
  readonly username: string
  /** The connection that signed in, and the address the server saw it come from. */
  readonly connectionId: string
  readonly remoteAddr: Multiaddr
  sink: EventSink | undefined
  /** Users this session looked up: it is told when they come and go. */
  readonly watching: Set<string>
}

export interface StartResult {
  session: Session
  /** The user had a session already (now replaced by this one, or this one itself). */
  wasOnline: boolean
  /** That session was on another connection (another device holding the same identity, or
   * this one on a new connection): it has been told `session-replaced` and closed. */
  replaced: boolean
}

export class Sessions {
  readonly #byPeer = new Map<string, Session>()
  readonly #byUser = new Map<string, Session>()

  /** Sign a connection in. A session of the same user on another connection is replaced: its
   * events stream is told `session-replaced` and closed. The same connection signing in again
   * keeps its events stream. */
  start (peerId: string, username: string, connectionId: string, remoteAddr: Multiaddr): StartResult {
    const old = this.#byUser.get(username) ?? this.#byPeer.get(peerId)
    if (old !== undefined && old.connectionId === connectionId && old.username === username) {
      return { session: old, wasOnline: true, replaced: false }
    }
    if (old !== undefined) this.#remove(old)
    const session: Session = { peerId, username, connectionId, remoteAddr, sink: undefined, watching: new Set() }
    this.#byPeer.set(peerId, session)
    this.#byUser.set(username, session)
    old?.sink?.close({ type: 'session-replaced' })
    return { session, wasOnline: old !== undefined, replaced: old !== undefined }
  }

  get (peerId: string): Session | undefined {
    return this.#byPeer.get(peerId)
  }

  byUsername (username: string): Session | undefined {
    return this.#byUser.get(username)
  }

  isOnline (username: string): boolean {
    return this.#byUser.has(username)
  }

  online (): string[] {
    return [...this.#byUser.keys()]
  }

  /** End `peerId`'s session, if it is still `expected` (when given). Returns the ended session. */
  end (peerId: string, expected?: Session): Session | undefined {
    const session = this.#byPeer.get(peerId)
    if (session === undefined || (expected !== undefined && session !== expected)) return undefined
    this.#remove(session)
    session.sink?.close()
    return session
  }

  /** Attach an events stream; a previous one of the same session is closed. */
  attach (session: Session, sink: EventSink): void {
    const previous = session.sink
    session.sink = sink
    previous?.close()
  }

  /** Detach `sink` if it is still the session's: true if it was. */
  detach (session: Session, sink: EventSink): boolean {
    if (session.sink !== sink) return false
    session.sink = undefined
    return true
  }

  watch (session: Session, username: string): void {
    if (username === session.username || session.watching.has(username)) return
    if (session.watching.size >= MAX_WATCHED_PER_SESSION) {
      const oldest = session.watching.values().next().value
      if (oldest !== undefined) session.watching.delete(oldest)
    }
    session.watching.add(username)
  }

  /** Online users watching `username` (they looked it up). */
  watchersOf (username: string): string[] {
    const out: string[] = []
    for (const session of this.#byUser.values()) {
      if (session.watching.has(username)) out.push(session.username)
    }
    return out
  }

  /** Send `event` to each of `usernames` that is online with an events stream. */
  notify (usernames: Iterable<string>, event: ServerEvent): void {
    for (const username of new Set(usernames)) this.#byUser.get(username)?.sink?.send(event)
  }

  /** End every session (server stopping). */
  clear (): void {
    for (const session of [...this.#byPeer.values()]) this.end(session.peerId)
  }

  #remove (session: Session): void {
    if (this.#byPeer.get(session.peerId) === session) this.#byPeer.delete(session.peerId)
    if (this.#byUser.get(session.username) === session) this.#byUser.delete(session.username)
  }
}
