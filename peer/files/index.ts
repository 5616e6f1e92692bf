/** File streaming (DESIGN §4, §6): chunked, sealed, hashed; the wire scheme is in wire.ts. */
export { describeLocalFile, hashFile, mimeTypeOf, sendFile } from './send.ts'
export type { LocalFile, SendFileArgs, SendFileResult } from './send.ts'
export { receiveFile } from './receive.ts'
export { throttledProgress, watchTransfer } from './progress.ts'
export type { ReceiveFileArgs, ReceivedFile } from './receive.ts'
export { PartialTransfer, partialDirOf } from './partial.ts'
export { chunkCount, chunkLength, metaSchema, resumePoint, resumeSchema } from './wire.ts'
export type { FileMeta, ResumeOffer } from './wire.ts'
