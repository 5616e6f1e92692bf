/**
 * The command language of the prompt (DESIGN §8): one command per line, the verb in any case.
 * Message text is kept exactly as typed, every word of it; file paths may contain spaces (the
 * recipient is the last word) and may be quoted or escaped as in a shell (paths.ts unquotePath). Users and groups are checked here, as a Username or GroupName
 * (lower-cased; ERR_INVALID_NAME), so a command that parses names only valid ones.
 */
import { ErrorCode, ParleyError, is, tooLarge } from '../../common/errors.ts'
import { toGroupName, toNewGroupName, toNewUsername, toUsername } from '../../common/wire/names.ts'
import type { GroupName, Username } from '../../common/wire/names.ts'
import { unquotePath } from './paths.ts'
import { HISTORY_MAX } from '../constants.ts'

export type Command =
  | { verb: 'SIGNUP' | 'LOGIN', user: Username, password: string | undefined }
  /** Both undefined: asked for, hidden (a terminal only). */
  | { verb: 'PASSWORD', current: string | undefined, next: string | undefined }
  | { verb: 'SEND', user: Username, text: string }
  | { verb: 'SENDGROUP', group: GroupName, text: string }
  | { verb: 'SENDFILE', file: string, user: Username }
  | { verb: 'SENDGROUPFILE', file: string, group: GroupName }
  | { verb: 'CREATE' | 'JOIN' | 'LEAVE' | 'MEMBERS', group: GroupName }
  /** Users and groups share one name space: the name as either (app.ts shows the conversation
   * with the user, else the group's). */
  /** `user` is null for `#group`, which names the group alone. */
  | { verb: 'HISTORY', user: Username | null, group: GroupName, count: number | undefined }
  | { verb: 'VERIFY' | 'TRUST' | 'UNBLOCK', user: Username }
  /** `user` undefined: list those blocked. */
  | { verb: 'BLOCK', user: Username | undefined }
  | { verb: 'LIST' | 'WHO' | 'HELP' | 'QUIT' }

/** What a word after the verb is, for Tab completion: `complete[i]` is word i + 1, the last
 * repeats. `our-group`: a group we are in (any, while none is known); `group-to-join`: one we
 * are not known to be in. */
export type Slot = 'user' | 'blocked-user' | 'group' | 'our-group' | 'group-to-join' | 'target' | 'file' | 'none'

/** One command of the prompt: the one place its words, usage, help and completion are written
 * (the parser below, HELP, completion and the README's table are all checked against it). */
export interface CommandSpec {
  verb: Command['verb'] | 'EXIT'
  /** The whole usage, as HELP and the README show it. */
  usage: string
  help: string
  complete: Slot[]
}

export const COMMANDS: readonly CommandSpec[] = [
  { verb: 'SIGNUP', usage: 'SIGNUP <user> [<password>]', help: 'create an account (no password: asked for, hidden)', complete: ['none'] },
  { verb: 'LOGIN', usage: 'LOGIN <user> [<password>]', help: 'sign in', complete: ['user', 'none'] },
  { verb: 'PASSWORD', usage: 'PASSWORD [<current> <new>]', help: 'change your password (alone: both asked for, hidden)', complete: ['none'] },
  { verb: 'SEND', usage: 'SEND <user> <message>', help: 'a direct, end-to-end encrypted message', complete: ['user', 'none'] },
  { verb: 'SENDFILE', usage: 'SENDFILE <file> <user>', help: 'send any file: image, audio, video, anything', complete: ['file', 'user'] },
  { verb: 'CREATE', usage: 'CREATE <group>', help: 'create a group, with you as its first member (error if it exists)', complete: ['none'] },
  { verb: 'JOIN', usage: 'JOIN <group>', help: 'join a group, creating it if it does not exist', complete: ['group-to-join', 'none'] },
  { verb: 'LIST', usage: 'LIST', help: 'every group and its number of participants', complete: ['none'] },
  { verb: 'SENDGROUP', usage: 'SENDGROUP <group> <message>', help: 'a message to every member of a group', complete: ['our-group', 'none'] },
  { verb: 'SENDGROUPFILE', usage: 'SENDGROUPFILE <file> <group>', help: 'a file to every member of a group', complete: ['file', 'our-group'] },
  { verb: 'MEMBERS', usage: 'MEMBERS <group>', help: 'who is in a group, and who is online', complete: ['group', 'none'] },
  { verb: 'LEAVE', usage: 'LEAVE <group>', help: 'leave a group', complete: ['our-group', 'none'] },
  { verb: 'WHO', usage: 'WHO', help: 'who is online, and your contacts: group-mates and the users you talked with', complete: ['none'] },
  { verb: 'HISTORY', usage: 'HISTORY <user|group|#group> [n]', help: 'the last n messages (default 20); #group: the group, not a user of that name', complete: ['target', 'none'] },
  { verb: 'VERIFY', usage: 'VERIFY <user>', help: 'the fingerprint to compare with <user> out of band', complete: ['user', 'none'] },
  { verb: 'TRUST', usage: 'TRUST <user>', help: 'accept the changed identity VERIFY showed', complete: ['user', 'none'] },
  { verb: 'BLOCK', usage: 'BLOCK [<user>]', help: 'take nothing more from <user>, who is told so (alone: who is blocked)', complete: ['user', 'none'] },
  { verb: 'UNBLOCK', usage: 'UNBLOCK <user>', help: 'take messages from <user> again', complete: ['blocked-user', 'none'] },
  { verb: 'HELP', usage: 'HELP', help: 'this list', complete: ['none'] },
  { verb: 'QUIT', usage: 'QUIT', help: 'leave the program (also EXIT, Ctrl-D, or Ctrl-C on an empty line; on a typed one it clears it)', complete: ['none'] },
  { verb: 'EXIT', usage: 'EXIT', help: 'the same as QUIT', complete: ['none'] }
]

const USAGE_COLUMN = Math.max(...COMMANDS.map(c => c.usage.length)) + 2

/** HELP's answer (the `help` event): every command with its usage. */
export const HELP: string[] = COMMANDS.filter(c => c.verb !== 'EXIT').map(c => c.usage.padEnd(USAGE_COLUMN) + c.help)

/** What a terminal adds to HELP (not part of the event: a --json client has no keys). */
export const TERMINAL_KEYS = 'Tab completes commands, users, groups and file paths; Up/Down and Ctrl-R search the history.'

/** Every command word, for completion. */
export const COMMAND_WORDS: string[] = COMMANDS.map(c => c.verb)

const SPECS = new Map<string, CommandSpec>(COMMANDS.map(c => [c.verb, c]))

/** The completion slots of a verb typed in any case, if it is a command. */
export function slotsOf (verb: string): Slot[] | undefined {
  return SPECS.get(verb.toUpperCase())?.complete
}

/**
 * The longest line taken as a command: SEND's text is at most 16 KiB (MAX_TEXT_BYTES), a file's
 * path 4 KiB; twice that leaves room for the words and spaces around them. A longer line is
 * refused whole, and piped input keeps no more of a line than this (piped-lines.ts).
 */
export const MAX_COMMAND_CHARS = 32 * 1024

/** The usage error of a verb, in the words of its table entry. */
const usageOf = (verb: string): string => SPECS.get(verb)?.usage ?? verb
const usage = (verb: string, why = ''): ParleyError => new ParleyError(ErrorCode.Usage, `usage: ${usageOf(verb)}${why}`)

/** Split off the first word; the rest is returned exactly as typed (minus the one separator). */
function firstWord (text: string): [string, string] {
  const trimmed = text.replace(/^\s+/, '')
  const match = /^(\S+)(?:\s(.*))?$/s.exec(trimmed)
  return match === null ? ['', ''] : [match[1] ?? '', match[2] ?? '']
}

/** Split off the last word: for `<file> <user>`, where the file may contain spaces. */
function lastWord (text: string): [string, string] {
  const trimmed = text.trim()
  const at = trimmed.search(/\s\S+$/)
  return at === -1 ? ['', trimmed] : [trimEndUnescaped(trimmed.slice(0, at).trimStart()), trimmed.slice(at + 1)]
}

/** Whitespace off the end of a path, but not a space its backslash escapes (`my\ ` is "my "). */
function trimEndUnescaped (path: string): string {
  const trimmed = path.trimEnd()
  let backslashes = 0
  while (trimmed[trimmed.length - 1 - backslashes] === '\\') backslashes++
  return backslashes % 2 === 1 && trimmed.length < path.length ? path.slice(0, trimmed.length + 1) : trimmed
}

/** Parse one line; null for a blank line. Errors are ParleyError(ERR_USAGE) with the usage,
 * ERR_INVALID_NAME for a user or group that cannot be one, or ERR_TOO_LARGE for a line longer
 * than any command. */
export function parseCommand (line: string): Command | null {
  if (line.length > MAX_COMMAND_CHARS) {
    throw tooLarge(`a command is at most ${MAX_COMMAND_CHARS.toLocaleString('en')} characters, and this line has more: nothing of it was run`)
  }
  const [verbWord, rest] = firstWord(line)
  if (verbWord === '') return null
  const verb = verbWord.toUpperCase()
  switch (verb) {
    case 'SIGNUP':
    case 'LOGIN': {
      const [user, password] = firstWord(rest)
      if (user === '') throw usage(verb)
      // A new account's name is held to the rule for new names; LOGIN takes any valid name, so
      // an account made before that rule can still sign in.
      const name = verb === 'SIGNUP' ? toNewUsername(user) : toUsername(user)
      return { verb, user: name, password: password === '' ? undefined : password }
    }
    case 'PASSWORD': {
      if (rest.trim() === '') return { verb, current: undefined, next: undefined }
      // The current one is a word; the new one is the rest of the line, as SIGNUP's is.
      const [current, next] = firstWord(rest)
      if (next === '') throw usage(verb)
      return { verb, current, next }
    }
    case 'SEND':
    case 'SENDGROUP': {
      const [to, typed] = firstWord(rest)
      // The spaces between the name and the text separate them, however many were typed: the
      // text starts at its first character and keeps the rest as typed (until 2026-12-06
      // `SEND alice  two` sent " two": round 7).
      const text = typed.replace(/^\s+/, '')
      if (to === '' || text === '') throw usage(verb)
      // `#work` names a group (HISTORY writes it so): said how to send there, not "invalid
      // username" (round 46).
      if (verb === 'SEND' && to.startsWith('#') && isName(to, 'SENDGROUPFILE')) {
        throw new ParleyError(ErrorCode.Usage, `${to} is a group: SENDGROUP ${to.slice(1)} <message>`)
      }
      return verb === 'SEND' ? { verb, user: toUsername(to), text } : { verb, group: groupWord(to), text }
    }
    case 'SENDFILE':
    case 'SENDGROUPFILE': {
      const [typed, to] = lastWord(rest)
      // Quoted or backslash-escaped as a shell or a dragged file writes it (until 2026-12-06 the
      // quotes and backslashes were looked for as part of the name).
      const file = unquotePath(typed)
      if (file === '' || to === '') throw usage(verb)
      try {
        return verb === 'SENDFILE' ? { verb, file, user: toUsername(to) } : { verb, file, group: groupWord(to) }
      } catch (err) {
        // `SENDFILE bob ~/photo.jpg`: said which comes first, not that the path is no username
        // (round 34).
        if (to.includes('/') && isName(typed, verb)) throw new ParleyError(ErrorCode.Usage, `the file comes first: ${usageOf(verb)}`)
        if (verb === 'SENDFILE' && to.startsWith('#') && isName(to, 'SENDGROUPFILE')) {
          throw new ParleyError(ErrorCode.Usage, `${to} is a group: SENDGROUPFILE <file> ${to.slice(1)}`)
        }
        // `SENDFILE ~/my photo (1).jpg`: the last word of an unquoted name with spaces taken for
        // the recipient, who was left out (round 39: only that "(1).jpg" was no username).
        if (/\s/.test(typed) && file === typed && is(err)) {
          throw new ParleyError(err.code, `${err.message}. A file's name with spaces goes in quotes, the ${verb === 'SENDFILE' ? 'user' : 'group'} after it: ${verb} "${typed} ${to}" <${verb === 'SENDFILE' ? 'user' : 'group'}>`)
        }
        throw err
      }
    }
    case 'CREATE':
    case 'JOIN':
    case 'LEAVE':
    case 'MEMBERS': {
      const words = rest.trim().split(/\s+/).filter(w => w !== '')
      if (words.length > 1) throw usage(verb, ': a group\'s name is one word, without spaces')
      if (words.length !== 1 || words[0] === undefined) throw usage(verb)
      // CREATE makes a group, so its name is held to the rule for new names. JOIN is not: only
      // the rendezvous knows whether it creates the group (it checks then) or joins one made
      // before that rule.
      return { verb, group: verb === 'CREATE' ? toNewGroupName(withoutHash(words[0])) : groupWord(words[0]) }
    }
    case 'VERIFY':
    case 'TRUST':
    case 'UNBLOCK': {
      const words = rest.trim().split(/\s+/).filter(w => w !== '')
      if (words.length !== 1 || words[0] === undefined) throw usage(verb)
      return { verb, user: userWord(words[0], verb) }
    }
    case 'BLOCK': {
      const words = rest.trim().split(/\s+/).filter(w => w !== '')
      if (words.length > 1) throw usage(verb)
      return { verb, user: words[0] === undefined ? undefined : userWord(words[0], verb) }
    }
    case 'HISTORY': {
      const words = rest.trim().split(/\s+/).filter(w => w !== '')
      const [target, count] = words
      if (target === undefined || words.length > 2) throw usage(verb)
      if (count !== undefined && (!/^[1-9][0-9]{0,5}$/.test(count) || Number(count) > HISTORY_MAX)) {
        throw new ParleyError(ErrorCode.Usage, `${count.slice(0, 20)} is not a count of messages: a whole number from 1 to ${HISTORY_MAX}`)
      }
      const n = count === undefined ? undefined : Number(count)
      // `#` is in no name: `#club` is the group even where a user is called club too.
      if (target.startsWith('#')) return { verb, user: null, group: groupWord(target), count: n }
      return { verb, user: toUsername(target), group: toGroupName(target), count: n }
    }
    case 'LIST':
    case 'WHO':
    case 'HELP':
    case 'QUIT':
    case 'EXIT':
      if (rest.trim() !== '') throw usage(verb)
      return { verb: verb === 'EXIT' ? 'QUIT' : verb }
    default: {
      // A typo of a command is named (round 39: `singup alice` said only that it was unknown),
      // and so is the word another messenger uses for it (round 43: `SIGNIN` was taken for SIGNUP).
      const meant = closestVerb(verb)
      const note = meant === undefined ? undefined : NOTES.get(meant)
      throw new ParleyError(ErrorCode.Usage, `unknown command "${verbWord.slice(0, 20)}": ${meant === undefined ? 'type HELP for the list' : `did you mean ${meant}? (${note === undefined ? '' : `${note}; `}HELP lists them)`}`)
    }
  }
}

/**
 * Words people type in other messengers and shells for one of our commands, in one place: the
 * hint names our command (round 43: `SIGNIN` was one letter pair from SIGNUP, and was offered it,
 * so the password went to a new account's attempt), and a line so begun is taken as that command
 * where it matters (history.ts holdsPassword). EXIT is a command, but the one to name is QUIT.
 */
const ALIASES: Readonly<Record<string, Command['verb']>> = {
  SIGNIN: 'LOGIN',
  LOGON: 'LOGIN',
  SIGNON: 'LOGIN',
  REGISTER: 'SIGNUP',
  SIGNOUT: 'QUIT',
  LOGOUT: 'QUIT',
  LOGOFF: 'QUIT',
  SIGNOFF: 'QUIT',
  DISCONNECT: 'QUIT',
  BYE: 'QUIT',
  EXIT: 'QUIT'
}

/** What a hint adds about the command it names, where its name alone does not say it. */
const NOTES: ReadonlyMap<string, string> = new Map([['QUIT', 'QUIT signs out and leaves']])

/** The command a word is taken for: the command itself, or the one a mistyped or borrowed word
 * most likely meant (closestVerb). */
export function verbMeant (word: string): string | undefined {
  const verb = word.toUpperCase()
  return SPECS.has(verb) ? verb : closestVerb(verb)
}

/** The command a mistyped or borrowed word most likely meant: one or two letters added,
 * dropped, changed or swapped (fewer for a short word) from a command or an ALIASES word, or
 * undefined. A command wins a tie with an alias. */
function closestVerb (word: string): string | undefined {
  const most = word.length <= 4 ? 1 : 2
  const candidates: Array<[string, string]> = [
    ...COMMANDS.filter(c => c.verb !== 'EXIT').map(c => [c.verb, c.verb] as [string, string]),
    ...Object.entries(ALIASES)
  ]
  let best: { verb: string, distance: number } | undefined
  for (const [known, verb] of candidates) {
    const distance = editDistance(word, known)
    if (distance <= most && (best === undefined || distance < best.distance)) best = { verb, distance }
  }
  return best?.verb
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbours, each one edit. */
function editDistance (a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i] as number[]
      const above = rows[i - 1] as number[]
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1)
    }
  }
  return (rows[a.length] as number[])[b.length] as number
}

/**
 * What to add to the error of a file that could not be opened whose name, as typed, opens a
 * quote and never closes it: most likely a mistake rather than a name that starts with a quote
 * (which is taken as typed, and works when there is one). Round 39: `cannot open
 * …/"/tmp/my photo.jpg` alone, the recipient taken from inside the quotes.
 */
export function unclosedQuoteHint (file: string, verb: 'SENDFILE' | 'SENDGROUPFILE'): string | undefined {
  const quote = file[0]
  if ((quote !== '"' && quote !== '\'') || (file.length > 1 && file.endsWith(quote))) return undefined
  return `the ${quote} before the file's name is not closed: ${usageOf(verb).replace('<file>', `${quote}<file>${quote}`)}`
}

/** `#` is in no name, and HISTORY and its Tab completion write a group `#club`: a command that
 * takes a group takes it written so too (until 2026-12-06 `MEMBERS #club` was an invalid name). */
function withoutHash (word: string): string {
  return word.startsWith('#') ? word.slice(1) : word
}

/** Whether `word` is a name of the kind `verb` sends to (a user, or a group). */
function isName (word: string, verb: 'SENDFILE' | 'SENDGROUPFILE'): boolean {
  try {
    if (verb === 'SENDFILE') toUsername(word)
    else groupWord(word)
    return true
  } catch {
    return false
  }
}

/** The user a command that takes only a user names. `#trip` is a group (HISTORY writes it so):
 * said to be one, not an invalid username (until 2026-12-07 `BLOCK #trip`: round 47). */
function userWord (word: string, verb: 'VERIFY' | 'TRUST' | 'BLOCK' | 'UNBLOCK'): Username {
  if (word.startsWith('#') && isName(word, 'SENDGROUPFILE')) {
    throw new ParleyError(ErrorCode.Usage, `${word} is a group: ${verb} takes a user (${usageOf(verb)})`)
  }
  return toUsername(word)
}

function groupWord (word: string): GroupName {
  return toGroupName(withoutHash(word))
}
