/**
 * Our name card as a session holds it (peer/name-card.ts): asked for at once, shown until its
 * last minutes, asked for again at half its life, kept (and asked for again in a minute) when
 * the rendezvous does not answer.
 */
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { NAME_CARD_TTL_MS } from '../../../common/crypto/name-card.ts'
import { ErrorCode, ParleyError } from '../../../common/errors.ts'
import { NameCardHolder } from '../../../peer/name-card.ts'

describe('name card holder', () => {
  let now: number
  let asked: number
  let answer: (() => Uint8Array) | undefined
  const rendezvous = {
    card: async (): Promise<Uint8Array> => {
      asked++
      if (answer === undefined) throw new ParleyError(ErrorCode.Unreachable, 'the rendezvous is out of reach')
      return answer()
    }
  }
  /** Let the timers due by now run, and the renewals they start settle. */
  const advance = async (ms: number): Promise<void> => {
    now += ms
    mock.timers.tick(ms)
    for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve))
  }

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] })
    now = 1_800_000_000_000
    asked = 0
    let serial = 0
    answer = () => new Uint8Array([++serial])
  })
  afterEach(() => { mock.timers.reset() })

  it('holds no card before it asks, then shows the card it got until its last five minutes', async () => {
    const holder = new NameCardHolder(rendezvous, () => now)
    assert.equal(holder.current(), undefined)
    answer = () => new Uint8Array([7])
    await holder.renew()
    assert.deepEqual(holder.current(), new Uint8Array([7]))
    holder.stop()
    now += NAME_CARD_TTL_MS - 5 * 60_000 - 1
    assert.deepEqual(holder.current(), new Uint8Array([7]))
    now += 1
    assert.equal(holder.current(), undefined, 'too close to its expiry to show')
  })

  it('asks again at half the card\'s life; a failed ask keeps the card and is tried again a minute later', async () => {
    const holder = new NameCardHolder(rendezvous, () => now)
    await holder.renew()
    assert.deepEqual(holder.current(), new Uint8Array([1]))
    await advance(NAME_CARD_TTL_MS / 2 - 1)
    assert.equal(asked, 1)
    await advance(1)
    assert.equal(asked, 2)
    assert.deepEqual(holder.current(), new Uint8Array([2]))
    answer = undefined
    await advance(NAME_CARD_TTL_MS / 2)
    assert.equal(asked, 3)
    assert.deepEqual(holder.current(), new Uint8Array([2]), 'kept')
    answer = () => new Uint8Array([9])
    await advance(60_000)
    assert.equal(asked, 4)
    assert.deepEqual(holder.current(), new Uint8Array([9]))
    holder.stop()
    await advance(NAME_CARD_TTL_MS)
    assert.equal(asked, 4, 'nothing asked after stop')
  })
})
