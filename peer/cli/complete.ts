/**
 * Tab completion for the prompt: command words, then usernames or group names where the command
 * takes one, and local file paths for SENDFILE / SENDGROUPFILE. Pure apart from reading a
 * directory for paths, so it is unit-tested directly.
 */
import { readdirSync } from 'node:fs'
import { dirname, basename, isAbsolute, join } from 'node:path'
import type { PeerEvent } from '../events.ts'
import { COMMAND_WORDS, slotsOf } from './commands.ts'
import { expandHome, userFolder } from './paths.ts'

export interface KnownNames { users: Iterable<string>, groups: Iterable<string> }

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
  const slot = slots[Math.min(words.length - 2, slots.length - 1)] ?? 'none'
  // A SENDFILE path with spaces shifts the words, but its recipient is the last word either way.
  const candidates = slot === 'user'
    ? [...names.users]
    : slot === 'group'
      ? [...names.groups]
      : slot === 'target'
        ? [...names.users, ...names.groups, ...[...names.groups].map(group => `#${group}`)]
        : slot === 'file'
          ? files(current, cwd)
          : []
  const lowered = current.toLowerCase()
  const found = [...new Set(candidates)].filter(name => name.toLowerCase().startsWith(lowered)).sort()
  return [slot === 'file' ? found : found.map(name => name + ' '), current]
}

/** Entries of the directory named by a partly typed path; directories end in "/". */
function files (partial: string, cwd: string): string[] {
  const folder = partial.endsWith('/') ? partial : dirname(partial)
  const prefix = partial.endsWith('/') ? '' : basename(partial)
  try {
    const dir = expandHome(folder) // `~/Pic` completes in the home folder, as SENDFILE reads it
    return readdirSync(isAbsolute(dir) ? dir : join(cwd, dir), { withFileTypes: true })
      .filter(entry => entry.name.startsWith(prefix) && (prefix.startsWith('.') || !entry.name.startsWith('.')))
      .map(entry => {
        // The folder as typed, not as join() would write it: readline keeps only candidates that
        // start with what was typed, and join('.', 'x') drops the './' of `./x` (until
        // 2026-12-06 `./RE<Tab>` offered `README.md`, which readline dropped: nothing happened).
        const path = partial.slice(0, partial.length - prefix.length) + entry.name
        return entry.isDirectory() ? path + '/' : path + ' '
      })
  } catch {
    return []
  }
}

/** Names learned from what the peer reported (senders, contacts, members, groups seen). */
export class NameBook implements KnownNames {
  readonly users = new Set<string>()
  readonly groups = new Set<string>()

  observe (event: PeerEvent): void {
    switch (event.event) {
      case 'message': case 'file': this.users.add(event.from); break
      case 'group-message': case 'group-file': this.users.add(event.from); this.groups.add(event.group); break
      case 'presence': case 'verify': case 'trusted': this.users.add(event.user); break
      case 'member-joined': case 'member-left': this.users.add(event.user); this.groups.add(event.group); break
      case 'queued': case 'delivered': this.users.add(event.to); break
      case 'created': case 'joined': this.groups.add(event.group); break
      case 'left': this.groups.delete(event.group); break
      case 'groups': for (const g of event.groups) this.groups.add(g.group); break
      case 'members': this.groups.add(event.group); for (const m of event.members) this.users.add(m.username); break
      case 'who': for (const u of event.users) this.users.add(u.username); break
      default: break
    }
  }

  /** These names and more (the directory's answer), without duplicates. */
  with (more: KnownNames): KnownNames {
    return { users: new Set([...this.users, ...more.users]), groups: new Set([...this.groups, ...more.groups]) }
  }
}
