/** The crypto core of Parley (DESIGN §4), all on node:crypto. */
export { generateEphemeralKeyPair, x25519SharedSecret, x25519FromRaw } from './x25519.ts'
export type { EphemeralKeyPair } from './x25519.ts'
export { hkdfSha256 } from './hkdf.ts'
export { TDES_MAX_BYTES_PER_KEY, frameKeysFrom, sealFrame, openFrame } from './tdes.ts'
export type { FrameKeys } from './tdes.ts'
export { deriveDirectSessionKeys } from './session.ts'
export type { DirectSessionKeys } from './session.ts'
export { CHUNK_SIZE, sealChunk, openChunk } from './chunks.ts'
export {
  KDF_PARAMS, LEGACY_KDF_PARAMS, checkKdfParams, weakerKdf, scryptOptions, deriveMasterKey, deriveAuthKey, deriveWrapKey,
  verifierOf, newSalt, fakeSaltFor, constantTimeEqual,
} from './password.ts'
export type { KdfParams } from './password.ts'
export { wrapSecret, unwrapSecret } from './wrap.ts'
export { GROUP_KEY_BYTES, newGroupKey, newMessageNonce, groupMessageKeys, groupAckKeys, groupFileSecret } from './group.ts'
