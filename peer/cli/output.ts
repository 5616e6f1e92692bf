/**
 * Printing events: one JSON object per line with --json (the stable interface scripts and the
 * integration tests use), or lines for a person: time, who, what; errors and warnings on stderr.
 * The only module of the peer that writes to the terminal.
 */
import { styleText } from 'node:util'
import { SingleBar, Presets } from 'cli-progress'
import type { PeerEvent } from '../events.ts'

export interface Output {
  print: (event: PeerEvent) => void
  /** Interactive prompt: called around each print so a message never lands inside the line
   * being typed; `before` clears the prompt line, `after` draws it again with the typed text. */
  attachPrompt?: (before: () => void, after: () => void) => void
  /** Free the terminal (progress bars) before exit. */
  close: () => void
}

export function jsonOutput (write: (line: string) => void = line => { process.stdout.write(line) }): Output {
  return {
    print: event => { write(JSON.stringify(event) + '\n') },
    close: () => {}
  }
}

const clock = (at: number = Date.now()): string => new Date(at).toTimeString().slice(0, 8)
const megabytes = (bytes: number): string => bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`

export function humanOutput (out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Output {
  const colour = (style: Parameters<typeof styleText>[0], text: string): string => styleText(style, text, { stream: out })
  const bars = new Map<string, SingleBar>()
  let beforePrint = (): void => {}
  let afterPrint = (): void => {}
  const line = (text: string): void => { out.write(text + '\n') }

  function progress (event: Extract<PeerEvent, { event: 'progress' }>): void {
    const key = `${event.direction}/${event.id}/${event.peer}`
    if (!out.isTTY) {
      if (event.bytes === event.total) line(`${clock()} ${event.direction === 'send' ? 'sent' : 'received'} ${event.name} (${megabytes(event.total)}) ${event.direction === 'send' ? 'to' : 'from'} ${event.peer}`)
      return
    }
    let bar = bars.get(key)
    if (bar === undefined) {
      bar = new SingleBar({ format: `${event.direction === 'send' ? '↑' : '↓'} {name} [{bar}] {percentage}% {peer}`, stream: out, hideCursor: false, clearOnComplete: true }, Presets.shades_classic)
      bar.start(Math.max(event.total, 1), 0, { name: event.name, peer: event.peer })
      bars.set(key, bar)
    }
    bar.update(event.total === 0 ? 1 : event.bytes)
    if (event.bytes >= event.total) {
      bar.stop()
      bars.delete(key)
    }
  }

  function print (event: PeerEvent): void {
    switch (event.event) {
      case 'ready': return line(`Parley peer ${event.peerId}\n  listening on ${event.addrs.join(', ')}\n  rendezvous ${event.rendezvous}\nType HELP for the commands, SIGNUP or LOGIN to start.`)
      case 'signed-up': return line(`Welcome, ${event.username}: your account is ready.`)
      case 'logged-in': return line(`Signed in as ${event.username}.`)
      case 'message': return line(`${clock(event.at)} ${colour('bold', event.from)}: ${event.text}`)
      case 'group-message': return line(`${clock(event.at)} ${colour('cyan', `[${event.group}]`)} ${colour('bold', event.from)}: ${event.text}`)
      case 'file': return line(`${clock(event.at)} ${colour('bold', event.from)} sent you ${event.name} (${megabytes(event.size)}), saved as ${event.path}`)
      case 'group-file': return line(`${clock(event.at)} ${colour('cyan', `[${event.group}]`)} ${colour('bold', event.from)} sent ${event.name} (${megabytes(event.size)}), saved as ${event.path}`)
      case 'sent': return undefined // "delivered" follows in a moment; one line per message is enough
      case 'queued': return line(colour('yellow', `${clock()} queued for ${event.to}${event.group === null ? '' : ` in ${event.group}`} (${event.reason}); it will be delivered when they are back`))
      case 'delivered': return line(colour('dim', `${clock()} delivered to ${event.to}${event.group === null ? '' : ` in ${event.group}`}`))
      case 'progress': return progress(event)
      case 'groups':
        if (event.groups.length === 0) return line('No groups yet: CREATE <group> or JOIN <group>.')
        return line(event.groups.map(g => `  ${g.group}  ${g.members} participant${g.members === 1 ? '' : 's'}`).join('\n'))
      case 'created': return line(`Created group ${event.group}.`)
      case 'joined': return line(event.created ? `Created and joined group ${event.group}.` : `Joined group ${event.group}.`)
      case 'left': return line(`Left group ${event.group}.`)
      case 'members': return line(`${event.group}: ${event.members.map(m => `${m.username}${m.online ? ' (online)' : ''}`).join(', ')}`)
      case 'who': return line(event.users.length === 0 ? 'Nobody else is online.' : event.users.map(u => `  ${u.username}${u.online ? ' (online)' : ''}`).join('\n'))
      case 'history':
        if (event.messages.length === 0) return line(`No messages with ${event.with} yet.`)
        return line(event.messages.map(m => `${clock(m.at)} ${m.group === null ? '' : `[${m.group}] `}${m.from}: ${m.kind === 'file' ? `[file] ${m.text}` : m.text}${m.direction === 'out' ? colour('dim', ` (${m.status})`) : ''}`).join('\n'))
      case 'verify': return line(`Fingerprint for you and ${event.user}:\n  ${event.fingerprint}\nCompare it with ${event.user} in person or on a call; it must be the same on both screens.`)
      case 'trusted': return line(`Accepted the new identity of ${event.user}.`)
      case 'presence': return line(colour('dim', `${clock()} ${event.user} is ${event.online ? 'online' : 'offline'}`))
      case 'key': return line(colour('dim', `${clock()} received the key of ${event.group} from ${event.from}`))
      case 'warning': err.write(colour('yellow', `warning: ${event.message}`) + '\n'); return
      case 'error': err.write(colour('red', `error: ${event.message}`) + '\n'); return
      case 'help': return line(event.commands.join('\n'))
      case 'bye': return line('Bye.')
    }
  }

  return {
    print: event => {
      // A progress bar redraws its own line: the prompt comes back once the bar is done.
      const barRunning = event.event === 'progress' && out.isTTY && event.bytes < event.total
      if (!(barRunning && bars.size > 0)) beforePrint()
      print(event)
      if (!barRunning) afterPrint()
    },
    attachPrompt: (before, after) => {
      beforePrint = before
      afterPrint = after
    },
    close: () => { for (const bar of bars.values()) bar.stop() }
  }
}
