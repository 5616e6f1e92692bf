import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { GROUP_KEY_BYTES, groupAckKeys, groupFileSecret, groupMessageKeys, newGroupKey, newMessageNonce } from '../../../common/crypto/group.ts'
import { openFrame, sealFrame } from '../../../common/crypto/tdes.ts'

const INTEGRITY = { name: 'ParleyError', code: 'ERR_INTEGRITY' }
const ad = new TextEncoder().encode('GROUP friends')
const text = new TextEncoder().encode('hi all')

describe('group keys', () => {
  test('a group key is 24 fresh random bytes and a message nonce 16', () => {
    const key = newGroupKey()
    assert.equal(GROUP_KEY_BYTES, 24)
    assert.equal(key.length, 24)
    assert.notDeepEqual(key, newGroupKey())
    assert.equal(newMessageNonce().length, 16)
    assert.notDeepEqual(newMessageNonce(), newMessageNonce())
  })

  test('every member derives the same per-message keys and opens the message', () => {
    const key = newGroupKey()
    const nonce = newMessageNonce()
    const sender = groupMessageKeys(key, nonce, 'friends', 3)
    const member = groupMessageKeys(Uint8Array.from(key), Uint8Array.from(nonce), 'friends', 3)
    assert.equal(sender.encKey.length, 24)
    assert.equal(sender.macKey.length, 32)
    assert.deepEqual(openFrame(member, 0n, ad, sealFrame(sender, 0n, ad, text)), text)
  })

  test('keys differ per message nonce, group, epoch and group key, so a message cannot be moved', () => {
    const key = newGroupKey()
    const nonce = newMessageNonce()
    const sealed = sealFrame(groupMessageKeys(key, nonce, 'friends', 3), 0n, ad, text)
    for (const other of [
      groupMessageKeys(key, newMessageNonce(), 'friends', 3),
      groupMessageKeys(key, nonce, 'family', 3),
      groupMessageKeys(key, nonce, 'friends', 4),
      groupMessageKeys(newGroupKey(), nonce, 'friends', 3),
    ]) {
      assert.throws(() => openFrame(other, 0n, ad, sealed), INTEGRITY)
    }
  })

  test('the file secret is 32 bytes and unrelated to the message keys', () => {
    const key = newGroupKey()
    const nonce = newMessageNonce()
    const secret = groupFileSecret(key, nonce, 'friends', 3)
    const keys = groupMessageKeys(key, nonce, 'friends', 3)
    assert.equal(secret.length, 32)
    assert.notDeepEqual(secret.subarray(0, 24), keys.encKey)
    // No group name can make a message label collide with a file label.
    const lookalike = groupMessageKeys(key, nonce, '-file/friends', 3)
    assert.notDeepEqual(secret.subarray(0, 24), lookalike.encKey)
  })

  test('rejects a group key, nonce or epoch of the wrong shape as malformed', () => {
    const nonce = newMessageNonce()
    assert.throws(() => groupMessageKeys(new Uint8Array(16), nonce, 'friends', 1), { code: 'ERR_MALFORMED' })
    assert.throws(() => groupMessageKeys(newGroupKey(), new Uint8Array(8), 'friends', 1), { code: 'ERR_MALFORMED' })
    assert.throws(() => groupMessageKeys(newGroupKey(), nonce, 'friends', -1), { code: 'ERR_MALFORMED' })
  })
})

test('ACK keys of a group message differ from its message keys, so a frame cannot be reflected', () => {
  const key = newGroupKey()
  const nonce = newMessageNonce()
  const message = groupMessageKeys(key, nonce, 'friends', 1)
  const ack = groupAckKeys(key, nonce, 'friends', 1)
  assert.notDeepEqual(Buffer.from(ack.encKey), Buffer.from(message.encKey))
  assert.notDeepEqual(Buffer.from(ack.macKey), Buffer.from(message.macKey))
})
