/**
 * `npm run demo`: a rendezvous and four scripted peers on this machine walk through the whole
 * mission — signup, a wrong password, SEND, CREATE, JOIN of a new and of an existing group,
 * LIST, SENDGROUP, SENDFILE, SENDGROUPFILE — and the conversation is printed as each peer saw
 * it. Everything stays on 127.0.0.1 (no mDNS) and in a temporary folder that is removed after.
 * The processes are the real ones, driven over stdin with --json like the integration tests.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { styleText } from 'node:util'
import { removeDir, tempDir } from '../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../harness/processes.ts'
import type { PeerEventLine } from '../harness/processes.ts'
import { makePng, makeWav } from '../harness/media.ts'

const USERS = ['alice', 'bob', 'carol', 'dave'] as const
const PASSWORD = 'demo password 1'

const say = (text: string): void => { process.stdout.write(styleText('bold', `\n== ${text}\n`)) }
const show = (who: string, line: string): void => { process.stdout.write(`  ${styleText('cyan', who.padEnd(6))} ${line}\n`) }

function describe (event: PeerEventLine): string | undefined {
  switch (event.event) {
    case 'signed-up': return `signed up as ${String(event.username)}`
    case 'error': return styleText('red', `error: ${String(event.message)}`)
    case 'message': return `${String(event.from)}: ${String(event.text)}`
    case 'group-message': return `[${String(event.group)}] ${String(event.from)}: ${String(event.text)}`
    case 'file': return `file from ${String(event.from)}: ${String(event.name)} (${String(event.size)} bytes)`
    case 'group-file': return `[${String(event.group)}] file from ${String(event.from)}: ${String(event.name)} (${String(event.size)} bytes)`
    case 'created': return `created ${String(event.group)}`
    case 'joined': return `joined ${String(event.group)}${event.created === true ? ' (it did not exist, so it was created first)' : ''}`
    case 'groups': return 'LIST: ' + (event.groups as Array<{ group: string, members: number }>).map(g => `${g.group} (${g.members})`).join(', ')
    case 'key': return `got the key of ${String(event.group)} from ${String(event.from)}`
    case 'delivered': return styleText('dim', `delivered to ${String(event.to)}${typeof event.group === 'string' ? ` in ${event.group}` : ''}`)
    case 'undelivered': return styleText('red', String(event.message))
    default: return undefined
  }
}

async function main (): Promise<void> {
  const dir = await tempDir('parley-demo-')
  const server = await spawnRendezvous(join(dir, 'rendezvous'))
  const peers: PeerProcess[] = []
  try {
    process.stdout.write(`rendezvous at ${server.addr.toString()}\n`)
    for (const name of USERS) peers.push(await PeerProcess.start(name, server.addr.toString(), join(dir, name)))
    const [alice, bob, carol, dave] = peers as [PeerProcess, PeerProcess, PeerProcess, PeerProcess]
    const step = async (peer: PeerProcess, line: string, until: (e: PeerEventLine) => boolean): Promise<PeerEventLine> => {
      show(peer.name, styleText('yellow', `> ${line.replace(PASSWORD, '********')}`))
      const event = await peer.run(line, e => until(e) || e.event === 'error')
      show(peer.name, describe(event) ?? JSON.stringify(event))
      return event
    }

    say('Four users sign up')
    for (const peer of peers) await step(peer, `SIGNUP ${peer.name} ${PASSWORD}`, is('signed-up'))

    say('A wrong password is refused with a clear error')
    const intruder = await PeerProcess.start('eve', server.addr.toString(), join(dir, 'eve'))
    peers.push(intruder)
    await step(intruder, 'LOGIN alice guessed-wrong', is('error'))

    say('Direct messages, peer to peer (3DES under a fresh Diffie-Hellman key each time)')
    const hello = bob.waitFor(is('message', { from: 'alice' }))
    await step(alice, 'SEND bob Hello Bob, this whole sentence arrives', is('delivered', { to: 'bob' }))
    show('bob', describe(await hello) ?? '')
    const reply = alice.waitFor(is('message', { from: 'bob' }))
    await step(bob, 'SEND alice Hi Alice! Got it.', is('delivered', { to: 'alice' }))
    show('alice', describe(await reply) ?? '')

    say('Groups: CREATE, JOIN (new and existing), LIST')
    await step(alice, 'CREATE friends', is('created'))
    await step(bob, 'JOIN friends', is('joined'))
    await step(carol, 'JOIN friends', is('joined'))
    await step(dave, 'JOIN hikers', is('joined'))
    await step(carol, 'JOIN hikers', is('joined'))
    await step(dave, 'LIST', is('groups'))

    say('SENDGROUP reaches every member, and only them')
    const groupWaits = [bob, carol].map(async p => { show(p.name, describe(await p.waitFor(is('group-message', { group: 'friends' }))) ?? '') })
    await step(alice, 'SENDGROUP friends Dinner at eight?', is('delivered', { group: 'friends' }))
    await Promise.all(groupWaits)
    const hikerWait = dave.waitFor(is('group-message', { group: 'hikers' }))
    await step(carol, 'SENDGROUP hikers Trail at dawn', is('delivered', { group: 'hikers', to: 'dave' }))
    show('dave', describe(await hikerWait) ?? '')

    say('Files of any kind: SENDFILE and SENDGROUPFILE')
    const picture = join(dir, 'sunset.png')
    await writeFile(picture, makePng(320, 200))
    const gotPicture = carol.waitFor(is('file', { from: 'alice' }))
    await step(alice, `SENDFILE ${picture} carol`, is('delivered', { to: 'carol' }))
    const pictureEvent = await gotPicture
    show('carol', describe(pictureEvent) ?? '')
    const same = Buffer.compare(await readFile(String(pictureEvent.path)), await readFile(picture)) === 0
    show('carol', same ? 'the picture is byte-identical' : styleText('red', 'the picture differs!'))
    const song = join(dir, 'song.wav')
    await writeFile(song, makeWav(2))
    const songWaits = [alice, carol].map(async p => { show(p.name, describe(await p.waitFor(is('group-file', { group: 'friends' }))) ?? '') })
    await step(bob, `SENDGROUPFILE ${song} friends`, is('delivered', { group: 'friends' }))
    await Promise.all(songWaits)
    if (!same) process.exitCode = 1
    say('Done: every command of the mission ran end to end.')
  } finally {
    await Promise.all(peers.map(async p => await p.quit()))
    await server.stop()
    await removeDir(dir)
  }
}

await main()
