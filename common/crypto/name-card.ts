/**
 * Name cards (issue 11): the rendezvous's signed statement "peer id P is user U, until T". A
 * peer shows its card in the hello of every direct stream it opens, and the receiver learns who
 * is behind the Noise-authenticated peer id from the card alone, checked against the rendezvous
 * it pinned (peer/rendezvous-pin.ts), instead of asking that rendezvous (`whois`): one round trip
 * to the rendezvous and one request there fewer on every first contact, and a first contact that
 * works while the rendezvous is briefly away. Without a valid card the receiver asks, as before.
 *
 * A card names a peer id, and Noise proves the stream comes from that peer id's key, so a card
 * shown by anyone else is worthless; it is public, like the directory's answer it replaces. It
 * expires after NAME_CARD_TTL_MS, so a binding the rendezvous has dropped is not vouched for
 * long after; the holder asks for a new one at half that (peer/name-card.ts).
 *
 * Wire form: CBOR `{ statement, signature }`; `statement` is CBOR `{ username, peerId, expires }`
 * (ms since 1970, by the rendezvous's clock); `signature` is Ed25519 (RFC 8032) by the
 * rendezvous's identity key over NAME_CARD_LABEL || statement.
 */
import { createPrivateKey, sign, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { malformed } from '../errors.ts'
import { bytes, decodeBody, encodeBody, named, str, uint } from '../wire/codec.ts'
import { MAX_NAME_LENGTH } from '../wire/limits.ts'
import { NAME_PATTERN, toUsername } from '../wire/names.ts'
import type { Username } from '../wire/names.ts'
import { SIGNATURE_BYTES } from './epoch.ts'
import { ed25519KeyOfPeerId } from './public-key.ts'

/** How long a card vouches for its holder. */
export const NAME_CARD_TTL_MS = 60 * 60_000
/** How far the receiver's clock may run ahead of the rendezvous's and still take a card. */
export const NAME_CARD_CLOCK_SKEW_MS = 5 * 60_000
export const MAX_NAME_CARD_BYTES = 384

const NAME_CARD_LABEL = new TextEncoder().encode('parley/name-card/1\n')
const MAX_STATEMENT_BYTES = 256
const statementSchema = { username: named(toUsername, MAX_NAME_LENGTH, NAME_PATTERN), peerId: str(128, 1), expires: uint() }
const cardSchema = { statement: bytes(MAX_STATEMENT_BYTES, 1), signature: bytes(SIGNATURE_BYTES, SIGNATURE_BYTES) }

/** The rendezvous's side: cards signed with its libp2p identity key (Ed25519). */
export class NameCardIssuer {
  /** Whose signature the cards carry: receivers check it against the rendezvous they pinned. */
  readonly peerId: string
  readonly #key: KeyObject

  constructor (identity: PrivateKey) {
    if (identity.type !== 'Ed25519') throw malformed('name cards are signed with an Ed25519 identity')
    // libp2p's raw Ed25519 private key is the 32-byte seed followed by the public key.
    const raw = identity.raw
    const base64url = (part: Uint8Array): string => Buffer.from(part).toString('base64url')
    this.#key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: base64url(raw.subarray(0, 32)), x: base64url(raw.subarray(32, 64)) }, format: 'jwk' })
    this.peerId = peerIdFromPrivateKey(identity).toString()
  }

  /** A card for `username` at `peerId`, valid for NAME_CARD_TTL_MS from `now`. */
  issue (username: string, peerId: string, now = Date.now()): Uint8Array {
    const statement = encodeBody({ username, peerId, expires: now + NAME_CARD_TTL_MS })
    return encodeBody({ statement, signature: sign(null, labelled(statement), this.#key) })
  }
}

/**
 * The username `card` vouches for, if it is a card of `issuerPeerId`'s (our rendezvous), for
 * `holderPeerId` (the stream's authenticated peer), not expired at `now`; else undefined (the
 * caller asks the rendezvous instead). Never throws: a card is only ever a shortcut.
 */
export function readNameCard (card: Uint8Array, issuerPeerId: string, holderPeerId: string, now = Date.now()): Username | undefined {
  try {
    const { statement, signature } = decodeBody(cardSchema, card, MAX_NAME_CARD_BYTES)
    if (!verify(null, labelled(statement), issuerKey(issuerPeerId), signature)) return undefined
    const claim = decodeBody(statementSchema, statement, MAX_STATEMENT_BYTES)
    if (claim.peerId !== holderPeerId || now > claim.expires + NAME_CARD_CLOCK_SKEW_MS) return undefined
    return claim.username
  } catch {
    return undefined
  }
}

function labelled (statement: Uint8Array): Uint8Array {
  const out = new Uint8Array(NAME_CARD_LABEL.length + statement.length)
  out.set(NAME_CARD_LABEL)
  out.set(statement, NAME_CARD_LABEL.length)
  return out
}

/** The issuer's public key, imported once: a peer pins one rendezvous, so one entry does. */
let lastIssuer: { peerId: string, key: KeyObject } | undefined

function issuerKey (peerId: string): KeyObject {
  if (lastIssuer?.peerId === peerId) return lastIssuer.key
  lastIssuer = { peerId, key: ed25519KeyOfPeerId(peerId) }
  return lastIssuer.key
}
