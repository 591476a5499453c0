/**
 * The bench's record source: every subject is fed from it, so what it hands out must be what the
 * verifier expects (dense ids, one record per view, no record sharing bytes with another), however
 * records are cut from memory.
 */
import { describe, expect, it } from "vitest"
import { Source, Verifier } from "../src/internal/records.ts"

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
})
