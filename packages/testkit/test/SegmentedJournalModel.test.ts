/**
 * A model-based property test of SegmentedJournal over the simulated disk (no crashes): random
 * sequences of append, appendBatch, sync, read, truncateFront, truncateBack, checkpoint and
 * reopen, each checked against a plain array of records. Every generated sequence must keep:
 * contiguous segments, `nextLsn` = the model's end, `firstLsn` ≤ every LSN truncateFront kept,
 * every kept record readable by LSN, and `records()` = the model from `firstLsn` on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { FileIo, Frame, SegmentedJournal } from "@fsys/core"
import { SimulatedDisk } from "@fsys/testkit"
import * as Prng from "../src/internal/prng.ts"

const SEQUENCES = 25
const OPERATIONS = 80

interface ModelRecord {
  readonly lsn: number
  readonly payload: Uint8Array
}

const payload = (rng: Prng.Prng): Uint8Array => {
  const bytes = new Uint8Array(rng.int(900))
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256)
  return bytes
}

const runSequence = (seed: number) =>
  Effect.gen(function* () {
    const rng = Prng.make(seed)
    const options: SegmentedJournal.Options = {
      mode: rng.chance(0.5) ? "direct" : "buffered",
      logBufferBytes: 4096,
      sectorBytes: 512,
      segmentBytes: 4096 * rng.range(1, 3),
      preallocateBytes: 0,
    }
    const model: Array<ModelRecord> = []
    let keep = 0
    let checkpointLsn = 0
    const endOf = () => {
      const last = model[model.length - 1]
      return last === undefined ? 0 : last.lsn + Frame.frameBytes(last.payload.length)
    }
    let journal = yield* SegmentedJournal.open("/seg", options)
    for (let step = 0; step < OPERATIONS; step++) {
      const first = yield* journal.firstLsn
      const kept = model.filter((record) => record.lsn >= first)
      const draw = rng.float()
      const context = `seed ${seed} step ${step}`
      if (draw < 0.4) {
        const bytes = payload(rng)
        const lsn = endOf()
        assert.strictEqual(yield* journal.append(bytes), lsn + Frame.frameBytes(bytes.length), context)
        model.push({ lsn, payload: bytes })
      } else if (draw < 0.5) {
        const batch = Array.from({ length: rng.range(1, 6) }, () => payload(rng))
        for (const bytes of batch) model.push({ lsn: endOf(), payload: bytes })
        assert.strictEqual(yield* journal.appendBatch(batch), endOf(), context)
      } else if (draw < 0.6) {
        assert.strictEqual(yield* journal.sync, endOf(), context)
      } else if (draw < 0.7 && kept.length > 0) {
        const record = rng.pick(kept)
        assert.deepStrictEqual(yield* journal.read(record.lsn), record.payload, context)
      } else if (draw < 0.78) {
        const lsn = rng.range(first, endOf())
        keep = Math.max(keep, lsn)
        yield* journal.truncateFront(lsn)
      } else if (draw < 0.86) {
        const candidates = kept.filter((record) => record.lsn >= checkpointLsn)
        if (candidates.length > 0) {
          const cut = rng.pick(candidates).lsn
          yield* journal.truncateBack(cut)
          model.splice(model.findIndex((record) => record.lsn === cut))
        }
      } else if (draw < 0.93) {
        // A checkpoint names a record boundary (a start, or the end).
        const boundaries = [...kept.map((record) => record.lsn), endOf()].filter((lsn) => lsn >= checkpointLsn)
        const lsn = rng.pick(boundaries)
        yield* journal.checkpoint(lsn, new Uint8Array([step & 0xff]))
        checkpointLsn = lsn
      } else {
        yield* journal.close
        journal = yield* SegmentedJournal.open("/seg", options)
        const saved = yield* journal.lastCheckpoint
        assert.strictEqual(saved?.lsn ?? 0, checkpointLsn, context)
      }
      assert.strictEqual(yield* journal.nextLsn, endOf(), `${context}: nextLsn`)
      const firstNow = yield* journal.firstLsn
      assert.isAtMost(firstNow, Math.min(keep, endOf()), `${context}: firstLsn`)
      const segments = yield* journal.segments
      assert.strictEqual(segments[0]!.baseLsn, firstNow, context)
      for (let i = 1; i < segments.length; i++) {
        assert.strictEqual(segments[i]!.baseLsn, segments[i - 1]!.endLsn, `${context}: contiguous`)
      }
      assert.isTrue(
        firstNow === endOf() || model.some((record) => record.lsn === firstNow),
        `${context}: first is a record`,
      )
    }
    yield* journal.sync
    const first = yield* journal.firstLsn
    const records = yield* Stream.runCollect(journal.records())
    const expected = model.filter((record) => record.lsn >= first)
    assert.strictEqual(records.length, expected.length, `seed ${seed}: records() count`)
    for (const [i, record] of records.entries()) {
      assert.strictEqual(record.lsn, expected[i]!.lsn)
      assert.deepStrictEqual(record.payload, expected[i]!.payload)
    }
    yield* journal.close
  }).pipe(
    Effect.scoped,
    Effect.provideServiceEffect(
      FileIo.FileIo,
      Effect.map(SimulatedDisk.make({ seed }), (disk) => disk.fileIo),
    ),
  )

describe("SegmentedJournal: model-based property", () => {
  it.live(
    `${SEQUENCES} random operation sequences agree with the model`,
    () =>
      Effect.gen(function* () {
        for (let seed = 1; seed <= SEQUENCES; seed++) yield* runSequence(seed)
      }),
    120_000,
  )
})
