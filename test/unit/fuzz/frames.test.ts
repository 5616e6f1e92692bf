/**
 * Fuzz: length-prefixed frames (common/wire/frames.ts FramedStream.read) over a real libp2p
 * stream pair. A remote writes arbitrary bytes, in arbitrary pieces, and closes; the reader must
 * get exactly the frames those bytes hold, then one ParleyError (ERR_PROTOCOL at the end of the
 * stream, ERR_TOO_LARGE for a length over the limit, ERR_MALFORMED for a length prefix longer
 * than any allowed length needs), and every read must settle: a read still pending after 2 s
 * fails the property as a hang.
 *
 * Cases: 1,000 per property (300 for the open-stream one), not 10,000: each case opens a stream
 * pair and goes through the event loop (about 1 ms a case against microseconds for the pure
 * decoders). 2,300 in all.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
import { ErrorCode, ParleyError } from '../../../common/errors.ts'
import { FramedStream } from '../../../common/wire/frames.ts'
import { MAX_FRAME_BYTES } from '../../../common/wire/limits.ts'
import { fc, params, scaled } from './arbitraries.ts'

const RUNS = scaled(1_000)
const HANG_MS = 2_000
const END_ERRORS: readonly ErrorCode[] = [ErrorCode.Unreachable, ErrorCode.Protocol, ErrorCode.TooLarge, ErrorCode.Malformed]

/** Unsigned LEB128, minimal: the encoding a well-behaved writer uses. */
function varint (value: number): number[] {
  const out: number[] = []
  do {
    let byte = value % 128
    value = Math.floor(value / 128)
    if (value > 0) byte |= 0x80
    out.push(byte)
  } while (value > 0)
  return out
}

/** Bytes of the longest length prefix a frame limit needs: 80 KiB takes 3, 300 takes 2. */
function prefixBytes (maxFrameBytes: number): number {
  let n = 1
  while (maxFrameBytes >= 2 ** (7 * n)) n++
  return n
}

/** 'closed': the bytes end between two frames (the remote went away); 'eof': inside one (cut short). */
type End = 'closed' | 'eof' | 'too-large' | 'long-prefix'

/**
 * What the bytes hold, read as the protocol defines it: frames while each length prefix is
 * complete, within `prefixBytes` bytes, and its frame within the limit and complete. A prefix
 * longer than needed ends the model at 'long-prefix': the reader must refuse it or read on, but
 * the frames before it are settled either way.
 */
function model (bytes: Uint8Array, maxFrameBytes: number): { frames: Uint8Array[], end: End } {
  const frames: Uint8Array[] = []
  const limit = prefixBytes(maxFrameBytes)
  let pos = 0
  for (;;) {
    let length = 0
    let i = 0
    for (;;) {
      if (pos + i >= bytes.length) return { frames, end: i === 0 ? 'closed' : 'eof' }
      if (i >= limit) return { frames, end: 'long-prefix' }
      const byte = bytes[pos + i] ?? 0
      length += (byte & 0x7f) * 2 ** (7 * i)
      i++
      if (byte < 0x80) break
    }
    if (length > maxFrameBytes) return { frames, end: 'too-large' }
    pos += i
    if (pos + length > bytes.length) return { frames, end: 'eof' }
    frames.push(bytes.slice(pos, pos + length))
    pos += length
  }
}

const hang = Symbol('hang')

/** One read, as a frame or the error it threw; fails the property if it is still pending after
 * HANG_MS. */
async function readOne (reader: FramedStream): Promise<{ frame: Uint8Array } | { error: unknown }> {
  let timer: NodeJS.Timeout | undefined
  try {
    const next = await Promise.race([
      reader.read().then(frame => ({ frame }), (error: unknown) => ({ error })),
      new Promise<typeof hang>(resolve => { timer = setTimeout(() => { resolve(hang) }, HANG_MS) })
    ])
    if (next === hang) assert.fail(`read still pending after ${HANG_MS} ms`)
    return next
  } finally {
    clearTimeout(timer)
  }
}

/** Sends `pieces` from one end, closes it, and reads frames at the other until an error. */
async function readAll (pieces: Uint8Array[], maxFrameBytes: number): Promise<{ frames: Uint8Array[], error: unknown }> {
  const [writer, readerStream] = await streamPair({ delay: 0 })
  const reader = new FramedStream(readerStream, maxFrameBytes)
  const frames: Uint8Array[] = []
  try {
    for (const piece of pieces) {
      if (!writer.send(piece)) await writer.onDrain()
    }
    await writer.close()
    for (;;) {
      const next = await readOne(reader)
      if ('error' in next) return { frames, error: next.error }
      frames.push(next.frame)
      assert.ok(frames.length <= 10_000, 'no end of frames')
    }
  } finally {
    reader.abort(new Error('case over'))
    writer.abort(new Error('case over'))
  }
}

function check (bytes: Uint8Array, result: { frames: Uint8Array[], error: unknown }, maxFrameBytes: number): void {
  const { error } = result
  assert.ok(error instanceof ParleyError, `a ParleyError, not ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`)
  assert.ok(END_ERRORS.includes(error.code), `${error.code}: ${error.message}`)
  for (const frame of result.frames) assert.ok(frame.length <= maxFrameBytes)
  const expected = model(bytes, maxFrameBytes)
  if (expected.end === 'long-prefix') {
    assert.deepEqual(result.frames.slice(0, expected.frames.length), expected.frames)
    return
  }
  assert.deepEqual(result.frames, expected.frames)
  assert.equal(error.code, expected.end === 'closed' ? ErrorCode.Unreachable : expected.end === 'eof' ? ErrorCode.Protocol : ErrorCode.TooLarge)
}

/** Bytes split at arbitrary points, so frames and length prefixes straddle writes. */
function pieces (bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map(c => c % (bytes.length + 1)))].sort((x, y) => x - y)
  const out: Uint8Array[] = []
  let from = 0
  for (const at of [...points, bytes.length]) {
    if (at > from) out.push(bytes.subarray(from, at))
    from = at
  }
  return out
}

const maxFrameBytes = fc.constantFrom(300, 127, 128, MAX_FRAME_BYTES)
/** Well-formed frames (lengths near the limits), then now and then junk or a cut. */
const framedBytes = fc.tuple(
  fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 100, max: 400 }).map(n => new Uint8Array(n).fill(7))), { maxLength: 5 }),
  fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 8 })),
  fc.option(fc.nat(), { freq: 3 })
).map(([frames, junk, cut]) => {
  const all = new Uint8Array([...frames.flatMap(f => [...varint(f.length), ...f]), ...junk])
  return cut === null ? all : all.subarray(0, cut % (all.length + 1))
})
/** Length prefixes at their edges: max, max + 1, non-minimal, too long, 2^53 and beyond. */
const hostilePrefix = fc.constantFrom(
  [0xac, 0x02], [0xad, 0x02], [0x80, 0x00], [0x80, 0x80, 0x00], [0x80, 0x80, 0x80, 0x00], [0xff, 0xff, 0xff],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], [0x80, 0x80, 0x85, 0x00], [0x80, 0x80, 0x05]
).map(list => new Uint8Array(list))

const input = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 600 }), weight: 2 },
  { arbitrary: framedBytes, weight: 3 },
  { arbitrary: fc.tuple(framedBytes, hostilePrefix, fc.uint8Array({ maxLength: 16 })).map(([a, p, b]) => new Uint8Array([...a, ...p, ...b])), weight: 1 }
)

test('FramedStream.read yields exactly the frames a remote sent, then a ParleyError, whatever the bytes and however they are split; it never hangs', { timeout: 120_000 }, async () => {
  await fc.assert(fc.asyncProperty(input, maxFrameBytes, fc.array(fc.nat(), { maxLength: 6 }), async (bytes, max, cuts) => {
    check(bytes, await readAll(pieces(bytes, cuts), max), max)
  }), params(RUNS))
})

test('FramedStream.read refuses a length over the limit before reading the frame: too large, or malformed when its prefix alone is longer than any allowed length needs', { timeout: 120_000 }, async () => {
  const over = fc.tuple(maxFrameBytes, fc.integer({ min: 1, max: 100_000 }))
  await fc.assert(fc.asyncProperty(over, async ([max, extra]) => {
    const prefix = varint(max + extra)
    const result = await readAll([new Uint8Array(prefix)], max)
    assert.deepEqual(result.frames, [])
    assert.ok(result.error instanceof ParleyError)
    const expected: ErrorCode[] = prefix.length > prefixBytes(max) ? [ErrorCode.TooLarge, ErrorCode.Malformed] : [ErrorCode.TooLarge]
    assert.ok(expected.includes(result.error.code), result.error.code)
  }), params(RUNS))
})

// 300 runs. The remote keeps its stream open: every complete frame must arrive without waiting for
// more bytes, and a length over the limit or a length prefix longer than any allowed length needs
// must be refused at once, not read on byte by byte until the remote stops (which a hostile
// remote never does).
test('FramedStream.read on a stream left open delivers every complete frame and refuses a bad length at once, never waiting for bytes it does not need', { timeout: 120_000 }, async () => {
  await fc.assert(fc.asyncProperty(input, maxFrameBytes, async (bytes, max) => {
    const expected = model(bytes, max)
    const [writer, readerStream] = await streamPair({ delay: 0 })
    const reader = new FramedStream(readerStream, max)
    try {
      if (!writer.send(bytes)) await writer.onDrain()
      for (const frame of expected.frames) {
        const next = await readOne(reader)
        assert.ok('frame' in next, `a frame, not ${'error' in next ? String(next.error) : ''}`)
        assert.deepEqual(next.frame, frame)
      }
      if (expected.end === 'eof' || expected.end === 'closed') return // the reader rightly waits for the rest
      const next = await readOne(reader)
      assert.ok('error' in next && next.error instanceof ParleyError, 'a ParleyError')
      assert.equal(next.error.code, expected.end === 'too-large' ? ErrorCode.TooLarge : ErrorCode.Malformed)
    } finally {
      reader.abort(new Error('case over'))
      writer.abort(new Error('case over'))
    }
  }), params(scaled(300)))
})
