import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { CHUNK_SIZE, openChunk, sealChunk } from '../../../common/crypto/chunks.ts'

const INTEGRITY = { name: 'ParleyError', code: 'ERR_INTEGRITY' }
const fileSecret = new Uint8Array(randomBytes(32))
const ad = new TextEncoder().encode('FILE report.pdf 200000')

/** Split into CHUNK_SIZE pieces the way a sender does; the last one is flagged final. */
function sealFile (data: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = []
  const count = Math.max(1, Math.ceil(data.length / CHUNK_SIZE))
  for (let i = 0; i < count; i++) {
    chunks.push(sealChunk(fileSecret, i, i === count - 1, ad, data.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)))
  }
  return chunks
}

describe('file chunks', () => {
  test('a file whose size is not a multiple of 8 or of the chunk size round-trips', () => {
    const data = new Uint8Array(randomBytes(2 * CHUNK_SIZE + 12345))
    const sealed = sealFile(data)
    assert.equal(sealed.length, 3)
    const opened = sealed.map((c, i) => openChunk(fileSecret, i, i === sealed.length - 1, ad, c))
    assert.deepEqual(new Uint8Array(Buffer.concat(opened)), data)
  })

  test('an empty file is one empty final chunk', () => {
    const [only] = sealFile(new Uint8Array(0))
    assert.ok(only)
    assert.deepEqual(openChunk(fileSecret, 0, true, ad, only), new Uint8Array(0))
  })

  test('rejects a chunk opened with the wrong final flag (truncation or extension)', () => {
    const [first, second] = sealFile(new Uint8Array(CHUNK_SIZE + 10))
    assert.ok(first && second)
    // Dropping the tail: chunk 0 presented as the last chunk.
    assert.throws(() => openChunk(fileSecret, 0, true, ad, first), INTEGRITY)
    // The real final chunk presented as if more were to come.
    assert.throws(() => openChunk(fileSecret, 1, false, ad, second), INTEGRITY)
  })

  test('rejects chunks whose indices are swapped (reordering)', () => {
    const chunks = sealFile(new Uint8Array(3 * CHUNK_SIZE))
    const [c0, c1] = chunks
    assert.ok(c0 && c1)
    assert.throws(() => openChunk(fileSecret, 0, false, ad, c1), INTEGRITY)
    assert.throws(() => openChunk(fileSecret, 1, false, ad, c0), INTEGRITY)
  })

  test('rejects a chunk replayed at a later index', () => {
    const [c0] = sealFile(new Uint8Array(3 * CHUNK_SIZE))
    assert.ok(c0)
    assert.throws(() => openChunk(fileSecret, 2, true, ad, c0), INTEGRITY)
  })

  test('rejects a chunk moved into another file (different associated data)', () => {
    const [c0] = sealFile(new Uint8Array(100))
    assert.ok(c0)
    assert.throws(() => openChunk(fileSecret, 0, true, new TextEncoder().encode('FILE other 100'), c0), INTEGRITY)
  })

  test('rejects a truncated chunk and a chunk opened with the wrong secret', () => {
    const [c0] = sealFile(new Uint8Array(100))
    assert.ok(c0)
    assert.throws(() => openChunk(fileSecret, 0, true, ad, c0.subarray(0, c0.length - 1)), INTEGRITY)
    assert.throws(() => openChunk(new Uint8Array(32), 0, true, ad, c0), INTEGRITY)
  })

  test('refuses to seal more than CHUNK_SIZE bytes or a negative index', () => {
    assert.throws(() => sealChunk(fileSecret, 0, true, ad, new Uint8Array(CHUNK_SIZE + 1)), { code: 'ERR_TOO_LARGE' })
    assert.throws(() => sealChunk(fileSecret, -1, true, ad, new Uint8Array(1)), { code: 'ERR_MALFORMED' })
    assert.throws(() => sealChunk(fileSecret, 1.5, true, ad, new Uint8Array(1)), { code: 'ERR_MALFORMED' })
  })
})
