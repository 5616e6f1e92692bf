/**
 * Names that cross the wire: usernames, group names, file names. Each is checked (or, for file
 * names a receiver will write to disk, sanitised) at the boundary. Usernames, group names and
 * message ids are branded types: `toUsername()`, `toGroupName()` and `toMessageId()` are the only ways
 * a plain string becomes one (`toNewUsername()` and `toNewGroupName()` are the same, stricter,
 * for names being made), so a value of the type is known valid and the three cannot be mixed.
 */
import { ErrorCode, ParleyError, malformed } from '../errors.ts'
import { MAX_FILE_NAME_BYTES, MAX_NAME_LENGTH } from './limits.ts'

/** Usernames and group names: 1–32 of [a-z0-9_.-], compared case-insensitively (issue 3). */
export const NAME_PATTERN = /^[a-z0-9_.-]{1,32}$/

/** A name refused, as its error quotes it: whole, or its start and "…" when it is much too long
 * (until 2026-12-06 a 33-character name was quoted whole with "…" after it, as if cut: round 7). */
function quoted (raw: string): string {
  const shown = MAX_NAME_LENGTH + 8
  return raw.length <= shown ? raw : `${raw.slice(0, shown)}…`
}

/** A username or group name, lower-cased; a ParleyError if it is not a valid name. */
export function normaliseName (raw: string, what: 'username' | 'group' = 'username'): string {
  const name = raw.toLowerCase()
  if (name.length > MAX_NAME_LENGTH && NAME_PATTERN.test(name.slice(0, MAX_NAME_LENGTH))) {
    // Said as too long, not as made of the wrong characters (a tester's finding, until 2026-12-06).
    throw new ParleyError(ErrorCode.InvalidName, `invalid ${what} "${quoted(raw)}": at most ${MAX_NAME_LENGTH} characters (this one has ${raw.length})`)
  }
  if (!NAME_PATTERN.test(name) || name === '.' || name === '..') {
    throw new ParleyError(ErrorCode.InvalidName,
      `invalid ${what} "${quoted(raw)}": use 1-${MAX_NAME_LENGTH} of a-z 0-9 _ . - (not "." or "..")`)
  }
  return name
}

/**
 * A name someone is making (SIGNUP, CREATE, a JOIN that creates) starts with a letter or digit:
 * `-`, `_` or `.x` passed NAME_PATTERN and made users and groups no one can tell apart from
 * punctuation (or from a command-line option). Only new names are held to it: an account or
 * group already made under the old rule is still read, looked up, signed in to and joined.
 */
const NEW_NAME_START = /^[a-z0-9]/
/** …and ends with one: `bob.` or `bob-` read as bob in a line such as "bob.: hi" (a tester's
 * finding, until 2026-12-06). */
const NEW_NAME_END = /[a-z0-9]$/

/** A name about to be made: a valid name (normaliseName) that starts with a letter or digit, or
 * ERR_INVALID_NAME saying so. The one check for new names, on the peer and the rendezvous. */
function normaliseNewName (raw: string, what: 'username' | 'group' = 'username'): string {
  const name = normaliseName(raw, what)
  if (!NEW_NAME_START.test(name)) {
    throw new ParleyError(ErrorCode.InvalidName,
      `invalid ${what} "${raw}": a new ${what} must start with a letter or digit (a-z, 0-9)`)
  }
  if (!NEW_NAME_END.test(name)) {
    throw new ParleyError(ErrorCode.InvalidName,
      `invalid ${what} "${raw}": a new ${what} must end with a letter or digit (a-z, 0-9), or it reads as another name`)
  }
  return name
}

declare const brand: unique symbol
type Branded<T, B extends string> = T & { readonly [brand]: B }

/** A valid, lower-cased username. */
export type Username = Branded<string, 'Username'>
/** A valid, lower-cased group name (the same rules as a username, its own type). */
export type GroupName = Branded<string, 'GroupName'>
/** A message id: 16 random bytes as 32 lower-case hex characters (peer/session.ts makes them). */
export type MessageId = Branded<string, 'MessageId'>

/** `T` with every Username, GroupName and MessageId in it a plain string: what a writer may
 * give an encoder that checks (and brands) the names itself, as a client's request or the
 * rendezvous's answer. */
export type Plain<T> =
  T extends Username | GroupName | MessageId ? string
    : T extends Uint8Array ? T
      : T extends Array<infer E> ? Array<Plain<E>>
        : T extends object ? { [K in keyof T]: Plain<T[K]> }
          : T

const MESSAGE_ID_PATTERN = /^[0-9a-f]{32}$/

/** The one way a string becomes a Username: lower-cased, or ERR_INVALID_NAME. */
export function toUsername (raw: string): Username {
  return normaliseName(raw, 'username') as Username
}

/** The one way a string becomes a GroupName: lower-cased, or ERR_INVALID_NAME. */
export function toGroupName (raw: string): GroupName {
  return normaliseName(raw, 'group') as GroupName
}

/** A username for a new account (SIGNUP): toUsername, and it starts with a letter or digit. */
export function toNewUsername (raw: string): Username {
  return normaliseNewName(raw, 'username') as Username
}

/** A group name for a new group (CREATE, a JOIN that creates it): toGroupName, and it starts
 * with a letter or digit. */
export function toNewGroupName (raw: string): GroupName {
  return normaliseNewName(raw, 'group') as GroupName
}

/** The one way a string becomes a MessageId: exactly 32 lower-case hex characters, or
 * ERR_MALFORMED (an id comes from the wire or the store, never from a person). */
export function toMessageId (raw: string): MessageId {
  if (!MESSAGE_ID_PATTERN.test(raw)) {
    throw malformed(`invalid message id "${raw.slice(0, 40)}": want 32 hex characters`)
  }
  return raw as MessageId
}

export function isValidName (name: string): boolean {
  return NAME_PATTERN.test(name) && name !== '.' && name !== '..'
}

// C0/C1 controls, and the Unicode bidi controls that make "evil\u202Egnp.exe" look like
// "evilexe.png" (CVE-2021-42574 style "Trojan Source" tricks).
const CONTROL_OR_BIDI = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu
// Characters that show as nothing: zero-width ones (not the joiners U+200C/D, which emoji and
// several scripts need) and the blank letters (Hangul fillers, the braille blank). A name of them
// alone was kept as a file no file manager shows a name for, and a run of them hid where a name
// ends (`invoice\u3164\u3164\u3164.pdf.exe`: round 40). The combining ones stand outside the
// class, as the lint's no-misleading-character-class asks.
const INVISIBLE = /[\u115f\u1160\u200b\u2060\u2800\u3164\ufeff\uffa0\u180e]|\u034f|\u17b4|\u17b5|\u180b|\u180c|\u180d|\u180f/gu
const PATH_SEPARATORS = /[/\\:]/g
// Device names Windows refuses as file names, with or without an extension. Fuzzing fix (issue 7):
// the `s` flag, so that `.*` also covers U+2028/U+2029, which are kept inside a name; without it
// "nul.txt\u2028x" was not seen as reserved, and a long one could be cut down to a bare "NUL.aaa…".
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/is

/**
 * A file name from the network made safe to create in the downloads folder: no directories, no
 * controls or bidi tricks, nothing invisible, no dot-only or reserved names, no white space at either end, at most
 * 255 UTF-8 bytes. Never returns an empty string. Uniqueness on disk (no overwrite) is the
 * store's job. A sender announces a file under this name too (peer/files/send.ts), so what it
 * announces is what a signal header accepts (headers.ts) and what the receiver keeps.
 */
export function sanitiseFileName (raw: string): string {
  let name = raw.normalize('NFC').replace(CONTROL_OR_BIDI, '').replace(INVISIBLE, '').replace(PATH_SEPARATORS, '_')
  // No hidden files, no "." or "..". Leading dots and white space go together: ". .x" is "x"
  // (until 2026-12-05 it was " .x", whose leading space a signal header refuses).
  name = fitted(name.replace(/^[\s.]+/, ''))
  // After the cut: "aux   ." cut to "aux   " and trimmed is a device name again.
  if (WINDOWS_RESERVED.test(name)) name = fitted(`_${name}`)
  return name === '' ? 'file' : name
}

/** Room for a " (n)" suffix and ".part"; no white space at the end, also where the cut fell. */
function fitted (name: string): string {
  return truncateUtf8(name.trimEnd(), MAX_FILE_NAME_BYTES - 5).trimEnd()
}

function truncateUtf8 (text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text
  const extension = /\.[^.]{1,10}$/.exec(text)?.[0] ?? ''
  // Fuzzing fix (issue 7): keep the longest whole-code-point prefix of the stem that fits, in one
  // pass. The old loop re-split the whole stem once per code point it dropped, which is quadratic:
  // about 2 s for a 20,000-character name. The result is the same (the extension starts with '.',
  // so no surrogate pair straddles the cut).
  const budget = maxBytes - Buffer.byteLength(extension)
  let stem = ''
  let used = 0
  for (const char of text.slice(0, text.length - extension.length)) {
    const size = Buffer.byteLength(char)
    if (used + size > budget) break
    stem += char
    used += size
  }
  return stem + extension
}
