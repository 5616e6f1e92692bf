/**
 * The one table of commands (peer/cli/commands.ts COMMANDS) against everything derived from it
 * or written beside it: the parser, HELP, completion and the README's command table.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ErrorCode, is } from '../../../common/errors.ts'
import { COMMANDS, HELP, MAX_COMMAND_CHARS, parseCommand, slotsOf, unclosedQuoteHint } from '../../../peer/cli/commands.ts'
import { expandHome } from '../../../peer/cli/paths.ts'
import { describe } from '../../../peer/cli/output.ts'
import { complete } from '../../../peer/cli/complete.ts'
import type { GroupName, Username } from '../../../common/wire/names.ts'

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')

/** A line that fills every placeholder of a usage with a plausible word. */
const example = (usage: string): string => usage
  .replace(/\[<password>\]/, 'hunter2hunter2').replace(/\[n\]/, '5').replace(/\[(<[^\]]*)\]/, '$1')
  .replace(/<[a-z|#]+>/g, 'word')

test('every command in the table parses in the words of its usage, and only unknown words are unknown', () => {
  for (const { verb, usage } of COMMANDS) {
    const parsed = parseCommand(example(usage))
    assert.equal(parsed?.verb, verb === 'EXIT' ? 'QUIT' : verb, usage)
    assert.equal(parseCommand(example(usage).toLowerCase())?.verb, verb === 'EXIT' ? 'QUIT' : verb, 'any case')
  }
  assert.throws(() => parseCommand('FROBNICATE x'), (err: unknown) => is(err, ErrorCode.Usage) && /unknown command/.test((err as Error).message))
})

test('a usage error quotes the table\'s usage', () => {
  for (const { verb, usage } of COMMANDS) {
    if (usage === verb) continue // nothing to get wrong but extra words
    if (/^\S+ \[[^\]]*\]$/.test(usage)) continue // alone it does something (PASSWORD asks, BLOCK lists)
    assert.throws(() => parseCommand(verb), (err: unknown) => is(err, ErrorCode.Usage) && (err as Error).message === `usage: ${usage}`, verb)
  }
})

test('HELP lists every command with its usage and help', () => {
  for (const { verb, usage, help } of COMMANDS) {
    if (verb === 'EXIT') continue
    assert.ok(HELP.some(line => line.startsWith(usage + ' ') && line.endsWith(help)), `HELP has ${usage}`)
  }
  // The help event is the commands alone (a --json client has no Tab key); a terminal adds the keys.
  assert.equal(HELP.length, COMMANDS.length - 1)
  assert.match(describe({ event: 'help', commands: HELP }) ?? '', /\n\nTab completes commands, users, groups and file paths; Up\/Down and Ctrl-R search the history\.$/)
})

test('the README\'s command table shows every command\'s usage', () => {
  // (a | inside a Markdown table cell is written \|)
  for (const { usage } of COMMANDS) assert.ok(README.includes(`\`${usage.replaceAll('|', '\\|')}\``), `README shows \`${usage}\``)
})

test('completion knows every command word and what its arguments are', () => {
  for (const { verb, complete: slots } of COMMANDS) {
    assert.deepEqual(slotsOf(verb.toLowerCase()), slots)
    assert.ok(complete(verb.slice(0, -1), { users: [], groups: [] })[0].includes(verb + ' '), `${verb} completes`)
  }
})

test('users and groups are checked as the line is parsed: a command holds a Username or GroupName, lower-cased', () => {
  const send = parseCommand('SEND Bob hello')
  assert.ok(send?.verb === 'SEND')
  const user: Username = send.user
  assert.equal(user, 'bob')
  const join = parseCommand('join Club')
  assert.ok(join?.verb === 'JOIN')
  const group: GroupName = join.group
  assert.equal(group, 'club')
  const history = parseCommand('HISTORY Club 5')
  assert.ok(history?.verb === 'HISTORY')
  assert.deepEqual([history.user, history.group, history.count], ['club', 'club', 5])
  // `#` is in no name: #club is the group alone.
  const ofGroup = parseCommand('HISTORY #Club')
  assert.ok(ofGroup?.verb === 'HISTORY')
  assert.deepEqual([ofGroup.user, ofGroup.group, ofGroup.count], [null, 'club', undefined])
  assert.throws(() => parseCommand('HISTORY #'), (err: unknown) => is(err, ErrorCode.InvalidName))
  // Every command that takes a group takes it written as HISTORY writes it (until 2026-12-06
  // `MEMBERS #club` was 'invalid group "#club"').
  for (const line of ['JOIN #Club', 'CREATE #club', 'LEAVE #club', 'MEMBERS #club', 'SENDGROUP #club hi', 'SENDGROUPFILE ./a.txt #club']) {
    const command = parseCommand(line)
    assert.equal(command !== null && command !== undefined && 'group' in command ? command.group : undefined, 'club', line)
  }
  assert.throws(() => parseCommand('SEND #club hi'), (err: unknown) => is(err, ErrorCode.Usage) && /SENDGROUP club/.test((err as Error).message), 'a user is never #: the group is meant')
  // A new name (SIGNUP, CREATE) starts with a letter or digit; LOGIN and JOIN take an old one.
  for (const line of ['SIGNUP - pw', 'SIGNUP _x', 'CREATE -', 'CREATE .team']) {
    assert.throws(() => parseCommand(line), (err: unknown) => is(err, ErrorCode.InvalidName) && /must start with a letter or digit/.test((err as Error).message), line)
  }
  assert.equal(parseCommand('LOGIN _x pw')?.verb, 'LOGIN')
  assert.equal(parseCommand('JOIN -')?.verb, 'JOIN')
  for (const line of ['SEND b@d hi', 'SENDGROUPFILE my file.txt ..', 'VERIFY caf\u00e9', 'LOGIN x'.padEnd(48, 'x')]) {
    assert.throws(() => parseCommand(line), (err: unknown) => is(err, ErrorCode.InvalidName), line)
  }
})

test('PASSWORD alone is asked for; with passwords, the current one is a word and the new one the rest of the line; one alone is a usage error', () => {
  assert.deepEqual(parseCommand('password'), { verb: 'PASSWORD', current: undefined, next: undefined })
  assert.deepEqual(parseCommand('PASSWORD old-pass1  new pass 2'), { verb: 'PASSWORD', current: 'old-pass1', next: ' new pass 2' })
  assert.throws(() => parseCommand('PASSWORD old-pass1'), (err: unknown) => is(err, ErrorCode.Usage) && (err as Error).message === 'usage: PASSWORD [<current> <new>]')
})

test('SEND or SENDFILE to #group says how to send to the group (round 46: "invalid username")', () => {
  assert.throws(() => parseCommand('SEND #work hi'), (err: unknown) => is(err, ErrorCode.Usage) && (err as Error).message === '#work is a group: SENDGROUP work <message>')
  assert.throws(() => parseCommand('SENDFILE /tmp/a.jpg #work'), (err: unknown) => is(err, ErrorCode.Usage) && (err as Error).message === '#work is a group: SENDGROUPFILE <file> work')
  assert.throws(() => parseCommand('SEND #b@d hi'), (err: unknown) => is(err, ErrorCode.InvalidName), 'no group name: the name\'s own error')
})

test('BLOCK takes one user or none (the list); UNBLOCK one', () => {
  assert.deepEqual(parseCommand('block'), { verb: 'BLOCK', user: undefined })
  assert.deepEqual(parseCommand('BLOCK Mallory'), { verb: 'BLOCK', user: 'mallory' })
  assert.deepEqual(parseCommand('UNBLOCK mallory'), { verb: 'UNBLOCK', user: 'mallory' })
  assert.throws(() => parseCommand('BLOCK a b'), (err: unknown) => is(err, ErrorCode.Usage) && (err as Error).message === 'usage: BLOCK [<user>]')
  assert.throws(() => parseCommand('UNBLOCK'), (err: unknown) => is(err, ErrorCode.Usage) && (err as Error).message === 'usage: UNBLOCK <user>')
  // `#trip` is a group, as HISTORY writes it: said so, not "invalid username" (round 47).
  assert.throws(() => parseCommand('BLOCK #trip'), (err: unknown) => is(err, ErrorCode.Usage) && (err as Error).message === '#trip is a group: BLOCK takes a user (BLOCK [<user>])')
  assert.throws(() => parseCommand('VERIFY #trip'), (err: unknown) => is(err, ErrorCode.Usage) && (err as Error).message === '#trip is a group: VERIFY takes a user (VERIFY <user>)')
  assert.throws(() => parseCommand('UNBLOCK #'), (err: unknown) => is(err, ErrorCode.InvalidName), 'no group\'s name either: the username rule speaks')
})

test('HISTORY says what a count may be; a file path starting with ~ is the home folder, as in a shell', () => {
  assert.throws(() => parseCommand('HISTORY bob 1000000'), (err: unknown) => is(err, ErrorCode.Usage) && /1000000 is not a count of messages: a whole number from 1 to 10000/.test((err as Error).message))
  // The most HISTORY shows is the most it takes (until 2026-12-06 it took 999,999 and showed 1,000).
  assert.throws(() => parseCommand('HISTORY bob 10001'), (err: unknown) => is(err, ErrorCode.Usage))
  assert.deepEqual(parseCommand('HISTORY bob 10000'), { verb: 'HISTORY', user: 'bob', group: 'bob', count: 10_000 })
  assert.throws(() => parseCommand('HISTORY bob 0'), (err: unknown) => is(err, ErrorCode.Usage) && /from 1 to/.test((err as Error).message))
  assert.equal(expandHome('~/holiday pics/a.jpg', '/home/ann'), '/home/ann/holiday pics/a.jpg')
  assert.equal(expandHome('~', '/home/ann'), '/home/ann')
  for (const kept of ['~bob/a.jpg', './~/a.jpg', 'a~/b', '/tmp/~']) assert.equal(expandHome(kept, '/home/ann'), kept)
})

test('a file path quoted or backslash-escaped as a shell or a dragged file writes it is the file it names', () => {
  const file = (line: string): string | undefined => {
    const command = parseCommand(line)
    return command?.verb === 'SENDFILE' || command?.verb === 'SENDGROUPFILE' ? command.file : undefined
  }
  // Wrapped whole in matching quotes: the quotes go (GNOME Terminal drops a file this way).
  assert.equal(file("SENDFILE '/tmp/x/my photo (1).jpg' bob"), '/tmp/x/my photo (1).jpg')
  assert.equal(file("SENDFILE '/tmp/x/my photo (1).jpg'  bob"), '/tmp/x/my photo (1).jpg', 'the space a drop leaves after it')
  assert.equal(file('SENDGROUPFILE "/tmp/x/my photo.jpg" friends'), '/tmp/x/my photo.jpg')
  assert.equal(file(String.raw`SENDFILE '/tmp/it'\''s.jpg' bob`), "/tmp/it's.jpg", "bash's '\\'' is a quote")
  assert.equal(file(String.raw`SENDFILE "say \"hi\" \\ \$5.txt" bob`), String.raw`say "hi" \ $5.txt`)
  assert.equal(file("SENDFILE ' padded ' bob"), ' padded ', 'quoted spaces at the ends are the name\'s')
  assert.equal(file('SENDFILE "\'odd\'" bob'), "'odd'", 'a name in quotes is typed quoted')
  // Backslash escapes (macOS Terminal, iTerm2, bash's tab completion and printf %q).
  assert.equal(file(String.raw`SENDFILE /tmp/x/my\ photo\ \(1\).jpg bob`), '/tmp/x/my photo (1).jpg')
  assert.equal(file(String.raw`SENDFILE it\'s\ \&\ \"that\"\\.txt bob`), String.raw`it's & "that"\.txt`)
  assert.equal(file(String.raw`SENDFILE ends\  bob`), 'ends ', 'an escaped space at the end stays')
  assert.equal(file(String.raw`SENDFILE ends\\ bob`), 'ends\\', 'an escaped backslash at the end, then the separator')
  // Kept as typed: no quotes around the whole, no backslash before a shell character.
  for (const kept of ["it's mine.txt", "'Bob's and Ann's.txt'", '"half.txt', "'a' and 'b'", String.raw`C:\temp\notes.txt`, 'my photo (1).jpg']) {
    assert.equal(file(`SENDFILE ${kept} bob`), kept)
  }
  assert.throws(() => parseCommand("SENDFILE '' bob"), (err: unknown) => is(err, ErrorCode.Usage), 'an empty quoted path is no path')
})

test('a line longer than any command can be is refused whole, saying the limit', () => {
  const text = 'x'.repeat(MAX_COMMAND_CHARS - 'SEND bob '.length)
  assert.equal(parseCommand(`SEND bob ${text}`)?.verb, 'SEND', 'at the limit: parsed')
  assert.throws(() => parseCommand(`SEND bob ${text}x`),
    (err: unknown) => is(err, ErrorCode.TooLarge) && /at most 32,768 characters.*nothing of it was run/.test((err as Error).message))
})

test('the spaces between SEND\'s name and its text separate them; the text is kept as typed from its first character', () => {
  const send = parseCommand('send alice  two  spaces  ')
  assert.ok(send?.verb === 'SEND')
  assert.equal(send.text, 'two  spaces  ')
  const group = parseCommand('SENDGROUP club \t hi')
  assert.ok(group?.verb === 'SENDGROUP')
  assert.equal(group.text, 'hi')
  assert.throws(() => parseCommand('SEND alice    '), (err: unknown) => is(err, ErrorCode.Usage))
})

test('mistakes a person makes are said as such: a file after its recipient, a group name of two words (round 34)', () => {
  const says = (line: string, code: ErrorCode, message: string): void => {
    assert.throws(() => parseCommand(line), (err: unknown) => is(err, code) && (err as Error).message === message, line)
  }
  // Until 2026-12-07 `invalid username "/tmp/note.txt": use 1-32 of a-z 0-9 _ . -`.
  says('SENDFILE bob /tmp/note.txt', ErrorCode.Usage, 'the file comes first: SENDFILE <file> <user>')
  says('SENDGROUPFILE work ~/clips/a.mp4', ErrorCode.Usage, 'the file comes first: SENDGROUPFILE <file> <group>')
  // A path last but no name first is the name's error, as before.
  says('SENDFILE Bob! /tmp/note.txt', ErrorCode.InvalidName, 'invalid username "/tmp/note.txt": use 1-32 of a-z 0-9 _ . - (not "." or "..")')
  // Round 39: an unclosed quote was taken as part of the path (`cannot open …/"/tmp/my photo.jpg`),
  // and an unquoted name with spaces and no recipient said only that its last word was no username.
  // (A name that starts with a quote is taken as typed: the hint comes only if it cannot be opened.)
  assert.equal(unclosedQuoteHint('"/tmp/my photo (1).jpg', 'SENDFILE'), 'the " before the file\'s name is not closed: SENDFILE "<file>" <user>')
  assert.equal(unclosedQuoteHint('\'/tmp/my photo.jpg', 'SENDGROUPFILE'), 'the \' before the file\'s name is not closed: SENDGROUPFILE \'<file>\' <group>')
  assert.equal(unclosedQuoteHint('\'a\' and \'b\'', 'SENDFILE'), undefined)
  assert.equal(unclosedQuoteHint('/tmp/plain.jpg', 'SENDFILE'), undefined)
  says('SENDFILE /tmp/my photo (1).jpg', ErrorCode.InvalidName, 'invalid username "(1).jpg": use 1-32 of a-z 0-9 _ . - (not "." or ".."). A file\'s name with spaces goes in quotes, the user after it: SENDFILE "/tmp/my photo (1).jpg" <user>')
  const quoted = parseCommand('SENDFILE "/tmp/my photo (1).jpg" bob')
  assert.deepEqual(quoted, { verb: 'SENDFILE', file: '/tmp/my photo (1).jpg', user: 'bob' })
  // A typo of a command is named (round 39: `singup` was only unknown); a word like none is not.
  says('singup alice', ErrorCode.Usage, 'unknown command "singup": did you mean SIGNUP? (HELP lists them)')
  says('SEDN bob hi', ErrorCode.Usage, 'unknown command "SEDN": did you mean SEND? (HELP lists them)')
  says('lsit', ErrorCode.Usage, 'unknown command "lsit": did you mean LIST? (HELP lists them)')
  says('sendgroupfiel x g', ErrorCode.Usage, 'unknown command "sendgroupfiel": did you mean SENDGROUPFILE? (HELP lists them)')
  // Round 43: the words of other messengers name our command (SIGNIN was offered SIGNUP), and
  // QUIT says what it does.
  for (const word of ['SIGNIN', 'logon', 'SignOn', 'singin', 'LGOIN']) {
    says(`${word} dave2 password4`, ErrorCode.Usage, `unknown command "${word}": did you mean LOGIN? (HELP lists them)`)
  }
  for (const word of ['SIGNOUT', 'logout', 'LOGOFF', 'exti', 'QUTI', 'bye']) {
    says(word, ErrorCode.Usage, `unknown command "${word}": did you mean QUIT? (QUIT signs out and leaves; HELP lists them)`)
  }
  says('signpu bob', ErrorCode.Usage, 'unknown command "signpu": did you mean SIGNUP? (HELP lists them)')
  says('pass1234', ErrorCode.Usage, 'unknown command "pass1234": type HELP for the list')
  says('xyz', ErrorCode.Usage, 'unknown command "xyz": type HELP for the list')
  // Until 2026-12-07 only `usage: CREATE <group>`.
  for (const verb of ['CREATE', 'JOIN', 'LEAVE', 'MEMBERS']) {
    says(`${verb} my group`, ErrorCode.Usage, `usage: ${verb} <group>: a group's name is one word, without spaces`)
  }
  says('CREATE', ErrorCode.Usage, 'usage: CREATE <group>')
})
