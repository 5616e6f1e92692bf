import { test } from 'node:test'
import assert from 'node:assert/strict'
import { throttledProgress } from '../../../peer/files/progress.ts'

test('progress is reported at most once per interval, and the final report always comes', () => {
  const seen: number[] = []
  const report = throttledProgress(bytes => { seen.push(bytes) }, 60_000)
  for (let bytes = 1; bytes <= 100; bytes++) report(bytes, 100)
  assert.deepEqual(seen, [1, 100])
})

test('with no interval every report passes', () => {
  const seen: number[] = []
  const report = throttledProgress(bytes => { seen.push(bytes) }, 0)
  for (let bytes = 1; bytes <= 5; bytes++) report(bytes, 5)
  assert.deepEqual(seen, [1, 2, 3, 4, 5])
})
