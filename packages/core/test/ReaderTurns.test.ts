/**
 * A scan gives the event loop back every `Cursor.TURN_BYTES` (issue 12, loop p99): recovery and
 * `JournalReader` used to check a whole 4 MiB window, and a record of any size, in one
 * synchronous call. Measured without clocks: a `setImmediate` chain counts loop turns, and each
 * visited record is charged to the turn it was visited in, so "bytes checked in one turn" is
 * exact on any machine. The cursor tests drive `step` directly for zero runs and large frames,
 * which no visitor sees.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Frame, JournalReader, NodeFileIo } from "@fsys/core"
import * as Cursor from "../src/internal/reader/cursor.ts"
import { BATCH_BYTES_MAX } from "../src/internal/reader/records.ts"

const RECORD_BYTES = 4096
const FRAME_BYTES = Frame.frameBytes(RECORD_BYTES)

const tempFile = (bytes: Uint8Array) =>
  Effect.gen(function* () {
    const directory = yield* Effect.acquireRelease(
      Effect.promise(() => NodeFs.promises.mkdtemp(NodePath.join(NodeOs.tmpdir(), "fsys-turns-"))),
      (path) => Effect.promise(() => NodeFs.promises.rm(path, { recursive: true, force: true })),
    )
    const path = NodePath.join(directory, "journal")
    NodeFs.writeFileSync(path, bytes)
    return path
  })

/** `count` frames of RECORD_BYTES, each payload starting with its index. */
const manyFrames = (count: number): Uint8Array => {
  const out = new Uint8Array(count * FRAME_BYTES)
  const payload = new Uint8Array(RECORD_BYTES).fill(9)
  for (let i = 0; i < count; i++) {
    payload[0] = (i % 255) + 1
    Frame.encodeInto(out, i * FRAME_BYTES, payload)
  }
  return out
}

/** Counts event-loop turns while `body` runs; `charge(bytes)` adds bytes to the current turn. */
const turnsWhile = <A, E, R>(body: (charge: (bytes: number) => void) => Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    let turn = 0
    let running = true
    const perTurn = new Map<number, number>()
    const tick = () => {
      turn++
      if (running) setImmediate(tick)
    }
    setImmediate(tick)
    const charge = (bytes: number) => perTurn.set(turn, (perTurn.get(turn) ?? 0) + bytes)
    const value = yield* Effect.ensuring(
      body(charge),
      Effect.sync(() => {
        running = false
      }),
    )
    return { value, worstTurnBytes: Math.max(0, ...perTurn.values()), turnsCharged: perTurn.size }
  })

describe("a scan yields to the event loop", () => {
  it.live("JournalReader.scan checks at most TURN_BYTES (plus one frame) per turn", () =>
    Effect.gen(function* () {
      // 3000 frames ≈ 11.8 MiB: three 4 MiB windows, each ≈ 8 turns' worth.
      const path = yield* tempFile(manyFrames(3000))
      const { value, worstTurnBytes, turnsCharged } = yield* turnsWhile((charge) =>
        JournalReader.scan(path, { onRecord: (_lsn, bytes) => charge(bytes.length + Frame.OVERHEAD_BYTES) }),
      )
      assert.deepStrictEqual([value.records, value.tailState], [3000, "CleanEnd"])
      // Before the budget, a whole window (≈ 4 MiB) was checked in one turn.
      assert.isAtMost(worstTurnBytes, Cursor.TURN_BYTES + FRAME_BYTES)
      assert.isAtLeast(turnsCharged, Math.floor((3000 * FRAME_BYTES) / (Cursor.TURN_BYTES + FRAME_BYTES)))
    }).pipe(Effect.scoped, Effect.provide(NodeFileIo.layer)),
  )

  it.live("JournalReader.records hands over at most TURN_BYTES plus one batch per turn", () =>
    Effect.gen(function* () {
      const path = yield* tempFile(manyFrames(3000))
      const { value, worstTurnBytes } = yield* turnsWhile((charge) =>
        Stream.runFold(
          JournalReader.records(path),
          () => 0,
          (count, record) => {
            charge(record.payload.length + Frame.OVERHEAD_BYTES)
            return count + 1
          },
        ),
      )
      assert.strictEqual(value, 3000)
      assert.isAtMost(worstTurnBytes, Cursor.TURN_BYTES + BATCH_BYTES_MAX + FRAME_BYTES)
    }).pipe(Effect.scoped, Effect.provide(NodeFileIo.layer)),
  )
})

/** Steps `cursor` over its (whole-file) window to the end; returns the results seen. */
const stepAll = (cursor: Cursor.Cursor): Array<number> => {
  const results: Array<number> = []
  // Bounded: a 64 MiB test window is 128 turns at most.
  for (let i = 0; i < 10_000; i++) {
    const result = Cursor.step(cursor, false, undefined)
    results.push(result)
    if (result === Cursor.STOPPED || result === Cursor.NEED_BYTES) return results
  }
  throw new Error("the cursor did not stop")
}

const windowCursor = (bytes: Uint8Array): Cursor.Cursor => {
  const cursor = Cursor.make(bytes.length, 0)
  cursor.window = bytes
  cursor.windowLength = bytes.length
  return cursor
}

const spent = (results: ReadonlyArray<number>) => results.filter((result) => result === Cursor.TURN_SPENT).length

describe("Cursor.step budget", () => {
  it("a zero run after the last frame is measured across turns", () => {
    const zerosBytes = 4 * 1024 * 1024
    const bytes = new Uint8Array(FRAME_BYTES + zerosBytes)
    bytes.set(manyFrames(1))
    const cursor = windowCursor(bytes)
    const results = stepAll(cursor)
    assert.deepStrictEqual(
      [results.at(-1), cursor.position, cursor.tailState],
      [Cursor.STOPPED, FRAME_BYTES, "CleanEnd"],
    )
    assert.isAtLeast(spent(results), Math.floor(zerosBytes / Cursor.TURN_BYTES) - 1)
  })

  it("a frame larger than TURN_BYTES is checksummed across turns, and damage anywhere in it is found", () => {
    const payloadBytes = 4 * Cursor.TURN_BYTES + 123
    const payload = Uint8Array.from({ length: payloadBytes }, (_, i) => (i % 251) + 1)
    const good = new Uint8Array([...Frame.encode(payload), ...Frame.encode(new Uint8Array([7]))])
    const cursor = windowCursor(good)
    const results = stepAll(cursor)
    assert.deepStrictEqual([cursor.records, cursor.position, cursor.tailState], [2, good.length, "CleanEnd"])
    assert.isAtLeast(spent(results), 4)
    // The first byte hashed, one in a middle slice, the last payload byte, the stored CRC.
    const frameEnd = Frame.frameBytes(payloadBytes)
    for (const at of [0, 8 + 2 * Cursor.TURN_BYTES + 5, frameEnd - 5, frameEnd - 1]) {
      const bad = good.slice()
      bad[at] = bad[at]! ^ 0x10
      const damaged = windowCursor(bad)
      stepAll(damaged)
      const expected = at === 0 ? "BadMagic" : "ChecksumMismatch"
      assert.deepStrictEqual([damaged.records, damaged.position, damaged.tailState], [0, 0, expected], `byte ${at}`)
    }
  })

  it("frames up to TURN_BYTES keep the single-call check; the budget never splits them", () => {
    const bytes = manyFrames(300)
    const cursor = windowCursor(bytes)
    let frames = 0
    let worst = 0
    for (let i = 0; i < 10_000; i++) {
      const before = cursor.records
      const result = Cursor.step(cursor, false, undefined)
      frames += cursor.records - before
      worst = Math.max(worst, (cursor.records - before) * FRAME_BYTES)
      if (result === Cursor.STOPPED) break
    }
    assert.strictEqual(frames, 300)
    assert.isAtMost(worst, Cursor.TURN_BYTES + FRAME_BYTES)
  })
})
