/**
 * Fuzz: the prompt's command parser (peer/cli/commands.ts parseCommand). Any line answers a
 * Command, null (blank line), ERR_USAGE, ERR_TOO_LARGE (a line longer than any command) or
 * ERR_INVALID_NAME (a user or group that cannot be one); message text is kept exactly as typed; file paths keep their spaces, and a path quoted or escaped as a shell writes it is the path it quotes. 10,000 cases per property (the long-line property: 200).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode } from '../../../common/errors.ts'
import { NAME_PATTERN, isValidName } from '../../../common/wire/names.ts'
import { MAX_COMMAND_CHARS, parseCommand } from '../../../peer/cli/commands.ts'
import type { Command } from '../../../peer/cli/commands.ts'
import { anyString, fc, longString, outcome, params, scaled } from './arbitraries.ts'

const USAGE: readonly ErrorCode[] = [ErrorCode.Usage, ErrorCode.InvalidName, ErrorCode.TooLarge]
const VERBS = ['SIGNUP', 'LOGIN', 'SEND', 'SENDGROUP', 'SENDFILE', 'SENDGROUPFILE', 'CREATE', 'JOIN', 'LEAVE', 'MEMBERS',
  'HISTORY', 'VERIFY', 'TRUST', 'LIST', 'WHO', 'HELP', 'QUIT', 'EXIT']
const RESULT_VERBS = new Set(VERBS.filter(verb => verb !== 'EXIT'))

/** JavaScript's \s, the separator parseCommand splits on (the same set String#trim removes). */
const WHITESPACE = [' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u1680', '\u2000', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff']
const space = fc.constantFrom(...WHITESPACE)
const spaces = fc.string({ unit: space, minLength: 1, maxLength: 3 })
/** A user or group as a person may type it: a valid name in any case. */
const recipient = fc.mixedCase(fc.stringMatching(NAME_PATTERN).filter(isValidName))
const word = anyString({ minLength: 1, maxLength: 12 }).map(text => text.replace(/\s/g, '')).filter(text => text !== '')

/** What every parsed command must look like: a known verb, its users and groups valid names
 * (lower-cased, so one word each), a count in range. */
function checkCommand (line: string, command: Command | null): void {
  if (command === null) {
    assert.equal(line.trim(), '', 'null only for a blank line')
    return
  }
  assert.ok(RESULT_VERBS.has(command.verb), `verb ${command.verb}`)
  const name = (value: string): void => { assert.ok(isValidName(value), `a valid name: ${JSON.stringify(value)}`) }
  switch (command.verb) {
    case 'SIGNUP':
    case 'LOGIN':
      name(command.user)
      if (command.password !== undefined) assert.notEqual(command.password, '')
      break
    case 'SEND':
      name(command.user)
      assert.notEqual(command.text.trim(), '')
      break
    case 'SENDGROUP':
      name(command.group)
      assert.notEqual(command.text.trim(), '')
      break
    case 'SENDFILE':
      name(command.user)
      assert.notEqual(command.file, '') // (spaces at its ends are the name's when it was quoted)
      break
    case 'SENDGROUPFILE':
      name(command.group)
      assert.notEqual(command.file, '')
      break
    case 'CREATE': case 'JOIN': case 'LEAVE': case 'MEMBERS':
      name(command.group)
      break
    case 'VERIFY': case 'TRUST':
      name(command.user)
      break
    case 'HISTORY':
      name(command.group)
      if (command.user !== null) assert.equal(command.group, command.user, 'one name, as a user and as a group (#group: the group alone)')
      if (command.count !== undefined) assert.ok(Number.isSafeInteger(command.count) && command.count >= 1 && command.count <= 999_999)
      break
    default:
      assert.equal(Object.keys(command).length, 1)
  }
}

function checkLine (line: string): void {
  const result = outcome(() => parseCommand(line), USAGE)
  if (result.ok) checkCommand(line, result.value)
}

/** `<verb in any case> <arguments>` with arbitrary spacing, then a few character edits. */
const commandLike = fc.tuple(
  fc.string({ unit: space, maxLength: 2 }),
  fc.mixedCase(fc.constantFrom(...VERBS, 'SENDS', 'SEN', 'QUITS', '')),
  fc.array(fc.tuple(spaces, fc.oneof(word, fc.constantFrom('1', '0', '999999', '1000000', '-1', '01', '1e3', '١'))), { maxLength: 4 }),
  fc.string({ unit: space, maxLength: 2 })
).map(([lead, verb, args, tail]) => lead + verb + args.map(([sep, w]) => sep + w).join('') + tail)

test('parseCommand answers arbitrary lines with a command, null for a blank line, or ERR_USAGE', () => {
  fc.assert(fc.property(anyString({ maxLength: 80 }), line => { checkLine(line) }), params())
})

test('parseCommand answers every verb in any case with any arguments and spacing with a well-formed command or ERR_USAGE', () => {
  fc.assert(fc.property(commandLike, line => { checkLine(line) }), params())
})

test('SEND and SENDGROUP keep the message as typed from its first character: every word, its case, inner and trailing spaces, newlines', () => {
  // The spaces after the recipient separate it from the text, however many (until 2026-12-06
  // only the first did: `SEND alice  two` sent " two", round 7); text needs one non-blank character.
  const text = anyString({ maxLength: 60 }).filter(t => t.trim() !== '')
  fc.assert(fc.property(fc.string({ unit: space, maxLength: 2 }), fc.mixedCase(fc.constantFrom('SEND', 'SENDGROUP')), spaces, recipient, space, text,
    (lead, verb, gap, to, separator, message) => {
      const command = parseCommand(`${lead}${verb}${gap}${to}${separator}${message}`)
      const typed = message.replace(/^\s+/, '')
      if (verb.toUpperCase() === 'SEND') assert.deepEqual(command, { verb: 'SEND', user: to.toLowerCase(), text: typed })
      else assert.deepEqual(command, { verb: 'SENDGROUP', group: to.toLowerCase(), text: typed })
    }), params())
})

test('SENDFILE and SENDGROUPFILE keep a path with spaces whole, the recipient being the last word', () => {
  // (Quotes and backslashes left out: a path with them may be quoted or escaped, the next properties.)
  const plain = word.map(text => text.replace(/['"\\]/g, '')).filter(text => text !== '')
  const path = fc.array(fc.tuple(plain, fc.string({ unit: space, minLength: 1, maxLength: 2 })), { minLength: 1, maxLength: 4 })
    .map(parts => parts.map(([w, sep]) => w + sep).join('').trim())
  fc.assert(fc.property(fc.mixedCase(fc.constantFrom('SENDFILE', 'SENDGROUPFILE')), spaces, path, spaces, recipient, fc.string({ unit: space, maxLength: 2 }),
    (verb, gap, file, separator, to, tail) => {
      const command = parseCommand(`${verb}${gap}${file}${separator}${to}${tail}`)
      if (verb.toUpperCase() === 'SENDFILE') assert.deepEqual(command, { verb: 'SENDFILE', file, user: to.toLowerCase() })
      else assert.deepEqual(command, { verb: 'SENDGROUPFILE', file, group: to.toLowerCase() })
    }), params())
})

/** The words around a path, varied as the previous property varies them. */
const around = fc.record({
  verb: fc.mixedCase(fc.constantFrom('SENDFILE', 'SENDGROUPFILE')), gap: spaces, separator: spaces, to: recipient, tail: fc.string({ unit: space, maxLength: 2 })
})

/** The path parsed from a SENDFILE or SENDGROUPFILE line with `typed` in it. */
function parsedPath (typed: string, { verb, gap, separator, to, tail }: { verb: string, gap: string, separator: string, to: string, tail: string }): string | undefined {
  const command = parseCommand(`${verb}${gap}${typed}${separator}${to}${tail}`)
  return command?.verb === 'SENDFILE' || command?.verb === 'SENDGROUPFILE' ? command.file : undefined
}

test('a path quoted as a shell quotes it, in \'…\' or "…", is that path, whatever it holds', () => {
  const single = (path: string): string => `'${path.replaceAll('\'', '\'\\\'\'')}'`
  const double = (path: string): string => `"${path.replace(/["\\$`]/g, '\\$&')}"`
  fc.assert(fc.property(anyString({ minLength: 1, maxLength: 30 }), fc.boolean(), around, (path, useSingle, words) => {
    assert.equal(parsedPath(useSingle ? single(path) : double(path), words), path)
  }), params())
})

test('a path with a backslash before each space and shell character, as bash\'s printf %q writes it, is that path', () => {
  // (Other whitespace is no part of this: a shell writes a newline as $'\n'.)
  const special = ' \t\'"\\|&;()<>!{}*[?]^$`,#~='
  const char = fc.oneof(fc.constantFrom(...special), anyString({ minLength: 1, maxLength: 1 }).filter(c => !/\s/.test(c)))
  fc.assert(fc.property(fc.string({ unit: char, minLength: 1, maxLength: 30 }), around, (path, words) => {
    const escaped = [...path].map(c => special.includes(c) ? `\\${c}` : c).join('')
    assert.equal(parsedPath(escaped, words), path)
  }), params())
})

// 200 runs of lines up to the longest a command may be (a longer one is refused before any
// regex looks at it): the parser's regexes must stay linear.
test('parseCommand answers very long lines in linear time', () => {
  const line = fc.tuple(fc.constantFrom('', ...VERBS.map(v => v + ' ')), longString(10_000, MAX_COMMAND_CHARS)).map(([verb, rest]) => verb + rest)
  fc.assert(fc.property(line, text => { checkLine(text) }), params(scaled(200)))
})
