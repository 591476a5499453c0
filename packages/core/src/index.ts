/**
 * @fsys/core — durable file IO and a write-ahead journal for Effect.
 *
 * @since 0.1.0
 */
export * as FileIo from "./FileIo.ts"
export * as Crc32c from "./Crc32c.ts"
export * as Frame from "./Frame.ts"
export * as JournalError from "./JournalError.ts"
export * as NodeFileIo from "./NodeFileIo.ts"
export * as LogBuffer from "./LogBuffer.ts"
export * as Journal from "./Journal.ts"
export { LogBufferLive } from "./LogBuffer.ts"
export * as JournalReader from "./JournalReader.ts"
export * as Capabilities from "./Capabilities.ts"
export * as IoUringFileIo from "./IoUringFileIo.ts"
export * as FileIoAuto from "./FileIoAuto.ts"
export * as SegmentedJournal from "./SegmentedJournal.ts"
