/**
 * One frame as a byte stream, read into a bounded buffer a piece at a time: a record bigger than
 * a log-buffer slot is streamed to the file through a scratch buffer of at most
 * `STREAM_CHUNK_BYTES`, one write per chunk, instead of being copied and checksummed whole in one
 * step (a 200 MiB record held the event loop for 171 ms, and needed 200 MiB of native memory,
 * zero-filled, on top of the caller's: issue 10 item 8). Same bytes as `Frame.encodeInto`: magic,
 * length, payload, CRC-32C over header and payload, computed as a running CRC over exactly the
 * bytes copied out.
 *
 * @since 0.1.0
 */
import * as Crc32c from "../../Crc32c.ts"
import * as Frame from "../../Frame.ts"
import { InvalidOptions } from "../../JournalError.ts"

/** Bytes per oversize write: a multiple of every sector size (≤ 64 KiB), ≈ 1–2 ms to copy + CRC. */
export const STREAM_CHUNK_BYTES = 2 * 1024 * 1024

const writeU32LE = (bytes: Uint8Array, offset: number, value: number): void => {
  bytes[offset] = value & 0xff
  bytes[offset + 1] = (value >>> 8) & 0xff
  bytes[offset + 2] = (value >>> 16) & 0xff
  bytes[offset + 3] = (value >>> 24) & 0xff
}

/** The error for a payload whose buffer was detached or resized while it was being streamed. */
export const detached = (): InvalidOptions =>
  new InvalidOptions({ option: "payload", reason: "its buffer was detached or resized while it was appended" })

export class FrameStream {
  readonly frameBytes: number
  private readonly source: Uint8Array
  private readonly payloadBytes: number
  private readonly header = new Uint8Array(Frame.HEADER_BYTES)
  private readonly trailer = new Uint8Array(4)
  private crc: number
  /** Bytes of the frame read so far. */
  private position = 0

  /** Fails (returns the error) for a payload already detached. */
  static make(payload: Uint8Array): FrameStream | InvalidOptions {
    if ((payload.buffer as ArrayBuffer).detached === true) return detached()
    return new FrameStream(payload)
  }

  private constructor(payload: Uint8Array) {
    this.payloadBytes = payload.byteLength
    // A plain view: a subclass cannot change what `set`/`subarray` copy.
    this.source = new Uint8Array(payload.buffer, payload.byteOffset, this.payloadBytes)
    this.frameBytes = Frame.frameBytes(this.payloadBytes)
    this.header[0] = (Frame.MAGIC >>> 24) & 0xff
    this.header[1] = (Frame.MAGIC >>> 16) & 0xff
    this.header[2] = (Frame.MAGIC >>> 8) & 0xff
    this.header[3] = Frame.MAGIC & 0xff
    writeU32LE(this.header, 4, this.payloadBytes)
    this.crc = Crc32c.compute(this.header)
  }

  get done(): boolean {
    return this.position === this.frameBytes
  }

  /** The payload is still the one the stream started with (not detached or resized since). */
  get intact(): boolean {
    return this.source.byteLength === this.payloadBytes
  }

  /** Copies the next bytes of the frame into `target[at, at + maxBytes)`; returns how many. */
  read(target: Uint8Array, at: number, maxBytes: number): number {
    const want = Math.min(maxBytes, this.frameBytes - this.position)
    let copied = 0
    while (copied < want) {
      const position = this.position
      const into = at + copied
      let count: number
      if (position < Frame.HEADER_BYTES) {
        count = Math.min(want - copied, Frame.HEADER_BYTES - position)
        target.set(this.header.subarray(position, position + count), into)
      } else if (position < Frame.HEADER_BYTES + this.payloadBytes) {
        const from = position - Frame.HEADER_BYTES
        count = Math.min(want - copied, this.payloadBytes - from)
        target.set(this.source.subarray(from, from + count), into)
        this.crc = Crc32c.computeRange(target, into, into + count, this.crc)
        if (from + count === this.payloadBytes) writeU32LE(this.trailer, 0, this.crc)
      } else {
        const from = position - Frame.HEADER_BYTES - this.payloadBytes
        if (from === 0 && this.payloadBytes === 0) writeU32LE(this.trailer, 0, this.crc)
        count = Math.min(want - copied, 4 - from)
        target.set(this.trailer.subarray(from, from + count), into)
      }
      this.position += count
      copied += count
    }
    return copied
  }
}
