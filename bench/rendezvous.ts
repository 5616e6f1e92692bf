/**
 * Suite 5: the rendezvous under many signed-in peers. The server is the real process
 * (as `npm start` starts it) on its own core; the clients are real libp2p
 * nodes with the real RendezvousClient, all in this process on the other core.
 *
 * Client-side scrypt is excluded: one password is derived once and every account reuses its
 * salt and authKey (the server still stores and checks a verifier per user). Each client
 * signs up, opens its events stream (as a signed-in peer does) and stays connected; then
 * - sign-ins per second: every client signs in again on its connection, 32 at a time;
 * - look-ups per second: random users looked up, 32 at a time, spread over the clients;
 * - the server's RSS (VmRSS) idle, then with every client signed in and subscribed.
 * Baseline for the two rates: the cheapest request the server answers (`salt`: one read of
 * the user table) under the same load, i.e. the cost of a request stream itself.
 * New connections are paced under the server's limit of 100 per second per IP (all clients
 * are 127.0.0.1).
 */
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { createParleyNode } from '../common/node.ts'
import type { ParleyNode } from '../common/node.ts'
import { KDF_PARAMS, deriveAuthKey, deriveMasterKey, deriveWrapKey, newSalt } from '../common/crypto/password.ts'
import { wrapSecret } from '../common/crypto/wrap.ts'
import { RendezvousClient } from '../peer/rendezvous-client.ts'
import { connectionPacer } from '../harness/pacer.ts'
import { removeDir, tempDir } from '../harness/temp.ts'
import { spawnRendezvous } from '../harness/processes.ts'
import { statusField } from './peer.ts'
import { pool } from './nodes.ts'
import { MB, secondsSince, summarize } from './stats.ts'
import { row } from './report.ts'
import type { ResultRow, SuiteOptions } from './report.ts'

interface Client { username: string, node: ParleyNode, rendezvous: RendezvousClient, abort: AbortController }

const FAKE_ADDRS = ['/ip4/127.0.0.1/tcp/9']
const CONCURRENCY = 32

export async function rendezvousSuite ({ quick, log }: SuiteOptions): Promise<ResultRow[]> {
  const count = quick ? 50 : 1000
  const runs = quick ? 2 : 3
  const lookupsPerRun = quick ? 300 : 3000
  const dir = await tempDir('parley-bench-rendezvous-')
  // Every client dials from 127.0.0.1: the server is sized for them, as an operator would for an
  // office of this many behind one address (its defaults: 1,000 in all, 512 from one address).
  const server = await spawnRendezvous(join(dir, 'rendezvous'), undefined, undefined,
    ['--max-connections', String(2 * count + 100), '--connections-per-ip', String(2 * count + 100)])
  const clients: Client[] = []
  try {
    await new Promise(resolve => setTimeout(resolve, 500))
    const idleRss = statusField(server.child.pid, 'VmRSS')
    const salt = newSalt()
    const master = await deriveMasterKey('bench password 1', salt)
    const authKey = deriveAuthKey(master)
    const wrapKey = deriveWrapKey(master)

    // Sign every client up, paced under the server's new-connection limit.
    const pace = connectionPacer(80)
    const setupStart = process.hrtime.bigint()
    await pool(count, 8, async i => {
      await pace()
      const privateKey = await generateKeyPair('Ed25519')
      const node = await createParleyNode({ privateKey, listen: [] })
      const username = `user${i}`
      const rendezvous = new RendezvousClient(node, server.addr)
      const abort = new AbortController()
      clients.push({ username, node, rendezvous, abort })
      await rendezvous.signup({ username, salt, kdf: KDF_PARAMS, authKey, identity: wrapSecret(wrapKey, `identity:${username}`, privateKeyToProtobuf(privateKey)), addrs: FAKE_ADDRS })
      await rendezvous.subscribe(() => {}, abort.signal)
    })
    log(`rendezvous: ${count} clients signed up and subscribed in ${secondsSince(setupStart).toFixed(1)} s`)
    await new Promise(resolve => setTimeout(resolve, 1000))
    const loadedRss = statusField(server.child.pid, 'VmRSS')

    const signins: number[] = []; const lookups: number[] = []; const salts: number[] = []
    const rate = async (total: number, one: (i: number) => Promise<void>): Promise<number> => {
      const start = process.hrtime.bigint()
      await pool(total, CONCURRENCY, one)
      return total / secondsSince(start)
    }
    const pick = (i: number): Client => clients[i % clients.length]!
    // Warm-up (JIT on both sides, the server's prepared statements): not timed.
    await pool(Math.min(count, 200), CONCURRENCY, async i => { await pick(i).rendezvous.lookup(`user${i}`) })
    for (let run = 0; run < runs; run++) {
      signins.push(await rate(clients.length, async i => {
        const client = pick(i)
        await client.rendezvous.signin({ username: client.username, authKey, addrs: FAKE_ADDRS })
      }))
      lookups.push(await rate(lookupsPerRun, async i => {
        await pick(i).rendezvous.lookup(`user${Math.floor(Math.random() * count)}`)
      }))
      salts.push(await rate(lookupsPerRun, async i => {
        await pick(i).rendezvous.salt(`user${Math.floor(Math.random() * count)}`)
      }))
      log(`rendezvous run ${run + 1}/${runs}: ${signins.at(-1)!.toFixed(0)} sign-ins/s, ${lookups.at(-1)!.toFixed(0)} look-ups/s, ${salts.at(-1)!.toFixed(0)} salt requests/s`)
    }
    const baseline = { label: '`salt` request (floor)', summary: summarize(salts) }
    const finalRss = statusField(server.child.pid, 'VmRSS')
    const peakRss = statusField(server.child.pid, 'VmHWM')
    return [
      row({
        suite: 'rendezvous',
        metric: `sign-ins/s, ${count} connected peers`,
        unit: 'req/s',
        better: 'higher',
        parley: summarize(signins),
        baseline,
        note: `server process on its own core, clients in the bench process, ${CONCURRENCY} requests in flight; scrypt derived once`
      }),
      row({ suite: 'rendezvous', metric: 'look-ups/s', unit: 'req/s', better: 'higher', parley: summarize(lookups), baseline }),
      row({
        suite: 'rendezvous',
        metric: `server RSS, ${count} signed in + subscribed`,
        unit: 'MB',
        better: 'lower',
        parley: summarize([loadedRss / MB, finalRss / MB]),
        baseline: { label: 'server RSS idle', summary: summarize([idleRss / MB]) },
        note: `samples: after sign-up, after the rate runs; peak (VmHWM) ${(peakRss / MB).toFixed(0)} MB; ~${((loadedRss - idleRss) / count / 1024).toFixed(0)} kB per peer`
      })
    ]
  } finally {
    await Promise.all(clients.map(async client => {
      client.abort.abort()
      await Promise.resolve(client.node.stop()).catch(() => {})
    }))
    await server.stop()
    await removeDir(dir)
  }
}
