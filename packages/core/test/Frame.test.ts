import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Crc32c, Frame } from "@fsys/core"

const hello = new TextEncoder().encode("hello")
const helloFrame = Uint8Array.from([
  0x46, 0x53, 0x59, 0x01, 0x05, 0x00, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2f, 0x8b, 0x22, 0x17,
])

const header = (magic: number, length: number): Uint8Array => {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setUint32(0, magic, false)
  new DataView(bytes.buffer).setUint32(4, length, true)
  return bytes
}

describe("Frame", () => {
  it("has fsys's constants", () => {
    expect(Frame.MAGIC).toBe(0x46535901)
    expect(Frame.HEADER_BYTES).toBe(8)
    expect(Frame.OVERHEAD_BYTES).toBe(12)
    expect(Frame.PAYLOAD_BYTES_MAX).toBe(2 ** 28 - 1)
    // The 0.1.0 names stay as deprecated aliases.
    expect(Frame.OVERHEAD).toBe(Frame.OVERHEAD_BYTES)
    expect(Frame.MAX_PAYLOAD).toBe(Frame.PAYLOAD_BYTES_MAX)
    expect(Frame.frameBytes(5)).toBe(17)
  })

  it('encodes "hello" byte for byte like fsys', () => {
    expect(Frame.encode(hello)).toEqual(helloFrame)
    const target = new Uint8Array(40).fill(0xaa)
    expect(Frame.encodeInto(target, 11, hello)).toBe(17)
    expect(target.subarray(11, 28)).toEqual(helloFrame)
    // Bytes around the frame are untouched.
    expect(target[10]).toBe(0xaa)
    expect(target[28]).toBe(0xaa)
  })

  it('decodes "hello" to a zero-copy view', () => {
    const bytes = new Uint8Array(30)
    bytes.set(helloFrame, 3)
    const decoded = Frame.decode(bytes, 3)
    expect(decoded._tag).toBe("Ok")
    if (decoded._tag !== "Ok") return
    expect(decoded.consumed).toBe(17)
    expect(decoded.payload).toEqual(hello)
    expect(decoded.payload.buffer).toBe(bytes.buffer)
    expect(decoded.payload.byteOffset).toBe(3 + 8)
  })

  it("round-trips any payload, back to back, at any offset", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 8 }), fc.nat(16), (payloads, lead) => {
        const total = lead + payloads.reduce((sum, p) => sum + Frame.frameBytes(p.length), 0)
        const bytes = new Uint8Array(total)
        let offset = lead
        for (const payload of payloads) offset += Frame.encodeInto(bytes, offset, payload)
        expect(offset).toBe(total)
        offset = lead
        for (const payload of payloads) {
          const decoded = Frame.decode(bytes, offset)
          if (decoded._tag !== "Ok") throw new Error(`expected Ok, got ${decoded._tag}`)
          expect(decoded.payload).toEqual(payload)
          offset += decoded.consumed
        }
        expect(Frame.decode(bytes, offset)._tag).toBe("Truncated")
      }),
      { numRuns: 200 },
    )
  })

  it("follows fsys's decode order", () => {
    expect(Frame.decode(new Uint8Array(7), 0)._tag).toBe("Truncated")
    expect(Frame.decode(new Uint8Array(8), 0)._tag).toBe("BadMagic")
    // Bad magic wins over a huge length; the length check comes before the "enough bytes" check.
    expect(Frame.decode(header(0x46535902, 0xffffffff), 0)._tag).toBe("BadMagic")
    expect(Frame.decode(header(Frame.MAGIC, Frame.PAYLOAD_BYTES_MAX + 1), 0)._tag).toBe("LengthOverflow")
    expect(Frame.decode(header(Frame.MAGIC, 0xffffffff), 0)._tag).toBe("LengthOverflow")
    expect(Frame.decode(header(Frame.MAGIC, Frame.PAYLOAD_BYTES_MAX), 0)._tag).toBe("Truncated")
    const corrupt = Frame.encode(hello)
    corrupt[16] ^= 1
    expect(Frame.decode(corrupt, 0)._tag).toBe("ChecksumMismatch")
    expect(Frame.decode(helloFrame, 17)._tag).toBe("Truncated")
    expect(Frame.decode(helloFrame, 100)._tag).toBe("Truncated")
  })

  it("detects every single-bit flip of an encoded frame", () => {
    for (const payload of [new Uint8Array(0), hello, new Uint8Array(300).map((_, i) => i * 7)]) {
      const frame = Frame.encode(payload)
      for (let bit = 0; bit < frame.length * 8; bit++) {
        frame[bit >>> 3] ^= 1 << (bit & 7)
        const decoded = Frame.decode(frame, 0)
        expect(decoded._tag, `bit ${bit} of a ${payload.length}-byte frame`).not.toBe("Ok")
        frame[bit >>> 3] ^= 1 << (bit & 7)
      }
      expect(Frame.decode(frame, 0)._tag).toBe("Ok")
    }
  })

  it("classifies every truncation point as Truncated", () => {
    for (const payload of [new Uint8Array(0), hello, new Uint8Array(300).fill(9)]) {
      const frame = Frame.encode(payload)
      for (let length = 0; length < frame.length; length++) {
        expect(Frame.decode(frame.subarray(0, length), 0)._tag, `cut at ${length}`).toBe("Truncated")
      }
    }
  })

  it("never throws on random bytes, and an Ok is always a real frame", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(220), (bytes, offset) => {
        const decoded = Frame.decode(bytes, offset)
        if (decoded._tag === "Ok") {
          expect(Frame.encode(decoded.payload)).toEqual(bytes.subarray(offset, offset + decoded.consumed))
        }
      }),
      { numRuns: 1000 },
    )
    // Random bytes behind a valid magic exercise the length and CRC checks instead.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(80), (tail, length) => {
        const bytes = new Uint8Array(8 + tail.length)
        bytes.set(header(Frame.MAGIC, length))
        bytes.set(tail, 8)
        expect(["Truncated", "ChecksumMismatch", "Ok"]).toContain(Frame.decode(bytes, 0)._tag)
      }),
      { numRuns: 1000 },
    )
  })

  it("checksums header and payload: the CRC field is CRC-32C of bytes [0, 8+N)", () => {
    const frame = Frame.encode(hello)
    const stored = new DataView(frame.buffer).getUint32(13, true)
    expect(stored).toBe(Crc32c.compute(frame.subarray(0, 13)))
  })

  it("asserts its preconditions on encode (callers check sizes first)", () => {
    expect(() => Frame.encodeInto(new Uint8Array(16), 0, hello)).toThrow(RangeError)
    expect(() => Frame.encodeInto(new Uint8Array(17), 1, hello)).toThrow(RangeError)
    expect(() => Frame.encodeInto(new Uint8Array(17), -1, hello)).toThrow(RangeError)
    expect(() => Frame.decode(helloFrame, -1)).toThrow(RangeError)
    // A payload over PAYLOAD_BYTES_MAX, without allocating 256 MiB: a view with a lying length.
    const oversize = { length: Frame.PAYLOAD_BYTES_MAX + 1 } as unknown as Uint8Array
    expect(() => Frame.encode(oversize)).toThrow(RangeError)
    expect(() => Frame.encodeInto(new Uint8Array(16), 0, oversize)).toThrow(RangeError)
  })
})
