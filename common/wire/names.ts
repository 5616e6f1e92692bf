/**
 * Names that cross the wire: usernames, group names, file names. Each is checked (or, for file
 * names a receiver will write to disk, sanitised) at the boundary.
 */
import { ErrorCode, ParleyError } from '../errors.ts'
import { MAX_FILE_NAME_BYTES, MAX_NAME_LENGTH } from './limits.ts'

/** Usernames and group names: 1–32 of [a-z0-9_.-], compared case-insensitively (issue 3). */
export const NAME_PATTERN = /^[a-z0-9_.-]{1,32}$/

/** A username or group name, lower-cased; a ParleyError if it is not a valid name. */
export function normaliseName (raw: string, what: 'username' | 'group' = 'username'): string {
  const name = raw.toLowerCase()
  if (!NAME_PATTERN.test(name) || name === '.' || name === '..') {
    throw new ParleyError(ErrorCode.InvalidName,
      `invalid ${what} "${raw.slice(0, MAX_NAME_LENGTH + 8)}": use 1-${MAX_NAME_LENGTH} of a-z 0-9 _ . -`)
  }
  return name
}

export function isValidName (name: string): boolean {
  return NAME_PATTERN.test(name) && name !== '.' && name !== '..'
}

// C0/C1 controls, and the Unicode bidi controls that make "evil\u202Egnp.exe" look like
// "evilexe.png" (CVE-2021-42574 style "Trojan Source" tricks).
const CONTROL_OR_BIDI = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu
const PATH_SEPARATORS = /[/\\:]/g
// Device names Windows refuses as file names, with or without an extension.
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i

/**
 * A file name from the network made safe to create in the downloads folder: no directories, no
 * controls or bidi tricks, no dot-only or reserved names, at most 255 UTF-8 bytes. Never returns
 * an empty string. Uniqueness on disk (no overwrite) is the store's job.
 */
export function sanitiseFileName (raw: string): string {
  let name = raw.normalize('NFC').replace(CONTROL_OR_BIDI, '').replace(PATH_SEPARATORS, '_').trim()
  name = name.replace(/^\.+/, '') // no hidden files, no "." or ".."
  if (WINDOWS_RESERVED.test(name)) name = `_${name}`
  name = truncateUtf8(name, MAX_FILE_NAME_BYTES - 5) // room for a " (n)" suffix and ".part"
  return name === '' ? 'file' : name
}

function truncateUtf8 (text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text
  const extension = /\.[^.]{1,10}$/.exec(text)?.[0] ?? ''
  let stem = text.slice(0, text.length - extension.length)
  while (Buffer.byteLength(stem + extension) > maxBytes && stem.length > 0) {
    stem = [...stem].slice(0, -1).join('')
  }
  return stem + extension
}
