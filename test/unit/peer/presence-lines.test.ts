/**
 * Presence lines (peer/presence-lines.ts): at most one per user per hold, the change that stands
 * at its end said then, so an account signing in and out in a loop cannot fill its contacts'
 * screens (round 48: 248 lines in 30 s).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { PresenceLines } from '../../../peer/presence-lines.ts'

const HOLD_MS = 100

test('a user flapping is said once per hold, ending as it stands; another user is not held back', async () => {
  const said: string[] = []
  const lines = new PresenceLines((user, online) => { said.push(`${user} ${online ? 'online' : 'offline'}`) }, () => false, HOLD_MS)
  lines.change('mallory', false)
  for (let i = 0; i < 50; i++) lines.change('mallory', i % 2 === 0)
  lines.change('bob', true)
  assert.deepEqual(said, ['mallory offline', 'bob online'])
  await sleep(HOLD_MS * 1.5)
  // The last change (i = 49: offline) is what was said: nothing more.
  assert.deepEqual(said, ['mallory offline', 'bob online'])
  lines.change('mallory', true)
  lines.change('mallory', false)
  assert.deepEqual(said, ['mallory offline', 'bob online', 'mallory online'], 'said at once after a quiet hold')
  await sleep(HOLD_MS * 1.5)
  assert.deepEqual(said, ['mallory offline', 'bob online', 'mallory online', 'mallory offline'], 'a change that stands at the hold\'s end is said then')
  lines.stop()
})

test('what is held when the session ends is never said', async () => {
  const said: string[] = []
  const lines = new PresenceLines((user, online) => { said.push(`${user} ${String(online)}`) }, () => false, HOLD_MS)
  lines.change('bob', false)
  lines.change('bob', true)
  lines.stop()
  await sleep(HOLD_MS * 1.5)
  assert.deepEqual(said, ['bob false'])
})

test('a user blocked while a change of theirs is held: not said when the hold ends (round 49)', async () => {
  const said: string[] = []
  const blocked = new Set<string>()
  const lines = new PresenceLines((user, online) => { said.push(`${user} ${String(online)}`) }, user => blocked.has(user), HOLD_MS)
  lines.change('bob', false)
  lines.change('bob', true)
  blocked.add('bob')
  await sleep(HOLD_MS * 1.5)
  lines.change('bob', false)
  assert.deepEqual(said, ['bob false'])
  lines.stop()
})
