import { test } from 'node:test'
import assert from 'node:assert/strict'
import { drawsPrompt } from '../../../peer/cli/prompt.ts'

test('a prompt is drawn for a person at a terminal, never with --json (round 43: `frank> {"event":…}`)', () => {
  const tty = { isTTY: true }
  const pipe = {}
  assert.equal(drawsPrompt(false, tty, tty), true)
  assert.equal(drawsPrompt(true, tty, tty), false, '--json on a terminal: its lines are for programs')
  assert.equal(drawsPrompt(false, pipe, tty), false, 'piped input')
  assert.equal(drawsPrompt(false, tty, pipe), false, 'output piped (| tee)')
})
