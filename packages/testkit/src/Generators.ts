/**
 * Generators for journal property tests: seeded randomness, self-describing records and the
 * record-size mix the crash suites use.
 *
 * A generated record carries its own identity (epoch, writer, sequence), its length and a checksum
 * of its body, independent of the journal's frame CRC: a checker can tell, from the bytes alone,
 * whether a recovered record is one that was really submitted, from which run, and whether any
 * byte of it changed — even if a bug wrote garbage under a valid frame.
 *
 * @since 0.1.0
 */
import * as Prng from "./internal/prng.ts"

/**
 * A seeded source of randomness (sfc32 expanded from the seed by splitmix32). Deterministic:
 * the same seed gives the same draws.
 *
 * @since 0.1.0
 * @category models
 */
export type Random = Prng.Prng

/**
 * A random stream from a seed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const random = (seed: number): Random => Prng.make(seed)

/**
 * Who wrote a record: the epoch (one journal open between crashes), the writer fiber and its
 * sequence number.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordId {
  readonly epoch: number
  readonly writer: number
  readonly sequence: number
}

/** "FSYT" (fsys test): a record from these generators. */
const RECORD_MAGIC = 0x46535954
/** magic, epoch, writer, sequence, length, checksum: six u32 fields. */
const RECORD_HEADER_BYTES = 24

/**
 * The smallest generated record: its header.
 *
 * @since 0.1.0
 * @category models
 */
export const RECORD_BYTES_MIN = RECORD_HEADER_BYTES

/**
 * @deprecated Use `RECORD_BYTES_MIN` (qualifiers come last: `_MIN`, `_MAX`, `_DEFAULT`).
 * @since 0.1.0
 * @category models
 */
export const MIN_RECORD_BYTES = RECORD_BYTES_MIN

/** FNV-1a over the id and body: a checksum unrelated to the journal's CRC-32C. */
const checksumOf = (bytes: Uint8Array, bodyStart: number, id: RecordId): number => {
  let hash = 0x811c9dc5
  const mix = (value: number) => {
    hash = Math.imul(hash ^ (value & 0xff), 0x01000193)
  }
  for (const field of [id.epoch, id.writer, id.sequence, bytes.length]) {
    mix(field)
    mix(field >>> 8)
    mix(field >>> 16)
    mix(field >>> 24)
  }
  for (let index = bodyStart; index < bytes.length; index++) mix(bytes[index] as number)
  return hash >>> 0
}

/**
 * A record of `sizeBytes` (at least `RECORD_BYTES_MIN`) that identifies itself; its body is a
 * pattern derived from the id, so two records never share bytes by accident.
 *
 * @since 0.1.0
 * @category constructors
 */
export const record = (id: RecordId, sizeBytes: number): Uint8Array => {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < RECORD_HEADER_BYTES) {
    throw new RangeError(`Generators.record: size must be an integer ≥ ${RECORD_HEADER_BYTES}, got ${sizeBytes}`)
  }
  const bytes = new Uint8Array(sizeBytes)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, RECORD_MAGIC)
  view.setUint32(4, id.epoch)
  view.setUint32(8, id.writer)
  view.setUint32(12, id.sequence)
  view.setUint32(16, sizeBytes)
  let state = (Math.imul(id.epoch + 1, 0x9e3779b1) ^ Math.imul(id.writer + 1, 0x85ebca6b) ^ id.sequence) >>> 0
  for (let index = RECORD_HEADER_BYTES; index < sizeBytes; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    bytes[index] = state >>> 24
  }
  view.setUint32(20, checksumOf(bytes, RECORD_HEADER_BYTES, id))
  return bytes
}

/**
 * The id of a generated record, or `undefined` when the bytes are not an intact generated record
 * (wrong magic, wrong length, checksum mismatch).
 *
 * @since 0.1.0
 * @category utils
 */
export const parseRecord = (bytes: Uint8Array): RecordId | undefined => {
  if (bytes.length < RECORD_HEADER_BYTES) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0) !== RECORD_MAGIC || view.getUint32(16) !== bytes.length) return undefined
  const id: RecordId = { epoch: view.getUint32(4), writer: view.getUint32(8), sequence: view.getUint32(12) }
  return view.getUint32(20) === checksumOf(bytes, RECORD_HEADER_BYTES, id) ? id : undefined
}

/**
 * A key that names a record id in maps and messages: `"e2/w3/s17"`.
 *
 * @since 0.1.0
 * @category utils
 */
export const recordKey = (id: RecordId): string => `e${id.epoch}/w${id.writer}/s${id.sequence}`

/**
 * A record size from the mix the crash suites use: mostly small (a frame header can straddle a
 * sector), some around a sector, a few of several sectors, and rarely bigger than a log-buffer
 * slot (the oversize path).
 *
 * @since 0.1.0
 * @category constructors
 */
export const recordSizeBytes = (random: Random, options: { readonly logBufferBytes: number }): number => {
  const draw = random.int(100)
  if (draw < 55) return random.range(RECORD_BYTES_MIN, 120)
  if (draw < 80) return random.range(400, 700)
  if (draw < 97) return random.range(700, 5000)
  return random.range(options.logBufferBytes, options.logBufferBytes * 2 + 100)
}
