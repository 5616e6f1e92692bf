/**
 * The prompt: reads commands line by line from a terminal or from piped stdin, runs each in
 * order, prints what happens, and never lets an error end the program. On a terminal it adds
 * what a person expects of a chat client: hidden password entry, Tab completion, a history kept
 * across runs (never with a password in it), Ctrl-R search, and QUIT / Ctrl-C / Ctrl-D that end
 * the program cleanly (Ctrl-C and Ctrl-D at a hidden question cancel only its command).
 */
import { createInterface } from 'node:readline'
import type { Interface, Key } from 'node:readline'
import { cursorTo, moveCursor } from 'node:readline'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { ErrorCode, ParleyError, asParleyError, is } from '../../common/errors.ts'
import type { ParleyPeer } from '../app.ts'
import { HELP, MAX_COMMAND_CHARS, parseCommand, unclosedQuoteHint } from './commands.ts'
import { askPassword, askPasswordChange } from './password-dialogue.ts'
import { displayWidth } from './format.ts'
import type { Command } from './commands.ts'
import { complete, NameBook } from './complete.ts'
import type { KnownNames } from './complete.ts'
import { HistoryFile, HISTORY_LINES, holdsPassword } from './history.ts'
import type { Output } from './output.ts'
import { localPath } from './paths.ts'
import { reverseSearch } from './reverse-search.ts'
import { pipedLines } from './piped-lines.ts'
import { readUnechoedLine } from './unechoed-line.ts'
import { PasteGuard } from './paste-guard.ts'
import { batchPastedKeys } from './paste-keys.ts'
import { completeEveryTab } from './tab-keys.ts'
import type { ReverseSearch } from './reverse-search.ts'

/** How long Tab waits for the directory's names before completing from the names already seen. */
const NAMES_WAIT_MS = 1_000
/** The directory's names are asked for again at most this often. */
const NAMES_FRESH_MS = 5_000
/** The transfers status in the prompt: the width it may take however narrow half the terminal
 * is, and the columns the prompt always leaves for typing (#promptText). */
const STATUS_MIN_COLUMNS = 24
const TYPING_COLUMNS = 10
/** Narrower than this the status says too little ('↑ … 30% …') to be worth its place. */
const STATUS_SHORTEST = 10

/** What readline's clearScreenDown writes (ED 0), and its Ctrl-L's move to the top left first. */
const ERASE_BELOW = '\x1b[0J'
const HOME = '\x1b[1;1H'

/**
 * Erase from the cursor to the end of the screen, as ED 0 does, without an ED 0 at the top left:
 * tmux (scroll-on-clear, on by default) takes that for clearing the whole screen and pushes the
 * screen into its scrollback, so with the prompt on the top row (after Ctrl-L) every redraw of a
 * transfer's status added a screenful of prompts to the scrollback (round 30). The cursor's row
 * is erased on its own (EL), the rest below it from the next row (at the last row the move down
 * does nothing and the ED erases what EL already did), and the cursor is put back (DECSC/DECRC).
 */
const SAFE_ERASE_BELOW = '\x1b7\x1b[K\x1b[B\x1b[J\x1b8'

/** The terminal as readline sees it, with a switch to stop echoing while a password is typed,
 * and readline's redraws erasing below them without an ED at the top left (SAFE_ERASE_BELOW). */
class EchoSwitch extends Writable {
  /** Each reason to show nothing (a hidden question, a sign-in working, a password still to be
   * asked) holds the echo off until it lets go (hide). */
  #holds = 0
  readonly isTTY = true
  /** Called on a resize before readline redraws its line (Prompt: recountRows). */
  beforeResize: () => void = () => {}
  readonly #target: NodeJS.WriteStream
  /** The last write was Ctrl-L's move to the top left: its erase is meant to clear the screen. */
  #homed = false

  constructor (target: NodeJS.WriteStream) {
    super()
    this.#target = target
    target.on('resize', () => {
      this.beforeResize()
      this.emit('resize')
    })
  }

  get muted (): boolean { return this.#holds > 0 }

  /** Show nothing until the function returned is called (once). */
  hide (): () => void {
    this.#holds++
    let shown = false
    return () => {
      if (shown) return
      shown = true
      this.#holds--
    }
  }

  get columns (): number { return this.#target.columns }
  get rows (): number { return this.#target.rows }

  override _write (chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    const text = chunk.length <= HOME.length ? chunk.toString() : undefined
    if (!this.muted) this.#target.write(text === ERASE_BELOW && !this.#homed ? SAFE_ERASE_BELOW : chunk)
    this.#homed = text === HOME
    done()
  }
}

/**
 * readline redraws its line from as many rows up as it counted the cursor below the line's
 * first row, a count it keeps in `prevRows` (which its types do not name). This counts them
 * again from where the cursor is now. On a resize: a terminal that rewraps its lines (tmux,
 * VTE, iTerm2, kitty, Windows Terminal…) has already put the line's rows at the new width, so
 * with the count from the old width readline, widened, went up past the line and wiped what was
 * printed above it, and, narrowed, left the line's first rows above it (round 27). A terminal
 * that does not rewrap gets the stale rows that it got before in the other direction.
 */
function recountRows (rl: Interface): void {
  const redraw = rl as Interface & { prevRows?: number }
  if (typeof redraw.prevRows === 'number') redraw.prevRows = rl.getCursorPos().rows
}

/**
 * Characters that come in one read (a paste without bracketed paste, a fast typist, a line sent
 * over ssh) are written by readline as they are, without a redraw, and its row count
 * (`prevRows`) stays where the read began. When the read's last character then starts a new
 * row, readline redraws from that stale count, too few rows up: the line's first row was drawn
 * again below itself, and stayed there (round 30, 4 of 4; a bare readline does the same). The
 * count is made true before each key; elsewhere it already is, so this changes nothing.
 */
function rowsBeforeKey (input: NodeJS.ReadStream, rl: Interface, drawsOwnLine: () => boolean): void {
  input.prependListener('keypress', () => { if (!drawsOwnLine()) recountRows(rl) })
}

/**
 * Characters and Enter that come in one read with the cursor inside the line (a one-line paste
 * that ends in a newline, a fast typist, ssh) are inserted by readline without a redraw, and the
 * line is taken as it is: the screen showed `carol> SEND bob I will pay you $` while `… $0
 * tomorrow` went, the rest of the line never drawn again (round 46; a bare readline does the
 * same). Before an Enter with the cursor inside the line, the line is drawn as it is: what is
 * seen is what runs. (Typed key by key, readline has drawn it so already; drawn again, it looks
 * the same.)
 */
function drawnBeforeEnter (input: NodeJS.ReadStream, rl: Interface, drawsOwnLine: () => boolean): void {
  input.prependListener('keypress', (_text: string | undefined, key: Key | undefined) => {
    if ((key?.name !== 'return' && key?.name !== 'enter') || drawsOwnLine() || rl.cursor >= rl.line.length) return
    // readline's own redraw, which its types do not name.
    ;(rl as Interface & { _refreshLine?: () => void })._refreshLine?.()
  })
}

/**
 * A terminal that went away (a hang-up) is the end of input. readline, closing when its input
 * ends, switches the terminal out of raw mode, which fails with EIO on a terminal that is gone;
 * the failure reaches the loop over its lines as an error. Taken for a crash, it left the peer
 * running without its prompt until the hang-up's signal ended it by the exit deadline, 10 s
 * later, without stopping (no sign-out, no wait for deliveries in flight).
 */
function terminalGone (err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EIO'
}

/** Ctrl-C, as a terminal in raw mode passes it on. */
const CTRL_C = 0x03

/** After Ctrl-C or a signal, how long the command in hand is still waited for. */
const COMMAND_GRACE_MS = 2_000

/** After a command that was to ask for a password failed before it asked, what is typed is
 * still hidden this long: the password typed blind after the Enter (#take's caller). */
const TYPED_BLIND_MS = 1_500

/** Ctrl-C pressed again this soon after one that cancelled a file's reading does not leave. */
const DOUBLE_PRESS_MS = 1_000

/** Whether a line, once run, asks for a password at a hidden question: SIGNUP or LOGIN with a
 * user alone, PASSWORD alone. */
function asksPassword (line: string): boolean {
  try {
    const command = parseCommand(line)
    if (command?.verb === 'SIGNUP' || command?.verb === 'LOGIN') return command.password === undefined
    return command?.verb === 'PASSWORD' && command.current === undefined
  } catch {
    return false // refused as it is run, before anything is asked
  }
}

/** A hidden question the input ended under: no answer will come, and no error is to be said. */
class InputEnded extends Error {}

/** Whether the peer is run by a person at a terminal (PromptOptions.interactive): both ends a
 * terminal, and not `--json`, whose output is for programs even on a terminal, with no prompt
 * drawn among its lines (until 2026-12-07 `frank> {"event":"accepted",…}`, then no prompt
 * again: round 43). */
export function drawsPrompt (json: boolean, input: { isTTY?: boolean }, output: { isTTY?: boolean }): boolean {
  return !json && input.isTTY === true && output.isTTY === true
}

export interface PromptOptions {
  /** A person at a terminal (stdin and stdout are TTYs), not a script. */
  interactive: boolean
  /** Input typed at a terminal though our output goes elsewhere (`| tee log`): a password is
   * still asked, hidden (unechoed-line.ts). */
  terminalInput?: boolean
  /** Where the command history is kept (terminal only). */
  history?: HistoryFile
  /** Names learned from events, for completion. */
  names?: NameBook
  /** An unexpected failure (ERR_INTERNAL): the details go to the log, one line to the person. */
  onUnexpected?: (err: unknown) => void
}

export class Prompt {
  readonly #peer: ParleyPeer
  readonly #output: Output
  readonly #options: PromptOptions
  /** readline, on a terminal only: piped input is split by pipedLines, which ends a line at
   * `\n` alone (readline also ends one at a lone `\r`). */
  readonly #rl: Interface | undefined
  readonly #lines: AsyncIterable<string>
  /** The same lines, when piped: a hidden answer is the next of them (#askUnechoed). */
  readonly #piped: AsyncGenerator<string> | undefined
  /** Ends piped input's lines at close(). */
  readonly #stopPiped = new AbortController()
  readonly #echo: EchoSwitch | undefined
  readonly #names: NameBook
  #closed = false
  #interrupted = false
  /** readline closed: no line comes after those already read. */
  #inputEnded = false
  /** The prompt is on screen, waiting (no line entered since it was drawn). */
  #prompted = false
  /** The hidden question being asked, if any (redrawn after a print, cancelled by close). */
  #asking: { label: string, abort: AbortController } | undefined
  #directory: { at: number, names: KnownNames } | undefined
  #search: ReverseSearch | undefined
  /** Lines of a paste of several are not run (terminal only). */
  #paste: PasteGuard | undefined
  /** The last account signed in by this prompt: its lines stay whole in memory, not the next one's. */
  #lastAccount: string | undefined
  /** Lines readline has read, and lines this prompt has taken (terminal only): the difference,
   * when a password is asked, was typed ahead of `Password:` (#dropTypedAhead). */
  #linesRead = 0
  #linesTaken = 0
  /** Typed-ahead lines still to drop unrun. */
  #dropping = 0
  /** For each line read and not yet taken, in order: what shows typing again once it is done,
   * for a line that will ask for a password (readline's 'line', above). */
  readonly #passwordAhead: Array<(() => void) | undefined> = []
  /** The command running now, and whether Ctrl-C was pressed during it (the SIGINT handler). */
  #inHand: { verb: string, interrupted: boolean } | undefined
  /** Hidden questions asked so far (a password command that asked none failed before it). */
  #questionsAsked = 0
  /** Cancels the SENDFILE or SENDGROUPFILE in hand while its file is still read (Ctrl-C). */
  #fileCommand: AbortController | undefined
  /** Aborted when the prompt is interrupted (#handledWithin). */
  readonly #interrupt = new AbortController()

  constructor (peer: ParleyPeer, output: Output, options: PromptOptions) {
    this.#peer = peer
    this.#output = output
    this.#options = options
    this.#names = options.names ?? new NameBook()
    this.#echo = options.interactive ? new EchoSwitch(process.stdout) : undefined
    if (!options.interactive) {
      this.#rl = undefined
      this.#piped = pipedLines(process.stdin, MAX_COMMAND_CHARS + 1, this.#stopPiped.signal)
      this.#lines = this.#piped
      return
    }
    const rl = createInterface({
      input: process.stdin,
      output: this.#echo,
      terminal: true,
      history: options.history?.load() ?? [],
      historySize: HISTORY_LINES,
      tabSize: 4,
      completer: (line: string, done: (err: null, result: [string[], string]) => void) => {
        void this.#knownNames().then(names => {
          // Nobody sends to, verifies or trusts themselves: our own name is not offered.
          const self = this.#peer.username
          done(null, complete(line, { ...names, users: [...names.users].filter(user => user !== self) }))
        })
      }
    })
    this.#rl = rl
    this.#lines = rl
    this.#piped = undefined
    if (this.#echo !== undefined) this.#echo.beforeResize = () => { recountRows(rl) }
    // The end of input (Ctrl-D; piped input: run's loop) is not a request to stop at once: the
    // lines already read still run, in order, and then the loop ends (run's finally closes the
    // prompt). Until 2026-12-05 it closed the prompt here, and every line still buffered was
    // dropped unrun: `printf 'LOGIN …\nSEND …\n' | npm run peer` signed in and sent nothing.
    // Enter leaves the prompt's row, then and there: a line typed ahead, taken after the prompt
    // was drawn again below the command in hand, is not the prompt's row being left (a QUIT typed
    // during a SENDFILE's hashing put `Bye.` on the row of a fresh prompt: round 12).
    // The command runs now: a redraw readline makes meanwhile (Ctrl-C clearing a line typed
    // ahead) draws no ready prompt (round 48: `alice> ` stood under a LIST still waiting).
    // A line that will ask for a password hides what is typed from its Enter on, not only from
    // `Password:`: typed at once, as a person who knows the question comes types it, the password
    // was shown in clear (round 49) while the peer still waited for the SENDs before it, or for
    // the rendezvous.
    rl.on('line', (line: string) => {
      this.#prompted = false
      this.#linesRead++
      this.#passwordAhead.push(asksPassword(line) ? this.#echo?.hide() : undefined)
      rl.setPrompt(this.#promptText())
    })
    // A terminal that goes away (its window closed, an ssh connection lost) ends our input, and
    // readline then runs the half-typed line as if Enter had been pressed (its 'ontermend'): a
    // draft went out as a message (round 39). Nobody pressed Enter: the line is dropped, as a
    // shell drops it. On a terminal only a hang-up ends the input (Ctrl-D is a key to readline).
    process.stdin.prependListener('end', () => { (rl as { line: string }).line = '' })
    rl.on('close', () => {
      this.#inputEnded = true
      this.#output.detachPrompt?.() // no prompt to keep under what is printed now
      this.#asking?.abort.abort() // a hidden question can no longer be answered
    })
    // Ctrl-C on a terminal reaches readline as a key, not as a signal: it means leave, except at
    // a hidden question (Password:), where it cancels the question and its command, as a shell's
    // prompt does (until 2026-12-06 it left the program there too).
    // With a line half typed it clears the line, as bash does: a draft is not lost with the
    // program by a key pressed to drop it (until 2026-12-06 it left at once).
    // While a SENDFILE or SENDGROUPFILE still reads its file it stops that command, as a shell's
    // Ctrl-C stops the command in hand: until 2026-12-07 it left the program, after the file had
    // been queued and sent all the same (round 43). Once the file is taken it is too late: the
    // key then does nothing, and the `accepted` line says the file goes.
    // A second Ctrl-C pressed at once after one that cancelled is the same wish, not a wish to
    // leave (round 45: pressed twice as the read seemed slow, the file was cancelled and the
    // program left): within DOUBLE_PRESS_MS of a cancel, an empty line's Ctrl-C does nothing.
    // Any other command in hand (a LIST, a MEMBERS waiting on the rendezvous) cannot be stopped
    // part-way: a first Ctrl-C says so and leaves it to end, a second leaves the program at once
    // (round 50: one press, to stop a command, ended the program once it was done).
    let cancelledAt = -Infinity
    rl.on('SIGINT', () => {
      const inHand = this.#inHand
      if (this.#asking !== undefined) this.#asking.abort.abort()
      else if (this.#fileCommand !== undefined) {
        this.#fileCommand.abort()
        cancelledAt = Date.now()
      } else if (rl.line !== '') this.#clearLine(rl)
      else if (inHand !== undefined && !inHand.interrupted) {
        inHand.interrupted = true
        this.#output.print({ event: 'error', code: ErrorCode.Usage, message: `${inHand.verb} cannot be stopped once it runs, and goes on to its end: Ctrl-C again leaves now` })
      } else if (Date.now() - cancelledAt >= DOUBLE_PRESS_MS) this.close(true)
    })
    // Ctrl-Z reaches readline as a key, and readline stops this process alone: under `npm run
    // peer` npm and its shell ran on, so the shell never saw its job stop, kept the terminal from
    // itself, and what was typed next, a password too, was shown and later run (round 15). The
    // whole process group is stopped, as the terminal stops a job at Ctrl-Z, with the terminal
    // left in the mode the shell gave (resume, below, takes it back).
    rl.on('SIGTSTP', () => {
      process.stdin.setRawMode(false)
      process.kill(0, 'SIGTSTP')
    })
    // Back in the foreground after Ctrl-Z (fg), or continued after a stop sent from outside: a
    // shell that stopped us hands the terminal back in its own mode (echo on, lines cooked).
    // Until 2026-12-06 the prompt came back deaf (readline, stopping us itself then, left its
    // input paused), and what was typed at it, a password too, went to the shell once the program
    // ended (a tester's finding).
    const resume = (): void => {
      if (this.#closed || this.#inputEnded) return
      // Off, then on: libuv skips a switch to the mode it believes the terminal is in, and after
      // a stop from outside it still believes raw while the shell made it cooked, with echo, so
      // a password typed next was shown (round 14).
      process.stdin.setRawMode(false)
      process.stdin.setRawMode(true)
      this.#paste?.resume()
      this.#redraw()
    }
    process.on('SIGCONT', resume)
    this.#search = reverseSearch(rl, process.stdin, process.stdout, () => this.#history, () => this.#asking === undefined)
    this.#paste = new PasteGuard(rl, process.stdin, process.stdout)
    batchPastedKeys(process.stdin)
    completeEveryTab(process.stdin, () => this.#paste?.pasting === true)
    this.#cancelOnCtrlD(process.stdin)
    const drawsOwnLine = (): boolean => this.#asking !== undefined || this.#search?.active === true
    // Before rowsBeforeKey, which so goes first (both put themselves ahead of readline): the
    // redraw starts from the row count made true.
    drawnBeforeEnter(process.stdin, rl, drawsOwnLine)
    rowsBeforeKey(process.stdin, rl, drawsOwnLine)
    output.attachPrompt?.(() => { this.#clear() }, () => { this.#redraw() })
  }

  /**
   * Ctrl-D at a hidden question cancels it and its command, as Ctrl-C does there (until
   * 2026-12-06 it ended the program); at the command prompt it still ends the input. readline
   * takes Ctrl-D on an empty line as the end of input and closes for good, and its 'close' cannot
   * tell the key from a hang-up. No listener can stop a key on its way to readline's own, so this
   * one, put ahead of it, cancels the question and takes the key's name, and readline ignores a
   * Ctrl key without one.
   */
  #cancelOnCtrlD (input: NodeJS.ReadStream): void {
    input.prependListener('keypress', (_text: string | undefined, key: Key | undefined) => {
      if (this.#asking === undefined || key?.ctrl !== true || key.name !== 'd') return
      delete key.name
      this.#asking.abort.abort()
    })
  }

  /** Ctrl-C on a half-typed line: the line goes (kill it to the end, then to the start). */
  #clearLine (rl: Interface): void {
    rl.write(null, { ctrl: true, name: 'e' })
    rl.write(null, { ctrl: true, name: 'u' })
  }

  /** readline, for what only a terminal has (the prompt, hidden questions, redraws). */
  get #terminal (): Interface {
    if (this.#rl === undefined) throw new Error('no terminal: piped input has no prompt')
    return this.#rl
  }

  /** The account signed out here (signed in on another device): PASSWORD's questions, asked
   * for an account no longer signed in, end (left over from round 49: `Current password:` stayed,
   * and the password typed at it was then refused with `sign in first`). */
  signedOut (): void {
    if (this.#inHand?.verb !== 'PASSWORD') return
    this.#asking?.abort.abort(new ParleyError(ErrorCode.NotSignedIn, 'you are signed out here: the password was not changed'))
  }

  /** Ended by Ctrl-C or a signal (not QUIT or the end of input): the caller waits less. */
  get interrupted (): boolean {
    return this.#interrupted
  }

  /** End the prompt (QUIT, Ctrl-C, Ctrl-D, a signal): the loop in `run` stops after the command in hand. */
  close (interrupted = false): void {
    if (this.#closed) return
    this.#closed = true
    this.#interrupted = interrupted
    if (interrupted) this.#interrupt.abort()
    this.#output.detachPrompt?.()
    // Ctrl-C or Ctrl-D leave the cursor after the prompt, a signal after a hidden question's
    // label: what follows starts on a line of its own (until 2026-12-07 `Password: Bye.`).
    if (this.#options.interactive && (this.#prompted || this.#asking !== undefined)) process.stdout.write('\n')
    this.#asking?.abort.abort()
    this.#paste?.close()
    this.#stopPiped.abort()
    try {
      this.#rl?.close()
    } catch {
      // The terminal is already gone (a hang-up: setRawMode fails with EIO); nothing to restore.
    }
  }

  /**
   * From the prompt's close to the program's end (QUIT finishing what goes out) nothing typed is
   * read; a terminal back in its own line mode echoed it, and the shell ran it once the program
   * was gone (round 39: `send dave echo LEAKED > file` made the file). The terminal stays
   * unechoed and what is typed is read and dropped; Ctrl-C is still a signal, as it is in line
   * mode, and leaves at once. node puts the terminal back in its mode at exit.
   */
  dropTypingUntilExit (): void {
    if (!this.#options.interactive) return
    try {
      process.stdin.setRawMode(true)
    } catch {
      return // the terminal is gone (a hang-up): nobody types
    }
    process.stdin.on('data', (typed: Buffer) => {
      if (typed.includes(CTRL_C)) process.kill(process.pid, 'SIGINT')
    })
    process.stdin.resume()
  }

  /** Read and run commands until QUIT, the end of input, or close(). */
  async run (): Promise<void> {
    this.#show()
    try {
      for await (const line of this.#lines) {
        this.#linesTaken++
        const hidden = this.#passwordAhead.shift()
        const asked = this.#questionsAsked
        let taken: 'quit' | 'dropped' | 'done' = 'quit'
        try {
          taken = await this.#take(line)
        } finally {
          if (hidden !== undefined) {
            // No question came (a failure before it, a paste): what was typed meanwhile, unseen,
            // is not run. Failed at once (SIGNUP with the rendezvous out of reach, said within
            // 60 ms), the password typed straight after the Enter is hidden a moment more, or it
            // met the command prompt, shown and said back as an unknown command (round 51).
            if (taken === 'done' && this.#questionsAsked === asked && !this.#closed) await sleep(TYPED_BLIND_MS)
            this.#showTypingAgain(hidden, 'the command waited for its password')
          }
        }
        if (taken === 'quit') break
        if (taken === 'done') this.#showUnlessTypedAhead()
      }
      this.#inputEnded = true
    } catch (err) {
      if (!terminalGone(err)) throw err
    } finally {
      this.close()
    }
  }

  /** One line read: dropped unrun (typed ahead of a hidden question), refused (a line of a
   * paste), or run; 'quit' when it ends the prompt. */
  async #take (line: string): Promise<'quit' | 'dropped' | 'done'> {
    if (this.#closed) return 'quit'
    if (this.#dropping > 0) {
      this.#dropping--
      this.#forget(line) // readline kept it for Up: a password, most likely
      // Its place in the paste guard's count goes with it: kept, every later line was judged
      // by the one before it (round 51: a paste's first line ran, and a typed SEND did not).
      this.#paste?.passOver()
      return 'dropped'
    }
    if (this.#paste !== undefined && await this.#pasted(this.#paste)) return 'done'
    const handled = await this.#handledWithin(line)
    return handled === undefined || handled ? 'quit' : 'done'
  }

  /** #handle, unless the prompt is interrupted (Ctrl-C, a signal) while the command waits: then
   * it is given COMMAND_GRACE_MS more and no longer waited for (undefined), so the program ends
   * within the 3 s a signal gives (round 45: Ctrl-C during a JOIN to a frozen rendezvous left
   * 13 s later, when the JOIN's own wait ended). */
  async #handledWithin (line: string): Promise<boolean | undefined> {
    const handling = this.#handle(line)
    const interrupted = this.#interrupt.signal
    let wait = (): void => {}
    const givenUp = new Promise<undefined>(resolve => {
      wait = () => { void sleep(COMMAND_GRACE_MS, undefined, { ref: false }).then(() => { resolve(undefined) }) }
    })
    if (interrupted.aborted) wait()
    else interrupted.addEventListener('abort', wait, { once: true })
    try {
      return await Promise.race([handling, givenUp])
    } finally {
      interrupted.removeEventListener('abort', wait)
    }
  }

  /** The line came in a paste of several lines: not run (said once per paste). Only on a
   * terminal: piped input has no guard and does not wait for one. */
  async #pasted (paste: PasteGuard): Promise<boolean> {
    const verdict = await paste.verdict()
    if (verdict.run) return false
    if (verdict.notice !== undefined) this.#output.print({ event: 'error', code: ErrorCode.Usage, message: verdict.notice })
    return true
  }

  /** Run one line; true when it was QUIT. Answers come in the order of the commands: anything
   * but a SEND, and any failure, waits for the SENDs before it to be answered (a SEND's answer
   * waits for the disk, which a burst of them shares: ParleyPeer.answered). Until 2026-12-06 a
   * failure of a later command could come before an earlier SEND's answer (a tester's finding). */
  async #handle (line: string): Promise<boolean> {
    try {
      const command = parseCommand(line)
      if (command === null) return false
      this.#inHand = { verb: command.verb, interrupted: false }
      this.#remember(line)
      if (command.verb !== 'SEND') await this.#peer.answered()
      if (command.verb === 'QUIT') return true
      const signingIn = command.verb === 'SIGNUP' || command.verb === 'LOGIN'
      const canAsk = this.#options.interactive || this.#options.terminalInput === true
      const ask = this.#options.interactive ? this.#askHidden.bind(this) : this.#askUnechoed.bind(this)
      let askedHidden = false
      if (signingIn && command.password === undefined && canAsk) {
        if (command.verb === 'SIGNUP') await this.#peer.readyToSignUp()
        command.password = await askPassword(ask, command.verb === 'SIGNUP')
        askedHidden = this.#options.interactive
      }
      if (command.verb === 'PASSWORD' && command.current === undefined && canAsk) {
        ({ current: command.current, next: command.next } = await askPasswordChange(ask, async current => { await this.#peer.checkPassword(current) }))
        askedHidden = this.#options.interactive
      }
      const readsFile = command.verb === 'SENDFILE' || command.verb === 'SENDGROUPFILE'
      const cancel = readsFile && this.#options.interactive ? new AbortController() : undefined
      this.#fileCommand = cancel
      const work = async (): Promise<void> => { await run(this.#peer, command, this.#output, cancel?.signal) }
      if (askedHidden) await this.#typingUnseen(work, signingIn ? 'signing in' : 'the password was being changed')
      else await work()
      if (signingIn) this.#signedInAs(this.#peer.username)
    } catch (err) {
      // Closed, or the input ended while a password was asked (a hang-up at `Password:`): nothing to say.
      if (this.#closed || err instanceof InputEnded) return true
      const error = asParleyError(err)
      if (error.code === ErrorCode.Internal) this.#options.onUnexpected?.(err)
      await this.#peer.answered()
      this.#output.print({ event: 'error', code: error.code, message: error.message })
    } finally {
      this.#fileCommand = undefined
      this.#inHand = undefined
      // A line with a password on it is forgotten at once, even in this session's history.
      if (holdsPassword(line)) this.#forget(line)
    }
    return false
  }

  /** readline's own history: a property it keeps but its types do not declare. */
  get #history (): string[] {
    const rl: object | undefined = this.#rl
    if (rl === undefined) return [] // piped input keeps no history
    const history: unknown = 'history' in rl ? rl.history : undefined
    if (!Array.isArray(history)) throw new Error('readline keeps no history array')
    return history as string[]
  }

  #remember (line: string): void {
    if (this.#options.interactive) this.#options.history?.add(line)
  }

  /** After a SIGNUP or LOGIN: when another account than the last one of this run is signed in,
   * Up and Ctrl-R go back to what the history file keeps, not to the last account's texts and
   * paths (until 2026-12-06 the next account's Up showed them: round 7). */
  #signedInAs (username: string | undefined): void {
    if (username === undefined) return
    // The names Tab knew before (none, signed out) are not the account's (round 51: a Tab pressed
    // before LOGIN left nothing to complete for 5 s after it).
    this.#directory = undefined
    if (this.#lastAccount !== undefined && username !== this.#lastAccount) {
      const history = this.#history
      history.splice(0, history.length, ...(this.#options.history?.load() ?? []))
    }
    this.#lastAccount = username
  }

  #forget (line: string): void {
    const history = this.#history
    const at = history.indexOf(line)
    if (at !== -1) history.splice(at, 1)
  }

  /** The prompt for the next command, unless one was typed ahead and waits: it runs now, and a
   * ready prompt drawn under it would read as if it had ended (round 46: `alice>` stood 15 s
   * under a typed-ahead LIST still waiting for a frozen rendezvous). */
  #showUnlessTypedAhead (): void {
    if (this.#linesRead - this.#linesTaken - this.#dropping > 0) return
    this.#show()
  }

  #show (): void {
    if (!this.#options.interactive || this.#closed || this.#inputEnded) return
    this.#prompted = true
    this.#terminal.setPrompt(this.#promptText())
    this.#terminal.prompt(true)
  }

  /**
   * Take the prompt and the line being typed off the screen, every row of it (a line longer than
   * the terminal is wide wraps), so that what is printed next starts where the prompt started and
   * #redraw draws the prompt below it. Clearing only the cursor's row left the rows above it on
   * screen, and readline's redraw, going up to where it believed the prompt began, then wiped the
   * line just printed.
   */
  #clear (): void {
    // A line drawn by this prompt (a question, a search) or not drawn (typing unseen) has one row.
    const drawn = this.#asking === undefined && this.#search?.active !== true && this.#echo?.muted !== true
    const { rows, cols } = drawn ? this.#terminal.getCursorPos() : { rows: 0, cols: 1 }
    // A line that exactly fills its last row leaves many terminals' cursor at the end of that row
    // until the next character comes (a pending wrap): a space settles it on the next row.
    if (rows > 0 && cols === 0) process.stdout.write(' ')
    moveCursor(process.stdout, 0, -rows)
    cursorTo(process.stdout, 0)
    process.stdout.write(SAFE_ERASE_BELOW)
    // readline redraws from `prevRows` rows above the cursor: the rows it last saw the cursor
    // below the prompt's first one. A pasted line is written without a redraw, so that count can
    // be stale; after this clear the prompt starts on the cursor's row.
    const state = this.#terminal as unknown as { prevRows?: unknown }
    if (typeof state.prevRows === 'number') state.prevRows = 0
  }

  #redraw (): void {
    if (this.#closed) return
    if (this.#asking !== undefined) process.stdout.write(this.#asking.label)
    else if (this.#search?.active === true) this.#search.redraw()
    else {
      this.#terminal.setPrompt(this.#promptText())
      this.#terminal.prompt(true)
    }
  }

  /** `alice> `, with the file transfers in progress in front: `[↑ clip.mp4 40% → bob] alice> `.
   * The status takes half the width (at least STATUS_MIN_COLUMNS) but never so much that the
   * prompt leaves fewer than TYPING_COLUMNS to type in; too narrow for that, it is left out. A
   * prompt wider than the terminal wraps, and readline's redrawing of it then goes wrong (until
   * 2026-12-06 the status took 24 columns at least: at 30 it wrapped, a tester's finding). */
  #promptText (): string {
    // While a command runs, redrawn for a line printed or a new status: no `alice> `, which read
    // as the command's end while it went on (a sign-in under load: round 30).
    const name = this.#prompted ? `${this.#peer.username ?? 'parley'}> ` : ''
    const columns = process.stdout.columns ?? 80
    const room = Math.min(Math.max(STATUS_MIN_COLUMNS, Math.floor(columns / 2)), columns - displayWidth(name) - '[] '.length - TYPING_COLUMNS)
    const status = room >= STATUS_SHORTEST ? this.#output.status?.(room) : undefined
    return status === undefined ? name : `[${status}] ${name}`
  }

  async #knownNames (): Promise<KnownNames> {
    return { ...await this.#namesKnownAround(), blocked: this.#peer.blockedUsers() }
  }

  /** The names learned here, and the directory's (asked at most every NAMES_FRESH_MS). */
  async #namesKnownAround (): Promise<KnownNames> {
    const cached = this.#directory
    if (cached !== undefined && Date.now() - cached.at < NAMES_FRESH_MS) return this.#names.with(cached.names)
    let timer: NodeJS.Timeout | undefined
    const names = await Promise.race([
      this.#peer.knownNames().catch(() => undefined), // completion goes on with the names in hand
      new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, NAMES_WAIT_MS) })
    ])
    clearTimeout(timer)
    if (names === undefined) return this.#names
    this.#directory = { at: Date.now(), names }
    return this.#names.with(names)
  }

  /** A hidden question at a terminal whose output is piped: asked on stderr, the terminal's
   * echo off for the answer (unechoed-line.ts). */
  async #askUnechoed (label: string, problem?: string): Promise<string> {
    if (problem !== undefined) process.stderr.write(`error: ${problem}\n`)
    if (this.#piped === undefined) throw new Error('no piped lines: a terminal asks at its prompt')
    const answer = await readUnechoedLine(this.#piped, process.stderr, label)
    if (answer === undefined) throw new InputEnded()
    return answer
  }

  /**
   * Lines typed before `Password:` appeared (`LOGIN dave`, then the password at once, while the
   * peer was still starting) were read as commands once the sign-in ended, and a password among
   * them was said back in `unknown command "password1"` (round 22). As sudo does, they are
   * dropped unrun, and said to be; so is a line typed ahead of `Again:`.
   */
  #dropTypedAhead (label: string): void {
    // A line half typed, unseen (a password typed at once, its Enter not yet pressed), would
    // start the answer with the cursor put before it: what is typed at the question went in
    // front of it, and the sign-in failed (round 49).
    const rl = this.#terminal
    const halfTyped = rl.line !== ''
    if (halfTyped) this.#clearLine(rl)
    const ahead = this.#dropUnread()
    const asked = label.trim()
    if (ahead > 0) {
      this.#output.print({ event: 'error', code: ErrorCode.Usage, message: `${ahead === 1 ? 'a line' : `${ahead} lines`} typed before ${asked} appeared ${ahead === 1 ? 'is' : 'are'} not run (a password typed there would have been read as a command): type it at ${asked}` })
    } else if (halfTyped) {
      this.#output.print({ event: 'error', code: ErrorCode.Usage, message: `what was typed before ${asked} appeared is not taken: type it all at ${asked}` })
    }
  }

  /**
   * The sign-in (or PASSWORD's change) after a hidden answer (scrypt, the rendezvous: a second
   * or more), with what is
   * typed meanwhile unseen, and dropped at its end, a line not yet entered too: most often it is
   * the password again, from someone unsure the first was taken (round 39: shown as typed, said
   * back in `unknown command "pass1234"`, and offered again by Up).
   */
  async #typingUnseen (work: () => Promise<void>, meanwhile: string): Promise<void> {
    const echo = this.#echo
    if (echo === undefined) return await work()
    const show = echo.hide()
    try {
      await work()
    } finally {
      this.#showTypingAgain(show, meanwhile)
    }
  }

  /** The end of a time typing was unseen: what was typed, a half-typed line too, goes unrun, and
   * is said to (once the typing shows again: `show`). */
  #showTypingAgain (show: () => void, meanwhile: string): void {
    if (this.#closed) return show()
    const rl = this.#terminal
    const halfTyped = rl.line !== ''
    if (halfTyped) this.#clearLine(rl) // still unseen
    show()
    if (this.#dropUnread() > 0 || halfTyped) {
      this.#output.print({ event: 'error', code: ErrorCode.Usage, message: `what was typed while ${meanwhile} is not run, nor kept (a password typed there would have been read as a command)` })
    }
  }

  /** The lines read and not yet taken are dropped as they are taken; how many. */
  #dropUnread (): number {
    const lines = this.#linesRead - this.#linesTaken - this.#dropping
    if (lines <= 0) return 0
    this.#dropping += lines
    return lines
  }

  /** Ask `label` without echo; `problem`, if given, is said above it (why it is asked again). */
  async #askHidden (label: string, problem?: string): Promise<string> {
    const echo = this.#echo
    if (echo === undefined) throw new ParleyError(ErrorCode.Usage, 'a hidden prompt needs a terminal')
    // No history while a password is typed: Up would put a command in as the password, unseen
    // (round 48: each one a failed sign-in at the rendezvous's throttle). It comes back after.
    // Asked while the prompt closes (a signal as SIGNUP waited for the rendezvous): not asked
    // (round 51: `Password: Bye.`).
    if (this.#closed) throw new InputEnded()
    this.#questionsAsked++
    const history = this.#history
    const remembered = history.splice(0)
    const abort = new AbortController()
    this.#asking = { label, abort }
    process.stdout.write(label)
    // Printed as any line that comes while a question is open: above it, the label drawn again.
    if (problem !== undefined) this.#output.print({ event: 'error', code: ErrorCode.Usage, message: problem })
    const show = echo.hide()
    this.#dropTypedAhead(label)
    try {
      return await new Promise<string>((resolve, reject) => {
        abort.signal.addEventListener('abort', () => {
          const reason: unknown = abort.signal.reason
          reject(this.#inputEnded ? new InputEnded() : reason instanceof ParleyError ? reason : new ParleyError(ErrorCode.Usage, 'cancelled: nothing was done'))
        }, { once: true })
        this.#terminal.question('', { signal: abort.signal }, resolve)
      })
    } finally {
      this.#asking = undefined
      show()
      // readline put the answer in its history like any line: a password must not stay there,
      // nor a line typed in the same breath after it (dropped unrun: #typingUnseen).
      history.splice(0, history.length, ...remembered)
      if (!this.#closed) process.stdout.write('\n')
    }
  }
}

/** A file that could not be opened, its name opening a quote it never closes: said so. */
async function withQuoteHint (file: string, verb: 'SENDFILE' | 'SENDGROUPFILE', send: () => Promise<void>): Promise<void> {
  try {
    await send()
  } catch (err) {
    const hint = unclosedQuoteHint(file, verb)
    if (!is(err, ErrorCode.File) || hint === undefined) throw err
    throw new ParleyError(ErrorCode.File, `${err.message} (${hint})`, { cause: err })
  }
}

/** Run `command`; `cancel` stops a SENDFILE or SENDGROUPFILE while its file is still read. */
async function run (peer: ParleyPeer, command: Command, output: Output, cancel?: AbortSignal): Promise<void> {
  switch (command.verb) {
    case 'SIGNUP':
    case 'LOGIN': {
      if (command.password === undefined) {
        output.print({ event: 'error', code: ErrorCode.Usage, message: `usage: ${command.verb} <user> <password> (the password is asked for only on a terminal)` })
        return
      }
      if (command.verb === 'SIGNUP') await peer.signup(command.user, command.password)
      else await peer.login(command.user, command.password)
      return
    }
    case 'PASSWORD': {
      if (command.current === undefined || command.next === undefined) {
        output.print({ event: 'error', code: ErrorCode.Usage, message: 'usage: PASSWORD <current> <new> (the passwords are asked for only on a terminal)' })
        return
      }
      return await peer.changePassword(command.current, command.next)
    }
    case 'SEND': return await peer.send(command.user, command.text)
    case 'SENDFILE': return await withQuoteHint(command.file, 'SENDFILE', async () => { await peer.sendFile(localPath(command.file), command.user, cancel) })
    case 'SENDGROUP': return await peer.sendGroup(command.group, command.text)
    case 'SENDGROUPFILE': return await withQuoteHint(command.file, 'SENDGROUPFILE', async () => { await peer.sendGroupFile(localPath(command.file), command.group, cancel) })
    case 'CREATE': return await peer.create(command.group)
    case 'JOIN': return await peer.join(command.group)
    case 'LEAVE': return await peer.leave(command.group)
    case 'MEMBERS': return await peer.members(command.group)
    case 'LIST': return await peer.list()
    case 'WHO': return await peer.who()
    case 'HISTORY': return await peer.history(command.user, command.group, command.count)
    case 'VERIFY': return await peer.verify(command.user)
    case 'TRUST': return await peer.trust(command.user)
    case 'BLOCK': return await peer.block(command.user)
    case 'UNBLOCK': return await peer.unblock(command.user)
    case 'HELP': return output.print({ event: 'help', commands: HELP })
    case 'QUIT': return undefined
  }
}
