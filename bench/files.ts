/**
 * Suite 2: SENDFILE between two real peer processes (spawned as `npm run peer` spawns them, with
 * a real rendezvous process), end to end: from typing SENDFILE to the sender's `delivered`
 * event, so it includes the sender's SHA-256 pre-pass, 3DES+HMAC per chunk, Noise and yamux,
 * the receiver's decryption, hashing, writes, fsync and rename, and the encrypted ACK.
 *
 * The baseline is the single-core raw 3DES limit (one OpenSSL Cipheriv, no MAC), measured in
 * this process right before each transfer while the peers are idle. Each side works on its
 * own core (the machine has two), so a perfect pipeline would run at that limit.
 *
 * Peak RSS is each peer process's VmHWM from /proc, reset before every transfer through
 * /proc/<pid>/clear_refs, so it is the peak of that transfer (including the idle process).
 */
import { createWriteStream } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { randomFillSync } from 'node:crypto'
import { join } from 'node:path'
import { once } from 'node:events'
import { removeDir, tempDir } from '../harness/temp.ts'
import { spawnRendezvous } from '../harness/processes.ts'
import { BenchPeer } from './peer.ts'
import { rawEncryptRate } from './crypto.ts'
import { MB, MiB, secondsSince, summarize } from './stats.ts'
import { row } from './report.ts'
import type { ResultRow, SuiteOptions } from './report.ts'

const PASSWORD = 'bench password 1'
const RSS_LIMIT = 150 * MB

async function writeRandomFile (path: string, size: number): Promise<void> {
  const out = createWriteStream(path)
  const block = Buffer.allocUnsafe(MiB)
  for (let written = 0; written < size; written += block.length) {
    randomFillSync(block)
    const piece = block.subarray(0, Math.min(block.length, size - written))
    if (!out.write(Buffer.from(piece))) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

export async function filesSuite ({ quick, log }: SuiteOptions): Promise<ResultRow[]> {
  const size = (quick ? 16 : 256) * MiB
  const runs = quick ? 2 : 3
  const dir = await tempDir('parley-bench-files-')
  const server = await spawnRendezvous(join(dir, 'rendezvous'))
  const peers: BenchPeer[] = []
  try {
    const [sender, receiver] = await Promise.all(['sender', 'receiver'].map(async name => {
      const peer = await BenchPeer.start(name, server.addr.toString(), join(dir, name))
      peers.push(peer)
      await peer.run(`SIGNUP ${name} ${PASSWORD}`, e => e.event === 'signed-up')
      return peer
    })) as [BenchPeer, BenchPeer]

    const warm = join(dir, 'warm.bin')
    await writeRandomFile(warm, MiB)
    const file = join(dir, 'payload.bin')
    await writeRandomFile(file, size)
    log(`files: ${size / MiB} MiB payload written`)
    await transfer(sender, receiver, warm) // connection, JIT, downloads folder

    const rates: number[] = []; const limits: number[] = []
    const senderRss: number[] = []; const receiverRss: number[] = []
    let peakReset = true
    for (let run = 0; run < runs; run++) {
      limits.push(rawEncryptRate(Math.min(size, 16 * MiB)))
      peakReset = sender.resetPeakRss() && receiver.resetPeakRss() && peakReset
      const seconds = await transfer(sender, receiver, file)
      rates.push(size / MB / seconds)
      senderRss.push(sender.peakRss() / MB)
      receiverRss.push(receiver.peakRss() / MB)
      log(`files run ${run + 1}/${runs}: ${rates.at(-1)!.toFixed(1)} MB/s (raw 3DES ${limits.at(-1)!.toFixed(1)}), peak RSS sender ${senderRss.at(-1)!.toFixed(0)} MB, receiver ${receiverRss.at(-1)!.toFixed(0)} MB`)
    }
    const rate = summarize(rates)
    const limit = summarize(limits)
    const peakNote = peakReset ? 'VmHWM reset before each transfer' : 'VmHWM could not be reset: peak since process start'
    return [
      row({
        suite: 'files',
        metric: `SENDFILE ${size / MiB} MiB, 2 processes`,
        unit: 'MB/s',
        better: 'higher',
        parley: rate,
        baseline: { label: 'raw 3DES, 1 core', summary: limit },
        goal: { text: '>= 0.8 of raw 3DES', met: rate.median / limit.median >= 0.8 },
        note: 'typing SENDFILE to `delivered`, incl. SHA-256 pre-pass, fsync, ACK'
      }),
      row({
        suite: 'files',
        metric: 'sender peak RSS',
        unit: 'MB',
        better: 'lower',
        parley: summarize(senderRss),
        goal: { text: '< 150 MB', met: Math.max(...senderRss) < RSS_LIMIT / MB },
        note: peakNote
      }),
      row({
        suite: 'files',
        metric: 'receiver peak RSS',
        unit: 'MB',
        better: 'lower',
        parley: summarize(receiverRss),
        goal: { text: '< 150 MB', met: Math.max(...receiverRss) < RSS_LIMIT / MB },
        note: peakNote
      })
    ]
  } finally {
    await Promise.all(peers.map(async peer => { await peer.quit() }))
    await server.stop()
    await removeDir(dir)
  }
}

/** One SENDFILE to `receiver`, timed to the sender's `delivered`; the received copy is deleted. */
async function transfer (sender: BenchPeer, receiver: BenchPeer, path: string): Promise<number> {
  const received = receiver.next(e => e.event === 'file', 600_000)
  const delivered = sender.next(e => e.event === 'delivered', 600_000)
  const start = process.hrtime.bigint()
  sender.send(`SENDFILE ${path} receiver`)
  await delivered
  const seconds = secondsSince(start)
  const file = await received
  await unlink(String(file.path))
  return seconds
}
