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
