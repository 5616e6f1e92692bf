/**
 * A real terminal for tests: a peer (or any command) runs in a detached tmux session on a
 * private socket, keys are typed with send-keys and the screen is read with capture-pane, as a
 * person would see it. Waits poll the screen until the expected text appears (a generous
 * deadline, never a fixed sleep). The tmux server is killed on close.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { PEER_PROGRAM, PROGRAM_ENV } from '../../harness/processes.ts'

const run = promisify(execFile)
const ROOT = new URL('../../', import.meta.url).pathname

export const EXIT_MARK = '[exited with status '

/** Each terminal gets a tmux server of its own (its own socket), so several can run at once. */
let opened = 0

export class Terminal {
  readonly #socket: string
  readonly name = 'pty'

  private constructor (socket: string) {
    this.#socket = socket
  }

  /**
   * Run `argv` in a fresh terminal (120×40 unless `size` says otherwise), cwd the project root.
   * When it ends the pane prints `[exited with status N]` and stays, so the test can read the
   * last screen.
   */
  static async start (dir: string, argv: string[], env: Record<string, string> = {}, size = { columns: 120, rows: 40 }): Promise<Terminal> {
    const terminal = new Terminal(join(dir, `tmux-${process.pid}-${++opened}.sock`))
    const quoted = argv.map(arg => `'${arg.replaceAll('\'', '\'\\\'\'')}'`).join(' ')
    // tmux starts the program in its own environment, not this one's (harness PROGRAM_ENV).
    const testCost = PROGRAM_ENV.PARLEY_TEST_WEAK_SCRYPT === undefined ? {} : { PARLEY_TEST_WEAK_SCRYPT: PROGRAM_ENV.PARLEY_TEST_WEAK_SCRYPT }
    // Ctrl-C where the terminal is in its own line mode (no readline: the peer leaving after
    // QUIT) is a SIGINT to the whole foreground group, this shell too: a no-op trap keeps it (and
    // the pane) to say how the program ended. A trap, not an ignore: the program gets SIGINT as
    // it would from a login shell.
    const command = `trap : INT; cd '${ROOT}' && ${quoted}; echo "${EXIT_MARK}$?]"; exec sleep 3600`
    await terminal.tmux('-f', '/dev/null', 'new-session', '-d', '-s', terminal.name, '-x', String(size.columns), '-y', String(size.rows),
      '-e', 'TERM=xterm-256color', ...Object.entries({ ...testCost, ...env }).flatMap(([key, value]) => ['-e', `${key}=${value}`]),
      'sh', '-c', command)
    return terminal
  }

  async tmux (...args: string[]): Promise<string> {
    const { stdout } = await run('tmux', ['-S', this.#socket, ...args])
    return stdout
  }

  /** Type text literally (no key names), without Enter. */
  async type (text: string): Promise<void> {
    await this.tmux('send-keys', '-t', this.name, '-l', text)
  }

  /** Press keys by tmux name: 'Enter', 'Tab', 'Up', 'C-c', 'C-d', 'C-r', 'Escape'… */
  async press (...keys: string[]): Promise<void> {
    await this.tmux('send-keys', '-t', this.name, ...keys)
  }

  /** Paste `text` as a terminal does: between bracketed-paste marks only if the program in the
   * foreground asked for them (tmux keeps the mode, as a terminal does). */
  async paste (text: string): Promise<void> {
    await this.tmux('set-buffer', '-b', 'paste', text)
    await this.tmux('paste-buffer', '-p', '-d', '-b', 'paste', '-t', this.name)
  }

  /** Resize the window, as a person drags it: tmux rewraps what is on the screen, as most
   * terminals do, and the program gets SIGWINCH. tmux sets the terminal's size (and so sends the
   * signal) in a later turn of its own loop: this resolves once the terminal has the new size,
   * so that what the test does next comes after the signal. */
  async resize (columns: number, rows: number): Promise<void> {
    await this.tmux('resize-window', '-t', this.name, '-x', String(columns), '-y', String(rows))
    const tty = (await this.tmux('display-message', '-p', '-t', this.name, '#{pane_tty}')).trim()
    const deadline = Date.now() + 10_000
    while ((await run('stty', ['-F', tty, 'size'])).stdout.trim() !== `${rows} ${columns}`) {
      if (Date.now() > deadline) throw new Error(`the terminal never took the size ${columns}×${rows}`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  /** Send `signal` to the program the terminal runs (the children of the pane's shell), as
   * `kill` from another terminal would. */
  async signal (signal: NodeJS.Signals): Promise<void> {
    const shell = (await this.tmux('display-message', '-p', '-t', this.name, '#{pane_pid}')).trim()
    const { stdout } = await run('pgrep', ['-P', shell])
    for (const pid of stdout.split('\n').filter(line => line !== '')) process.kill(Number(pid), signal)
  }

  /** Type a line and press Enter. */
  async line (text: string): Promise<void> {
    await this.type(text)
    await this.press('Enter')
  }

  /** What the screen shows now, with the scrollback (trailing blank lines dropped). */
  async screen (): Promise<string> {
    return (await this.tmux('capture-pane', '-p', '-J', '-S', '-1000', '-t', this.name)).replace(/\s+$/, '')
  }

  /** The line the cursor is on, as shown. The cursor's row and the screen are read in one tmux
   * command: read one after the other, a line printed in between (a transfer's progress) moved
   * the screen under the row, and the row read was another line or none. */
  async cursorLine (): Promise<string> {
    const [y = '', ...lines] = (await this.tmux('display-message', '-p', '-t', this.name, '#{cursor_y}', ';', 'capture-pane', '-p', '-t', this.name)).split('\n')
    return lines[Number(y)] ?? ''
  }

  /** The rows tmux keeps above the screen (its scrollback), and the cursor's row on the screen. */
  async scrollback (): Promise<{ rows: number, cursorRow: number }> {
    const [rows = '', cursorRow = ''] = (await this.tmux('display-message', '-p', '-t', this.name, '#{history_size} #{cursor_y}')).trim().split(' ')
    return { rows: Number(rows), cursorRow: Number(cursorRow) }
  }

  /** Poll the cursor's line until it matches; what it shows last if it never does. A line read
   * once can be caught between two writes of a redraw (the program is not the only writer to
   * time: tmux reads the terminal in its own turns). */
  async waitForCursorLine (check: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const row = await this.cursorLine()
      if (check.test(row) || Date.now() > deadline) return row
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  /** Poll the screen until `check` holds; the deadline is generous for a slow machine. */
  async waitFor (check: string | RegExp | ((screen: string) => boolean), timeoutMs = 30_000): Promise<string> {
    const test = typeof check === 'function' ? check : (screen: string) => typeof check === 'string' ? screen.includes(check) : check.test(screen)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const screen = await this.screen()
      if (test(screen)) return screen
      if (Date.now() > deadline) throw new Error(`the screen never showed ${String(check)}; it shows:\n${screen}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  /** Wait for the program to end; its exit status. */
  async exitStatus (timeoutMs = 30_000): Promise<number> {
    const screen = await this.waitFor(new RegExp(`${EXIT_MARK.replace(/[[\]]/g, '\\$&')}\\d+\\]`), timeoutMs)
    return Number(new RegExp(`${EXIT_MARK.replace(/[[\]]/g, '\\$&')}(\\d+)\\]`).exec(screen)?.[1])
  }

  async close (): Promise<void> {
    await this.tmux('kill-server').catch(() => {})
  }
}

/** The argv that starts a real peer as `npm run peer` does, on loopback with its own data folder. */
/** `text` as a line the peer may have broken into indented rows between its words (format.ts,
 * hangingRows): each space may be a row's end and the next row's indent. */
export function wrappable (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replaceAll(' ', '\\s+')
}

export function peerCommand (rendezvous: string, dataDir: string): string[] {
  return [process.execPath, ...PEER_PROGRAM, '0', '--rendezvous', rendezvous, '--data', dataDir, '--host', '127.0.0.1', '--no-mdns']
}
