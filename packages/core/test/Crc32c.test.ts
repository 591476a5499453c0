import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Crc32c } from "@fsys/core"
import * as Native from "../src/internal/crc/native.ts"
import * as Software from "../src/internal/crc/software.ts"

const ascii = (text: string) => new TextEncoder().encode(text)

// The known answers from reference/fsys-journal.md (CRC-32C, Castagnoli).
const knownAnswers: ReadonlyArray<readonly [string, Uint8Array, number]> = [
  ["empty", new Uint8Array(0), 0x00000000],
  ["123456789", ascii("123456789"), 0xe3069283],
  ["32 × 0x00", new Uint8Array(32), 0x8a9136aa],
  ["32 × 0xFF", new Uint8Array(32).fill(0xff), 0x62a8ab43],
  ["bytes 0..31", Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
]

// Sizes around every branch: the 16-byte slices, their tail loop, the native threshold.
const sizes = [0, 1, 7, 15, 16, 17, 31, 33, 100, 255, 256, 257, 1000, 4096, 65_537, 1 << 20]

const randomBytes = (length: number, seed: number): Uint8Array => {
  const bytes = new Uint8Array(length)
  let state = seed | 1
  for (let i = 0; i < length; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    bytes[i] = state & 0xff
  }
  return bytes
}

describe("Crc32c", () => {
  it.each(knownAnswers)("known answer: %s", (_, bytes, expected) => {
    expect(Crc32c.compute(bytes)).toBe(expected)
    expect(Software.computeRange(bytes, 0, bytes.length, 0)).toBe(expected)
    if (Native.crc32c !== undefined) expect(Native.crc32c(bytes, 0)).toBe(expected)
  })

  it("known answers hold for inputs above the native threshold too", () => {
    // Long inputs (native path) must agree with the bitwise definition of CRC-32C.
    const bitwise = (bytes: Uint8Array): number => {
      let crc = 0xffffffff
      for (const byte of bytes) {
        crc ^= byte
        for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
      }
      return (crc ^ 0xffffffff) >>> 0
    }
    const bytes = randomBytes(Crc32c.nativeThresholdBytes * 4 + 3, 7)
    expect(Crc32c.compute(bytes)).toBe(bitwise(bytes))
  })

  // The optional dependency ships a binary for x86-64 Linux; elsewhere software is the right answer.
  it.runIf(process.arch === "x64" && process.platform === "linux")("loads the native CRC on x86-64 Linux", () => {
    expect(Crc32c.backend).toBe("native")
  })

  it("falls back to software when the native module is missing, broken or wrong", () => {
    expect(
      Native.load(() => {
        throw new Error("Cannot find module '@node-rs/crc32'")
      }),
    ).toBeUndefined()
    expect(Native.load(() => ({}))).toBeUndefined()
    expect(Native.load(() => ({ crc32c: () => 0 }))).toBeUndefined()
    expect(
      Native.load(() => ({
        crc32c: () => {
          throw new Error("illegal instruction")
        },
      })),
    ).toBeUndefined()
    const verified = (bytes: Uint8Array, seed?: number | null) =>
      Software.computeRange(bytes, 0, bytes.length, seed ?? 0)
    expect(Native.load(() => ({ crc32c: verified }))).toBe(verified)
  })

  it.each(sizes)("native, software and compute agree on %i random bytes with random seeds", (size) => {
    for (let trial = 0; trial < 4; trial++) {
      const bytes = randomBytes(size, size * 31 + trial)
      const seed = (Math.imul(size + 1, 0x9e3779b1) ^ trial) >>> 0
      const software = Software.computeRange(bytes, 0, size, seed)
      expect(Crc32c.compute(bytes, seed)).toBe(software)
      expect(Crc32c.computeRange(bytes, 0, size, seed)).toBe(software)
      if (Native.crc32c !== undefined) expect(Native.crc32c(bytes, seed)).toBe(software)
    }
  })

  it("chains: compute(b, compute(a)) === compute(a ‖ b), also across the native threshold", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.uint8Array({ maxLength: 700 }), (a, b) => {
        const joined = new Uint8Array(a.length + b.length)
        joined.set(a)
        joined.set(b, a.length)
        expect(Crc32c.compute(b, Crc32c.compute(a))).toBe(Crc32c.compute(joined))
      }),
      { numRuns: 300 },
    )
  })

  it("computeRange equals compute of the subarray, without needing one", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), fc.nat(), fc.nat(), fc.nat(), (bytes, x, y, seed) => {
        const start = bytes.length === 0 ? 0 : x % (bytes.length + 1)
        const end = start + (bytes.length === 0 ? 0 : y % (bytes.length - start + 1))
        expect(Crc32c.computeRange(bytes, start, end, seed)).toBe(Crc32c.compute(bytes.subarray(start, end), seed))
      }),
      { numRuns: 300 },
    )
  })

  it("the software CRC reads any view: odd offsets, pooled Buffers, alternating buffers, a detached empty view", () => {
    // Bit by bit, independent of the tables and of how the bytes are read.
    const reference = (bytes: Uint8Array): number => {
      let crc = 0xffffffff
      for (const byte of bytes) {
        crc ^= byte
        for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
      }
      return ~crc >>> 0
    }
    const backing = Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 17) & 0xff)
    const other = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) & 0xff)
    for (const [offset, length] of [
      [1, 3],
      [3, 17],
      [5, 100],
      [7, 159],
      [13, 1000],
      [2, 4000],
    ] as const) {
      const view = backing.subarray(offset, offset + length)
      expect(Software.computeRange(view, 0, length, 0)).toBe(reference(view))
      // Another buffer in between: the cached view must follow the buffer.
      expect(Software.computeRange(other, 1, 101, 0)).toBe(reference(other.subarray(1, 101)))
      expect(Software.computeRange(backing, offset, offset + length, 0)).toBe(reference(view))
    }
    const pooled = Buffer.from("a short string lives in Node's shared pool")
    expect(pooled.byteOffset % 4 === 0 && pooled.buffer.byteLength === pooled.length).toBe(false)
    expect(Software.computeRange(pooled, 0, pooled.length, 0)).toBe(reference(pooled))
    const detached = new ArrayBuffer(64)
    const empty = new Uint8Array(detached)
    detached.transfer()
    expect(Crc32c.compute(empty)).toBe(0)
    expect(Software.computeRange(empty, 0, 0, 0x1234)).toBe(0x1234)
  })

  it("computeRange rejects ranges outside the array (a caller bug, not data)", () => {
    const bytes = new Uint8Array(8)
    expect(() => Crc32c.computeRange(bytes, 0, 9)).toThrow(RangeError)
    expect(() => Crc32c.computeRange(bytes, 5, 4)).toThrow(RangeError)
    expect(() => Crc32c.computeRange(bytes, -1, 4)).toThrow(RangeError)
    expect(() => Crc32c.computeRange(bytes, 0.5, 4)).toThrow(RangeError)
  })

  it("detects every single-bit flip of a 64-byte message", () => {
    const bytes = randomBytes(64, 3)
    const expected = Crc32c.compute(bytes)
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      bytes[bit >>> 3] ^= 1 << (bit & 7)
      expect(Crc32c.compute(bytes)).not.toBe(expected)
      bytes[bit >>> 3] ^= 1 << (bit & 7)
    }
  })
})
