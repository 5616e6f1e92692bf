/**
 * Text from the network made safe for a terminal (issue 12 item 5). A remote string that reaches
 * a person's screen raw can erase the line and draw a fake one (ESC [ 2K, CR), set the window
 * title, write the clipboard (OSC 52), reorder what is shown (bidi overrides) or hide text (zero
 * width). Every such character is shown as a visible escape instead: `\x1b`, `\u202e`; a tab as
 * spaces.
 * The --json stream is not touched: JSON.stringify escapes controls itself and keeps the text.
 */

// Cc: C0, DEL and C1 controls. Cf: bidi embeddings, overrides and isolates, marks, zero-width
// space/joiners, BOM, soft hyphen, tags. Zl/Zp: line and paragraph separators. Cs: a lone
// surrogate (never valid text).
// And a backslash that starts what reads as one of those escapes (`\x1b`, `\u202e`, `\u{1f600}`):
// shown doubled, so a sender cannot type an escape that looks like one we made (a tester's
// finding, until 2026-12-06). Any other backslash (`C:\Users`) is shown as it is.
// And the letters and marks that show as nothing (not Cf, so not caught above): the Hangul fillers
// (U+115F, U+1160, U+3164, U+FFA0: the usual "empty" name or message), the combining grapheme
// joiner (U+034F), the Khmer inherent vowels (U+17B4, U+17B5), the Mongolian variation selectors
// (U+180B–U+180D, U+180F) and the braille blank (U+2800): printed raw until 2026-12-07 (round 37).
// (The marks among them outside the brackets: in a character class they would read as combining.)
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115f\u1160\u2800\u3164\uffa0]|\u034f|\u17b4|\u17b5|\u180b|\u180c|\u180d|\u180f|\\(?=x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|u\{[0-9a-fA-F]+\})/gu

// A zero-width joiner between two pictographs is part of one emoji (👨‍👩‍👧), not a hiding place.
const PICTOGRAPH_BEFORE = /\p{Extended_Pictographic}\uFE0F?$/u
const PICTOGRAPH_AFTER = /^\p{Extended_Pictographic}/u

/** What a tab in a text from the network shows as. */
const TAB = '    '

function visible (char: string): string {
  const code = char.codePointAt(0) ?? 0
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, '0')}`
  return code <= 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`
}

/** The text with every control, bidi and invisible formatting character shown as an escape. */
export function safeText (text: string): string {
  return text.replace(UNSAFE, (char, offset: number, whole: string) => {
    if (char === '\\') return '\\\\'
    // A tab is a gap in the text, not a hiding place: shown as spaces (it moves the cursor
    // forward only, but by how far depends on where the line began, and the prompt's own
    // redrawing counts it as one column). Until 2026-12-06 it was shown as `\x09`.
    if (char === '\t') return TAB
    if (char === '\u200d' && PICTOGRAPH_BEFORE.test(whole.slice(Math.max(0, offset - 3), offset)) &&
      PICTOGRAPH_AFTER.test(whole.slice(offset + 1, offset + 3))) return char
    return visible(char)
  })
}

/** Whether the text shows as it is: nothing in it that safeText would escape. */
export function isSafeText (text: string): boolean {
  return safeText(text) === text
}

/** A copy of any value (an event) with every string in it made safe, at any depth. */
export function safeValue<T> (value: T): T {
  if (typeof value === 'string') return safeText(value) as T
  if (Array.isArray(value)) return (value as unknown[]).map(item => safeValue(item)) as T
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, safeValue(item)])) as T
  }
  return value
}
