import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Frame } from "@fsys/core"
import * as BatchCrc from "../src/internal/frame/batchCrc.ts"

describe("Frame CRCs filled in a batch (the log buffer's seal)", () => {
  it("gives the same bytes as Frame.encodeInto, frame after frame, for any payload sizes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 40 }),
        fc.nat({ max: 64 }),
        (payloads, start) => {
          const total = start + payloads.reduce((sum, payload) => sum + Frame.frameBytes(payload.byteLength), 0)
          const expected = new Uint8Array(total + 8).fill(0xaa)
          const actual = new Uint8Array(total + 8).fill(0xaa)
          let offset = start
          for (const payload of payloads) {
            Frame.encodeInto(expected, offset, payload)
            offset += BatchCrc.encodeWithoutCrc(actual, offset, payload)
          }
          expect(BatchCrc.fillCrcs(actual, start, offset)).toBe(payloads.length)
          expect(actual).toEqual(expected)
        },
      ),
    )
  })

  it("leaves the CRC bytes untouched until the fill, and fills only the range it is given", () => {
    const payload = new Uint8Array(100).fill(7)
    const bytes = new Uint8Array(3 * 112).fill(0xee)
    for (let i = 0; i < 3; i++) BatchCrc.encodeWithoutCrc(bytes, i * 112, payload)
    expect(Array.from(bytes.subarray(108, 112))).toEqual([0xee, 0xee, 0xee, 0xee])
    BatchCrc.fillCrcs(bytes, 112, 224)
    expect(Frame.decode(bytes, 0)._tag).toBe("ChecksumMismatch")
    expect(Frame.decode(bytes, 112)._tag).toBe("Ok")
    expect(Frame.decode(bytes, 224)._tag).toBe("ChecksumMismatch")
  })

  it("throws when the range does not end on a frame boundary, or the frame does not fit", () => {
    const bytes = new Uint8Array(300)
    BatchCrc.encodeWithoutCrc(bytes, 0, new Uint8Array(100))
    expect(() => BatchCrc.fillCrcs(bytes, 0, 111)).toThrow(/no whole frame/)
    expect(() => BatchCrc.fillCrcs(bytes, 0, 400)).toThrow(RangeError)
    expect(() => BatchCrc.encodeWithoutCrc(bytes, 250, new Uint8Array(100))).toThrow(RangeError)
  })
})
