/**
 * The command language of the prompt (DESIGN §8): one command per line, the verb in any case.
 * Message text is kept exactly as typed, every word of it; file paths may contain spaces (the
 * recipient is the last word).
 */
import { ErrorCode, ParleyError } from '../../common/errors.ts'

export type Command =
  | { verb: 'SIGNUP' | 'LOGIN', user: string, password: string | undefined }
  | { verb: 'SEND', user: string, text: string }
  | { verb: 'SENDGROUP', group: string, text: string }
  | { verb: 'SENDFILE', file: string, user: string }
  | { verb: 'SENDGROUPFILE', file: string, group: string }
  | { verb: 'CREATE' | 'JOIN' | 'LEAVE' | 'MEMBERS', group: string }
  | { verb: 'HISTORY', target: string, count: number | undefined }
  | { verb: 'VERIFY' | 'TRUST', user: string }
  | { verb: 'LIST' | 'WHO' | 'HELP' | 'QUIT' }

export const HELP: string[] = [
  'SIGNUP <user> [<password>]      create an account (no password: asked for, hidden)',
  'LOGIN <user> [<password>]       sign in',
  'SEND <user> <message>           a direct, end-to-end encrypted message',
  'SENDFILE <file> <user>          send any file: image, audio, video, anything',
  'CREATE <group>                  create a group (error if it exists)',
  'JOIN <group>                    join a group, creating it if it does not exist',
  'LIST                            every group and its number of participants',
  'SENDGROUP <group> <message>     a message to every member of a group',
  'SENDGROUPFILE <file> <group>    a file to every member of a group',
  'MEMBERS <group>                 who is in a group, and who is online',
  'LEAVE <group>                   leave a group',
  'WHO                             who is online',
  'HISTORY <user|group> [n]        the last n messages (default 20)',
  'VERIFY <user>                   the fingerprint to compare with <user> out of band',
  'TRUST <user>                    accept the changed identity VERIFY showed',
  'HELP                            this list',
  'QUIT                            leave the program (also EXIT, Ctrl-D, Ctrl-C)',
  '',
  'Tab completes commands, users, groups and file paths; Up/Down and Ctrl-R search the history.'
]

/** Every command word, for completion (EXIT is QUIT's other name). */
export const COMMAND_WORDS: string[] = [...HELP.filter(line => /^[A-Z]+ /.test(line)).map(line => line.split(' ')[0] ?? ''), 'EXIT']

const usage = (text: string): ParleyError => new ParleyError(ErrorCode.Usage, `usage: ${text}`)

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
  return at === -1 ? ['', trimmed] : [trimmed.slice(0, at).trim(), trimmed.slice(at + 1)]
}

/** Parse one line; null for a blank line. Errors are ParleyError(ERR_USAGE) with the usage. */
export function parseCommand (line: string): Command | null {
  const [verbWord, rest] = firstWord(line)
  if (verbWord === '') return null
  const verb = verbWord.toUpperCase()
  switch (verb) {
    case 'SIGNUP':
    case 'LOGIN': {
      const [user, password] = firstWord(rest)
      if (user === '') throw usage(`${verb} <user> [<password>]`)
      return { verb, user, password: password === '' ? undefined : password }
    }
    case 'SEND':
    case 'SENDGROUP': {
      const [to, text] = firstWord(rest)
      if (to === '' || text.trim() === '') throw usage(verb === 'SEND' ? 'SEND <user> <message>' : 'SENDGROUP <group> <message>')
      return verb === 'SEND' ? { verb, user: to, text } : { verb, group: to, text }
    }
    case 'SENDFILE':
    case 'SENDGROUPFILE': {
      const [file, to] = lastWord(rest)
      if (file === '' || to === '') throw usage(verb === 'SENDFILE' ? 'SENDFILE <file> <user>' : 'SENDGROUPFILE <file> <group>')
      return verb === 'SENDFILE' ? { verb, file, user: to } : { verb, file, group: to }
    }
    case 'CREATE':
    case 'JOIN':
    case 'LEAVE':
    case 'MEMBERS': {
      const words = rest.trim().split(/\s+/).filter(w => w !== '')
      if (words.length !== 1 || words[0] === undefined) throw usage(`${verb} <group>`)
      return { verb, group: words[0] }
    }
    case 'VERIFY':
    case 'TRUST': {
      const words = rest.trim().split(/\s+/).filter(w => w !== '')
      if (words.length !== 1 || words[0] === undefined) throw usage(`${verb} <user>`)
      return { verb, user: words[0] }
    }
    case 'HISTORY': {
      const words = rest.trim().split(/\s+/).filter(w => w !== '')
      const [target, count] = words
      if (target === undefined || words.length > 2 || (count !== undefined && !/^[1-9][0-9]{0,5}$/.test(count))) {
        throw usage('HISTORY <user|group> [n]')
      }
      return { verb, target, count: count === undefined ? undefined : Number(count) }
    }
    case 'LIST':
    case 'WHO':
    case 'HELP':
    case 'QUIT':
    case 'EXIT':
      if (rest.trim() !== '') throw usage(verb)
      return { verb: verb === 'EXIT' ? 'QUIT' : verb }
    default:
      throw new ParleyError(ErrorCode.Usage, `unknown command "${verbWord.slice(0, 20)}": type HELP for the list`)
  }
}
