/**
 * The crash harness's independent decoder and its model checker (documented in CrashHarness.ts).
 *
 * @since 0.1.0
 */
import { Frame } from "@fsys/core"
import type { Decoded, Expectation, JournalRecord } from "../../CrashHarness.ts"
import * as Generators from "../../Generators.ts"

export const decodeJournal = (bytes: Uint8Array): Decoded => {
  const records: Array<JournalRecord> = []
  let offset = 0
  while (offset < bytes.length) {
    // A zero byte where a frame must start ends the log (a frame starts with 0x46): a zero tail
    // or a hole, and by default the reader never reads past a hole.
    if (bytes[offset] === 0) break
    const decoded = Frame.decode(bytes, offset)
    if (decoded._tag !== "Ok") break
    records.push({ lsn: offset, payload: decoded.payload.slice() })
    offset += decoded.consumed
  }
  let tail: Decoded["tail"] = "none"
  if (offset < bytes.length) {
    tail = "zeros"
    for (let index = offset; index < bytes.length; index++) {
      if (bytes[index] !== 0) {
        tail = "nonZero"
        break
      }
    }
  }
  return { records, cleanEnd: offset, fileSize: bytes.length, tail }
}

/** Byte equality through Buffer.equals (memcmp): the harness compares whole file images. */
export const sameBytes = (left: Uint8Array, right: Uint8Array): boolean =>
  left.length === right.length &&
  Buffer.from(left.buffer, left.byteOffset, left.byteLength).equals(
    Buffer.from(right.buffer, right.byteOffset, right.byteLength),
  )

/** More violations than this in one check add nothing: the first ones say what broke. */
const REPORTED_VIOLATIONS_MAX = 8

export const checkRecovery = (expect: Expectation, recovered: ReadonlyArray<JournalRecord>): Array<string> => {
  const violations: Array<string> = []
  const report = (message: string) => {
    if (violations.length < REPORTED_VIOLATIONS_MAX) violations.push(message)
  }
  const seen = new Set<string>()
  // Where each acknowledged record must be: a record found elsewhere was misplaced (for a batch:
  // its members were not one contiguous reservation).
  const ackedAt = new Map<string, number>()
  for (const [lsn, payload] of expect.acked) {
    const id = Generators.parseRecord(payload)
    if (id !== undefined) ackedAt.set(Generators.recordKey(id), lsn)
  }
  const lastSequence = new Map<number, number>()
  const lsns = new Set<number>()
  let position = 0
  for (let index = 0; index < recovered.length; index++) {
    const { lsn, payload } = recovered[index] as JournalRecord
    lsns.add(lsn)
    if (lsn !== position) report(`record ${index} starts at ${lsn}, expected ${position} (hole or overlap)`)
    position = lsn + Frame.OVERHEAD + payload.length
    if (lsn < expect.startLsn) {
      const before = expect.base[index]
      if (before === undefined || before.lsn !== lsn || !sameBytes(before.payload, payload)) {
        report(`record at ${lsn} (from an earlier epoch) changed or appeared after recovery`)
      }
      continue
    }
    const acked = expect.acked.get(lsn)
    const id = Generators.parseRecord(payload)
    if (acked !== undefined && !sameBytes(acked, payload)) {
      report(`record at ${lsn} differs from the one whose append returned that LSN`)
      continue
    }
    if (id === undefined) {
      report(`record at ${lsn} (${payload.length} bytes) is not an intact generated record: garbage accepted`)
      continue
    }
    const key = Generators.recordKey(id)
    const submitted = expect.submitted.get(key)
    if (id.epoch !== expect.epoch || submitted === undefined || !sameBytes(submitted, payload)) {
      report(`record at ${lsn} is ${key}, which epoch ${expect.epoch} never appended (resurrected or misplaced)`)
      continue
    }
    const promised = ackedAt.get(key)
    if (promised !== undefined && promised !== lsn) {
      report(`record ${key} was acknowledged at LSN ${promised} but recovered at ${lsn}`)
    }
    if (seen.has(key)) report(`record ${key} recovered twice (second at ${lsn})`)
    seen.add(key)
    const previous = lastSequence.get(id.writer) ?? -1
    if (id.sequence !== previous + 1) {
      report(`writer ${id.writer}: record ${id.sequence} follows ${previous} (out of order or a gap)`)
    }
    lastSequence.set(id.writer, id.sequence)
  }
  if (position < expect.durableLsn) {
    report(`recovered through LSN ${position} but [0, ${expect.durableLsn}) was acknowledged durable`)
  }
  for (const lsn of expect.acked.keys()) {
    if (lsn < position && !lsns.has(lsn))
      report(`acknowledged record at ${lsn} is not a record boundary after recovery`)
  }
  return violations
}
