/**
 * Ctrl-R: incremental search back through the command history, as in bash and irssi. Node's
 * readline has none, so while searching the keys are taken from readline (its keypress
 * listeners are set aside) and given back when the search ends:
 *   typing narrows the search, Ctrl-R again finds the next older match, Backspace widens it,
 *   Enter runs the match, Esc / Ctrl-G / Ctrl-C cancel, any other key keeps the match to edit.
 * A query nothing matches keeps the last match on screen marked `(failed reverse-i-search)`, as
 * bash does (until 2026-12-06 it was shown as if it matched: round 8).
 */
import { clearLine, cursorTo } from 'node:readline'
import type { Interface, Key } from 'node:readline'
import { safeText } from './safe-text.ts'

type KeyListener = (text: string | undefined, key: Key | undefined) => void

export interface ReverseSearch {
  /** True while a search is on screen (a print must redraw it, not the prompt). */
  readonly active: boolean
  redraw: () => void
}

/** `allowed`: whether Ctrl-R may search now (not at a hidden `Password:`, where the query would
 * be drawn in clear and its match sent as the password: round 48). */
export function reverseSearch (rl: Interface, input: NodeJS.ReadStream, out: NodeJS.WriteStream, history: () => string[], allowed: () => boolean = () => true): ReverseSearch {
  let query = ''
  let at = -1
  /** Nothing from `at` on contains the query: the last match stays, marked. */
  let failed = false
  let setAside: KeyListener[] | undefined

  const match = (): string => at === -1 ? '' : history()[at] ?? ''
  const draw = (): void => {
    clearLine(out, 0)
    cursorTo(out, 0)
    out.write(`(${failed ? 'failed ' : ''}reverse-i-search)\`${safeText(query)}': ${safeText(match())}`)
  }
  /** The next entry from `from` on (older is further on) that contains the query. */
  const find = (from: number): void => {
    const lines = history()
    for (let i = Math.max(from, 0); i < lines.length; i++) {
      if ((lines[i] ?? '').includes(query)) {
        at = i
        failed = false
        return
      }
    }
    if (query === '') at = -1
    failed = query !== ''
  }

  const end = (keep: boolean): void => {
    const listeners = setAside ?? []
    setAside = undefined
    for (const listener of listeners) input.on('keypress', listener)
    if (keep && match() !== '') {
      rl.write(null, { ctrl: true, name: 'e' })
      rl.write(null, { ctrl: true, name: 'u' })
      rl.write(match())
    } else {
      rl.prompt(true)
    }
  }

  const onKey: KeyListener = (text, key) => {
    if (setAside === undefined) {
      if (key?.ctrl === true && key.name === 'r' && allowed()) {
        setAside = (input.listeners('keypress') as KeyListener[]).filter(listener => listener !== onKey)
        for (const listener of setAside) input.removeListener('keypress', listener)
        query = ''
        at = -1
        failed = false
        draw()
      }
      return
    }
    if (key?.ctrl === true && key.name === 'r') {
      find(at + 1)
    } else if ((key?.ctrl === true && (key.name === 'g' || key.name === 'c')) || key?.name === 'escape') {
      end(false)
      return
    } else if (key?.name === 'return' || key?.name === 'enter') {
      end(true)
      rl.write(null, { name: 'return' })
      return
    } else if (key?.name === 'backspace') {
      query = query.slice(0, -1)
      at = -1
      find(0)
    } else if (text !== undefined && key?.ctrl !== true && key?.meta !== true && !/[\p{Cc}]/u.test(text)) {
      query += text
      find(Math.max(at, 0))
    } else {
      // Any other key (arrows, Ctrl-A…): keep the match on the line and let readline have the key.
      const listeners = setAside
      end(true)
      for (const listener of listeners) listener(text, key)
      return
    }
    draw()
  }

  input.prependListener('keypress', onKey)
  return {
    get active () { return setAside !== undefined },
    redraw: draw
  }
}
