/**
 * The outbox over a real store: which refusals are tried again and which are given up.
 */
import { afterEach, beforeEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCode, ParleyError } from '../../../common/errors.ts'
import type { Directory } from '../../../peer/directory.ts'
import type { PeerEvent } from '../../../peer/events.ts'
import { Outbox } from '../../../peer/outbox.ts'
import { PeerStore } from '../../../peer/store/store.ts'

/** Bob is online at a known address; the directory has nothing else to say. */
const directory = {
  pinned: () => undefined,
  resolve: async (username: string) => ({ username, peerId: 'bob-peer-id', addrs: [], online: true })
} as unknown as Directory

describe('outbox', () => {
  let dir: string
  let store: PeerStore
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-outbox-'))
    store = new PeerStore(join(dir, 'store.sqlite'), randomBytes(32))
  })
  afterEach(async () => {
    store.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** Queue one group text for bob, then flush `runs` times with every delivery refused with `code`. */
  const refusedRuns = async (code: ErrorCode, runs: number): Promise<{ attempts: number, events: PeerEvent[] }> => {
    const events: PeerEvent[] = []
    let attempts = 0
    const outbox = new Outbox(store, directory, event => { events.push(event) }, {
      deliver: async () => {
        attempts++
        throw new ParleyError(code, 'refused by the recipient')
      },
      connected: () => false
    })
    await outbox.submit(null, [{ id: randomBytes(16).toString('hex'), recipient: 'bob', group: 'club', kind: 'text', body: 'hi', created: Date.now() }])
    await outbox.idle()
    for (let i = 1; i < runs; i++) {
      outbox.flush('bob')
      await outbox.idle()
    }
    outbox.stop()
    return { attempts, events }
  }

  test('a delivery the recipient cannot open (ERR_INTEGRITY) is given up after five tries and reported', async () => {
    const { attempts, events } = await refusedRuns(ErrorCode.Integrity, 10)
    assert.equal(attempts, 5)
    assert.equal(store.outboxSize(), 0)
    const errors = events.filter(e => e.event === 'error')
    assert.equal(errors.length, 1)
    assert.match(errors[0]?.event === 'error' ? errors[0].message : '', /could not deliver to bob: refused by the recipient/)
  })

  test('a recipient that is only unreachable keeps its messages, however often it fails', async () => {
    const { attempts, events } = await refusedRuns(ErrorCode.Unreachable, 10)
    assert.equal(attempts, 10)
    assert.equal(store.outboxSize(), 1)
    assert.equal(events.filter(e => e.event === 'error').length, 0)
  })
})
