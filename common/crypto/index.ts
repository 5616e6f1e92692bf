/** The crypto core of Parley (DESIGN §4), all on node:crypto. */
export { generateEphemeralKeyPair, x25519SharedSecret } from './x25519.ts'
export { frameKeysFrom, sealFrame, openFrame } from './tdes.ts'
export type { FrameKeys } from './tdes.ts'
export { deriveDirectSessionKeys } from './session.ts'
export type { DirectSessionKeys } from './session.ts'
export { CHUNK_SIZE, sealChunk, openChunk } from './chunks.ts'
