import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WeakMemo } from '../../../common/weak-memo.ts'

test('a WeakMemo makes each object\'s value once and gives the same value after', () => {
  let made = 0
  const memo = new WeakMemo<object, { n: number }>(() => ({ n: ++made }))
  const [a, b] = [{}, {}]
  const first = memo.get(a)
  assert.equal(memo.get(a), first)
  assert.notEqual(memo.get(b), first)
  assert.equal(made, 2)
})
