/**
 * Signal headers: the first frame of every peer-to-peer stream, one UTF-8 line that tells the
 * receiver what follows (the customer's signal messages, DESIGN.md §5).
 *
 *   SESSION                      a direct session: one stream for many messages (issue 11)
 *   MSG                          a direct text message (inside a session)
 *   FILE <name> <size>           a direct file; the name may contain spaces
 *   KEY <group> <epoch>          a group key handed over a direct DH session (inside one)
 *   GROUP <group>                a group text message (inside a direct session)
 *   GROUP <group> <file name>    a group file; the name may contain spaces
 */
import { malformed, tooLarge } from '../errors.ts'
import { MAX_FILE_BYTES, MAX_FILE_NAME_BYTES, MAX_HEADER_BYTES } from './limits.ts'
import { isValidName, toGroupName } from './names.ts'
import type { GroupName, Plain } from './names.ts'

/** A header as parsed: its group is a GroupName. */
export type ParsedHeader =
  | { kind: 'SESSION' }
  | { kind: 'MSG' }
  | { kind: 'FILE', name: string, size: number }
  | { kind: 'KEY', group: GroupName, epoch: number }
  | { kind: 'GROUP', group: GroupName }
  | { kind: 'GROUP_FILE', group: GroupName, name: string }

/** A header as a sender writes it: the group a plain string (formatHeader checks it by parsing
 * what it made). A ParsedHeader is one too. */
export type SignalHeader = Plain<ParsedHeader>

// Fuzzing fix (issue 7): ignoreBOM keeps a leading U+FEFF in the text, so "\uFEFFMSG" is refused as
// an unknown verb; TextDecoder's default silently dropped it and accepted a second spelling of MSG.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const encoder = new TextEncoder()
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/

export function formatHeader (header: SignalHeader): Uint8Array {
  const line = headerLine(header)
  const bytes = encoder.encode(line)
  if (bytes.byteLength > MAX_HEADER_BYTES) throw tooLarge('signal header too long')
  // Round-trip through the parser so we never send what we would refuse to read.
  parseHeader(bytes)
  return bytes
}

function headerLine (header: SignalHeader): string {
  switch (header.kind) {
    case 'SESSION': return 'SESSION'
    case 'MSG': return 'MSG'
    case 'FILE': return `FILE ${header.name} ${header.size}`
    case 'KEY': return `KEY ${header.group} ${header.epoch}`
    case 'GROUP': return `GROUP ${header.group}`
    case 'GROUP_FILE': return `GROUP ${header.group} ${header.name}`
  }
}

export function parseHeader (bytes: Uint8Array): ParsedHeader {
  if (bytes.byteLength > MAX_HEADER_BYTES) throw tooLarge('signal header too long')
  let line: string
  try {
    line = decoder.decode(bytes)
  } catch {
    throw malformed('signal header is not UTF-8')
  }
  // C0, DEL and C1 (U+0080–U+009F: a terminal may read U+009B as CSI) are never part of a header.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(line)) throw malformed('signal header has control characters')
  const space = line.indexOf(' ')
  const verb = space === -1 ? line : line.slice(0, space)
  const rest = space === -1 ? '' : line.slice(space + 1)
  switch (verb) {
    case 'SESSION':
    case 'MSG':
      if (rest !== '' || space !== -1) throw malformed(`${verb} takes no arguments`)
      return { kind: verb }
    case 'FILE': {
      const last = rest.lastIndexOf(' ')
      if (last <= 0) throw malformed('FILE needs <name> <size>')
      return { kind: 'FILE', name: fileName(rest.slice(0, last)), size: fileSize(rest.slice(last + 1)) }
    }
    case 'KEY': {
      const parts = rest.split(' ')
      if (parts.length !== 2) throw malformed('KEY needs <group> <epoch>')
      return { kind: 'KEY', group: groupName(parts[0] ?? ''), epoch: epochNumber(parts[1] ?? '') }
    }
    case 'GROUP': {
      const gap = rest.indexOf(' ')
      if (gap === -1) return { kind: 'GROUP', group: groupName(rest) }
      return { kind: 'GROUP_FILE', group: groupName(rest.slice(0, gap)), name: fileName(rest.slice(gap + 1)) }
    }
    default:
      throw malformed(`unknown signal header "${verb.slice(0, 16)}"`)
  }
}

/** Names are sent lower-cased (NAME_PATTERN): one that is not is malformed, not put right. */
function groupName (text: string): GroupName {
  if (!isValidName(text)) throw malformed('invalid group name in signal header')
  return toGroupName(text)
}

function fileName (text: string): string {
  if (text.length === 0 || text.trim() !== text) throw malformed('invalid file name in signal header')
  if (encoder.encode(text).byteLength > MAX_FILE_NAME_BYTES) throw tooLarge('file name too long')
  return text
}

function fileSize (text: string): number {
  if (!DECIMAL.test(text)) throw malformed('file size must be a decimal number')
  const size = Number(text)
  if (size > MAX_FILE_BYTES) throw tooLarge('file too large')
  return size
}

function epochNumber (text: string): number {
  if (!DECIMAL.test(text)) throw malformed('epoch must be a decimal number')
  const epoch = Number(text)
  if (!Number.isSafeInteger(epoch)) throw malformed('epoch out of range')
  return epoch
}
