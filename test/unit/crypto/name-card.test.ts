import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair, privateKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MAX_NAME_CARD_BYTES, NAME_CARD_CLOCK_SKEW_MS, NAME_CARD_TTL_MS, NameCardIssuer, readNameCard } from '../../../common/crypto/name-card.ts'
import { decodeBody, encodeBody, bytes } from '../../../common/wire/codec.ts'

/** RFC 8032 §7.1, TEST 1: the secret key (seed) and its public key. */
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'
const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'

const NOW = 1_800_000_000_000

describe('name cards', () => {
  it('an issuer made from a libp2p Ed25519 key (RFC 8032 test 1) signs cards that verify under that key\'s peer id', () => {
    const identity = privateKeyFromRaw(Buffer.from(RFC8032_SEED + RFC8032_PUBLIC, 'hex'))
    assert.equal(Buffer.from(identity.publicKey.raw).toString('hex'), RFC8032_PUBLIC)
    const issuer = new NameCardIssuer(identity)
    assert.equal(issuer.peerId, peerIdFromPrivateKey(identity).toString())
    const holder = '12D3KooWJnKNAegFWvp8h4up7hvMnWqSgA7XDfXGqcXhcmewo1t4'
    const card = issuer.issue('alice', holder, NOW)
    assert.ok(card.length <= MAX_NAME_CARD_BYTES)
    assert.equal(readNameCard(card, issuer.peerId, holder, NOW), 'alice')
  })

  it('vouches only for its holder, only under its issuer, and only until it expires (with clock skew)', async () => {
    const issuer = new NameCardIssuer(await generateKeyPair('Ed25519'))
    const other = new NameCardIssuer(await generateKeyPair('Ed25519'))
    const holder = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const card = issuer.issue('alice', holder, NOW)
    const expires = NOW + NAME_CARD_TTL_MS
    assert.equal(readNameCard(card, issuer.peerId, holder, NOW), 'alice')
    assert.equal(readNameCard(card, issuer.peerId, stranger, NOW), undefined, 'shown by another peer')
    assert.equal(readNameCard(card, other.peerId, holder, NOW), undefined, 'another rendezvous')
    assert.equal(readNameCard(other.issue('alice', holder, NOW), issuer.peerId, holder, NOW), undefined, 'signed by another rendezvous')
    assert.equal(readNameCard(card, issuer.peerId, holder, expires + NAME_CARD_CLOCK_SKEW_MS), 'alice', 'a clock a little ahead')
    assert.equal(readNameCard(card, issuer.peerId, holder, expires + NAME_CARD_CLOCK_SKEW_MS + 1), undefined, 'expired')
  })

  it('a changed statement or signature, garbage, an oversized card or a bad issuer id vouch for nobody, and never throw', async () => {
    const issuer = new NameCardIssuer(await generateKeyPair('Ed25519'))
    const holder = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const card = issuer.issue('alice', holder, NOW)
    const parts = decodeBody({ statement: bytes(256), signature: bytes(64) }, card)
    const flip = (data: Uint8Array, at: number): Uint8Array => { const out = new Uint8Array(data); out[at] = (out[at] ?? 0) ^ 1; return out }
    // The statement re-signed nowhere: a longer expiry written over the signed one.
    const longer = encodeBody({ username: 'alice', peerId: holder, expires: NOW + 10 * NAME_CARD_TTL_MS })
    for (const [what, forged] of [
      ['a flipped statement bit', encodeBody({ statement: flip(parts.statement, 5), signature: parts.signature })],
      ['a flipped signature bit', encodeBody({ statement: parts.statement, signature: flip(parts.signature, 10) })],
      ['a statement it did not sign', encodeBody({ statement: longer, signature: parts.signature })],
      ['garbage', new Uint8Array([0xff, 0x00, 0x13])],
      ['empty', new Uint8Array(0)],
      ['oversized', new Uint8Array(MAX_NAME_CARD_BYTES + 1)]
    ] as const) {
      assert.equal(readNameCard(forged, issuer.peerId, holder, NOW), undefined, what)
    }
    assert.equal(readNameCard(card, 'not-a-peer-id', holder, NOW), undefined, 'garbage issuer id')
  })

  it('a signed statement whose name is not a valid username vouches for nobody', async () => {
    const issuer = new NameCardIssuer(await generateKeyPair('Ed25519'))
    const holder = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const card = issuer.issue('Not A Name!', holder, NOW)
    assert.equal(readNameCard(card, issuer.peerId, holder, NOW), undefined)
  })
})
