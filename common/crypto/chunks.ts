/**
 * File chunks (DESIGN §4). Each chunk is sealed under its own key derived from the file secret
 * and its index, so no 3DES key comes near the SP 800-67r2 limit however large the file. The
 * index and a final flag are in the authenticated data: a reordered, replayed, dropped or
 * truncated chunk (or a stream cut before its flagged final chunk) fails.
 */
import { malformed, tooLarge } from '../errors.ts'
import { frameKeysFrom, openFrame, sealFrame } from './tdes.ts'

/** 64 KiB: 2^13 blocks per chunk key, far under the 2^20 limit (SP 800-67r2). */
export const CHUNK_SIZE = 64 * 1024

function chunkContext (index: number, final: boolean, associatedData: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) throw malformed('bad chunk index')
  // associatedData || u64be(index) || final flag; fixed-size suffix, so unambiguous.
  const ad = new Uint8Array(associatedData.length + 9)
  ad.set(associatedData, 0)
  new DataView(ad.buffer).setBigUint64(associatedData.length, BigInt(index))
  ad[associatedData.length + 8] = final ? 0x01 : 0x00
  return ad
}

export function sealChunk (fileSecret: Uint8Array, index: number, final: boolean, associatedData: Uint8Array, data: Uint8Array): Uint8Array {
  if (data.length > CHUNK_SIZE) throw tooLarge('chunk larger than CHUNK_SIZE')
  const ad = chunkContext(index, final, associatedData)
  return sealFrame(frameKeysFrom(fileSecret, 'parley/chunk/' + index), BigInt(index), ad, data)
}

export function openChunk (fileSecret: Uint8Array, index: number, final: boolean, associatedData: Uint8Array, sealed: Uint8Array): Uint8Array {
  const ad = chunkContext(index, final, associatedData)
  return openFrame(frameKeysFrom(fileSecret, 'parley/chunk/' + index), BigInt(index), ad, sealed)
}
