/** File streaming (DESIGN §4, §6): chunked, sealed, hashed; the wire scheme is in wire.ts. */
export { describeLocalFile, hashFile, mimeTypeOf, sendFile } from './send.ts'
export type { LocalFile, SendFileArgs, SendFileResult } from './send.ts'
export { receiveFile } from './receive.ts'
export { throttledProgress, watchTransfer } from './progress.ts'
export type { ReceiveFileArgs, ReceivedFile } from './receive.ts'
export { chunkCount, chunkLength, metaSchema } from './wire.ts'
export type { FileMeta } from './wire.ts'
