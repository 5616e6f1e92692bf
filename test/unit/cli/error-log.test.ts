import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { unexpectedErrors } from '../../../peer/cli/error-log.ts'
import type { PeerEvent } from '../../../peer/events.ts'

test('a fault that repeats in a loop neither fills the disk nor floods the screen', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-errlog-'))
  try {
    const log = join(dir, 'data', 'errors.log')
    const printed: PeerEvent[] = []
    const report = unexpectedErrors({ print: event => { printed.push(event) }, close: () => {} }, log)
    const big = new Error('boom\n' + 'x'.repeat(64 * 1024))
    for (let i = 0; i < 5_000; i++) report(big)
    const size = (await stat(log)).size
    assert.ok(size <= 1024 * 1024 + 17 * 1024, `errors.log stays near its 1 MiB cap: ${size} bytes`)
    assert.equal(printed.length, 5, 'at most five lines a minute reach the person')
    const [first] = printed
    assert.ok(first?.event === 'error' && first.at !== undefined && Math.abs(first.at - Date.now()) < 60_000, 'it says when it happened')
    assert.deepEqual(first, { event: 'error', code: 'ERR_INTERNAL', message: `unexpected failure: boom (details in ${log})`, at: first.at })
    assert.match(await readFile(log, 'utf8'), /Error: boom/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('a report that fails while printing is not reported again (no loop through the handler)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-errlog-'))
  try {
    let calls = 0
    let report: (err: unknown) => void = () => {}
    report = unexpectedErrors({
      print: () => {
        calls++
        // The terminal is gone: printing fails and the failure comes straight back.
        report(new Error('EPIPE'))
        throw new Error('EPIPE')
      },
      close: () => {}
    }, join(dir, 'errors.log'))
    report(new Error('first'))
    assert.equal(calls, 1)
    const lines = (await readFile(join(dir, 'errors.log'), 'utf8')).trim().split('\n').filter(l => /^\d{4}-/.test(l))
    assert.equal(lines.length, 1, 'only the first failure is logged')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
