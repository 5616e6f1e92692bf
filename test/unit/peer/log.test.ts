import { afterEach, beforeEach, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCode, ParleyError } from '../../../common/errors.ts'
import { LOG_MAX_BYTES, flushLog, logger, writeLogTo } from '../../../peer/log.ts'

const LINE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z \S+ (warn|error) .*$/

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'parley-log-')) })
afterEach(async () => {
  writeLogTo(undefined)
  mock.timers.reset()
  await rm(dir, { recursive: true, force: true })
})

async function linesOf (file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  assert.ok(text.endsWith('\n'), 'every line is whole')
  return text.slice(0, -1).split('\n')
}

test('lines land in the file with time, namespace, level and the error code', async () => {
  const file = join(dir, 'data', 'parley.log')
  writeLogTo(file)
  logger('parley:outbox').warn('delivery to alice stays queued', new ParleyError(ErrorCode.Unreachable, 'alice is not reachable right now'))
  logger('parley:store').error('could not record the delivery')
  assert.equal(existsSync(file), false, 'nothing is written while the caller runs: the append waits for the loop')
  await flushLog()
  const lines = await linesOf(file)
  assert.equal(lines.length, 2)
  for (const line of lines) assert.match(line, LINE)
  assert.match(lines[0] ?? '', / parley:outbox warn delivery to alice stays queued: ERR_UNREACHABLE alice is not reachable right now$/)
  assert.match(lines[1] ?? '', / parley:store error could not record the delivery$/)
  assert.equal((await stat(file)).mode & 0o777, 0o600)
})

test('the file stops growing at its cap under 10,000 lines, with one line saying so', async () => {
  const file = join(dir, 'parley.log')
  writeLogTo(file)
  const log = logger('parley:outbox')
  for (let i = 0; i < 10_000; i++) log.warn(`delivery ${i} to bob stays queued: ${'x'.repeat(200)}`)
  await flushLog()
  const size = (await stat(file)).size
  assert.ok(size <= LOG_MAX_BYTES, `parley.log stays under its cap: ${size} bytes`)
  assert.ok(size > LOG_MAX_BYTES - 1024, 'and fills it')
  const lines = await linesOf(file)
  for (const line of lines) assert.match(line, LINE)
  assert.match(lines.at(-1) ?? '', / parley:log warn this file is full/)

  // A later run on the same folder adds nothing to a full file.
  writeLogTo(file)
  logger('parley:session').warn('reconnect failed')
  await flushLog()
  assert.equal((await stat(file)).size, size)
})

test('a failing disk write does not throw, and the caller never waits for it', async () => {
  const blocker = join(dir, 'not-a-folder')
  await writeFile(blocker, '')
  writeLogTo(join(blocker, 'parley.log')) // ENOTDIR on every write
  const log = logger('parley:outbox')
  assert.doesNotThrow(() => {
    for (let i = 0; i < 100; i++) log.error(`write ${i} failed`, new Error('disk gone'))
  })
  await flushLog() // settles, does not reject
  assert.equal(existsSync(join(blocker, 'parley.log')), false)
})

test('escapes in a remote string are neutralised: no terminal control and no forged line', async () => {
  const file = join(dir, 'parley.log')
  writeLogTo(file)
  const remote = 'mallory\x1b[2K\r\n2026-01-01T00:00:00.000Z parley:outbox error forged\u202e\x07'
  logger('parley:directory').warn(`look-up of ${remote} failed`, new ParleyError(ErrorCode.Protocol, `refused by \x1b]52;c;evil\x07${remote}`))
  await flushLog()
  const text = await readFile(file, 'utf8')
  const lines = await linesOf(file)
  assert.equal(lines.length, 1, 'the newline inside did not start a line')
  assert.doesNotMatch(text.slice(0, -1), /[\x00-\x1f\x7f-\x9f\u202e]/u, 'no control or bidi character reaches the file')
  assert.ok(text.includes('mallory\\x1b[2K\\x0d\\x0a2026'), 'shown as visible escapes instead')
  assert.ok(text.includes('\\u202e'))
})

test('the same line again within ten minutes is counted, not written', async () => {
  mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-12-04T12:00:00Z') })
  const file = join(dir, 'parley.log')
  writeLogTo(file)
  const log = logger('parley:outbox')
  for (let i = 0; i < 20; i++) {
    log.warn('delivery to bob stays queued', new ParleyError(ErrorCode.Unreachable, 'bob is not reachable right now'))
    mock.timers.tick(30_000)
  }
  log.warn('delivery to carol stays queued') // another line is written at once
  mock.timers.tick(1_000)
  log.warn('delivery to bob stays queued', new ParleyError(ErrorCode.Unreachable, 'bob is not reachable right now'))
  await flushLog()
  const lines = await linesOf(file)
  assert.equal(lines.length, 3)
  assert.match(lines[1] ?? '', /delivery to carol/)
  assert.match(lines[2] ?? '', /bob is not reachable right now \(and 19 times more in the 10 minutes before\)$/)
})

test('without a file (tests, the benchmark) logging is a no-op', async () => {
  writeLogTo(undefined)
  assert.doesNotThrow(() => { logger('parley:outbox').error('nowhere', new Error('x')) })
  await flushLog()
})
