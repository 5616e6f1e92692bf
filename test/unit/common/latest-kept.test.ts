import { test } from 'node:test'
import assert from 'node:assert/strict'
import { keepLatest } from '../../../common/latest-kept.ts'

test('keepLatest keeps the latest entries: one set again becomes the latest, the oldest goes past the most', () => {
  const map = new Map<string, number>()
  for (const [key, value] of [['a', 1], ['b', 2], ['c', 3]] as const) keepLatest(map, key, value, 3)
  keepLatest(map, 'a', 4, 3)
  assert.deepEqual([...map], [['b', 2], ['c', 3], ['a', 4]])
  keepLatest(map, 'd', 5, 3)
  assert.deepEqual([...map], [['c', 3], ['a', 4], ['d', 5]])
})
