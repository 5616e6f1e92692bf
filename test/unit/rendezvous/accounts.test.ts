/**
 * Issue 12 item 4: accounts carry their scrypt parameters; an account made with N=2^15 keeps
 * working and is upgraded to N=2^17 at its next sign-in without anything it wrapped (identity,
 * group keys, the local store's key) becoming unreadable. The peer's account flow
 * (peer/account.ts) runs here against the real handlers and store, in process (in-process.ts).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { KDF_PARAMS, LEGACY_KDF_PARAMS, deriveAuthKey, deriveMasterKey, deriveWrapKey, newSalt, verifierOf } from '../../../common/crypto/password.ts'
import type { KdfParams } from '../../../common/crypto/password.ts'
import { unwrapSecret, wrapSecret } from '../../../common/crypto/wrap.ts'
import { ErrorCode, is } from '../../../common/errors.ts'
import type { Op, RequestArgs, Result } from '../../../common/protocol/rendezvous.ts'
import { signIn, signUp } from '../../../peer/account.ts'
import type { AccountHost } from '../../../peer/account.ts'
import type { RendezvousClient } from '../../../peer/rendezvous-client.ts'
import { migrate } from '../../../common/sqlite.ts'
import { MIGRATIONS } from '../../../rendezvous/store.ts'
import type { RendezvousStore } from '../../../rendezvous/store.ts'
import { removeDir, tempDir } from '../../../harness/temp.ts'
import { InProcessRendezvous } from './in-process.ts'

const PASSWORD = 'correct horse battery staple'
const isCode = (code: string) => (err: unknown): boolean => is(err) && err.code === code

/** The peer's side of the rendezvous in process (in-process.ts): each call made from the identity
 * the account flow uses at that moment, on a new connection. */
class AccountRendezvous {
  peerId = ''
  /** Parameters a hostile rendezvous offers instead of the account's. */
  offer: KdfParams | undefined
  readonly #server: InProcessRendezvous
  #connection = 0

  constructor (server: InProcessRendezvous) {
    this.#server = server
  }

  async #call<O extends Op> (op: O, args: RequestArgs<O>): Promise<Result<O>> {
    return this.#server.call(op, args, { peerId: this.peerId, connectionId: `account-${this.#connection++}`, remoteAddr: multiaddr('/ip4/192.0.2.1/tcp/1') })
  }

  /** Set: salt requests wait for it, as a frozen rendezvous leaves them. */
  frozen: Promise<void> | undefined

  async saltOf (username: string): Promise<Result<'salt'>> {
    await this.frozen
    const result = await this.#call('salt', { username })
    return this.offer === undefined ? result : { ...result, kdf: this.offer }
  }

  async salt (username: string): Promise<Uint8Array> { return (await this.saltOf(username)).salt }
  async signup (args: RequestArgs<'signup'>): Promise<Result<'signup'>> { return await this.#call('signup', args) }
  async signin (args: RequestArgs<'signin'>): Promise<Result<'signin'>> { return await this.#call('signin', args) }
  async rekey (args: RequestArgs<'rekey'>): Promise<Result<'rekey'>> { return await this.#call('rekey', args) }
}

function setup (): { rv: AccountRendezvous, server: InProcessRendezvous, store: RendezvousStore } {
  const server = new InProcessRendezvous()
  return { rv: new AccountRendezvous(server), server, store: server.store }
}

function hostFor (rv: AccountRendezvous, dataDir: string): AccountHost & { identity?: PrivateKey } {
  const host: AccountHost & { identity?: PrivateKey } = {
    rendezvous: () => rv as unknown as RendezvousClient,
    useIdentity: async (identity: PrivateKey) => {
      host.identity = identity
      rv.peerId = peerIdFromPrivateKey(identity).toString()
    },
    createAccount: async (identity, account) => {
      await host.useIdentity(identity)
      await rv.signup({ ...account, addrs: [] })
    },
    addrs: () => [],
    dataDir
  }
  return host
}

/** An account as a version before issue 12 made it: N=2^15, no parameters stored locally. */
async function legacyAccount (store: RendezvousStore, username: string, kdf: KdfParams = LEGACY_KDF_PARAMS): Promise<{ wrapKey: Uint8Array, identity: PrivateKey, wrapped: Uint8Array }> {
  const salt = newSalt()
  const master = await deriveMasterKey(PASSWORD, salt, kdf)
  const wrapKey = deriveWrapKey(master)
  const identity = await generateKeyPair('Ed25519')
  const wrapped = wrapSecret(wrapKey, `identity:${username}`, privateKeyToProtobuf(identity))
  store.createUser({
    username, peerId: peerIdFromPrivateKey(identity).toString(), salt, kdf, verifier: verifierOf(deriveAuthKey(master)), identity: wrapped, addrs: []
  })
  return { wrapKey, identity, wrapped }
}

describe('account scrypt parameters and their upgrade', () => {
  let dir: string
  before(async () => { dir = await tempDir('parley-accounts-') })
  after(async () => { await removeDir(dir) })

  it('the schema migration gives accounts made before it N=2^15 and no account key', () => {
    const db = new DatabaseSync(':memory:')
    const step = MIGRATIONS.findIndex(sql => sql.includes('kdf_log_n'))
    assert.ok(step > 0)
    migrate(db, MIGRATIONS.slice(0, step), 'rendezvous server')
    db.prepare(`INSERT INTO users (username, peer_id, salt, verifier, identity, addrs, created)
      VALUES ('old', 'p', ?, ?, ?, '[]', 1)`).run(new Uint8Array(16), new Uint8Array(32), new Uint8Array(100))
    migrate(db, MIGRATIONS, 'rendezvous server')
    const row = db.prepare('SELECT kdf_log_n, kdf_r, kdf_p, data_key FROM users').get() as Record<string, unknown>
    assert.deepEqual({ ...row }, { kdf_log_n: 15, kdf_r: 8, kdf_p: 1, data_key: null })
    db.close()
  })

  it('an unknown name gets the same parameters as a new account; an old account shows its own', async () => {
    const { rv, store } = setup()
    await signUp(hostFor(rv, join(dir, 'new')), 'fresh', PASSWORD)
    const fresh = await rv.saltOf('fresh')
    const unknown = await rv.saltOf('nobody')
    assert.deepEqual(fresh.kdf, { logN: 17, r: 8, p: 1 })
    assert.deepEqual(unknown.kdf, fresh.kdf)
    assert.equal(unknown.salt.length, fresh.salt.length)
    assert.deepEqual(await rv.saltOf('nobody'), unknown, 'stable')
    await legacyAccount(store, 'old')
    assert.deepEqual((await rv.saltOf('old')).kdf, { logN: 15, r: 8, p: 1 })
    store.close()
  })

  it('refuses a new account below N=2^17', async () => {
    const { rv, store } = setup()
    rv.peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const args = { username: 'weak', salt: newSalt(), authKey: new Uint8Array(32), identity: new Uint8Array(100), addrs: [] }
    await assert.rejects(rv.signup({ ...args, kdf: { ...LEGACY_KDF_PARAMS } }), isCode(ErrorCode.Malformed))
    // Said as under the floor, however far under (round 32: N=2^10 read "out of range (2^15 or more)").
    await assert.rejects(rv.signup({ ...args, kdf: { logN: 10, r: 8, p: 1 } }),
      (err: unknown) => is(err, ErrorCode.Malformed) && err.message === 'scrypt parameters below N=2^17, r=8, p=1 are not accepted for a new password')
    await assert.rejects(rv.signup({ ...args, kdf: { logN: 30, r: 8, p: 1 } }), isCode(ErrorCode.Malformed))
    await rv.signup({ ...args, kdf: { ...KDF_PARAMS } })
    store.close()
  })

  it('upgrades an N=2^15 account at its next sign-in, keeping its identity and its account key', async () => {
    const { rv, store } = setup()
    const old = await legacyAccount(store, 'carol')
    const home = join(dir, 'carol-home')
    const oldSalt = store.getUser('carol')?.salt

    const signed = await signIn(hostFor(rv, home), 'carol', PASSWORD)
    assert.deepEqual(signed.wrapKey, old.wrapKey, 'the account key is the old wrapKey: everything wrapped before stays readable')
    assert.equal(signed.identity.equals(old.identity), true)
    const user = store.getUser('carol')
    assert.ok(user !== undefined)
    assert.deepEqual(user.kdf, { logN: 17, r: 8, p: 1 })
    assert.notDeepEqual(user.salt, oldSalt, 'a new salt')
    assert.ok(user.dataKey !== undefined)
    assert.deepEqual(user.identity, old.wrapped, 'the identity on the rendezvous is not re-wrapped')
    // The new verifier is N=2^17's: the in-memory authKey (for automatic re-sign-in) is the new one.
    const master = await deriveMasterKey(PASSWORD, user.salt, KDF_PARAMS)
    assert.deepEqual(user.verifier, verifierOf(deriveAuthKey(master)))
    assert.deepEqual(signed.authKey, deriveAuthKey(master))
    assert.deepEqual(unwrapSecret(deriveWrapKey(master), 'account-key:carol', user.dataKey), old.wrapKey)
    const local = JSON.parse(await readFile(join(home, 'carol', 'account.json'), 'utf8')) as { kdf: KdfParams }
    assert.deepEqual(local.kdf, { logN: 17, r: 8, p: 1 })

    // Next sign-in, same folder: N=2^17 now, same account key and identity, bound at once.
    const again = await signIn(hostFor(rv, home), 'carol', PASSWORD)
    assert.deepEqual(again.wrapKey, old.wrapKey)
    assert.equal(again.identity.equals(old.identity), true)
    assert.deepEqual(again.authKey, signed.authKey)
    // A new machine: the account key comes from the rendezvous.
    const elsewhere = await signIn(hostFor(rv, join(dir, 'carol-laptop')), 'carol', PASSWORD)
    assert.deepEqual(elsewhere.wrapKey, old.wrapKey)
    assert.equal(elsewhere.identity.equals(old.identity), true)
    // The old password parameters no longer sign in; a wrong password still fails the same way.
    await assert.rejects(rv.signin({ username: 'carol', authKey: deriveAuthKey(await deriveMasterKey(PASSWORD, oldSalt!, LEGACY_KDF_PARAMS)), addrs: [] }),
      isCode(ErrorCode.BadCredentials))
    await assert.rejects(signIn(hostFor(rv, home), 'carol', 'not the password'), isCode(ErrorCode.BadCredentials))
    store.close()
  })

  it('a folder whose account was made at the tests\' cost is refused as such, not as damaged (round 32)', async () => {
    const { rv, store } = setup()
    const home = join(dir, 'tess-home')
    await signUp(hostFor(rv, home), 'tess', PASSWORD)
    const file = join(home, 'tess', 'account.json')
    const local = JSON.parse(await readFile(file, 'utf8')) as { kdf: KdfParams }
    await writeFile(file, JSON.stringify({ ...local, kdf: { logN: 10, r: 8, p: 1 } })) // as PARLEY_TEST_WEAK_SCRYPT makes it
    await assert.rejects(signIn(hostFor(rv, home), 'tess', PASSWORD), (err: unknown) => is(err, ErrorCode.Integrity) &&
      err.message === `${file} is of an account made at a password cost this program does not accept (scrypt N=2^10): ` +
        'the tests make such accounts (PARLEY_TEST_WEAK_SCRYPT), and they are of no use outside them')
    store.close()
  })

  it('a rendezvous that does not know the account this folder signed in to says so when the password is right here; a wrong one is only wrong (round 35)', async () => {
    const first = setup()
    const home = join(dir, 'uma-home')
    await signUp(hostFor(first.rv, home), 'uma', PASSWORD)
    first.store.close()
    // Another rendezvous at that address (replaced, or its accounts lost): it knows no uma.
    const second = setup()
    // Until 2026-12-07 both said "invalid username or password".
    await assert.rejects(signIn(hostFor(second.rv, home), 'uma', PASSWORD), (err: unknown) => is(err, ErrorCode.BadCredentials) &&
      err.message === 'the rendezvous does not take the password that opens this folder for uma: if it was changed since (PASSWORD, here or on another device), ' +
        'sign in with the new one; else this is not the rendezvous the account was made at, or it lost its accounts, and SIGNUP uma makes the account there anew, with a new identity')
    await assert.rejects(signIn(hostFor(second.rv, home), 'uma', 'not the password at all'),
      (err: unknown) => is(err, ErrorCode.BadCredentials) && err.message === 'invalid username or password')
    // As it says: SIGNUP there takes the name from this folder.
    assert.equal((await signUp(hostFor(second.rv, home), 'uma', PASSWORD)).username, 'uma')
    second.store.close()
  })

  it('a rendezvous that offers the tests\' cost is refused as such (round 36)', async () => {
    const { rv, store } = setup()
    rv.offer = { logN: 10, r: 8, p: 1 } // as a rendezvous run with PARLEY_TEST_WEAK_SCRYPT offers
    await assert.rejects(signIn(hostFor(rv, join(dir, 'tia-home')), 'tia', PASSWORD), (err: unknown) => is(err, ErrorCode.Integrity) &&
      err.message === 'the rendezvous offers a password cost this program does not accept (scrypt N=2^10): ' +
        'a rendezvous run for the tests (PARLEY_TEST_WEAK_SCRYPT) offers it, and its accounts are of no use outside them')
    store.close()
  })

  it('frozen, a sign-in from a folder signed in from before waits its patience, then goes on offline; a folder without one waits (round 20: LOGIN took 15 s)', { timeout: 20_000 }, async () => {
    const { rv, store } = setup()
    const home = join(dir, 'erin-home')
    const up = await signUp(hostFor(rv, home), 'erin', PASSWORD)
    let thaw = (): void => {}
    rv.frozen = new Promise<void>(resolve => { thaw = resolve })
    const offline = await signIn(hostFor(rv, home), 'erin', PASSWORD, 50)
    assert.equal(offline.offline, true)
    assert.equal(offline.identity.equals(up.identity), true, 'this folder\'s identity')
    await assert.rejects(signIn(hostFor(rv, home), 'erin', 'not the password', 50), isCode(ErrorCode.BadCredentials), 'the password is still checked, here')
    let elsewhere: string | undefined
    const signing = signIn(hostFor(rv, join(dir, 'erin-laptop')), 'erin', PASSWORD, 50).then(signed => { elsewhere = signed.offline === true ? 'offline' : 'online' })
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(elsewhere, undefined, 'a new folder cannot go on without it: still waiting')
    thaw()
    await signing
    assert.equal(elsewhere, 'online')
    store.close()
  })

  it('a SIGNUP made at the rendezvous that this folder cannot keep says the account is made, and how to use it (round 29: only the write\'s error, then "taken")', async () => {
    const { rv, store } = setup()
    const blocked = join(dir, 'a-file-not-a-folder')
    await writeFile(blocked, 'in the way')
    await assert.rejects(signUp(hostFor(rv, blocked), 'gina', PASSWORD), (err: unknown) =>
      isCode(ErrorCode.File)(err) && /^the account gina is made, but this folder cannot keep it \(.+\): LOGIN gina once it can be written to$/.test((err as Error).message))
    const signed = await signIn(hostFor(rv, join(dir, 'gina-home')), 'gina', PASSWORD)
    assert.equal(signed.username, 'gina', 'LOGIN from a folder that can keep it')
    store.close()
  })

  it('a peer that has used N=2^17 refuses a rendezvous that offers less', async () => {
    const { rv, store } = setup()
    const home = join(dir, 'dave-home')
    await signUp(hostFor(rv, home), 'dave', PASSWORD)
    rv.offer = { ...LEGACY_KDF_PARAMS }
    await assert.rejects(signIn(hostFor(rv, home), 'dave', PASSWORD), isCode(ErrorCode.Integrity))
    store.close()
  })

  it('rekey needs a session and the current password, and never lowers the cost', async () => {
    const { rv, server, store } = setup()
    const signed = await signUp(hostFor(rv, join(dir, 'erin')), 'erin', PASSWORD)
    const args = { authKey: signed.authKey, salt: newSalt(), kdf: { ...KDF_PARAMS }, newAuthKey: new Uint8Array(32).fill(1), dataKey: new Uint8Array(88) }
    await assert.rejects(rv.rekey({ ...args, authKey: new Uint8Array(32) }), isCode(ErrorCode.BadCredentials))
    await assert.rejects(rv.rekey({ ...args, kdf: { ...LEGACY_KDF_PARAMS } }), isCode(ErrorCode.Malformed))
    const stranger = new AccountRendezvous(server)
    stranger.peerId = 'someone-else'
    await assert.rejects(stranger.rekey(args), isCode(ErrorCode.NotSignedIn))
    await rv.rekey(args)
    assert.deepEqual(store.getUser('erin')?.verifier, verifierOf(args.newAuthKey))
    store.close()
  })
})
