/**
 * Tab completes, however the keys arrive. readline takes a read of more than one character for
 * a paste, and completes only at its last character: a Tab anywhere else in it went into the
 * line as a tab. Two Tabs typed quickly (over ssh, say) arrive in one read, and `SEND bob hi`,
 * Tab Tab, `there` sent "hi\tthere" (round 24). The terminal marks real pastes itself (bracketed
 * paste, paste-guard.ts), so a read is cut after each Tab before readline sees it, unless it is
 * part of a paste: one under way, or one whose mark (or any other escape) is in the read.
 */

const TAB = 0x09
const ESCAPE = 0x1b

/** Where `read` is to be cut so that its first Tab ends it (the rest after it), or undefined
 * when it is taken whole: no Tab before its last byte, or an escape in it (a paste's mark, a
 * key's sequence). A Tab byte is never inside a UTF-8 sequence (those bytes are all 0x80 or
 * more): a cut there splits no character. */
export function cutAfterTab (read: Buffer): number | undefined {
  if (read.includes(ESCAPE)) return undefined
  const tab = read.indexOf(TAB)
  return tab === -1 || tab === read.length - 1 ? undefined : tab + 1
}

/** Hand `input`'s reads to its listeners (readline's) cut after each Tab, while `pasting` says
 * no paste is under way. The rest of a read is put back into the stream, so it comes once
 * readline has taken the Tab: a completion pauses the input until its names are there. */
export function completeEveryTab (input: NodeJS.ReadStream, pasting: () => boolean): void {
  const emit = input.emit.bind(input) as (event: string | symbol, ...args: unknown[]) => boolean
  input.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    const [read] = args
    const cut = event === 'data' && Buffer.isBuffer(read) && !pasting() ? cutAfterTab(read) : undefined
    if (cut === undefined) return emit(event, ...args)
    const handled = emit('data', (read as Buffer).subarray(0, cut))
    input.unshift((read as Buffer).subarray(cut))
    return handled
  }) as typeof input.emit
}
