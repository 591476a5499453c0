/**
 * Helpers shared by the journal and log-buffer tests: temp directories, payload generators and an
 * independent oracle that decodes a journal file with `Frame.decode` alone (so the tests do not
 * trust the code under test to read back what it wrote).
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { Frame } from "@fsys/core"

export const tempDir = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-test-"))),
  (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true })),
)

/** A payload whose bytes encode (producer, sequence), so any misplaced byte is detected. */
export const payloadFor = (producer: number, sequence: number, sizeBytes: number): Uint8Array => {
  const bytes = new Uint8Array(Math.max(sizeBytes, 8))
  const view = new DataView(bytes.buffer)
  view.setUint32(0, producer)
  view.setUint32(4, sequence)
  for (let i = 8; i < bytes.length; i++) bytes[i] = (producer * 31 + sequence * 7 + i) & 0xff
  return bytes
}

export interface DecodedRecord {
  readonly lsn: number
  readonly payload: Uint8Array
}

/** Decodes frames from offset 0 until the first non-Ok; returns them and where it stopped. */
export const decodeFile = (path: string): { records: Array<DecodedRecord>; cleanEnd: number; size: number } => {
  const bytes = new Uint8Array(NodeFs.readFileSync(path))
  const records: Array<DecodedRecord> = []
  let offset = 0
  while (offset < bytes.length) {
    const decoded = Frame.decode(bytes, offset)
    if (decoded._tag !== "Ok") break
    records.push({ lsn: offset, payload: decoded.payload.slice() })
    offset += decoded.consumed
  }
  return { records, cleanEnd: offset, size: bytes.length }
}

/** Bytes after the last frame are all zero (the Direct pad). */
export const tailIsZero = (path: string, from: number): boolean => {
  const bytes = NodeFs.readFileSync(path)
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}
