import { test } from 'node:test'
import assert from 'node:assert/strict'
import { throttledProgress, watchTransfer } from '../../../peer/files/progress.ts'

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

test('a transfer watch aborts when no chunk moves for its idle time, and each chunk restarts it', async () => {
  const watch = watchTransfer(80, () => {})
  for (let i = 0; i < 4; i++) {
    await new Promise(resolve => setTimeout(resolve, 40))
    watch.onProgress(i + 1, 10)
  }
  assert.equal(watch.signal.aborted, false, 'steady chunks keep it alive past its idle time')
  await new Promise(resolve => setTimeout(resolve, 150))
  assert.equal(watch.signal.aborted, true)
  assert.equal((watch.signal.reason as DOMException).name, 'TimeoutError')
  watch.done()
})
