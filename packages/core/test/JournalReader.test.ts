import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import fc from "fast-check"
import { Frame, JournalReader, NodeFileIo } from "@fsys/core"
import { CHUNK_BYTES } from "../src/internal/reader/cursor.ts"
import { BATCH_BYTES_MAX, RECORDS_PER_BATCH_MAX } from "../src/internal/reader/records.ts"

const tempDirectory = Effect.acquireRelease(
  Effect.promise(() => NodeFs.promises.mkdtemp(NodePath.join(NodeOs.tmpdir(), "fsys-reader-"))),
  (directory) => Effect.promise(() => NodeFs.promises.rm(directory, { recursive: true, force: true })),
)

/** A payload whose bytes tell its index (never starts with 0, to make holes obvious). */
const payload = (index: number, length: number): Uint8Array =>
  Uint8Array.from({ length }, (_, i) => ((index * 31 + i) % 255) + 1)

const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

const frames = (...payloads: ReadonlyArray<Uint8Array>) => concat(...payloads.map(Frame.encode))

/** Writes `bytes` to a new file in a scoped temp directory and returns its path. */
const journalFile = (bytes: Uint8Array) =>
  Effect.gen(function* () {
    const directory = yield* tempDirectory
    const path = NodePath.join(directory, "journal")
    NodeFs.writeFileSync(path, bytes)
    return path
  })

/** Descriptors of this process open on `path` (the reader must leave none behind). */
const openFdsTo = (path: string): number =>
  NodeFs.readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return NodeFs.readlinkSync(`/proc/self/fd/${fd}`) === path
    } catch {
      return false
    }
  }).length

const scan = (path: string, options?: JournalReader.ScanOptions) =>
  JournalReader.scan(path, options).pipe(Effect.provide(NodeFileIo.layer))

const collect = (path: string, options?: JournalReader.RecordsOptions) =>
  Stream.runCollect(JournalReader.records(path, options)).pipe(Effect.provide(NodeFileIo.layer))

const three = [payload(0, 5), payload(1, 100), payload(2, 0)]
const threeBytes = frames(...three)

describe("JournalReader.scan", () => {
  it.effect("an empty file is a clean, empty journal", () =>
    Effect.gen(function* () {
      const result = yield* scan(yield* journalFile(new Uint8Array(0)))
      assert.deepStrictEqual(result, { records: 0, cleanEnd: 0, tailState: "CleanEnd", fileSize: 0 })
    }),
  )

  it.effect("valid frames to end of file: CleanEnd at the file size, lastLsn the last frame", () =>
    Effect.gen(function* () {
      const result = yield* scan(yield* journalFile(threeBytes))
      assert.deepStrictEqual(result, {
        records: 3,
        cleanEnd: threeBytes.length,
        tailState: "CleanEnd",
        fileSize: threeBytes.length,
        lastLsn: threeBytes.length - Frame.frameBytes(0),
      })
    }),
  )

  it.effect("trailing zeros (Direct padding) are a clean end at the first zero", () =>
    Effect.gen(function* () {
      const result = yield* scan(yield* journalFile(concat(threeBytes, new Uint8Array(4096 - threeBytes.length))))
      assert.deepStrictEqual([result.records, result.cleanEnd, result.tailState], [3, threeBytes.length, "CleanEnd"])
    }),
  )

  it.effect("a zero run followed by data is a hole: TruncatedHeader at the run's start", () =>
    Effect.gen(function* () {
      const bytes = concat(threeBytes, new Uint8Array(512 - threeBytes.length), Frame.encode(payload(9, 10)))
      const result = yield* scan(yield* journalFile(bytes))
      assert.deepStrictEqual(
        [result.records, result.cleanEnd, result.tailState],
        [3, threeBytes.length, "TruncatedHeader"],
      )
    }),
  )

  it.effect("zero runs of any length and alignment: to EOF clean, else a hole at the run start", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const samples = fc.sample(
        fc.record({
          payloadBytes: fc.nat(40),
          zeroBytes: fc.integer({ min: 1, max: 5000 }),
          trailer: fc.option(fc.uint8Array({ minLength: 1, maxLength: 9 }).filter((t) => t[0] !== 0)),
        }),
        { numRuns: 60, seed: 7 },
      )
      for (const [index, { payloadBytes, zeroBytes, trailer }] of samples.entries()) {
        const head = Frame.encode(payload(index, payloadBytes))
        const path = NodePath.join(directory, `zeros-${index}`)
        NodeFs.writeFileSync(path, concat(head, new Uint8Array(zeroBytes), trailer ?? new Uint8Array(0)))
        const result = yield* scan(path)
        assert.deepStrictEqual(
          [result.records, result.cleanEnd, result.tailState],
          [1, head.length, trailer === null ? "CleanEnd" : "TruncatedHeader"],
          `${payloadBytes} B payload, ${zeroBytes} zeros, trailer ${trailer}`,
        )
      }
    }),
  )

  it.effect("every tail state, each at the start of the bad frame", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, Uint8Array, JournalReader.TailState]> = [
        ["< 8 header bytes", Frame.encode(payload(7, 10)).subarray(0, 5), "TruncatedHeader"],
        ["payload cut", Frame.encode(payload(7, 10)).subarray(0, 15), "TruncatedPayload"],
        ["CRC cut", Frame.encode(payload(7, 10)).subarray(0, 21), "TruncatedPayload"],
        ["bad magic", Uint8Array.from([0x46, 0x53, 0x59, 0x02, 0, 0, 0, 0, 1, 2, 3, 4]), "BadMagic"],
        [
          "length > MAX_PAYLOAD",
          Uint8Array.from([0x46, 0x53, 0x59, 0x01, 0xff, 0xff, 0xff, 0x7f, 1]),
          "LengthOverflow",
        ],
        ["flipped payload bit", Frame.encode(payload(7, 10)).map((b, i) => (i === 12 ? b ^ 4 : b)), "ChecksumMismatch"],
      ]
      for (const [name, tail, expected] of cases) {
        const result = yield* scan(yield* journalFile(concat(threeBytes, tail)))
        assert.deepStrictEqual(
          [result.tailState, result.cleanEnd, result.records],
          [expected, threeBytes.length, 3],
          name,
        )
        assert.strictEqual(result.fileSize, threeBytes.length + tail.length, name)
      }
    }),
  )

  it.effect("a huge length field in a tiny file allocates nothing big (TruncatedPayload)", () =>
    Effect.gen(function* () {
      const header = Uint8Array.from([0x46, 0x53, 0x59, 0x01, 0xff, 0xff, 0xff, 0x0f]) // N = 2^28 − 1
      const before = process.memoryUsage().arrayBuffers
      const result = yield* scan(yield* journalFile(concat(header, new Uint8Array(20).fill(1))))
      assert.strictEqual(result.tailState, "TruncatedPayload")
      assert.strictEqual(result.cleanEnd, 0)
      assert.isBelow(process.memoryUsage().arrayBuffers - before, 64 * 1024 * 1024)
    }),
  )

  it.effect("legacy gaps: skipped only when opted in, 512-aligned, ≤ 64 MiB, and followed by a valid frame", () =>
    Effect.gen(function* () {
      // fsys 1.1.0's Direct writer: a slot of records, zeros to the slot's end, the next slot.
      const slotBytes = 4096
      const first = frames(payload(0, 50), payload(1, 60))
      const second = frames(payload(2, 70))
      const gapped = concat(
        first,
        new Uint8Array(slotBytes - first.length),
        second,
        new Uint8Array(512 - second.length),
      )
      const path = yield* journalFile(gapped)

      const strict = yield* scan(path)
      assert.deepStrictEqual([strict.records, strict.cleanEnd, strict.tailState], [2, first.length, "TruncatedHeader"])

      const legacy = yield* scan(path, { legacyGaps: true })
      assert.deepStrictEqual(
        [legacy.records, legacy.cleanEnd, legacy.tailState, legacy.lastLsn],
        [3, slotBytes + second.length, "CleanEnd", slotBytes],
      )
      const lsns = (yield* collect(path, { legacyGaps: true })).map((r) => r.lsn)
      assert.deepStrictEqual(lsns, [0, Frame.frameBytes(50), slotBytes])

      // A gap not ending on a 512-byte boundary is a hole even with legacyGaps.
      const unaligned = concat(first, new Uint8Array(100), second)
      const unalignedResult = yield* scan(yield* journalFile(unaligned), { legacyGaps: true })
      assert.deepStrictEqual([unalignedResult.records, unalignedResult.cleanEnd], [2, first.length])

      // A gap followed by garbage: the log ends at the gap's start, not at the garbage.
      const garbage = concat(
        first,
        new Uint8Array(slotBytes - first.length),
        Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
      )
      const garbageResult = yield* scan(yield* journalFile(garbage), { legacyGaps: true })
      assert.deepStrictEqual(
        [garbageResult.records, garbageResult.cleanEnd, garbageResult.tailState],
        [2, first.length, "TruncatedHeader"],
      )
    }),
  )

  it.effect("frames spanning chunk boundaries, and frames larger than a chunk", () =>
    Effect.gen(function* () {
      // Sizes chosen so frames straddle the 4 MiB window edges at awkward offsets.
      const sizes = [CHUNK_BYTES - 20, 100, CHUNK_BYTES + 5000, 3, 2 * CHUNK_BYTES + 1, 77]
      const payloads = sizes.map((size, index) => payload(index, size))
      const path = yield* journalFile(frames(...payloads))
      const result = yield* scan(path)
      assert.deepStrictEqual([result.records, result.tailState], [payloads.length, "CleanEnd"])
      const read = yield* collect(path)
      assert.strictEqual(read.length, payloads.length)
      for (const [index, record] of read.entries()) assert.deepStrictEqual(record.payload, payloads[index])
    }),
  )

  it.effect("visits every record through onRecord", () =>
    Effect.gen(function* () {
      const seen: Array<[number, number]> = []
      yield* scan(yield* journalFile(threeBytes), { onRecord: (lsn, bytes) => seen.push([lsn, bytes.length]) })
      assert.deepStrictEqual(seen, [
        [0, 5],
        [17, 100],
        [129, 0],
      ])
    }),
  )

  it.effect("a directory or a missing file is a typed IoError", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      assert.strictEqual((yield* Effect.flip(scan(directory))).reason, "IsDirectory")
      assert.strictEqual((yield* Effect.flip(scan(NodePath.join(directory, "none")))).reason, "NotFound")
      const streamError = yield* Effect.flip(collect(directory))
      assert.strictEqual(streamError._tag, "IoError")
    }),
  )

  it.effect("random bytes never make a defect; the clean end is a prefix the records agree with", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const samples = fc.sample(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          // Mostly-valid files with one corrupted byte, so the walk gets somewhere first.
          fc
            .tuple(
              fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }),
              fc.nat(),
              fc.integer({ min: 0, max: 255 }),
            )
            .map(([payloads, at, value]) => {
              const bytes = frames(...payloads)
              if (bytes.length > 0) bytes[at % bytes.length] = value
              return bytes
            }),
        ),
        { numRuns: 150, seed: 42 },
      )
      for (const [index, bytes] of samples.entries()) {
        const path = NodePath.join(directory, `random-${index}`)
        NodeFs.writeFileSync(path, bytes)
        const result = yield* scan(path)
        const read = yield* collect(path)
        assert.strictEqual(read.length, result.records)
        assert.isAtMost(result.cleanEnd, bytes.length)
        // The records re-encode to exactly the file's bytes before the clean end.
        assert.deepStrictEqual(frames(...read.map((r) => r.payload)), bytes.subarray(0, result.cleanEnd))
      }
    }),
  )
})

describe("JournalReader.records", () => {
  it.effect("streams copies with start LSNs", () =>
    Effect.gen(function* () {
      const path = yield* journalFile(threeBytes)
      const read = yield* collect(path)
      assert.deepStrictEqual(
        read.map((r) => r.lsn),
        [0, 17, 129],
      )
      assert.strictEqual(openFdsTo(path), 0)
      for (const [index, record] of read.entries()) assert.deepStrictEqual(record.payload, three[index])
    }),
  )

  it.effect("from: records with lsn ≥ from; an offset inside a frame starts at the next boundary", () =>
    Effect.gen(function* () {
      const path = yield* journalFile(threeBytes)
      const lsnsFrom = (from: number) => Effect.map(collect(path, { from }), (records) => records.map((r) => r.lsn))
      assert.deepStrictEqual(yield* lsnsFrom(17), [17, 129])
      assert.deepStrictEqual(yield* lsnsFrom(18), [129])
      assert.deepStrictEqual(yield* lsnsFrom(threeBytes.length), [])
      const invalid = yield* Effect.flip(collect(path, { from: -1 }))
      assert.deepStrictEqual(
        [invalid._tag, invalid._tag === "InvalidOptions" && invalid.option],
        ["InvalidOptions", "from"],
      )
    }),
  )

  it.effect("emits bounded batches whose payloads stay valid after later reads", () =>
    Effect.gen(function* () {
      const payloads = Array.from({ length: 3000 }, (_, index) => payload(index, (index * 37) % 200))
      const path = yield* journalFile(frames(...payloads))
      const batches = yield* Stream.runCollect(Stream.chunks(JournalReader.records(path))).pipe(
        Effect.provide(NodeFileIo.layer),
      )
      assert.isAbove(batches.length, 1)
      for (const batch of batches) {
        assert.isAtMost(batch.length, RECORDS_PER_BATCH_MAX)
        const bytes = batch.reduce((sum, record) => sum + Frame.frameBytes(record.payload.length), 0)
        assert.isAtMost(bytes, BATCH_BYTES_MAX + Frame.frameBytes(200))
      }
      for (const [index, record] of batches.flat().entries()) assert.deepStrictEqual(record.payload, payloads[index])
    }),
  )

  it.effect("records stop at the clean end of a damaged file", () =>
    Effect.gen(function* () {
      const path = yield* journalFile(concat(threeBytes, Frame.encode(payload(5, 5)).subarray(0, 9)))
      assert.strictEqual((yield* collect(path)).length, 3)
    }),
  )

  it.live("follow picks up frames appended later, including ones written in two halves", () =>
    Effect.gen(function* () {
      const path = yield* journalFile(Frame.encode(payload(0, 10)))
      const seen: Array<number> = []
      const fiber = yield* Effect.forkChild(
        Stream.runForEach(JournalReader.records(path, { follow: true, pollMillis: 5 }), (record) =>
          Effect.sync(() => seen.push(record.lsn)),
        ).pipe(Effect.provide(NodeFileIo.layer)),
      )
      const waitFor = (count: number) =>
        Effect.gen(function* () {
          for (let polls = 0; seen.length < count && polls < 2000; polls++) yield* Effect.sleep(5)
        })
      yield* waitFor(1)
      const second = Frame.encode(payload(1, 300))
      NodeFs.appendFileSync(path, second.subarray(0, 100))
      yield* Effect.sleep(30)
      assert.deepStrictEqual(seen, [0]) // half a frame is not a record yet
      NodeFs.appendFileSync(path, second.subarray(100))
      yield* waitFor(2)
      // Direct-style: zero padding, then the next frame rewritten over the padding.
      const third = Frame.encode(payload(2, 20))
      const end = NodeFs.statSync(path).size
      NodeFs.appendFileSync(path, new Uint8Array(512))
      const fd = NodeFs.openSync(path, "r+")
      NodeFs.writeSync(fd, third, 0, third.length, end)
      NodeFs.closeSync(fd)
      yield* waitFor(3)
      assert.strictEqual(openFdsTo(path), 1)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(seen, [0, 22, 22 + 312])
      assert.strictEqual(openFdsTo(path), 0)
    }),
  )

  it.live("follow picks up frames written in place over preallocated zeros (the size never changes)", () =>
    Effect.gen(function* () {
      const preallocatedBytes = 8 * 1024 * 1024
      const first = Frame.encode(payload(0, 10))
      const path = yield* journalFile(concat(first, new Uint8Array(preallocatedBytes)))
      const seen: Array<number> = []
      const fiber = yield* Effect.forkChild(
        Stream.runForEach(JournalReader.records(path, { follow: true, pollMillis: 5 }), (record) =>
          Effect.sync(() => seen.push(record.lsn)),
        ).pipe(Effect.provide(NodeFileIo.layer)),
      )
      for (let polls = 0; seen.length < 1 && polls < 2000; polls++) yield* Effect.sleep(5)
      const fd = NodeFs.openSync(path, "r+")
      NodeFs.writeSync(fd, frames(payload(1, 40), payload(2, 3000)), 0, undefined, first.length)
      NodeFs.closeSync(fd)
      for (let polls = 0; seen.length < 3 && polls < 2000; polls++) yield* Effect.sleep(5)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(seen, [0, first.length, first.length + Frame.frameBytes(40)])
      assert.strictEqual(NodeFs.statSync(path).size, first.length + preallocatedBytes)
    }),
  )
})

describe("JournalReader.survey (damage reporting)", () => {
  const survey = (path: string) => JournalReader.survey(path).pipe(Effect.provide(NodeFileIo.layer))
  const many = Array.from({ length: 500 }, (_, i) => payload(i, 20 + (i % 37)))
  const lsnOf = (index: number) => many.slice(0, index).reduce((sum, p) => sum + Frame.frameBytes(p.length), 0)

  it.effect("one flipped payload byte mid-file: the intact frames after it are found, counted and located", () =>
    Effect.gen(function* () {
      const bytes = frames(...many)
      const bad = 100
      bytes[lsnOf(bad) + Frame.OVERHEAD] ^= 0x10
      const result = yield* survey(yield* journalFile(bytes))
      assert.deepStrictEqual([result.records, result.cleanEnd, result.tailState], [bad, lsnOf(bad), "ChecksumMismatch"])
      assert.deepStrictEqual(result.damage, {
        firstBadLsn: lsnOf(bad),
        intactFrames: many.length - bad - 1,
        intactBytes: bytes.length - lsnOf(bad + 1),
        runs: [{ firstLsn: lsnOf(bad + 1), lastLsn: lsnOf(many.length - 1), endLsn: bytes.length, frames: 399 }],
        complete: true,
      })
    }),
  )

  it.effect("a flipped length byte, a hole, then two more damaged spots: one run per stretch", () =>
    Effect.gen(function* () {
      const bytes = frames(...many)
      bytes[lsnOf(10) + Frame.HEADER_BYTES - 1] ^= 0x01 // length field: the frame overflows
      bytes.fill(0, lsnOf(200), lsnOf(201)) // a lost sector-like hole: one frame zeroed
      bytes[lsnOf(300) + 2] ^= 0xff // magic
      const result = yield* survey(yield* journalFile(bytes))
      assert.strictEqual(result.cleanEnd, lsnOf(10))
      const damage = result.damage!
      assert.deepStrictEqual(
        damage.runs.map((run) => [run.firstLsn, run.frames]),
        [
          [lsnOf(11), 189],
          [lsnOf(201), 99],
          [lsnOf(301), 199],
        ],
      )
      assert.strictEqual(damage.intactFrames, 189 + 99 + 199)
    }),
  )

  it.effect(
    "a torn last frame, garbage or zeros after the clean end: no intact frames; a clean file has no damage",
    () =>
      Effect.gen(function* () {
        const whole = frames(...many.slice(0, 5))
        const torn = yield* survey(yield* journalFile(whole.subarray(0, whole.length - 3)))
        assert.strictEqual(torn.tailState, "TruncatedPayload")
        assert.deepStrictEqual(torn.damage, {
          firstBadLsn: lsnOf(4),
          intactFrames: 0,
          intactBytes: 0,
          runs: [],
          complete: true,
        })
        const garbage = yield* survey(yield* journalFile(concat(whole, new Uint8Array(300).fill(0x46))))
        assert.strictEqual(garbage.damage?.intactFrames, 0)
        const clean = yield* survey(yield* journalFile(concat(whole, new Uint8Array(4096))))
        assert.strictEqual(clean.tailState, "CleanEnd")
        assert.isUndefined(clean.damage)
      }),
  )

  it.effect("an intact frame larger than the search window after the damage is found", () =>
    Effect.gen(function* () {
      const big = payload(7, CHUNK_BYTES + 1000)
      const bytes = frames(payload(1, 10), payload(2, 10), big, payload(3, 10))
      bytes[Frame.frameBytes(10) + 9] ^= 0x01
      const result = yield* survey(yield* journalFile(bytes))
      assert.strictEqual(result.cleanEnd, Frame.frameBytes(10))
      assert.deepStrictEqual(
        result.damage?.runs.map((run) => [run.firstLsn, run.frames]),
        [[2 * Frame.frameBytes(10), 2]],
      )
    }),
  )
})
