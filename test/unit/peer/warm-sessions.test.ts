/**
 * Sessions opened with group members ahead of the first group message (peer/groups/warm-sessions.ts):
 * whom a round dials, and whom not; how many at once; the cap; a member list that disagrees
 * with the directory; failures; sign-out.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCode, ParleyError } from '../../../common/errors.ts'
import { toUsername } from '../../../common/wire/names.ts'
import type { Dialable } from '../../../peer/transport/dial.ts'
import type { GroupMember } from '../../../peer/groups/keyring.ts'
import { WARM_SESSIONS_AT_ONCE, WARM_SESSIONS_MAX, warmSessions } from '../../../peer/groups/warm-sessions.ts'
import type { WarmSessionsDeps } from '../../../peer/groups/warm-sessions.ts'
import { flushLog, writeLogTo } from '../../../peer/log.ts'

const member = (name: string, online = true): GroupMember => ({ username: toUsername(name), peerId: `id-${name}`, online, hasKey: true })

/** A world of groups and a directory; records whom it opened sessions with, and how many at once. */
function world (groups: Record<string, GroupMember[]>, overrides: Partial<WarmSessionsDeps> = {}): { deps: WarmSessionsDeps, opened: string[], mostAtOnce: () => number, connected: Set<string> } {
  const opened: string[] = []
  const connected = new Set<string>()
  let atOnce = 0
  let most = 0
  const deps: WarmSessionsDeps = {
    self: toUsername('alice'),
    members: async group => {
      const found = groups[group]
      if (found === undefined) throw new ParleyError(ErrorCode.NotFound, `no group ${group}`)
      return found
    },
    connected: peerId => connected.has(peerId),
    resolve: async username => ({ username, peerId: `id-${username}`, addrs: [], online: true }),
    open: async (to: Dialable) => {
      assert.equal(to.relay, false, 'never through the relay ahead of a message')
      atOnce++
      most = Math.max(most, atOnce)
      await new Promise(resolve => setImmediate(resolve))
      atOnce--
      opened.push(to.username)
      connected.add(to.peerId)
    },
    quiet: async () => true,
    signal: new AbortController().signal,
    ...overrides
  }
  return { deps, opened, mostAtOnce: () => most, connected }
}

describe('sessions opened with group members ahead of a message', () => {
  it('opens one session with each online member of the groups, never with us, the offline or those already connected', async () => {
    const w = world({
      club: [member('alice'), member('bob'), member('carol', false), member('dave')],
      chess: [member('alice'), member('bob'), member('erin'), member('frank')]
    })
    w.connected.add('id-frank')
    assert.equal(await warmSessions(w.deps, { groups: ['club', 'chess'] }), 3)
    assert.deepEqual(w.opened.sort(), ['bob', 'dave', 'erin'])
  })

  it('opens sessions with recent contacts the directory calls online, after the members, each user once', async () => {
    const w = world({ club: [member('alice'), member('bob')] }, {
      resolve: async username => ({ username, peerId: `id-${username}`, addrs: [], online: username !== 'gone' })
    })
    const contacts = ['carol', 'bob', 'gone', 'alice', 'dave'].map(name => toUsername(name))
    assert.equal(await warmSessions(w.deps, { groups: ['club'], contacts }), 3)
    assert.deepEqual(w.opened.sort(), ['bob', 'carol', 'dave'], 'not the offline one, not ourselves, bob once')
  })

  it('opens a few at a time, so real sends keep the other opening slots', async () => {
    const w = world({ big: Array.from({ length: 20 }, (_, i) => member(`m${i}`)) })
    assert.equal(await warmSessions(w.deps, { groups: ['big'] }), 20)
    assert.equal(w.mostAtOnce(), WARM_SESSIONS_AT_ONCE)
  })

  it(`opens at most ${WARM_SESSIONS_MAX} in a round, however many members the groups have`, async () => {
    const w = world({
      a: Array.from({ length: WARM_SESSIONS_MAX }, (_, i) => member(`a${i}`)),
      b: Array.from({ length: 10 }, (_, i) => member(`b${i}`))
    })
    assert.equal(await warmSessions(w.deps, { groups: ['a', 'b'], contacts: [toUsername('zoe')] }), WARM_SESSIONS_MAX)
    assert.equal(w.opened.filter(name => name.startsWith('b') || name === 'zoe').length, 0)
  })

  it('dials nobody whose directory answer names another peer than the member list (as a key hand-over would not)', async () => {
    const w = world({ club: [member('bob'), member('carol')] }, {
      resolve: async username => ({ username, peerId: username === 'bob' ? 'id-mallory' : `id-${username}`, addrs: [], online: true })
    })
    assert.equal(await warmSessions(w.deps, { groups: ['club'] }), 1)
    assert.deepEqual(w.opened, ['carol'])
  })

  it('goes on past a member it cannot reach and a group it cannot list, and never throws', async () => {
    const base = world({ club: [member('bob'), member('carol'), member('dave')] })
    const w = world({ club: [member('bob'), member('carol'), member('dave')] }, {
      open: async to => {
        if (to.username === 'carol') throw new ParleyError(ErrorCode.Unreachable, 'carol is not reachable right now')
        await base.deps.open(to)
      },
      resolve: async username => {
        if (username === 'dave') throw new ParleyError(ErrorCode.NotFound, 'no such user')
        return { username, peerId: `id-${username}`, addrs: [], online: true }
      }
    })
    assert.equal(await warmSessions(w.deps, { groups: ['gone', 'club'] }), 1)
    assert.deepEqual(base.opened, ['bob'])
  })

  it('waits for time to spare before each opening, and a loop that stays busy ends the round', async () => {
    let spare = 3
    const w = world({ club: Array.from({ length: 10 }, (_, i) => member(`m${i}`)) }, { quiet: async () => spare-- > 0 })
    assert.equal(await warmSessions(w.deps, { groups: ['club'] }), 3)
  })

  it('stops opening at sign-out', async () => {
    const signOut = new AbortController()
    const w = world({ club: Array.from({ length: 10 }, (_, i) => member(`m${i}`)) }, { signal: signOut.signal })
    const open = w.deps.open
    w.deps.open = async to => { await open(to); signOut.abort() }
    assert.equal(await warmSessions(w.deps, { groups: ['club'] }), WARM_SESSIONS_AT_ONCE, 'the openings under way finish; no new one starts')
  })

  it('ends quietly when an opening fails because the sign-out closed the store under it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-warm-'))
    const file = join(dir, 'parley.log')
    writeLogTo(file)
    try {
      const signOut = new AbortController()
      const resolved: string[] = []
      const w = world({ club: [member('bob'), member('carol'), member('dave')] }, {
        signal: signOut.signal,
        resolve: async username => {
          resolved.push(username)
          // The sign-out comes while the directory is asked; the answer then meets a closed store.
          signOut.abort()
          throw new ParleyError(ErrorCode.Internal, 'database is not open')
        }
      })
      assert.equal(await warmSessions(w.deps, { groups: ['club'] }), 0)
      assert.deepEqual(resolved.sort(), ['bob', 'carol'], 'the two under way; no new one after the sign-out')
      // And a group that cannot be listed because of the sign-out is not news either.
      const listing = new AbortController()
      const unlisted = world({}, {
        signal: listing.signal,
        members: async () => { listing.abort(); throw new ParleyError(ErrorCode.Internal, 'database is not open') }
      })
      assert.equal(await warmSessions(unlisted.deps, { groups: ['club', 'chess'] }), 0)
      await flushLog()
      const logged = await readFile(file, 'utf8').catch(() => '')
      assert.equal(logged, '', 'nothing logged')
    } finally {
      writeLogTo(undefined)
      await rm(dir, { recursive: true, force: true })
    }
  })
})
