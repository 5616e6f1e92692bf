/**
 * Starts that cannot go ahead, with the real programs: a port another process listens on, and a
 * data folder another peer (or rendezvous) runs on. Each is one clear line and a nonzero exit
 * status, before anything is written: no libp2p advice, no stack trace, nothing in errors.log
 * (until 2026-12-05 the port was libp2p's "Some configured addresses failed to be listened on …
 * set transportManager.faultTolerance to NO_FATAL" as an unexpected failure, and a second peer
 * on a folder ran beside the first on one outbox and store).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, chown, mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PEER_PROGRAM, PROGRAM_ENV, PeerProcess, RENDEZVOUS_PROGRAM, is, spawnRendezvous } from '../../harness/processes.ts'
import type { PeerEventLine, ServerProcess } from '../../harness/processes.ts'

const ROOT = new URL('../../', import.meta.url).pathname

interface Ended {
  code: number | null
  events: PeerEventLine[]
  stderr: string
}

/** A peer (or rendezvous: `program`) expected to stop at startup: its exit code and output. */
async function runToExit (args: string[], program: readonly string[] = PEER_PROGRAM): Promise<Ended> {
  const child = spawn(process.execPath, [...program, ...args], { cwd: ROOT, env: PROGRAM_ENV, stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin.end() // a peer that did start ends at the end of its input, and the test says so
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    if (stdout.includes('"event":"ready"')) child.kill() // it started when it should not have (a rendezvous reads no input)
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise<number | null>(resolve => { child.once('exit', resolve) })
  const events = stdout.split('\n').filter(line => line !== '').map(line => JSON.parse(line) as PeerEventLine)
  return { code, events, stderr }
}

const portOf = (addr: string): number => Number(/\/tcp\/([0-9]+)/.exec(addr)?.[1])

/** The one error line, and nothing a person should not see. */
function assertOneClearError (ended: Ended, message: RegExp): void {
  assert.equal(ended.code, 1, JSON.stringify(ended))
  const errors = ended.events.filter(e => e.event === 'error')
  assert.equal(errors.length, 1, JSON.stringify(ended.events))
  assert.equal(errors[0]?.code, 'ERR_USAGE')
  assert.match(String(errors[0]?.message), message)
  assert.ok(!ended.events.some(e => e.event === 'ready'), 'it never started')
  assert.doesNotMatch(JSON.stringify(ended), /faultTolerance|\n\s+at |unexpected failure/)
}

describe('a start that cannot go ahead says why in one line', () => {
  let dir: string
  let server: ServerProcess
  let rendezvous: string
  const peers: PeerProcess[] = []
  const peerArgs = (port: number, data: string, host = '127.0.0.1'): string[] =>
    [String(port), '--rendezvous', rendezvous, '--data', data, '--host', host, '--json', '--no-mdns']

  before(async () => {
    dir = await tempDir('parley-startup-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    rendezvous = server.addr.toString()
  })

  after(async () => {
    await Promise.all(peers.map(async p => await p.kill()))
    await server.stop()
    await removeDir(dir)
  })

  test('a peer started without a port, or with one that is not a port, says so and starts nothing', async () => {
    /** A usage error as --json says it: one `error` event, its problem, then the usage line. */
    const refused = (ended: Ended, problem: RegExp): void => {
      assert.deepEqual([ended.code, ended.stderr, ended.events.map(e => [e.event, e.code])], [2, '', [['error', 'ERR_USAGE']]], JSON.stringify(ended))
      const [first = '', second = ''] = String(ended.events[0]?.message).split('\n')
      assert.match(first, problem)
      assert.match(second, /^usage: npm run peer -- <port> /)
    }
    // Without --data: the port names the default folder (.parley/peer-<port>); until 2026-12-06 a
    // missing port was taken as 0, and so the folder of peer-0.
    refused(await runToExit(['--rendezvous', rendezvous, '--json', '--no-mdns']), /^which port\? npm run peer -- <port> \(0: any free port\)$/)
    refused(await runToExit(['70000', '--rendezvous', rendezvous, '--json', '--no-mdns']), /^the port must be a number from 0 to 65535$/)
    // A word after the port is not the port's fault (until 2026-12-06 it said the port was no number).
    refused(await runToExit(['5000', 'extra', '--rendezvous', rendezvous, '--json', '--no-mdns']), /^one port only, then options: "extra" is not an option \(they start with --\)$/)
    // Options refused in our words, not parseArgs' (until 2026-12-06 `peer -1` was told to "place
    // it at the end of the command after '--'").
    refused(await runToExit(['-1', '--rendezvous', rendezvous, '--json', '--no-mdns']), /^the port must be a number from 0 to 65535$/)
    refused(await runToExit(['5000', '--rendevous', rendezvous, '--json', '--no-mdns']), /^"--rendevous" is not an option; the options are --rendezvous, --data, --host, --json, --no-mdns, --help$/)
    refused(await runToExit(['5000', '--json', '--no-mdns', '--data']), /^--data needs a value after it$/)
    // A rendezvous address that cannot be read is the command line's fault too (until 2026-12-07
    // said later, without the usage line: a README audit).
    refused(await runToExit(['5000', '--rendezvous', 'nonsense', '--json', '--no-mdns']), /^rendezvous address "nonsense" must be host:port or a multiaddr$/)
    // For a person, on stderr, after the program's name (until 2026-12-07 without it; and with
    // --json it was this text too: round 24).
    const person = await runToExit(['70000', '--rendezvous', rendezvous, '--no-mdns'])
    assert.deepEqual([person.code, person.events], [2, []], JSON.stringify(person))
    assert.match(person.stderr, /^parley peer: the port must be a number from 0 to 65535\nusage: npm run peer -- <port> .*\n$/)
    const nonsense = await runToExit(['5000', '--rendezvous', 'nonsense', '--no-mdns'])
    assert.deepEqual([nonsense.code, nonsense.events], [2, []], JSON.stringify(nonsense))
    assert.match(nonsense.stderr, /^parley peer: rendezvous address "nonsense" must be host:port or a multiaddr\nusage: npm run peer -- <port> .*\n$/)
  })

  test('a rendezvous started for a person (no --json) says so when Ctrl-C stops it', async () => {
    const child = spawn(process.execPath, [...RENDEZVOUS_PROGRAM, '--port', '0', '--host', '127.0.0.1', '--data', join(dir, 'rendezvous-human'), '--no-mdns'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      if (/listening on:\n\/ip4\//.test(stdout)) child.kill('SIGINT')
    })
    const code = await new Promise<number | null>(resolve => { child.once('exit', resolve) })
    // Until 2026-12-06 it said nothing: the shell's prompt came back under the addresses.
    assert.equal(code, 0)
    assert.match(stdout, /\nparley rendezvous stopped \(SIGINT\)\.\n$/)
  })

  test('a rendezvous refuses what is not its option in words a person reads', async () => {
    const positional = await runToExit(['7000', '--json', '--no-mdns'], RENDEZVOUS_PROGRAM)
    // Exit status 2, as the peer's usage errors (until 2026-12-06 the rendezvous said 1).
    assert.equal(positional.code, 2)
    assert.match(String(positional.events[0]?.message), /^"7000" is not an option \(they start with --; the port is --port N\)\nusage: /)
    const valueless = await runToExit(['--json=yes'], RENDEZVOUS_PROGRAM)
    assert.equal(valueless.code, 2)
    assert.match(valueless.stderr, /^parley rendezvous: --json takes no value\nusage: /)
    // A value starting with a dash is one, if not a good one (until 2026-12-06 "needs a value after it": round 20).
    const negative = await runToExit(['--connections-per-ip', '-1'], RENDEZVOUS_PROGRAM)
    assert.equal(negative.code, 2)
    assert.match(negative.stderr, /^parley rendezvous: --connections-per-ip needs a value after it, and "-1" is not one\nusage: /)
  })

  test('a peer sent SIGINT the moment it says ready stops cleanly, with its bye', async () => {
    // As a script that starts a peer and stops it at once does. Until 2026-12-06 the signal
    // could come before the peer's handlers were in place and end it by the default, unsaid.
    for (let run = 0; run < 3; run++) {
      const child = spawn(process.execPath, [...PEER_PROGRAM, ...peerArgs(0, join(dir, `signalled-${run}`))], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
      let stdout = ''
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        if (!stdout.includes('"event":"ready"') && (stdout + chunk).includes('"event":"ready"')) child.kill('SIGINT')
        stdout += chunk
      })
      const code = await new Promise<number | null>(resolve => { child.once('exit', resolve) })
      assert.deepEqual([code, stdout.trim().split('\n').map(line => (JSON.parse(line) as { event: string }).event)], [0, ['ready', 'bye']], stdout)
    }
  })

  test('a peer on the port the rendezvous listens on', async () => {
    const port = portOf(rendezvous)
    const data = join(dir, 'on-rendezvous-port')
    const ended = await runToExit(peerArgs(port, data))
    assertOneClearError(ended, new RegExp(`^port ${port} is already in use \\(another peer or program listens there\\): choose another port$`))
    assert.ok(!existsSync(join(data, 'errors.log')), 'not an unexpected error')
  })

  test('a peer on the port another peer listens on', async () => {
    const first = await PeerProcess.start('first', rendezvous, join(dir, 'first'))
    peers.push(first)
    const port = portOf(String((first.events.find(is('ready'))?.addrs as string[])[0]))
    const ended = await runToExit(peerArgs(port, join(dir, 'second')))
    assertOneClearError(ended, new RegExp(`^port ${port} is already in use`))
  })

  test('a rendezvous on a port in use', async () => {
    const port = portOf(rendezvous)
    const ended = await runToExit(['--port', String(port), '--host', '127.0.0.1', '--data', join(dir, 'rendezvous-2'), '--json', '--no-mdns'],
      RENDEZVOUS_PROGRAM)
    assert.equal(ended.code, 1)
    assert.deepEqual(ended.events, [{ event: 'error', code: 'ERR_USAGE', message: `cannot start: port ${port} is already in use (another peer or program listens there): choose another port` }])
    assert.equal(ended.stderr, '')
  })

  test('a peer on an address this machine does not have (--host)', async () => {
    const ended = await runToExit(peerArgs(0, join(dir, 'no-such-host'), '192.0.2.1')) // TEST-NET-1: nobody's
    assertOneClearError(ended, /^192\.0\.2\.1 is not an address of this machine: choose another --host/)
  })

  test('a second peer on a data folder in use is refused; a folder whose peer was killed with -9 is free', async () => {
    const data = join(dir, 'shared')
    const first = await PeerProcess.start('holder', rendezvous, data)
    peers.push(first)
    const ended = await runToExit(peerArgs(0, data))
    assertOneClearError(ended, new RegExp(`^the data folder ${data} is in use by another peer \\(pid ${first.child.pid}\\): stop it or use --data DIR$`))

    await first.kill('SIGKILL')
    const next = await PeerProcess.start('next', rendezvous, data)
    peers.push(next)
    assert.ok(next.events.some(is('ready')))
  })

  test('a data folder other users can write to is closed to them, saying so; one of another user is refused', async () => {
    // Round 37: a folder made 0777 beforehand stayed so, and another user could have replaced
    // the pinned rendezvous identity in it.
    const open = join(dir, 'open-to-all')
    await mkdir(open, { mode: 0o700 })
    await chmod(open, 0o777)
    const peer = await runToExit(peerArgs(0, open))
    assert.deepEqual(peer.events.filter(e => e.event === 'warning'), [{ event: 'warning', code: 'ERR_FILE', message: `other users could write to the data folder ${open} (mode 0777) and replace what it holds; it is now 0700, yours alone` }])
    assert.ok(peer.events.some(is('ready')), 'it starts')
    assert.equal((await stat(open)).mode & 0o777, 0o700)

    const openServer = join(dir, 'rendezvous-open')
    await mkdir(openServer, { mode: 0o700 })
    await chmod(openServer, 0o770)
    const server = await runToExit(['--port', '0', '--host', '127.0.0.1', '--data', openServer, '--json', '--no-mdns'], RENDEZVOUS_PROGRAM)
    assert.deepEqual(server.events.filter(e => e.event === 'warning'), [{ event: 'warning', code: 'ERR_FILE', message: `other users could write to the data folder ${openServer} (mode 0770) and replace what it holds; it is now 0700, yours alone` }])
    assert.equal((await stat(openServer)).mode & 0o777, 0o700)

    // Another user's folder: as root, one given to nobody (65534); else one of root's.
    let theirs = '/usr'
    if (process.getuid?.() === 0) {
      theirs = join(dir, 'nobodys')
      await mkdir(theirs, { mode: 0o700 })
      await chown(theirs, 65534, 65534)
    }
    const { uid } = await stat(theirs)
    const refused = await runToExit(peerArgs(0, theirs))
    assert.equal(refused.code, 1)
    assert.deepEqual(refused.events, [{ event: 'error', code: 'ERR_FILE', message: `the data folder ${theirs} belongs to another user (uid ${uid}), who could change what it holds: use a folder of your own (--data DIR)` }])
    if (theirs !== '/usr') assert.deepEqual(await readdir(theirs), [], 'nothing written in it')
  })

  test('a second rendezvous on a data folder in use is refused', async () => {
    const ended = await runToExit(['--port', '0', '--host', '127.0.0.1', '--data', join(dir, 'rendezvous'), '--json', '--no-mdns'],
      RENDEZVOUS_PROGRAM)
    assert.equal(ended.code, 1)
    assert.deepEqual(ended.events, [{ event: 'error', code: 'ERR_USAGE', message: `cannot start: the data folder ${join(dir, 'rendezvous')} is in use by another rendezvous (pid ${server.child.pid}): stop it or use --data DIR` }])
  })
})
