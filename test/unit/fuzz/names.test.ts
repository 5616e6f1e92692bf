/**
 * Fuzz: names (common/wire/names.ts). normaliseName answers a valid, lower-cased name or
 * ERR_INVALID_NAME; sanitiseFileName never throws and keeps every guarantee of its doc comment.
 * 10,000 cases per property (the long-input property: 200, each up to 200,000 characters).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode } from '../../../common/errors.ts'
import { formatHeader } from '../../../common/wire/headers.ts'
import { MAX_FILE_BYTES, MAX_FILE_NAME_BYTES, MAX_NAME_LENGTH } from '../../../common/wire/limits.ts'
import { NAME_PATTERN, isValidName, normaliseName, sanitiseFileName } from '../../../common/wire/names.ts'
import { anyString, fc, longString, outcome, params, scaled } from './arbitraries.ts'

// --- normaliseName -------------------------------------------------------------------------------

/** Valid names in mixed case, and names one edit away from valid. */
const nameLike = fc.oneof(
  fc.mixedCase(fc.stringMatching(NAME_PATTERN)),
  fc.tuple(fc.stringMatching(NAME_PATTERN), fc.nat(), anyString({ minLength: 1, maxLength: 2 }))
    .map(([name, at, char]) => name.slice(0, at % (name.length + 1)) + char + name.slice(at % (name.length + 1))),
  fc.constantFrom('.', '..', '...', '', ' ', 'a'.repeat(32), 'a'.repeat(33), 'A'.repeat(32), '\u212aate', '\u0130stanbul', 'bob\n')
)

for (const [label, input] of [['arbitrary strings', anyString({ maxLength: 48 })], ['name-like strings', nameLike]] as const) {
  test(`normaliseName answers ${label} with a valid lower-case name or ERR_INVALID_NAME`, () => {
    fc.assert(fc.property(input, fc.constantFrom<'username' | 'group'>('username', 'group'), (raw, what) => {
      const result = outcome(() => normaliseName(raw, what), [ErrorCode.InvalidName])
      if (!result.ok) {
        assert.ok(!isValidName(raw.toLowerCase()), `refused a name that is valid once lower-cased: ${JSON.stringify(raw)}`)
        return
      }
      assert.ok(isValidName(result.value), `not a valid name: ${JSON.stringify(result.value)}`)
      assert.equal(result.value, raw.toLowerCase())
      assert.equal(normaliseName(result.value, what), result.value, 'idempotent')
    }), params())
  })
}

// --- sanitiseFileName ----------------------------------------------------------------------------

/** What its doc comment promises: no directories (no / \ :), no C0/C1 controls, no bidi
 * controls, no hidden or dot-only name, no Windows device name, at most 255 UTF-8 bytes
 * (in fact 250: room for " (n)" and ".part"), never empty. */
function checkSanitised (raw: string, name: string): void {
  const shown = JSON.stringify(raw)
  assert.equal(typeof name, 'string')
  assert.notEqual(name, '', `empty for ${shown}`)
  assert.ok(!/[/\\:]/.test(name), `path separator in ${JSON.stringify(name)} for ${shown}`)
  assert.ok(!/\p{Cc}/u.test(name), `control character in ${JSON.stringify(name)} for ${shown}`)
  assert.ok(!/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(name), `bidi control in ${JSON.stringify(name)} for ${shown}`)
  assert.ok(name !== '.' && name !== '..' && !name.startsWith('.'), `hidden or dot name ${JSON.stringify(name)} for ${shown}`)
  // A device name alone or before any dot (Windows reads "NUL.anything" as the device too).
  assert.ok(!/^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)/i.test(name), `Windows device name ${JSON.stringify(name)} for ${shown}`)
  assert.ok(Buffer.byteLength(name) <= MAX_FILE_NAME_BYTES - 5, `${Buffer.byteLength(name)} bytes for ${shown}`)
  // A sender announces its file under this name (peer/files/send.ts): every signal header that
  // carries one takes it (until 2026-12-05 ". x" gave " x", refused for its leading space).
  for (const header of [{ kind: 'FILE', name, size: MAX_FILE_BYTES } as const, { kind: 'GROUP_FILE', group: 'g'.repeat(MAX_NAME_LENGTH), name } as const]) {
    assert.doesNotThrow(() => formatHeader(header), `header refuses ${JSON.stringify(name)} for ${shown}`)
  }
}

/** Names built to hit each rule: dots, separators, reserved names, bidi tricks, long stems
 * with extensions, multi-byte characters across the 250-byte cut. */
const fileNameLike = fc.tuple(
  fc.array(fc.oneof(
    fc.constantFrom('.', '..', '/', '\\', ':', ' ', '\u202e', '\u2066', '\u0000', '\u0085', '\u2028', '\u2029', 'con', 'NUL', 'com1',
      'lpt9', 'aux', '.txt', '.tar.gz', '😀', 'é', 'e\u0301', '\ud800'),
    anyString({ maxLength: 10 })
  ), { maxLength: 8 }),
  fc.oneof(fc.constant(0), fc.integer({ min: 200, max: 300 })),
  fc.constantFrom('a', 'é', '😀', '\u4e2d', ' ', '.')
).map(([parts, padding, pad]) => {
  const name = parts.join('')
  const at = Math.min(name.length, 1 + (name.length >> 1))
  return name.slice(0, at) + pad.repeat(padding) + name.slice(at)
})

test('sanitiseFileName turns arbitrary strings into a safe, non-empty name of at most 250 bytes', () => {
  fc.assert(fc.property(anyString({ maxLength: 80 }), raw => {
    const result = outcome(() => sanitiseFileName(raw), [])
    if (result.ok) checkSanitised(raw, result.value)
  }), params())
})

test('sanitiseFileName keeps its guarantees for names built from dots, separators, reserved words, bidi controls and long multi-byte stems', () => {
  fc.assert(fc.property(fileNameLike, raw => {
    const result = outcome(() => sanitiseFileName(raw), [])
    if (result.ok) checkSanitised(raw, result.value)
  }), params())
})

test('sanitiseFileName keeps an ordinary name as it is, and the extension of one cut to length', () => {
  const stem = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 _-]{0,40}[A-Za-z0-9]$/)
  const extension = fc.stringMatching(/^\.[a-z0-9]{1,5}$/)
  fc.assert(fc.property(stem, extension, fc.integer({ min: 1, max: 400 }), (base, ext, repeat) => {
    const raw = base.repeat(repeat) + ext
    const name = sanitiseFileName(raw)
    checkSanitised(raw, name)
    if (Buffer.byteLength(raw) <= MAX_FILE_NAME_BYTES - 5 && !/^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i.test(base)) {
      assert.equal(name, raw.trim())
    } else {
      assert.ok(name.endsWith(ext), `extension kept: ${name}`)
    }
  }), params())
})

// 200 runs: each builds a string of up to 200,000 characters. This found sanitiseFileName's
// truncation to be quadratic (about 2 s for a 20,000-character name before the fix).
test('sanitiseFileName handles very long names in linear time', () => {
  fc.assert(fc.property(longString(10_000, 200_000), raw => {
    const result = outcome(() => sanitiseFileName(raw), [])
    if (result.ok) checkSanitised(raw.slice(0, 64), result.value)
  }), params(scaled(200)))
})
