import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { generateEphemeralKeyPair, x25519SharedSecret } from '../../../common/crypto/x25519.ts'
import { deriveDirectSessionKeys } from '../../../common/crypto/session.ts'
import { openFrame, sealFrame } from '../../../common/crypto/tdes.ts'
import { openChunk, sealChunk } from '../../../common/crypto/chunks.ts'

const INTEGRITY = { name: 'ParleyError', code: 'ERR_INTEGRITY' }
const MALFORMED = { name: 'ParleyError', code: 'ERR_MALFORMED' }
const ALICE = '12D3KooWAliceAliceAliceAliceAliceAliceAliceAlice'
const BOB = '12D3KooWBobBobBobBobBobBobBobBobBobBobBobBobBobB'

/** A full handshake the way two peers run it: each side only sees the other's public key. */
function handshake (initiatorPeerId = ALICE, responderPeerId = BOB) {
  const i = generateEphemeralKeyPair()
  const r = generateEphemeralKeyPair()
  const common = { initiatorEphemeral: i.publicKey, responderEphemeral: r.publicKey, initiatorPeerId, responderPeerId }
  const initiator = deriveDirectSessionKeys({ ...common, sharedSecret: x25519SharedSecret(i.privateKey, r.publicKey), role: 'initiator' })
  const responder = deriveDirectSessionKeys({ ...common, sharedSecret: x25519SharedSecret(r.privateKey, i.publicKey), role: 'responder' })
  return { initiator, responder, i, r }
}

const ad = new TextEncoder().encode('MSG')
const text = new TextEncoder().encode('Hello Bob, this is the whole message, not just its first word')

describe('direct session key schedule', () => {
  test('initiator → responder: what one side sends, the other opens', () => {
    const { initiator, responder } = handshake()
    assert.deepEqual(initiator.send, responder.receive)
    assert.deepEqual(openFrame(responder.receive, 0n, ad, sealFrame(initiator.send, 0n, ad, text)), text)
  })

  test('responder → initiator: the other direction works too', () => {
    const { initiator, responder } = handshake()
    assert.deepEqual(responder.send, initiator.receive)
    assert.deepEqual(openFrame(initiator.receive, 0n, ad, sealFrame(responder.send, 0n, ad, text)), text)
  })

  test('file secrets agree per direction and carry file chunks both ways', () => {
    const { initiator, responder } = handshake()
    assert.equal(initiator.fileSecret.length, 32)
    assert.deepEqual(initiator.fileSecret, responder.peerFileSecret)
    assert.deepEqual(responder.fileSecret, initiator.peerFileSecret)
    const chunk = sealChunk(initiator.fileSecret, 0, true, ad, text)
    assert.deepEqual(openChunk(responder.peerFileSecret, 0, true, ad, chunk), text)
  })

  test('the two directions use different keys, so a frame reflected back to its sender fails', () => {
    const { initiator } = handshake()
    assert.notDeepEqual(initiator.send.encKey, initiator.receive.encKey)
    assert.notDeepEqual(initiator.send.macKey, initiator.receive.macKey)
    assert.notDeepEqual(initiator.fileSecret, initiator.peerFileSecret)
    const sealed = sealFrame(initiator.send, 0n, ad, text)
    assert.throws(() => openFrame(initiator.receive, 0n, ad, sealed), INTEGRITY)
  })

  test('every new session has new keys, even between the same two peers', () => {
    const a = handshake()
    const b = handshake()
    assert.notDeepEqual(a.initiator.send.encKey, b.initiator.send.encKey)
    const sealed = sealFrame(a.initiator.send, 0n, ad, text)
    assert.throws(() => openFrame(b.responder.receive, 0n, ad, sealed), INTEGRITY)
  })

  test('keys are bound to the peer ids and to the ephemeral keys', () => {
    const { i, r, initiator } = handshake()
    const sharedSecret = x25519SharedSecret(i.privateKey, r.publicKey)
    const base = { sharedSecret, initiatorEphemeral: i.publicKey, responderEphemeral: r.publicKey, initiatorPeerId: ALICE, responderPeerId: BOB, role: 'initiator' as const }
    assert.deepEqual(deriveDirectSessionKeys(base), initiator)
    assert.notDeepEqual(deriveDirectSessionKeys({ ...base, responderPeerId: ALICE + 'x' }).send, initiator.send)
    assert.notDeepEqual(deriveDirectSessionKeys({ ...base, initiatorPeerId: BOB, responderPeerId: ALICE }).send, initiator.send)
    assert.notDeepEqual(deriveDirectSessionKeys({ ...base, initiatorEphemeral: r.publicKey, responderEphemeral: i.publicKey }).send, initiator.send)
  })

  test('rejects inputs of the wrong length, and peer ids that would make the info ambiguous', () => {
    const { i, r } = handshake()
    const base = { sharedSecret: new Uint8Array(32), initiatorEphemeral: i.publicKey, responderEphemeral: r.publicKey, initiatorPeerId: ALICE, responderPeerId: BOB, role: 'initiator' as const }
    assert.throws(() => deriveDirectSessionKeys({ ...base, sharedSecret: new Uint8Array(31) }), MALFORMED)
    assert.throws(() => deriveDirectSessionKeys({ ...base, initiatorEphemeral: new Uint8Array(33) }), MALFORMED)
    assert.throws(() => deriveDirectSessionKeys({ ...base, initiatorPeerId: 'a|b' }), MALFORMED)
    assert.throws(() => deriveDirectSessionKeys({ ...base, responderPeerId: '' }), MALFORMED)
  })
})
