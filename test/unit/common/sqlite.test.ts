/**
 * The one way both programs open SQLite (common/sqlite.ts): pragmas, owner-only files,
 * migrations keyed on user_version, and transactions.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { ErrorCode, is } from '../../../common/errors.ts'
import { IN_MEMORY, Statements, migrate, openDatabase, transaction, userVersion } from '../../../common/sqlite.ts'
import { removeDir, tempDir } from '../../../harness/temp.ts'

const STEPS = [
  'CREATE TABLE a (x INTEGER) STRICT',
  'INSERT INTO a (x) VALUES (1)',
  'CREATE TABLE b (y INTEGER) STRICT'
]

const tables = (db: DatabaseSync): string[] =>
  db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map(row => String(row.name))

const pragma = (db: DatabaseSync, name: string): unknown => Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0]

describe('sqlite', () => {
  it('compiles a statement once per SQL text and runs it again with new values', () => {
    const db = openDatabase(IN_MEMORY, { migrations: ['CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)'], owner: 'test' })
    const statements = new Statements(db)
    const insert = 'INSERT INTO t (k, v) VALUES (?, ?)'
    assert.equal(statements.get(insert), statements.get(insert))
    assert.notEqual(statements.get('SELECT v FROM t WHERE k = ?'), statements.get(insert))
    statements.get(insert).run('a', 1)
    statements.get(insert).run('b', 2)
    assert.equal((statements.get('SELECT v FROM t WHERE k = ?').get('b') as { v: number }).v, 2)
    db.close()
  })

  let dir: string
  before(async () => { dir = await tempDir('parley-sqlite-') })
  after(async () => { await removeDir(dir) })

  describe('open', () => {
    it('opens a file with WAL, synchronous=FULL, foreign keys and a busy timeout', () => {
      const db = openDatabase(join(dir, 'pragmas', 'x.db'), { migrations: STEPS, owner: 'test' })
      assert.equal(pragma(db, 'journal_mode'), 'wal')
      assert.equal(pragma(db, 'synchronous'), 2, 'FULL')
      assert.equal(pragma(db, 'foreign_keys'), 1)
      assert.ok(Number(pragma(db, 'busy_timeout')) >= 1_000)
      assert.equal(userVersion(db), STEPS.length)
      db.close()
    })

    it('makes the file and its WAL owner-only (0600) whatever the umask, in a 0700 folder', () => {
      const folder = join(dir, 'modes', 'nested')
      const file = join(folder, 'x.db')
      const umask = process.umask(0o022)
      let db: DatabaseSync
      try {
        db = openDatabase(file, { migrations: STEPS, owner: 'test' })
      } finally {
        process.umask(umask)
      }
      db.exec('INSERT INTO a (x) VALUES (2)') // WAL mode: this write goes to x.db-wal
      assert.equal(statSync(file).mode & 0o777, 0o600)
      assert.equal(statSync(`${file}-wal`).mode & 0o777, 0o600)
      assert.equal(statSync(folder).mode & 0o777, 0o700)
      db.close()
    })

    it('tightens an existing database file that others could read', () => {
      const file = join(dir, 'loose.db')
      writeFileSync(file, '')
      chmodSync(file, 0o644)
      openDatabase(file, { migrations: STEPS, owner: 'test' }).close()
      assert.equal(statSync(file).mode & 0o777, 0o600)
    })

    it('opens an in-memory database, migrated, with no file', () => {
      const db = openDatabase(IN_MEMORY, { migrations: STEPS, owner: 'test' })
      assert.deepEqual(tables(db), ['a', 'b'])
      db.close()
    })

    it('refuses a database whose schema is newer than the code, and leaves it untouched', () => {
      const file = join(dir, 'newer.db')
      const newer = new DatabaseSync(file)
      newer.exec('CREATE TABLE future (z INTEGER); PRAGMA user_version = 7')
      newer.close()
      assert.throws(() => openDatabase(file, { migrations: STEPS, owner: 'peer' }), (err: unknown) =>
        is(err, ErrorCode.Internal) && /schema version 7 is newer than this peer knows \(3\): upgrade the peer/.test(err.message))
      const check = new DatabaseSync(file)
      assert.equal(userVersion(check), 7)
      assert.deepEqual(tables(check), ['future'])
      check.close()
    })
  })

  describe('migrate', () => {
    it('runs each step once, in order, and only the steps a database has not had', () => {
      const db = new DatabaseSync(IN_MEMORY)
      assert.equal(migrate(db, STEPS.slice(0, 1), 'test'), 1)
      assert.deepEqual(tables(db), ['a'])
      assert.equal(migrate(db, STEPS, 'test'), 3)
      assert.equal(migrate(db, STEPS, 'test'), 3, 'a second run changes nothing')
      // Step 2 inserted its row once: run twice, or before step 1, it would have left two or failed.
      assert.deepEqual(db.prepare('SELECT x FROM a').all().map(row => row.x), [1])
      assert.deepEqual(tables(db), ['a', 'b'])
      db.close()
    })

    it('rolls a failing step back entirely and keeps the steps before it', () => {
      const db = new DatabaseSync(IN_MEMORY)
      const steps = [STEPS[0] ?? '', 'CREATE TABLE c (x INTEGER); INSERT INTO a (x) VALUES (5); CREATE TABLE broken (']
      assert.throws(() => migrate(db, steps, 'test'))
      assert.equal(userVersion(db), 1)
      assert.deepEqual(tables(db), ['a'])
      assert.equal(db.prepare('SELECT COUNT(*) AS n FROM a').get()?.n, 0)
      assert.equal(db.isTransaction, false)
      db.close()
    })
  })

  describe('transaction', () => {
    it('commits all of the work and returns its result', () => {
      const db = openDatabase(IN_MEMORY, { migrations: STEPS, owner: 'test' })
      const result = transaction(db, () => {
        db.exec('INSERT INTO b (y) VALUES (1), (2)')
        return 'done'
      })
      assert.equal(result, 'done')
      assert.equal(db.prepare('SELECT COUNT(*) AS n FROM b').get()?.n, 2)
      db.close()
    })

    it('keeps none of the work that throws, and rethrows its error', () => {
      const db = openDatabase(IN_MEMORY, { migrations: STEPS, owner: 'test' })
      const failure = new Error('half way')
      assert.throws(() => transaction(db, () => {
        db.exec('INSERT INTO b (y) VALUES (1)')
        throw failure
      }), failure)
      assert.equal(db.prepare('SELECT COUNT(*) AS n FROM b').get()?.n, 0)
      assert.equal(db.isTransaction, false)
      db.close()
    })
  })
})
