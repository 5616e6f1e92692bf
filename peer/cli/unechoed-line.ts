/**
 * A password typed at a terminal whose output goes elsewhere (`npm run peer -- 0 | tee log`):
 * there is no prompt of ours on that terminal (readline draws on our output, which is the pipe),
 * so the question goes to stderr and the answer is the next line of input, read with the
 * terminal's echo off, as ssh and sudo ask. The terminal keeps its own line editing (Backspace,
 * Ctrl-U) and its signals: Ctrl-C there ends the peer, as anywhere in this mode. Until
 * 2026-12-06 SIGNUP and LOGIN without a password failed here, and the password had to be typed,
 * shown, on the command line.
 */
import { spawnSync } from 'node:child_process'

/** The terminal on stdin echoes what is typed, or not (stty(1): Node can only turn the whole line
 * discipline off, raw mode, which would take Backspace and Ctrl-C from the terminal). */
function setEcho (on: boolean): boolean {
  return spawnSync('stty', [on ? 'echo' : '-echo'], { stdio: ['inherit', 'ignore', 'ignore'] }).status === 0
}

/**
 * Say `label` on `prompt` and return the next line of `lines` typed without echo; undefined when
 * the input ends first. The echo comes back however this ends, also when the process exits
 * meanwhile (a signal): a terminal left silent would hide the shell's next command.
 */
export async function readUnechoedLine (lines: AsyncIterator<string>, prompt: NodeJS.WritableStream, label: string): Promise<string | undefined> {
  prompt.write(label)
  const muted = setEcho(false)
  const restore = (): void => { if (muted) setEcho(true) }
  process.once('exit', restore)
  try {
    const next = await lines.next()
    return next.done === true ? undefined : next.value
  } finally {
    process.off('exit', restore)
    restore()
    prompt.write('\n') // the Enter typed was not echoed either
  }
}
