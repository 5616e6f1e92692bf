/**
 * Who is signed in on this node, as the peer protocols see them. The protocols are served from
 * the moment the node listens, before sign-in: the rendezvous announces us online as the sign-in
 * completes, and a peer that dials at once must find a handler. Its stream waits here (at most
 * one step) for the session that is opening; with nobody signed in by then it is refused.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts'
import { STEP_TIMEOUT_MS } from './constants.ts'
import type { Inbox } from './inbox.ts'
import type { GroupKeyring } from './groups/keyring.ts'
import type { Username } from '../common/wire/names.ts'

/** What the protocols need of the signed-in user: where arrivals go and the group keys. */
export interface SignedInUser {
  username: Username
  inbox: Pick<Inbox, 'senderOf' | 'blockedRefusal' | 'whileUnblocked' | 'takeText' | 'hasFile' | 'onFile' | 'onInboundError'>
  keys: Pick<GroupKeyring, 'acceptHandedKey' | 'info' | 'keyForSender' | 'whileMember' | 'listForSender'>
  downloadsDir: string
  /** Aborted at sign-out: every direct session served for this user ends with it. */
  signal: AbortSignal
  /** Our name card to show in the hello of a direct stream we open, if we hold a fresh one. */
  nameCard: () => Uint8Array | undefined
  /** Inbound work served for this user (transport/inbound.ts): the sign-out waits, a moment at
   * most, for it to end, so what it has to say (a file cut by the sign-out, its kept part) is
   * said and stored before the program goes. None where no session signs out (tests, benches). */
  track?: (work: Promise<unknown>) => void
}

/** The protocols' port: the signed-in user now, or after a short wait. */
export interface SignedInPort {
  /** The signed-in user; without one (signed out) ERR_UNREACHABLE at once: outbound work,
   * which stays queued for the next sign-in. */
  now: () => SignedInUser
  /** The signed-in user, waiting at most one step for a sign-in that is opening (inbound streams). */
  next: () => Promise<SignedInUser>
}

export class SignedInGate implements SignedInPort {
  #user: SignedInUser | undefined
  readonly #waiters = new Set<(user: SignedInUser) => void>()

  /** A session is open: streams waiting for one go to it. Its signal closes the gate again. */
  open (user: SignedInUser): void {
    if (user.signal.aborted) return
    this.#user = user
    user.signal.addEventListener('abort', () => { if (this.#user === user) this.#user = undefined }, { once: true })
    for (const waiter of this.#waiters) waiter(user)
  }

  now (): SignedInUser {
    if (this.#user === undefined) throw new ParleyError(ErrorCode.Unreachable, 'signed out')
    return this.#user
  }

  async next (): Promise<SignedInUser> {
    if (this.#user !== undefined) return this.#user
    return await new Promise<SignedInUser>((resolve, reject) => {
      const done = (user: SignedInUser | undefined): void => {
        clearTimeout(timer)
        this.#waiters.delete(done)
        if (user === undefined) reject(notSignedIn())
        else resolve(user)
      }
      const timer = setTimeout(() => { done(undefined) }, STEP_TIMEOUT_MS)
      this.#waiters.add(done)
    })
  }
}

function notSignedIn (): ParleyError {
  return new ParleyError(ErrorCode.NotSignedIn, 'nobody is signed in here')
}
