/**
 * A paste reaches readline as one key per character, and for each one readline measures the
 * whole line again (where its cursor is): a paste of n characters cost O(n²), and 16,000
 * characters froze the prompt 5 s, 40,000 for 45 s, messages arriving meanwhile unshown
 * (round 39). Inside a bracketed paste (its marks: paste-guard.ts) the plain characters of one
 * read are handed on as one text, which readline inserts at once; every other key (Enter, Tab,
 * an escape) still goes on alone and in order, so a paste reads as it did key by key.
 */
import type { Key } from 'node:readline'

/** A key that is only its character: no Ctrl or Meta, nothing readline acts on (Enter, Tab,
 * Backspace, an escape sequence). */
function plainCharacter (text: string | undefined, key: Key | undefined): text is string {
  if (text === undefined || text.length === 0 || key?.ctrl === true || key?.meta === true) return false
  // C0 controls and DEL are keys to readline (\r Enter, \t Tab, \x7f Backspace, \x1b escape).
  return !/[\x00-\x1f\x7f]/.test(text)
}

/** Batch the plain characters of each read inside a bracketed paste into one keypress. */
export function batchPastedKeys (input: NodeJS.ReadStream): void {
  const emit = input.emit.bind(input) as (event: string | symbol, ...args: unknown[]) => boolean
  /** Plain characters held, while a paste is under way (undefined outside one). */
  let held: string | undefined
  const flush = (): void => {
    if (held === undefined || held === '') return
    const text = held
    held = ''
    emit('keypress', text, { sequence: text })
  }
  input.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'data') {
      // The keys of a read come while it is handed on: what they left held goes on at its end.
      const handled = emit(event, ...args)
      flush()
      return handled
    }
    if (event !== 'keypress') return emit(event, ...args)
    const [text, key] = args as [string | undefined, Key | undefined]
    if (key?.name === 'paste-start') {
      held = ''
    } else if (held !== undefined) {
      if (plainCharacter(text, key)) {
        held += text
        return true
      }
      flush()
      if (key?.name === 'paste-end') held = undefined
    }
    return emit(event, ...args)
  }) as typeof input.emit
}
