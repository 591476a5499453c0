/**
 * The baseline: `node:fs` done right, the way a careful author writes a log without a library.
 *
 * - Positional `FileHandle.write` + `FileHandle.datasync` (fdatasync, not fsync), never
 *   `appendFile` and never a sync call on the event loop.
 * - The same v1 frames as our journal (so the same reader verifies both), encoded into one buffer
 *   per write.
 * - The same group commit for concurrent producers (one write + one fdatasync for everyone queued).
 * - Unsynced appends are gathered into a 64 KiB chunk and written when it fills.
 * - The file is preallocated before the timed phase by writing zeros (node:fs has no fallocate),
 *   as far as our journal preallocates (64 MiB), so overwrites do not pay for growing the file.
 *
 * @since 0.1.0
 */
import { open, type FileHandle } from "node:fs/promises"
import { join } from "node:path"
import { Frame } from "@fsys/core"
import type { Session, Subject } from "../driver.ts"
import * as GroupCommit from "../groupCommit.ts"

const FILE_NAME = "node-fs.log"
/** As far ahead as our journal's default `preallocateBytes`. */
const PREALLOCATE_BYTES = 64 * 1024 * 1024
/** The zero buffer used to preallocate, written this many bytes at a time. */
const PREALLOCATE_CHUNK_BYTES = 4 * 1024 * 1024
/** Unsynced appends are written once this much is gathered. */
const CHUNK_BYTES = 64 * 1024
/** Read-back buffer; a frame larger than this is read on its own. */
const READ_BUFFER_BYTES = 4 * 1024 * 1024

const encodeAll = (payloads: ReadonlyArray<Uint8Array>): Uint8Array => {
  let total = 0
  for (const payload of payloads) total += Frame.frameBytes(payload.length)
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const payload of payloads) offset += Frame.encodeInto(bytes, offset, payload)
  return bytes
}

const writeAll = async (file: FileHandle, bytes: Uint8Array, offsetBytes: number): Promise<void> => {
  let done = 0
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, offsetBytes + done)
    if (bytesWritten <= 0) throw new Error(`short write at ${offsetBytes + done}`)
    done += bytesWritten
  }
}

/** Zeros written (and synced) ahead, as the journal preallocates: syncs then grow nothing. */
const preallocate = async (file: FileHandle): Promise<void> => {
  const zeros = new Uint8Array(PREALLOCATE_CHUNK_BYTES)
  for (let at = 0; at < PREALLOCATE_BYTES; at += PREALLOCATE_CHUNK_BYTES) await writeAll(file, zeros, at)
  await file.datasync()
}

const openSession = async (directory: string): Promise<Session> => {
  const file = await open(join(directory, FILE_NAME), "w+")
  await preallocate(file)

  // Invariant: `endBytes` is where the next write goes; writes are issued in order, one at a time
  // (the group committer and the single producers never overlap two writes).
  let endBytes = 0
  let chunk = new Uint8Array(CHUNK_BYTES)
  let chunkUsed = 0

  const writeFrames = async (bytes: Uint8Array): Promise<void> => {
    const at = endBytes
    endBytes += bytes.length
    await writeAll(file, bytes, at)
  }
  /** Takes the gathered frames now (a new chunk starts at once); the write is issued by the caller. */
  const takeChunk = (): Uint8Array => {
    const bytes = chunk.subarray(0, chunkUsed)
    chunk = new Uint8Array(CHUNK_BYTES)
    chunkUsed = 0
    return bytes
  }
  const flushChunk = async (): Promise<void> => {
    if (chunkUsed > 0) await writeFrames(takeChunk())
  }
  const committer = GroupCommit.make<Uint8Array>(async (payloads) => {
    await writeFrames(encodeAll(payloads))
    await file.datasync()
  })

  const appendUnsynced = (payloads: ReadonlyArray<Uint8Array>): Promise<void> | undefined => {
    let pending: Promise<void> | undefined
    for (const payload of payloads) {
      const frameBytes = Frame.frameBytes(payload.length)
      if (chunkUsed + frameBytes > CHUNK_BYTES) {
        if (chunkUsed > 0) {
          const full = takeChunk()
          pending = chain(pending, () => writeFrames(full))
        }
        if (frameBytes > CHUNK_BYTES) {
          const big = Frame.encode(payload)
          pending = chain(pending, () => writeFrames(big))
          continue
        }
      }
      chunkUsed += Frame.encodeInto(chunk, chunkUsed, payload)
    }
    return pending
  }

  return {
    detail: "FileHandle.write + datasync, group commit, 64 KiB chunks, 64 MiB preallocated by writing zeros",
    appendDurable: (payload) => committer.submit(payload),
    appendBatchDurable: async (payloads) => {
      await writeFrames(encodeAll(payloads))
      await file.datasync()
    },
    append: (payload) => appendUnsynced([payload]),
    appendBatch: (payloads) => appendUnsynced(payloads),
    sync: async () => {
      await flushChunk()
      await file.datasync()
    },
    close: async () => {
      await flushChunk()
      await file.datasync()
      await file.close()
    },
  }
}

/** Runs `next` after `previous` (writes must stay in order). */
const chain = (previous: Promise<void> | undefined, next: () => Promise<void>): Promise<void> =>
  previous === undefined ? next() : previous.then(next)

/**
 * Reads frames until the first one that does not decode (the preallocated zeros end the log).
 */
const readAll = async (directory: string, visit: (payload: Uint8Array) => void): Promise<void> => {
  const file = await open(join(directory, FILE_NAME), "r")
  try {
    let buffer = new Uint8Array(READ_BUFFER_BYTES)
    let filled = 0
    let fileOffset = 0
    let eof = false
    for (;;) {
      if (!eof && filled < buffer.length) {
        const { bytesRead } = await file.read(buffer, filled, buffer.length - filled, fileOffset)
        if (bytesRead === 0) eof = true
        filled += bytesRead
        fileOffset += bytesRead
      }
      let at = 0
      for (;;) {
        if (at < filled && buffer[at] === 0) return
        const decoded = Frame.decode(buffer.subarray(0, filled), at)
        if (decoded._tag === "Truncated") break
        if (decoded._tag !== "Ok") return
        visit(decoded.payload)
        at += decoded.consumed
      }
      if (eof) return
      // Keep the partial frame; grow the buffer when one frame is larger than it.
      const rest = buffer.subarray(at, filled)
      if (at === 0 && filled === buffer.length) {
        const larger = new Uint8Array(buffer.length * 2)
        larger.set(rest)
        buffer = larger
      } else {
        buffer.copyWithin(0, at, filled)
      }
      filled = rest.length
    }
  } finally {
    await file.close()
  }
}

/**
 * @since 0.1.0
 */
export const subject: Subject = {
  available: async () => undefined,
  open: (directory) => openSession(directory),
  readAll,
}
