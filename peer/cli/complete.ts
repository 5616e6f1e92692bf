/**
 * Tab completion for the prompt: command words, then usernames or group names where the command
 * takes one, and local file paths for SENDFILE / SENDGROUPFILE. Pure apart from reading a
 * directory for paths, so it is unit-tested directly.
 */
import { readdirSync, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import type { PeerEvent } from '../events.ts'
import { COMMAND_WORDS, slotsOf } from './commands.ts'
import type { Slot } from './commands.ts'
import { expandHome, quotePathPart, unquotePath, userFolder } from './paths.ts'
import { isSafeText } from './safe-text.ts'
import { byName } from './format.ts'

/** `mine`: the groups we are known to be in (a JOIN does not offer them); undefined while that
 * is not known (the rendezvous did not answer, and nothing said so yet). `blocked`: those
 * UNBLOCK is offered (the store's list, kept here, never waits on the rendezvous). */
export interface KnownNames { users: Iterable<string>, groups: Iterable<string>, mine?: Iterable<string> | undefined, blocked?: Iterable<string> }

/** readline's completer answer: the candidates, and the part of the line they replace. A relative
 * path is completed in `cwd`: the folder SENDFILE reads it from (userFolder). */
export function complete (line: string, names: KnownNames, cwd: string = userFolder()): [string[], string] {
  const words = line.replace(/^\s+/, '').split(/\s+/)
  const current = words[words.length - 1] ?? ''
  if (words.length <= 1) {
    const upper = current.toUpperCase()
    // Keep the case the person types in: "se<Tab>" gives "send ", "SE<Tab>" gives "SEND ".
    const lower = current !== '' && current === current.toLowerCase()
    const found = COMMAND_WORDS.filter(word => word.startsWith(upper)).map(word => (lower ? word.toLowerCase() : word) + ' ')
    return [found, current]
  }
  const slots = slotsOf(words[0] ?? '')
  if (slots === undefined) return [[], current]
  // While the path is typed, only paths: a path with an escaped space or in quotes is several
  // words here, and was taken for the recipient (until 2026-12-06 `my\ ` Tab Tab listed users).
  const path = slots[0] === 'file' ? pathBeingTyped(line) : undefined
  if (path !== undefined) return files(path, cwd)
  const slot = slots[Math.min(words.length - 2, slots.length - 1)] ?? 'none'
  // A SENDFILE path with spaces shifts the words, but its recipient is the last word either way.
  const candidates = hashed(slot, current, candidatesFor(slot, names))
  const lowered = current.toLowerCase()
  // In LIST's order, grp2 before grp10 (until 2026-12-06 grp10 first: round 19).
  const found = [...new Set(candidates)].filter(name => name.toLowerCase().startsWith(lowered)).sort(byName)
  return [found.map(name => name + ' '), current]
}

/** The names a word of this slot may be. A JOIN is not offered the groups we are in, nor a
 * SENDGROUP or LEAVE the others (tester's findings, until 2026-12-06). */
function candidatesFor (slot: Slot, names: KnownNames): string[] {
  switch (slot) {
    case 'user': return [...names.users]
    // Only those blocked: until 2026-12-07 UNBLOCK offered every user (round 47).
    case 'blocked-user': return [...names.blocked ?? []]
    case 'group': return [...names.groups]
    // In none, none (until 2026-12-06 every group then: round 15); not known, every group.
    case 'our-group': return [...names.mine ?? names.groups]
    case 'group-to-join': {
      const mine = new Set(names.mine)
      return [...names.groups].filter(group => !mine.has(group))
    }
    case 'target': return [...names.users, ...names.groups, ...[...names.groups].map(group => `#${group}`)]
    default: return []
  }
}

/** Groups written `#club` where a group is taken (commands.ts withoutHash) complete so too:
 * until 2026-12-07 only HISTORY's did (round 43). HISTORY offers both already ('target'). */
function hashed (slot: Slot, current: string, candidates: string[]): string[] {
  const groupSlot = slot === 'group' || slot === 'our-group' || slot === 'group-to-join'
  return groupSlot && current.startsWith('#') ? candidates.map(group => `#${group}`) : candidates
}

/**
 * The path word a SENDFILE line ends in, as typed, if the cursor is still in it: the text after
 * the verb, read as the parser reads a path (unquotePath) — a space escaped by a backslash, or
 * inside quotes opened at its start, does not end it. Undefined once it has ended.
 */
function pathBeingTyped (line: string): string | undefined {
  const typed = line.replace(/^\s*\S+\s+/, '')
  return scanPath(typed).ended ? undefined : typed
}

/** How a typed path word reads: whether whitespace (not escaped, not quoted) ended it, and whether
 * a quote opened at its start is still open. */
function scanPath (typed: string): { ended: boolean, open: boolean } {
  const quote = openingQuote(typed)
  let open = quote !== undefined
  for (let i = open ? 1 : 0; i < typed.length; i++) {
    const c = typed[i] ?? ''
    if (open && quote === '\'') {
      if (typed.startsWith('\'\\\'\'', i)) i += 3 // bash's '\'' is a quote inside
      else if (c === '\'') open = false
    } else if (c === '\\') {
      i++ // the escaped character, whatever it is
    } else if (open && c === '"') {
      open = false
    } else if (!open && /\s/.test(c)) {
      return { ended: true, open }
    }
  }
  return { ended: false, open }
}

/** The quote a path word starts with, which quotes it whole (unquotePath). */
function openingQuote (typed: string): '\'' | '"' | undefined {
  return typed[0] === '\'' || typed[0] === '"' ? typed[0] : undefined
}

/** Entries of the directory named by a partly typed path, written as it was typed (quoted,
 * escaped or plain); directories end in "/", files in the closing quote and a space. They are
 * the path's last part, with that part as typed for readline to replace: readline lists the
 * candidates as they are, and a list of whole paths repeated the folder in every entry (as a
 * shell does not). */
function files (typed: string, cwd: string): [string[], string] {
  const quote = openingQuote(typed)
  // The path it names: a quote still open is closed to read it as the parser will.
  const path = unquotePath(quote !== undefined && scanPath(typed).open ? typed + quote : typed)
  const folder = path.slice(0, path.lastIndexOf('/') + 1)
  const prefix = path.slice(folder.length)
  // What the candidates start with: the folder (and opening quote) exactly as typed.
  const typedFolder = typed.slice(0, Math.max(typed.lastIndexOf('/') + 1, quote === undefined ? 0 : 1))
  const typedName = typed.slice(typedFolder.length)
  try {
    const dir = expandHome(folder === '' ? '.' : folder) // `~/Pic` completes in the home folder, as SENDFILE reads it
    const where = isAbsolute(dir) ? dir : join(cwd, dir)
    // A name starting with a dot is offered only when the name typed does (as in a shell).
    const entries = [...readdirSync(where), '.', '..']
      .filter(name => name.startsWith(prefix) && (prefix.startsWith('.') || !name.startsWith('.')))
      .filter(name => prefix.startsWith('.') || (name !== '.' && name !== '..'))
      // readline lists candidates as they are: a name holding what safeText escapes (ESC, bidi
      // controls…) would act on the screen (until 2026-12-06 a local `esc\x1b[31mred.txt` turned
      // the line red). Such a file is still sent when typed.
      .filter(isSafeText)
    const candidates = entries.map(name => {
      const written = quotePathPart(name, quote)
      return isFolder(join(where, name)) ? written + '/' : `${written}${quote ?? ''} `
    })
    return [candidates.sort(), typedName]
  } catch {
    return [[], typedName]
  }
}

/** Whether a path is a folder, following a symbolic link (node_modules may be one). */
function isFolder (path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** Names learned from what the peer reported (senders, contacts, members, groups seen). */
export class NameBook implements KnownNames {
  readonly users = new Set<string>()
  readonly groups = new Set<string>()
  readonly #mine = new Set<string>()
  /** Whether a LIST has said which groups we are in (a JOIN or LEAVE says only one of them). */
  #mineKnown = false

  /** The account the names were learned under. */
  #account: string | undefined

  get mine (): ReadonlySet<string> | undefined {
    return this.#mineKnown ? this.#mine : undefined
  }

  observe (event: PeerEvent): void {
    switch (event.event) {
      case 'signed-up': case 'logged-in':
        // Another account here: the last one's contacts and groups are not offered for this one
        // (until 2026-12-07 Tab offered them: round 37), as its line history is not.
        if (event.username !== this.#account) {
          this.users.clear()
          this.groups.clear()
          this.#mine.clear()
          this.#mineKnown = false
        }
        this.#account = event.username
        break
      case 'message': case 'file': this.users.add(event.from); break
      case 'group-message': case 'group-file': this.users.add(event.from); this.groups.add(event.group); break
      case 'presence': case 'verify': case 'trusted': this.users.add(event.user); break
      case 'member-joined': case 'member-left': this.users.add(event.user); this.groups.add(event.group); break
      case 'queued': case 'delivered': this.users.add(event.to); break
      case 'created': case 'joined': this.groups.add(event.group); this.#mine.add(event.group); break
      case 'left': this.groups.delete(event.group); this.#mine.delete(event.group); break
      case 'groups':
        // Every group, each said joined or not: which are ours is known from here on.
        this.#mineKnown = true
        this.#mine.clear()
        for (const g of event.groups) {
          this.groups.add(g.group)
          if (g.joined) this.#mine.add(g.group)
        }
        break
      case 'members': this.groups.add(event.group); for (const m of event.members) this.users.add(m.username); break
      case 'who': for (const u of event.users) this.users.add(u.username); break
      default: break
    }
  }

  /** These names and more (the directory's answer), without duplicates. */
  with (more: KnownNames): KnownNames {
    const mine = more.mine === undefined ? this.mine : new Set([...this.#mine, ...more.mine])
    return { users: new Set([...this.users, ...more.users]), groups: new Set([...this.groups, ...more.groups]), mine }
  }
}
