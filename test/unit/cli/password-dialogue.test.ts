import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import { askPassword, askPasswordChange } from '../../../peer/cli/password-dialogue.ts'
import type { AskHidden } from '../../../peer/cli/password-dialogue.ts'

/** A hidden prompt that answers in turn and notes each question with the reason said above it. */
function answering (...answers: string[]): { ask: AskHidden, asked: string[] } {
  const asked: string[] = []
  return {
    asked,
    ask: async (label, problem) => {
      asked.push(problem === undefined ? label : `${problem} | ${label}`)
      const answer = answers.shift()
      if (answer === undefined) throw new Error(`nothing left to answer ${label}`)
      return answer
    }
  }
}

test('SIGNUP asks again, with the reason, for a password too short (before Again:) or an Again: that differs', async () => {
  const { ask, asked } = answering('short', 'long enough 1', 'long enough 2', 'long enough 1', 'long enough 1')
  assert.equal(await askPassword(ask, true), 'long enough 1')
  assert.deepEqual(asked, [
    'Password: ',
    'choose a password of at least 8 characters | Password: ',
    'Again: ',
    'the two passwords differ | Password: ',
    'Again: '
  ])
})

test('it gives up after the third try, saying why and that nothing was done', async () => {
  const { ask, asked } = answering('short', 'tiny', 'wee')
  await assert.rejects(askPassword(ask, true), (err: unknown) => is(err, ErrorCode.Usage) &&
    (err as Error).message === 'choose a password of at least 8 characters (asked 3 times; nothing was done)')
  assert.equal(asked.length, 3)
})

test('LOGIN asks again only for an empty password, and once', async () => {
  const empty = answering('', 'any password')
  assert.equal(await askPassword(empty.ask, false), 'any password')
  assert.deepEqual(empty.asked, ['Password: ', 'no password was typed | Password: '])
  const short = answering('short')
  assert.equal(await askPassword(short.ask, false), 'short', 'an old account may have any password: the rendezvous says')
})

test('PASSWORD asks the current password (again only when empty), then the new one twice, held to the rule as SIGNUP\'s', async () => {
  const { ask, asked } = answering('', 'old secret', 'short', 'new secret 1', 'new secret 2', 'new secret 1', 'new secret 1')
  assert.deepEqual(await askPasswordChange(ask), { current: 'old secret', next: 'new secret 1' })
  assert.deepEqual(asked, [
    'Current password: ',
    'no password was typed | Current password: ',
    'New password: ',
    'choose a password of at least 8 characters | New password: ',
    'Again: ',
    'the two passwords differ | New password: ',
    'Again: '
  ])
})

test('PASSWORD checks the current password before it asks for the new one (round 47: asked twice, then told the first was wrong)', async () => {
  const { ask, asked } = answering('not it')
  await assert.rejects(askPasswordChange(ask, async current => { if (current !== 'old secret') throw new ParleyError(ErrorCode.BadCredentials, 'the current password is not right: the password was not changed') }),
    (err: unknown) => is(err, ErrorCode.BadCredentials))
  assert.deepEqual(asked, ['Current password: '], 'no new password asked for')
})

test('PASSWORD asks again at once for a new password that is the current one, before Again: (round 48: asked twice, then refused, and not asked again)', async () => {
  const { ask, asked } = answering('old secret', 'old secret', 'new secret 1', 'new secret 1')
  assert.deepEqual(await askPasswordChange(ask), { current: 'old secret', next: 'new secret 1' })
  assert.deepEqual(asked, [
    'Current password: ',
    'New password: ',
    'the new password is the current one: choose another | New password: ',
    'Again: '
  ])
})
