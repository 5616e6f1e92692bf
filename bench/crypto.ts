/**
 * Suite 1: 3DES+HMAC frame sealing and opening against raw des-ede3-cbc.
 *
 * The baseline is the cipher alone: one node:crypto Cipheriv (OpenSSL) fed the same bytes in the
 * same 64 KiB pieces, no IV, no padding per piece, no MAC, no key schedule per piece — the fastest
 * this CPU encrypts 3DES, so the ratio is the share of that limit Parley keeps. The Parley side is
 * exactly what a file transfer does per chunk: sealChunk/openChunk (HKDF chunk key, random IV,
 * PKCS#7, HMAC-SHA-256 over AD‖seq‖IV‖ciphertext, one copy into the sealed frame).
 * Runs are interleaved (raw, seal, raw, open) so drift on a shared machine hits both alike.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { CHUNK_SIZE, openChunk, sealChunk } from '../common/crypto/chunks.ts'
import { MB, MiB, secondsSince, summarize } from './stats.ts'
import { row } from './report.ts'
import type { ResultRow, SuiteOptions } from './report.ts'

/** Raw single-core 3DES encryption of `total` bytes in CHUNK_SIZE pieces, MB/s. */
export function rawEncryptRate (total: number): number {
  const data = randomBytes(CHUNK_SIZE)
  const cipher = createCipheriv('des-ede3-cbc', randomBytes(24), randomBytes(8))
  cipher.setAutoPadding(false)
  const start = process.hrtime.bigint()
  for (let done = 0; done < total; done += CHUNK_SIZE) cipher.update(data)
  cipher.final()
  return total / MB / secondsSince(start)
}

function rawDecryptRate (total: number): number {
  const data = randomBytes(CHUNK_SIZE)
  const decipher = createDecipheriv('des-ede3-cbc', randomBytes(24), randomBytes(8))
  decipher.setAutoPadding(false)
  const start = process.hrtime.bigint()
  for (let done = 0; done < total; done += CHUNK_SIZE) decipher.update(data)
  decipher.final()
  return total / MB / secondsSince(start)
}

const AD = new TextEncoder().encode('FILE bench.bin 1048576' + '0123456789abcdef')

function sealRate (secret: Uint8Array, total: number): { rate: number, sealed: Uint8Array[] } {
  const data = randomBytes(CHUNK_SIZE)
  const chunks = total / CHUNK_SIZE
  const sealed: Uint8Array[] = []
  const start = process.hrtime.bigint()
  for (let i = 0; i < chunks; i++) sealed.push(sealChunk(secret, i, i === chunks - 1, AD, data))
  return { rate: total / MB / secondsSince(start), sealed }
}

function openRate (secret: Uint8Array, sealed: Uint8Array[]): number {
  const start = process.hrtime.bigint()
  for (let i = 0; i < sealed.length; i++) openChunk(secret, i, i === sealed.length - 1, AD, sealed[i]!)
  return sealed.length * CHUNK_SIZE / MB / secondsSince(start)
}

export async function cryptoSuite ({ quick, log }: SuiteOptions): Promise<ResultRow[]> {
  const total = (quick ? 4 : 32) * MiB
  const runs = quick ? 3 : 5
  const secret = randomBytes(32)
  const raw: number[] = []; const seal: number[] = []; const rawDec: number[] = []; const open: number[] = []
  sealRate(secret, CHUNK_SIZE * 16) // warm up (JIT, OpenSSL tables)
  for (let run = 0; run < runs; run++) {
    raw.push(rawEncryptRate(total))
    const sealed = sealRate(secret, total)
    seal.push(sealed.rate)
    rawDec.push(rawDecryptRate(total))
    open.push(openRate(secret, sealed.sealed))
    log(`crypto run ${run + 1}/${runs}: raw enc ${raw.at(-1)!.toFixed(1)}, seal ${seal.at(-1)!.toFixed(1)}, raw dec ${rawDec.at(-1)!.toFixed(1)}, open ${open.at(-1)!.toFixed(1)} MB/s`)
    await new Promise(resolve => setImmediate(resolve))
  }
  const goal = (parley: number[], limit: number[]): { text: string, met: boolean } => {
    const ratio = summarize(parley).median / summarize(limit).median
    return { text: '>= 0.85 of raw 3DES', met: ratio >= 0.85 }
  }
  const size = `${total / MiB} MiB in 64 KiB chunks`
  return [
    row({
      suite: 'crypto',
      metric: 'seal (sealChunk 64 KiB)',
      unit: 'MB/s',
      better: 'higher',
      parley: summarize(seal),
      baseline: { label: 'raw des-ede3-cbc encrypt', summary: summarize(raw) },
      goal: goal(seal, raw),
      note: size
    }),
    row({
      suite: 'crypto',
      metric: 'open (openChunk 64 KiB)',
      unit: 'MB/s',
      better: 'higher',
      parley: summarize(open),
      baseline: { label: 'raw des-ede3-cbc decrypt', summary: summarize(rawDec) },
      goal: goal(open, rawDec),
      note: size
    })
  ]
}
