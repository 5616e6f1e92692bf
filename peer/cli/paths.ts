/**
 * Local file paths as a person types them at the prompt (SENDFILE, SENDGROUPFILE and their Tab
 * completion): `~` is the home folder and a relative path is taken from the folder the person
 * was in when starting the peer, as a shell would take them. Both the command and its completion
 * go through here, so what Tab offers is what SENDFILE then reads.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * A file path as a shell would take it: `~` and `~/…` are the home folder. A person types them at
 * the prompt as at a shell, and `~/x.txt` was looked for in a folder named `~` (until 2026-12-05).
 * `~user` is left as it is.
 */
export function expandHome (path: string, home: string = homedir()): string {
  if (path === '~') return home
  return path.startsWith('~/') ? join(home, path.slice(2)) : path
}

/**
 * The folder a relative path is taken from: the one the person started the peer in. `npm run
 * peer` runs the program in the package's folder whatever folder it was typed in (npm changes
 * it), and keeps the one it was typed in as INIT_CWD; started without npm, the process's own.
 * (Until 2026-12-06 it was always the process's, so `./photo.jpg` was looked for in the
 * repository.)
 */
export function userFolder (env: NodeJS.ProcessEnv = process.env): string {
  const typedIn = env.INIT_CWD
  return typedIn !== undefined && typedIn !== '' ? typedIn : process.cwd()
}

/** The absolute path a typed one names: `~` expanded, a relative one taken from userFolder. */
export function localPath (typed: string, folder: string = userFolder(), home: string = homedir()): string {
  return resolve(folder, expandHome(typed, home))
}

/** What bash's `printf %q` (and a terminal's drag and drop) puts a backslash before in a path:
 * whitespace and the characters a shell would otherwise read as syntax. */
const ESCAPE = /\\([ \t'"\\|&;()<>!{}*[?\]^$`,#~=])/
const ESCAPES = new RegExp(ESCAPE.source, 'g')

/**
 * A path as a shell would read one quoted or escaped word, the way terminals paste a dragged file
 * and people copy paths from a shell: wrapped whole in one `'…'` or `"…"` (no other quote of
 * its kind inside but bash's `'\''`, a `'`, or an escaped `\"`), the quotes are dropped and, in
 * `"…"`, `\"` `\\` `\$` and `` \` `` are the character; otherwise, if a backslash stands before a
 * space or a shell character (`\ `, `\(`, `\'`, `\\`…), every such backslash is dropped. Anything
 * else (`Bob's photo.jpg`, `'a' and 'b'`, a backslash before a letter) is kept as typed. The rule
 * needs no look at the disk, so a command means the same whatever files exist; a name that would
 * read otherwise is typed quoted (`"'odd'"`).
 */
export function unquotePath (typed: string): string {
  const quoted = quotedWord(typed)
  if (quoted !== undefined) return quoted
  return ESCAPE.test(typed) ? typed.replace(ESCAPES, '$1') : typed
}

/** A name as it goes into a path typed in `quote` (or none), escaped so that unquotePath reads
 * it back (Tab completion writes names so). */
export function quotePathPart (name: string, quote: string | undefined): string {
  if (quote === '\'') return name.replaceAll('\'', '\'\\\'\'')
  if (quote === '"') return name.replace(/["\\$`]/g, '\\$&')
  return name.replace(/[ \t'"\\|&;()<>!{}*[?\]^$`]/g, '\\$&')
}

/** The inside of a path that is one quoted word, unescaped; undefined if it is not one. */
function quotedWord (typed: string): string | undefined {
  const quote = typed[0]
  if (typed.length < 2 || (quote !== '\'' && quote !== '"') || !typed.endsWith(quote)) return undefined
  const inner = typed.slice(1, -1)
  if (quote === '\'') return inner.replaceAll('\'\\\'\'', '').includes('\'') ? undefined : inner.replaceAll('\'\\\'\'', '\'')
  return inner.replace(/\\[\s\S]/g, '').includes('"') ? undefined : inner.replace(/\\(["\\$`])/g, '$1')
}
