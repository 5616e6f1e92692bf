/**
 * Random bytes for IVs, nonces, salts, message ids and group keys: Node's CSPRNG (OpenSSL), drawn
 * 4 KiB at a time into a pool and handed out from it. OpenSSL checks the process id on every
 * call for fork safety, so each `randomBytes` was a system call: 4 µs on our virtual test
 * machine, 14 % of a SEND's CPU in the profile, for an 8-byte IV (issue 11). Node pools the same
 * way for `randomUUID`. Bytes handed out are wiped from the pool, so they are not kept twice.
 */
import { randomFillSync } from 'node:crypto'

const POOL_BYTES = 4096
/** Larger draws (none of ours on a hot path) go straight to the CSPRNG. */
const POOLED_MAX = 256

const pool = new Uint8Array(POOL_BYTES)
let offset = POOL_BYTES

export function randomBytesPooled (length: number): Uint8Array {
  if (length > POOLED_MAX) return randomFillSync(new Uint8Array(length))
  if (offset + length > POOL_BYTES) {
    randomFillSync(pool)
    offset = 0
  }
  const out = pool.slice(offset, offset + length)
  pool.fill(0, offset, offset + length)
  offset += length
  return out
}

/** A message's id: 16 random bytes in hex, the same on every end. */
export function newMessageIdHex (): string {
  return Buffer.from(randomBytesPooled(16)).toString('hex')
}
