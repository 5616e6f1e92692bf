/**
 * The prompt: reads commands line by line from a terminal or from piped stdin, runs each in
 * order, prints what happens, and never lets an error end the program.
 */
import { clearLine, createInterface, cursorTo } from 'node:readline'
import type { Interface } from 'node:readline'
import { Writable } from 'node:stream'
import { ErrorCode, ParleyError, asParleyError } from '../../common/errors.ts'
import type { ParleyPeer } from '../app.ts'
import { HELP, parseCommand } from './commands.ts'
import type { Command } from './commands.ts'
import type { Output } from './output.ts'

/** The terminal as readline sees it, with a switch to stop echoing while a password is typed. */
class EchoSwitch extends Writable {
  muted = false
  readonly columns = process.stdout.columns
  override _write (chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    if (!this.muted) process.stdout.write(chunk)
    done()
  }
}

export async function runPrompt (peer: ParleyPeer, output: Output, interactive: boolean): Promise<void> {
  const echo = new EchoSwitch()
  const rl = createInterface({ input: process.stdin, output: interactive ? echo : undefined, terminal: interactive })
  const showPrompt = (): void => {
    if (interactive) {
      rl.setPrompt(`${peer.username ?? 'parley'}> `)
      rl.prompt()
    }
  }
  if (interactive) {
    output.attachPrompt?.(
      () => { clearLine(process.stdout, 0); cursorTo(process.stdout, 0) },
      () => { if (!echo.muted) rl.prompt(true) }
    )
  }
  showPrompt()
  for await (const line of rl) {
    let command: Command | null
    try {
      command = parseCommand(line)
      if (command?.verb === 'QUIT') break
      if (command !== null) {
        if (interactive && (command.verb === 'SIGNUP' || command.verb === 'LOGIN') && command.password === undefined) {
          command.password = await askPassword(rl, echo, command.verb === 'SIGNUP')
        }
        await run(peer, command, output)
      }
    } catch (err) {
      const error = asParleyError(err)
      output.print({ event: 'error', code: error.code, message: error.message })
    }
    showPrompt()
  }
  rl.close()
}

async function askHidden (rl: Interface, echo: EchoSwitch, question: string): Promise<string> {
  process.stdout.write(question)
  echo.muted = true
  try {
    return await new Promise<string>(resolve => { rl.question('', resolve) })
  } finally {
    echo.muted = false
    process.stdout.write('\n')
  }
}

async function askPassword (rl: Interface, echo: EchoSwitch, twice: boolean): Promise<string> {
  const password = await askHidden(rl, echo, 'Password: ')
  if (twice && await askHidden(rl, echo, 'Again: ') !== password) {
    throw new ParleyError(ErrorCode.Usage, 'the two passwords differ')
  }
  return password
}

async function run (peer: ParleyPeer, command: Command, output: Output): Promise<void> {
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
    case 'SEND': return peer.send(command.user, command.text)
    case 'SENDFILE': return await peer.sendFile(command.file, command.user)
    case 'SENDGROUP': return await peer.sendGroup(command.group, command.text)
    case 'SENDGROUPFILE': return await peer.sendGroupFile(command.file, command.group)
    case 'CREATE': return await peer.create(command.group)
    case 'JOIN': return await peer.join(command.group)
    case 'LEAVE': return await peer.leave(command.group)
    case 'MEMBERS': return await peer.members(command.group)
    case 'LIST': return await peer.list()
    case 'WHO': return await peer.who()
    case 'HISTORY': return peer.history(command.target, command.count)
    case 'VERIFY': return await peer.verify(command.user)
    case 'TRUST': return await peer.trust(command.user)
    case 'HELP': return output.print({ event: 'help', commands: HELP })
    case 'QUIT': return undefined
  }
}
