/**
 * The rendezvous is pinned on first use (peer/rendezvous-pin.ts): a data folder that met one
 * rendezvous at host:port refuses another identity at the same address, until the person names
 * the new one with its peer id. Real rendezvous and peer processes, started as the README says.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PEER_PROGRAM, PROGRAM_ENV, PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { ServerProcess } from '../../harness/processes.ts'

const ROOT = new URL('../../', import.meta.url).pathname

/** Run a peer with --json until its first `ready` or `error` event (then QUIT), or its exit. */
async function firstWord (rendezvous: string, dataDir: string): Promise<{ events: Array<Record<string, unknown>>, code: number | null }> {
  const child = spawn(process.execPath, [...PEER_PROGRAM, '0', '--rendezvous', rendezvous, '--data', dataDir, '--host', '127.0.0.1', '--json', '--no-mdns'], { cwd: ROOT, env: PROGRAM_ENV, stdio: ['pipe', 'pipe', 'pipe'] })
  const events: Array<Record<string, unknown>> = []
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { events.push({ stderr: chunk }) })
  createInterface({ input: child.stdout }).on('line', line => {
    const event = JSON.parse(line) as Record<string, unknown>
    events.push(event)
    if (event.event === 'ready') child.stdin.end('QUIT\n')
  })
  const code = await new Promise<number | null>(resolve => { child.once('exit', resolve) })
  return { events, code }
}

describe('the rendezvous is pinned on first use', () => {
  let dir: string
  let server: ServerProcess

  before(async () => {
    dir = await tempDir('parley-pin-')
    server = await spawnRendezvous(join(dir, 'first'))
  })

  after(async () => {
    await server.stop()
    await removeDir(dir)
  })

  test('another identity at the same address is refused until named with its peer id', async () => {
    const port = server.addr.getComponents().find(c => c.name === 'tcp')?.value ?? ''
    const hostPort = `127.0.0.1:${port}`
    const data = join(dir, 'peer')
    const first = await firstWord(hostPort, data)
    assert.equal(first.code, 0, JSON.stringify(first))
    assert.match(String(first.events[0]?.rendezvous), new RegExp(`/p2p/${server.peerId}$`), `the address is pinned to the first identity: ${JSON.stringify(first)}`)

    // Another rendezvous (another identity) at the same address.
    const firstId = server.peerId
    await server.stop()
    server = await spawnRendezvous(join(dir, 'second'), 15_000, Number(port))
    const refused = await firstWord(hostPort, data)
    assert.equal(refused.code, 2, JSON.stringify(refused))
    assert.equal(refused.events[0]?.event, 'error')
    assert.equal(refused.events[0]?.code, 'ERR_IDENTITY_CHANGED')
    assert.match(String(refused.events[0]?.message), new RegExp(`is ${server.peerId}, not ${firstId}`))

    // Named with its peer id, the new one replaces the pin (with a notice), and host:port works again.
    const named = await firstWord(server.addr.toString(), data)
    assert.equal(named.code, 0, JSON.stringify(named))
    assert.ok(named.events.some(e => e.event === 'warning' && e.code === 'ERR_IDENTITY_CHANGED' && String(e.message).includes(`now ${server.peerId}`)))
    const again = await firstWord(hostPort, data)
    assert.equal(again.code, 0, JSON.stringify(again))
    assert.match(String(again.events[0]?.rendezvous), new RegExp(`/p2p/${server.peerId}$`))
  })

  test('a folder whose first start found nobody at the address pins the rendezvous it then signs up at, in that run (round 23: not until a later start)', async () => {
    // A port nobody listens on now: the start meets no answer, and goes on unpinned.
    const spare = await spawnRendezvous(join(dir, 'spare'))
    const port = Number(spare.addr.getComponents().find(c => c.name === 'tcp')?.value ?? 0)
    await spare.stop()
    const data = join(dir, 'late')
    const peer = await PeerProcess.start('late', `127.0.0.1:${port}`, data)
    let late: ServerProcess | undefined
    let lateId = ''
    try {
      assert.doesNotMatch(String(peer.events[0]?.rendezvous), /\/p2p\//, JSON.stringify(peer.events[0]))
      late = await spawnRendezvous(join(dir, 'spare'), 15_000, port)
      lateId = late.peerId
      await peer.run('SIGNUP late late-password-1', is('signed-up'))
      assert.equal((await readFile(join(data, 'rendezvous.pin'), 'utf8')).split('\n')[0], late.peerId)
    } finally {
      await peer.kill()
      await late?.stop()
    }
    // And the next start holds to it, though nobody answers there now.
    const again = await firstWord(`127.0.0.1:${port}`, data)
    assert.equal(again.code, 0, JSON.stringify(again))
    assert.match(String(again.events[0]?.rendezvous), new RegExp(`/p2p/${lateId}$`), JSON.stringify(again))
  })

  test('a running peer whose rendezvous comes back with another identity is told so, once, and what to do', { timeout: 90_000 }, async () => {
    const port = Number(server.addr.getComponents().find(c => c.name === 'tcp')?.value ?? 0)
    const alice = await PeerProcess.start('alice', `127.0.0.1:${port}`, join(dir, 'alice'))
    try {
      await alice.run('SIGNUP alice alice-password-1', is('signed-up'))
      const pinned = server.peerId
      await server.stop()
      server = await spawnRendezvous(join(dir, 'third'), 15_000, port)
      // Until 2026-12-05 only parley.log knew; the person saw Noise's words ("Payload identity
      // key … does not match expected remote identity key …") when a command needed it.
      const told = await alice.waitFor(is('warning', { code: 'ERR_IDENTITY_CHANGED' }), 60_000)
      assert.match(String(told.message), new RegExp(`another node answers at /ip4/127.0.0.1/tcp/${port} in place of the rendezvous this data folder knows \\(${pinned}\\)`))
      const who = await alice.run('WHO', e => e.event === 'error' || e.event === 'who')
      assert.match(String(who.message), /another node answers at/, JSON.stringify(who))
      assert.equal(alice.events.filter(is('warning', { code: 'ERR_IDENTITY_CHANGED' })).length, 1, 'said once')
    } finally {
      await alice.kill()
    }
  })
})
