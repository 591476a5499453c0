/**
 * The bench's record source: every subject is fed from it, so what it hands out must be what the
 * verifier expects (dense ids, one record per view, no record sharing bytes with another), however
 * records are cut from memory.
 */
import { describe, expect, it } from "vitest"
import { RELEASED_RECORDS_MAX, Source, Verifier } from "../src/internal/records.ts"

const drain = (source: Source): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let payload = source.next(); payload !== undefined; payload = source.next()) out.push(payload)
  return out
}

describe("Source", () => {
  it.each([5, 100, 4096, 4097, 70_000])("hands out %i-byte records that verify and never overlap", (size) => {
    const count = size > 4096 ? 8 : 2000 // 100 B × 2000 crosses three 64 KiB blocks
    const source = new Source(size, count)
    source.start(Number.POSITIVE_INFINITY)
    const records = drain(source)
    expect(records.length).toBe(count)
    expect(source.issued).toBe(count)
    // No two records share a byte: sorted by where they sit in their block, each ends before the next starts.
    const byBlock = Map.groupBy(records, (record) => record.buffer)
    for (const inBlock of byBlock.values()) {
      inBlock.sort((a, b) => a.byteOffset - b.byteOffset)
      for (let i = 1; i < inBlock.length; i++) {
        expect(inBlock[i]!.byteOffset).toBeGreaterThanOrEqual(inBlock[i - 1]!.byteOffset + size)
      }
    }
    const verifier = new Verifier(size, count)
    for (const record of records) verifier.visit(record)
    expect(verifier.problem()).toBeUndefined()
    for (const record of records) expect(record.length).toBe(size)
  })

  it("cuts small records from shared blocks, and gives large ones their own memory", () => {
    const small = new Source(100, 1000)
    small.start(Number.POSITIVE_INFINITY)
    const buffers = new Set(drain(small).map((record) => record.buffer))
    // 1000 × 100 B fit in two 64 KiB blocks: not one allocation per record.
    expect(buffers.size).toBe(2)
    const large = new Source(8192, 4)
    large.start(Number.POSITIVE_INFINITY)
    expect(new Set(drain(large).map((record) => record.buffer)).size).toBe(4)
  })

  it("a record kept past its block's use still reads as itself", () => {
    const source = new Source(100, 2000)
    source.start(Number.POSITIVE_INFINITY)
    const first = source.next()!
    const copy = first.slice()
    drain(source) // the rest, across new blocks
    expect(first).toEqual(copy)
  })

  it("a released large record's memory backs a later record, rewritten as that record", () => {
    const source = new Source(70_000, 10)
    source.start(Number.POSITIVE_INFINITY)
    const verifier = new Verifier(70_000, 10)
    const first = source.next()!
    verifier.visit(first.slice())
    source.release(first)
    const second = source.next()!
    expect(second.buffer).toBe(first.buffer)
    verifier.visit(second.slice())
    // Not released: the next record gets memory of its own.
    const third = source.next()!
    expect(third.buffer).not.toBe(second.buffer)
    verifier.visit(third.slice())
    for (let payload = source.next(); payload !== undefined; payload = source.next()) verifier.visit(payload.slice())
    expect(verifier.problem()).toBeUndefined()
  })

  it("a subject that kept a reused record is caught by the verifier", () => {
    const source = new Source(70_000, 2)
    source.start(Number.POSITIVE_INFINITY)
    const kept = source.next()!
    source.release(kept)
    const second = source.next()!
    // The store read its first record's bytes only now: they are the second record's.
    const verifier = new Verifier(70_000, 2)
    verifier.visit(kept)
    verifier.visit(second)
    expect(verifier.problem()).toBeDefined()
    // The same store without the release reads both records as they were.
    const honest = new Source(70_000, 2)
    honest.start(Number.POSITIVE_INFINITY)
    const first = honest.next()!
    const next = honest.next()!
    const check = new Verifier(70_000, 2)
    check.visit(first)
    check.visit(next)
    expect(check.problem()).toBeUndefined()
  })

  it("never reuses small records, views, or more than the bound", () => {
    const small = new Source(100, 4)
    small.start(Number.POSITIVE_INFINITY)
    const a = small.next()!
    small.release(a)
    expect(small.next()!.byteOffset).toBe(a.byteOffset + 100)
    const large = new Source(8192, 100)
    large.start(Number.POSITIVE_INFINITY)
    const records = Array.from({ length: RELEASED_RECORDS_MAX + 2 }, () => large.next()!)
    for (const record of records) large.release(record)
    large.release(records[0]!) // twice: still once in the list
    const reused = new Set<ArrayBufferLike>()
    for (let i = 0; i < RELEASED_RECORDS_MAX + 2; i++) reused.add(large.next()!.buffer)
    const old = new Set(records.map((record) => record.buffer))
    expect([...reused].filter((buffer) => old.has(buffer)).length).toBe(RELEASED_RECORDS_MAX)
    // A view into a larger allocation is not the source's: never taken back.
    const view = new Uint8Array(2 * 8192).subarray(0, 8192)
    large.release(view)
    expect(large.next()!.buffer).not.toBe(view.buffer)
  })
})
