/**
 * The branded name and id types (common/wire/names.ts): each constructor refuses what is not
 * valid with the error code a caller maps, and gives back the canonical form of what is.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { ErrorCode, is } from '../../../common/errors.ts'
import { decodeEvent, decodeRequest, decodeResponse, encodeEvent, encodeRequest, encodeResult } from '../../../common/protocol/rendezvous.ts'
import { encodeBody } from '../../../common/wire/codec.ts'
import { toGroupName, toMessageId, toNewGroupName, toNewUsername, toUsername } from '../../../common/wire/names.ts'
import type { GroupName, MessageId, Username } from '../../../common/wire/names.ts'

const BAD_NAMES = ['', '.', '..', 'a b', 'bob!', 'x'.repeat(33), 'bob\n', 'caf\u00e9', 'a/b', '\u202egnp']

test('toUsername and toGroupName refuse invalid names with ERR_INVALID_NAME', () => {
  for (const raw of BAD_NAMES) {
    assert.throws(() => toUsername(raw), (err: unknown) => is(err, ErrorCode.InvalidName) && /invalid username/.test(err.message), JSON.stringify(raw))
    assert.throws(() => toGroupName(raw), (err: unknown) => is(err, ErrorCode.InvalidName) && /invalid group/.test(err.message), JSON.stringify(raw))
  }
})

test('toUsername and toGroupName accept valid names, lower-cased', () => {
  const cases: Array<[string, string]> = [['bob', 'bob'], ['Alice', 'alice'], ['a.b_c-9', 'a.b_c-9'], ['X'.repeat(32), 'x'.repeat(32)], ['...', '...']]
  for (const [raw, name] of cases) {
    assert.equal(toUsername(raw), name)
    assert.equal(toGroupName(raw), name)
  }
  // Idempotent: a branded value passes its constructor unchanged.
  const bob = toUsername('BOB')
  assert.equal(toUsername(bob), bob)
})

test('a new username or group name must start with a letter or digit; an old one is still a name', () => {
  for (const raw of ['-', '_', '...', '-_-', '.hidden', '_bob', '-rf']) {
    const refused = (what: string) => (err: unknown): boolean =>
      is(err, ErrorCode.InvalidName) && err.message.includes(`a new ${what} must start with a letter or digit`)
    assert.throws(() => toNewUsername(raw), refused('username'), JSON.stringify(raw))
    assert.throws(() => toNewGroupName(raw), refused('group'), JSON.stringify(raw))
    // Made before the rule: still read, looked up and signed in to.
    assert.equal(toUsername(raw), raw)
  }
  for (const [raw, name] of [['Bob', 'bob'], ['9lives', '9lives'], ['a-b', 'a-b'], ['x.y_z', 'x.y_z']]) {
    assert.equal(toNewUsername(raw ?? ''), name)
    assert.equal(toNewGroupName(raw ?? ''), name)
  }
  // …and ends with one: `bob.` read as bob ("bob.: hi"; until 2026-12-06 it was taken).
  for (const raw of ['bob.', 'bob-', 'bob_', 'a-']) {
    const refused = (what: string) => (err: unknown): boolean =>
      is(err, ErrorCode.InvalidName) && err.message === `invalid ${what} "${raw}": a new ${what} must end with a letter or digit (a-z, 0-9), or it reads as another name`
    assert.throws(() => toNewUsername(raw), refused('username'), raw)
    assert.throws(() => toNewGroupName(raw), refused('group'), raw)
    assert.equal(toUsername(raw), raw, 'made before the rule: still a name')
  }
  // What is no name at all keeps its old message; one too long is said to be.
  assert.throws(() => toNewUsername('bob!'), (err: unknown) => is(err, ErrorCode.InvalidName) && /use 1-32 of a-z/.test(err.message))
  assert.throws(() => toGroupName('a'.repeat(33)), (err: unknown) => is(err, ErrorCode.InvalidName) && err.message === `invalid group "${'a'.repeat(33)}": at most 32 characters (this one has 33)`)
  assert.throws(() => toGroupName('a'.repeat(60)), (err: unknown) => is(err, ErrorCode.InvalidName) && err.message === `invalid group "${'a'.repeat(40)}…": at most 32 characters (this one has 60)`)
})

test('toMessageId accepts 32 lower-case hex characters and refuses the rest with ERR_MALFORMED', () => {
  const id = randomBytes(16).toString('hex')
  assert.equal(toMessageId(id), id)
  const bad = ['', id.slice(1), `${id}0`, id.toUpperCase(), `${id.slice(0, 31)}g`, ` ${id.slice(1)}`, 'bob']
  for (const raw of bad) {
    assert.throws(() => toMessageId(raw), (err: unknown) => is(err, ErrorCode.Malformed), JSON.stringify(raw))
  }
})

test('a plain string is not a Username, nor a GroupName a Username (type level)', () => {
  const greet = (user: Username): string => `hello ${user}`
  const byId = (id: MessageId): string => id
  // @ts-expect-error: a plain string must go through toUsername first
  assert.equal(greet('bob'), 'hello bob')
  const club: GroupName = toGroupName('club')
  // @ts-expect-error: a group name is not a username, though both are strings
  assert.equal(greet(club), 'hello club')
  // @ts-expect-error: nor is a username a message id
  assert.equal(byId(toUsername('bob')), 'bob')
  // A branded value is still a string wherever a string will do.
  const plain: string = toUsername('bob')
  assert.equal(plain, 'bob')
})

test('a decoded rendezvous request carries a Username and a GroupName, lower-cased; a client sends plain strings', () => {
  const lookup = decodeRequest(encodeRequest('lookup', { username: 'Bob' }))
  assert.ok(lookup.op === 'lookup')
  const user: Username = lookup.username
  assert.equal(user, 'bob')
  const join = decodeRequest(encodeRequest('join', { group: 'Club' }))
  assert.ok(join.op === 'join')
  const group: GroupName = join.group
  assert.equal(group, 'club')
  assert.throws(() => decodeRequest(encodeRequest('join', { group: 'no way' })), (err: unknown) => is(err, ErrorCode.InvalidName))
})

test('a decoded rendezvous answer and event carry Usernames and GroupNames; a name its constructor refuses is refused', () => {
  const found = decodeResponse('lookup', encodeResult('lookup', { username: 'bob', peerId: 'p', addrs: [], online: true }))
  const user: Username = found.username
  assert.equal(user, 'bob')
  const members = decodeResponse('members', encodeBody({
    ok: true, group: 'club', epoch: 1, rotationNeeded: false, epochAgeMs: 0, members: [{ username: 'carol', peerId: 'p', online: true, hasKey: false }]
  }))
  const group: GroupName = members.group
  const member: Username | undefined = members.members[0]?.username
  assert.deepEqual([group, member], ['club', 'carol'])
  const event = decodeEvent(encodeEvent({ type: 'key-needed', group: 'club', epoch: 1, username: 'dave' }))
  assert.ok(event.type === 'key-needed')
  const lacking: Username = event.username
  assert.equal(lacking, 'dave')
  // Of the server's alphabet but not a name: refused by the constructor, not passed on.
  assert.throws(() => decodeResponse('whois', encodeBody({ ok: true, username: '..', peerId: 'p', addrs: [], online: true })), (err: unknown) => is(err, ErrorCode.InvalidName))
  assert.throws(() => decodeResponse('whois', encodeBody({ ok: true, username: 'Bob', peerId: 'p', addrs: [], online: true })), (err: unknown) => is(err, ErrorCode.Malformed))
})
