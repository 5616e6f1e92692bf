/** File streaming (DESIGN §4, §6): chunked, sealed, hashed; the wire scheme is in wire.ts. */
export { describeLocalFile, fileToDeliver, fileToQueue, hashFile, sendFile } from './send.ts'
export { receiveFile } from './receive.ts'
export { watchTransfer } from './progress.ts'
export type { ReceivedFile } from './receive.ts'
export { PartialTransfer, dropGroupPartials, dropPartialsFrom, keptGroupParts, partialDirOf, tidyPartials } from './partial.ts'
export { resumePoint } from './wire.ts'
