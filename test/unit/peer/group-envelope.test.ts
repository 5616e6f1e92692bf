import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import { checkSender, keyOfSender } from '../../../peer/groups/envelope.ts'
import { refusedQuietly } from '../../../peer/groups/membership-races.ts'
import type { SignedInUser } from '../../../peer/signed-in.ts'

/** The keyring's view of one group as the rendezvous answers it (or refuses it). */
function keysAnswering (info: () => Promise<{ members: Array<{ username: string }> }>): SignedInUser['keys'] {
  return { listForSender: info, keyForSender: info, acceptHandedKey: async () => { throw new Error('unused') } } as unknown as SignedInUser['keys']
}

test('a group message from a member passes; from someone else it is refused as theirs', async () => {
  const keys = keysAnswering(async () => ({ members: [{ username: 'alice' }, { username: 'bob' }] }))
  await checkSender(keys, 'club', 'alice')
  await assert.rejects(checkSender(keys, 'club', 'mallory'), (err: unknown) => is(err, ErrorCode.Forbidden) && (err as Error).message === 'mallory is not a member of club')
})

test('after we left, the refusal says it is us who are no longer in the group, not the sender', async () => {
  // The rendezvous answers us "you are not a member"; until 2026-12-06 that reached the sender as
  // "refused by the recipient: you are not a member of big", about a sender who was one.
  const keys = keysAnswering(async () => { throw new ParleyError(ErrorCode.Forbidden, 'you are not a member of "big"') })
  await assert.rejects(checkSender(keys, 'big', 'hank'), (err: unknown) => is(err, ErrorCode.Forbidden) && (err as Error).message === 'the recipient is no longer in big')
})

test('after we left, a key a sender names is refused the same way, quietly: it is about us (round 50: a warning about the sender, on the member who had just left)', async () => {
  const keys = keysAnswering(async () => { throw new ParleyError(ErrorCode.Forbidden, 'you are not a member of "big"') })
  const refused = await keyOfSender(keys, 'big', 3, 'hank').then(() => undefined, (err: unknown) => err)
  assert.ok(is(refused, ErrorCode.Forbidden) && refused.message === 'the recipient is no longer in big' && refusedQuietly(refused), String(refused))
})
