/**
 * The bench's record source: every subject is fed from it, so what it hands out must be what the
 * verifier expects (dense ids, one record per view, no record sharing bytes with another), however
 * records are cut from memory.
 */
import { describe, expect, it } from "vitest"
import { FREE_BLOCKS_MAX, RELEASED_RECORDS_MAX, Source, Verifier, WATCHED_BLOCKS_MAX } from "../src/internal/records.ts"

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

  it("cuts a small records' block again once every record from it is back, and never one still out", () => {
    const size = 4096
    const perBlock = (64 * 1024) / size
    const source = new Source(size, 10 * perBlock)
    source.start(Number.POSITIVE_INFINITY)
    const copies: Array<Uint8Array> = []
    const take = (): Uint8Array => {
      const record = source.next()!
      copies.push(record.slice())
      return record
    }
    const first = Array.from({ length: perBlock }, take)
    for (const record of first) source.release(record)
    source.release(first[0]!) // twice: counted once
    // Every record came back: the next ones are cut from the same block.
    const second = Array.from({ length: perBlock }, take)
    expect(second.every((record) => record.buffer === first[0]!.buffer)).toBe(true)
    // One record kept out: its block is never cut again, and it still reads as itself.
    const kept = second[3]!
    const keptCopy = kept.slice()
    for (const record of second) if (record !== kept) source.release(record)
    const later = Array.from({ length: 3 * perBlock }, take)
    expect(later.some((record) => record.buffer === kept.buffer)).toBe(false)
    expect(kept).toEqual(keptCopy)
    // Its last record back: the block is free and backs the records after the current block's.
    for (const record of later.slice(0, -1)) source.release(record)
    source.release(kept)
    expect(take().buffer).toBe(kept.buffer)
    // Every record read as itself when it was handed out.
    const verifier = new Verifier(size, source.issued)
    for (const copy of copies) verifier.visit(copy)
    expect(verifier.problem()).toBeUndefined()
  })

  it("forgets blocks past the bound, and ignores what it did not cut", () => {
    const size = 100
    const perBlock = Math.floor((64 * 1024) / size)
    const source = new Source(size, 100 * perBlock)
    source.start(Number.POSITIVE_INFINITY)
    // One record out in each of more blocks than are watched.
    const firsts: Array<Uint8Array> = []
    for (let block = 0; block < WATCHED_BLOCKS_MAX + 2; block++) {
      for (let i = 0; i < perBlock; i++) {
        const record = source.next()!
        if (i === 0) firsts.push(record)
        else source.release(record)
      }
    }
    // One more record retires the last full block (and stays out, so its block is never reused).
    source.next()
    // Released now: the two oldest blocks were forgotten (the collector's); of the watched ones,
    // as many as the free list holds back later records.
    for (const record of firsts) source.release(record)
    const buffers = new Set<ArrayBufferLike>()
    for (let i = 0; i < 20 * perBlock; i++) buffers.add(source.next()!.buffer)
    const old = firsts.map((record) => record.buffer)
    expect(old.slice(0, 2).some((buffer) => buffers.has(buffer))).toBe(false)
    expect(old.slice(2).filter((buffer) => buffers.has(buffer)).length).toBe(FREE_BLOCKS_MAX)
    // A view it did not cut, or a misaligned one, changes nothing.
    const other = new Source(size, 2)
    other.start(Number.POSITIVE_INFINITY)
    const a = other.next()!
    other.release(new Uint8Array(size))
    other.release(new Uint8Array(a.buffer, 1, size))
    expect(other.next()!.byteOffset).toBe(a.byteOffset + size)
  })

  it("never reuses a view, or more large records than the bound", () => {
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
