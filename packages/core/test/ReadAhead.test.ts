/**
 * The whole-file scan reads the next chunk while it checks this one (`internal/reader/readAhead.ts`).
 * What a user relies on: the scan (and so `Journal.open`'s recovery) finds exactly the records
 * and the clean end it found reading chunk by chunk, for every frame size against the chunk and
 * carry sizes, with damage anywhere, on a file that shrinks underneath; it never has two reads in
 * flight; and it never returns, by any exit, interrupts included, with a read still writing into
 * its memory. The FileIo here wraps the Node layer (real files) and counts reads in flight; it can
 * hold each read for a few event-loop turns, so that checking and reading really overlap.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Scheduler } from "effect"
import { IoError } from "@fsys/native"
import { Crc32c, type FileIo, Frame, JournalReader, NodeFileIo } from "@fsys/core"
import * as Cursor from "../src/internal/reader/cursor.ts"
import * as ReadAhead from "../src/internal/reader/readAhead.ts"
import { runToEnd } from "../src/internal/reader/scan.ts"
import { tempDir } from "./journalFixtures.ts"

interface ReadStats {
  reads: number
  inFlight: number
  inFlightMax: number
  /** Records the visitor saw while a read was in flight: proof that checking overlapped reading. */
  visitedWhileReading: number
  /** Which reads (by number) had a record visited while they were in flight. */
  readonly overlapped: Set<number>
}

interface Wrapping {
  /** Event-loop turns each read waits before it runs (0: as the layer answers). */
  readonly holdTurns?: number
  /** Reads see the file as if it ended here (a file truncated while the scan runs). */
  readonly shrinkTo?: number
  /** The read covering this offset fails with EIO. */
  readonly failAt?: number
}

const loopTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** The Node layer, its `readAt` counted (and maybe held, truncated or failed). */
const wrapped = (wrapping: Wrapping = {}) => {
  const inner = NodeFileIo.make()
  const stats: ReadStats = { reads: 0, inFlight: 0, inFlightMax: 0, visitedWhileReading: 0, overlapped: new Set() }
  // Counted in the same uninterruptible step that submits it, as a real layer pins its fd.
  const readAt = (handle: FileIo.Handle, into: Uint8Array, offsetBytes: number) =>
    Effect.uninterruptible(
      Effect.suspend(() => {
        stats.reads++
        stats.inFlight++
        stats.inFlightMax = Math.max(stats.inFlightMax, stats.inFlight)
        const end = wrapping.shrinkTo ?? Number.POSITIVE_INFINITY
        const target = into.subarray(0, Math.max(0, Math.min(into.length, end - offsetBytes)))
        const failAt = wrapping.failAt ?? -1
        const read =
          failAt >= offsetBytes && failAt < offsetBytes + into.length
            ? Effect.fail(IoError.fromErrno("EIO", "pread", handle.path, "injected"))
            : inner.readAt(handle, target, offsetBytes)
        let held: Effect.Effect<number, IoError.IoError> = read
        for (let turn = 0; turn < (wrapping.holdTurns ?? 0); turn++) held = Effect.andThen(loopTurn, held)
        // Like the real layers: a submitted read finishes even if its caller is interrupted.
        return Effect.ensuring(
          held,
          Effect.sync(() => {
            stats.inFlight--
          }),
        )
      }),
    )
  const fileIo: FileIo.FileIoService = { ...inner, readAt }
  return { fileIo, stats }
}

/** Frames of `payloadBytes` each until the file holds at least `fileBytes`; payload i starts with i. */
const framesFile = (payloadBytes: number, fileBytes: number) => {
  const frameBytes = Frame.frameBytes(payloadBytes)
  const count = Math.ceil(fileBytes / frameBytes)
  const bytes = new Uint8Array(count * frameBytes)
  const payload = new Uint8Array(payloadBytes)
  const crcs: Array<number> = []
  for (let i = 0; i < count; i++) {
    for (let b = 0; b < payloadBytes; b++) payload[b] = (i * 13 + b) & 0xff
    payload[0] = (i % 251) + 1
    Frame.encodeInto(bytes, i * frameBytes, payload)
    crcs.push(Crc32c.compute(payload))
  }
  return { bytes, frameBytes, count, crcs }
}

interface Seen {
  readonly result: JournalReader.ScanResult
  readonly lsns: Array<number>
  readonly crcs: Array<number>
  readonly inFlightAtReturn: number
}

/**
 * Scans `path` through `fileIo`; `inFlightAtReturn` is read in the scan's own fiber the moment
 * it returns (a fiber's end would await a forgotten read anyway: the scan must not leave one to
 * `Journal.open`, which goes on writing the file). `throwAt`: the visitor throws at that record.
 */
const scanWith = (fileIo: FileIo.FileIoService, path: string, stats: ReadStats, throwAt = -1) =>
  Effect.scoped(
    Effect.gen(function* () {
      const handle = yield* fileIo.open(path, { readOnly: true })
      const lsns: Array<number> = []
      const crcs: Array<number> = []
      const exit = yield* Effect.exit(
        JournalReader.scanHandle(fileIo, handle, {
          onRecord: (lsn, payload) => {
            if (lsns.length === throwAt) throw new Error("visitor failed")
            if (stats.inFlight > 0) {
              stats.visitedWhileReading++
              stats.overlapped.add(stats.reads)
            }
            lsns.push(lsn)
            crcs.push(Crc32c.compute(payload))
          },
        }),
      )
      const inFlightAtReturn = stats.inFlight
      const result = yield* exit
      return { result, lsns, crcs, inFlightAtReturn } satisfies Seen
    }),
  )

/** The same file through the plain chunk-by-chunk driver: the reference result. */
const scanPlain = (path: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const fileIo = NodeFileIo.make()
      const handle = yield* fileIo.open(path, { readOnly: true })
      const cursor = Cursor.make(yield* fileIo.size(handle), 0)
      yield* runToEnd(fileIo, handle, cursor, false, undefined)
      return { records: cursor.records, cleanEnd: cursor.position, tailState: cursor.tailState }
    }),
  )

const writeFile = (dir: string, name: string, bytes: Uint8Array): string => {
  const path = NodePath.join(dir, name)
  NodeFs.writeFileSync(path, bytes)
  return path
}

/** Payload sizes against the 4 MiB chunk and the 1 MiB carry: small, cut heads ≤ carry, > carry, oversize. */
const PAYLOADS = [100, 4096, 700_000, 1_500_000, 5_000_000] as const
const FILE_BYTES = 3 * Cursor.CHUNK_BYTES + 12_345

describe("a whole-file scan reads ahead", () => {
  it.live("finds every record and the clean end, for frames of every size against the chunk and the carry", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        for (const payloadBytes of PAYLOADS) {
          const file = framesFile(payloadBytes, FILE_BYTES)
          // Preallocated zeros after the last frame: the clean end is the frames' end.
          const padded = new Uint8Array(file.bytes.length + 65_536)
          padded.set(file.bytes)
          const path = writeFile(dir, `frames-${payloadBytes}`, padded)
          const { fileIo, stats } = wrapped()
          const seen = yield* scanWith(fileIo, path, stats)
          assert.deepStrictEqual(seen.result.tailState, "CleanEnd", `${payloadBytes} B`)
          assert.strictEqual(seen.result.cleanEnd, file.bytes.length, `${payloadBytes} B`)
          assert.strictEqual(seen.result.records, file.count, `${payloadBytes} B`)
          assert.deepStrictEqual(
            seen.lsns,
            Array.from({ length: file.count }, (_, i) => i * file.frameBytes),
          )
          assert.deepStrictEqual(seen.crcs, file.crcs, `${payloadBytes} B payloads`)
          assert.strictEqual(stats.inFlightMax, 1, `${payloadBytes} B: one read in flight at most`)
          assert.strictEqual(stats.inFlight, 0)
        }
      }),
    ),
  )

  it.live("stops where the chunk-by-chunk scan stops, for damage and a torn tail at every chunk boundary", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        for (const payloadBytes of [4096, 700_000]) {
          const file = framesFile(payloadBytes, FILE_BYTES)
          const boundaries = [Cursor.CHUNK_BYTES, 2 * Cursor.CHUNK_BYTES, 3 * Cursor.CHUNK_BYTES]
          for (const boundary of boundaries) {
            for (const delta of [-9, -1, 0, 1, 8, ReadAhead.CARRY_BYTES_MAX - 1]) {
              const at = boundary + delta
              if (at >= file.bytes.length) continue
              const damaged = file.bytes.slice()
              damaged[at] = (damaged[at] as number) ^ 0x40
              const torn = file.bytes.slice(0, at)
              for (const [kind, bytes] of [
                ["flip", damaged],
                ["torn", torn],
              ] as const) {
                const path = writeFile(dir, `${kind}-${payloadBytes}-${at}`, bytes)
                // Reads held for some turns: the cursor stops while the next chunk is still in flight.
                const { fileIo, stats } = wrapped({ holdTurns: 4 })
                const seen = yield* scanWith(fileIo, path, stats)
                const plain = yield* scanPlain(path)
                const expectedEnd = Math.floor(at / file.frameBytes) * file.frameBytes
                const label = `${kind} ${payloadBytes} B at ${at}`
                assert.deepStrictEqual(
                  { records: seen.result.records, cleanEnd: seen.result.cleanEnd, tailState: seen.result.tailState },
                  plain,
                  label,
                )
                assert.strictEqual(seen.result.cleanEnd, expectedEnd, label)
                assert.notStrictEqual(seen.result.tailState, "CleanEnd", label)
                assert.strictEqual(seen.inFlightAtReturn, 0, `${label}: the scan returned with a read in flight`)
                NodeFs.rmSync(path)
              }
            }
          }
        }
      }),
    ),
  )

  it.live("checks one chunk while the next is read, one read at a time", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = framesFile(4096, FILE_BYTES)
        const path = writeFile(dir, "overlap", file.bytes)
        const { fileIo, stats } = wrapped({ holdTurns: 3 })
        const seen = yield* scanWith(fileIo, path, stats)
        assert.strictEqual(seen.result.records, file.count)
        assert.strictEqual(stats.inFlightMax, 1)
        // One read per chunk, and every one after the first ran while the chunk before it was checked.
        const chunks = Math.ceil(file.bytes.length / Cursor.CHUNK_BYTES)
        assert.strictEqual(stats.reads, chunks)
        assert.deepStrictEqual(
          [...stats.overlapped].sort((a, b) => a - b),
          Array.from({ length: chunks - 1 }, (_, i) => i + 2),
        )
      }),
    ),
  )

  it.live("a file shrinking underneath ends the scan at a frame boundary inside what is left", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = framesFile(4096, FILE_BYTES)
        const path = writeFile(dir, "shrinks", file.bytes)
        for (const shrinkTo of [Cursor.CHUNK_BYTES + 100, 2 * Cursor.CHUNK_BYTES - 3, 2 * Cursor.CHUNK_BYTES + 4200]) {
          const { fileIo, stats } = wrapped({ shrinkTo })
          const seen = yield* scanWith(fileIo, path, stats)
          const lastWhole = Math.floor(shrinkTo / file.frameBytes) * file.frameBytes
          assert.strictEqual(seen.result.cleanEnd, lastWhole, `shrunk to ${shrinkTo}`)
          assert.strictEqual(seen.result.records, lastWhole / file.frameBytes)
        }
      }),
    ),
  )

  it.live("a read-ahead that fails fails the scan with its error", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = framesFile(4096, FILE_BYTES)
        const path = writeFile(dir, "fails", file.bytes)
        const { fileIo, stats } = wrapped({ failAt: 2 * Cursor.CHUNK_BYTES + 10 })
        const exit = yield* Effect.exit(scanWith(fileIo, path, stats))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
        assert.isTrue(error?._tag === "Some" && error.value instanceof IoError.IoError && error.value.code === "EIO")
        assert.strictEqual(stats.inFlight, 0)
      }),
    ),
  )

  it.live("a visitor that throws ends the scan only after its read-ahead has finished", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = framesFile(4096, FILE_BYTES)
        const path = writeFile(dir, "visitor-throws", file.bytes)
        for (const throwAt of [1, 1100, 2100]) {
          const { fileIo, stats } = wrapped({ holdTurns: 4 })
          let inFlightAtReturn = -1
          const exit = yield* Effect.exit(
            Effect.scoped(
              Effect.gen(function* () {
                const handle = yield* fileIo.open(path, { readOnly: true })
                let visited = 0
                const scanned = yield* Effect.exit(
                  JournalReader.scanHandle(fileIo, handle, {
                    onRecord: () => {
                      if (visited++ === throwAt) throw new Error("visitor failed")
                    },
                  }),
                )
                inFlightAtReturn = stats.inFlight
                return yield* scanned
              }),
            ),
          )
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), `throw at ${throwAt}`)
          assert.strictEqual(inFlightAtReturn, 0, `throw at ${throwAt}: a read outlived the scan`)
        }
      }),
    ),
  )

  it.live("interrupted at any yield, it returns only after its read has finished", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = framesFile(4096, 2 * Cursor.CHUNK_BYTES + 5000)
        const path = writeFile(dir, "interrupted", file.bytes)
        for (const ops of [3, 4]) {
          let completedAt = -1
          // Bounded: the scan completes within this many yields (asserted below).
          for (let yields = 0; yields < 2000; yields++) {
            const { fileIo, stats } = wrapped({ holdTurns: 2 })
            const fiber = yield* Effect.forkChild(
              Effect.provideService(scanWith(fileIo, path, stats), Scheduler.MaxOpsBeforeYield, ops),
              { startImmediately: true },
            )
            for (let i = 0; i < yields; i++) yield* Effect.yieldNow
            yield* Fiber.interrupt(fiber)
            assert.strictEqual(stats.inFlight, 0, `ops=${ops} k=${yields}: a read outlived the scan`)
            const exit = yield* Fiber.await(fiber)
            if (Exit.isSuccess(exit)) {
              assert.strictEqual(exit.value.result.records, file.count)
              completedAt = yields
              break
            }
            assert.isTrue(Exit.hasInterrupts(exit), `ops=${ops} k=${yields}: ${String(exit)}`)
          }
          assert.isAtLeast(completedAt, 1, `ops=${ops}: the scan completes within the sweep`)
        }
      }),
    ),
  )
})
