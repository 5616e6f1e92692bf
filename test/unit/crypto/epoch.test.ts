import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { epochStatement, keyCommitment, keyMatchesCommitment, verifyEpochSignature } from '../../../common/crypto/epoch.ts'
import { newGroupKey } from '../../../common/crypto/group.ts'

describe('signed group epochs', () => {
  it('a key matches only its own commitment, for its own group and epoch', () => {
    const key = newGroupKey()
    const commitment = keyCommitment(key, 'friends', 3)
    assert.equal(commitment.length, 32)
    assert.ok(keyMatchesCommitment(key, 'friends', 3, commitment))
    assert.ok(!keyMatchesCommitment(newGroupKey(), 'friends', 3, commitment), 'another key')
    assert.ok(!keyMatchesCommitment(key, 'friends', 4, commitment), 'another epoch')
    assert.ok(!keyMatchesCommitment(key, 'friendz', 3, commitment), 'another group')
    assert.ok(!keyMatchesCommitment(key.subarray(1), 'friends', 3, commitment), 'a short key')
    assert.deepEqual(keyCommitment(key, 'friends', 3), commitment, 'deterministic')
  })

  it('the maker\'s Ed25519 signature verifies under its peer id, and nothing else does', async () => {
    const maker = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const makerId = peerIdFromPrivateKey(maker).toString()
    const commitment = keyCommitment(newGroupKey(), 'friends', 1)
    const signature = await maker.sign(epochStatement('friends', 1, commitment))
    assert.ok(verifyEpochSignature(makerId, 'friends', 1, commitment, signature))
    assert.ok(!verifyEpochSignature(peerIdFromPrivateKey(other).toString(), 'friends', 1, commitment, signature), 'another identity')
    assert.ok(!verifyEpochSignature(makerId, 'friends', 2, commitment, signature), 'another epoch')
    assert.ok(!verifyEpochSignature(makerId, 'friendz', 1, commitment, signature), 'another group')
    const flipped = new Uint8Array(signature)
    flipped[10] = (flipped[10] ?? 0) ^ 1
    assert.ok(!verifyEpochSignature(makerId, 'friends', 1, commitment, flipped), 'a flipped bit')
    assert.ok(!verifyEpochSignature(makerId, 'friends', 1, keyCommitment(newGroupKey(), 'friends', 1), signature), 'another commitment')
    assert.ok(!verifyEpochSignature('not-a-peer-id', 'friends', 1, commitment, signature), 'garbage peer id')
    assert.ok(!verifyEpochSignature(makerId, 'friends', 1, commitment, signature.subarray(1)), 'short signature')
  })

  it('the statement separates group and epoch unambiguously', () => {
    const c = new Uint8Array(32)
    assert.notDeepEqual(epochStatement('a1', 2, c), epochStatement('a', 12, c))
    assert.throws(() => epochStatement('g', 0, c), /epoch/)
    assert.throws(() => epochStatement('g', 1, new Uint8Array(31)), /32 bytes/)
  })
})
