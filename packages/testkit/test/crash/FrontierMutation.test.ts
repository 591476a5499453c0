/**
 * The durable frontier, checked against power loss — and the check shown to catch a journal that
 * publishes its frontier too early.
 *
 * Many producers each append, do a little other work, and await their own durability, while every
 * fdatasync is slowed (it yields to other fibers first), so syncs keep arriving while a round that
 * already covers them is in flight; the power is
 * cut at a seeded moment, dropping every unsynced write. Every record whose `syncThrough`
 * returned must be in the recovered file, intact, at its LSN.
 *
 * With the `publishFrontierEarly` mutation (test-only, provided through `Mutations` from
 * `@fsys/core/testing`) the group commit publishes each round's target as durable when the round
 * starts, before its write and fdatasync (fsys bug FS-J3's effect): syncs arriving meanwhile return early, and the power cut loses what they acknowledged.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { FileIo, Frame, Journal } from "@fsys/core"
import { Mutations, noMutations } from "@fsys/core/testing"
import { SimulatedDisk } from "@fsys/testkit"

const SEEDS = 12
const PRODUCERS = 16
const PATH = "/data/frontier.log"

const payloadOf = (producer: number, sequence: number): Uint8Array => {
  const bytes = new Uint8Array(40).fill(producer + 1)
  new DataView(bytes.buffer).setUint32(0, sequence)
  return bytes
}

/** Runs one seed; returns how many acknowledged-durable records the power cut lost or damaged. */
const lostAcknowledged = (seed: number, mode: "buffered" | "direct") =>
  Effect.gen(function* () {
    const disk = yield* SimulatedDisk.make({ seed })
    // Each fdatasync yields to other fibers first: rounds stay in flight while syncs arrive.
    yield* disk.inject({ op: "datasync", fault: SimulatedDisk.yieldFirst(8) })
    const acknowledged = new Map<number, Uint8Array>()
    yield* Effect.scoped(
      Effect.gen(function* () {
        const journal = yield* Journal.open(PATH, { mode, preallocateBytes: 0 })
        const producers = yield* Effect.forkChild(
          Effect.forEach(
            Array.from({ length: PRODUCERS }, (_, p) => p),
            (producer) =>
              Effect.gen(function* () {
                for (let sequence = 0; ; sequence++) {
                  const payload = payloadOf(producer, sequence)
                  const end = yield* journal.append(payload)
                  // Other work between append and sync: a round may start in between.
                  for (let turn = 0; turn < (producer + sequence) % 4; turn++) yield* Effect.yieldNow
                  yield* journal.syncThrough(end)
                  acknowledged.set(end - Frame.frameBytes(payload.byteLength), payload)
                }
              }),
            { concurrency: "unbounded", discard: true },
          ),
        )
        // The power cut, at a moment chosen by the seed.
        for (let turn = 0; turn < 200 + ((seed * 7919) % 400); turn++) yield* Effect.yieldNow
        yield* disk.crash({ mode: "dropUnsynced" })
        yield* Fiber.interrupt(producers)
      }),
    ).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo), Effect.ignore)
    assert.isAbove(acknowledged.size, 0, "the workload acknowledged nothing")
    const image = Option.getOrElse(yield* disk.readFile(PATH), () => new Uint8Array(0))
    let lost = 0
    for (const [lsn, payload] of acknowledged) {
      const decoded = Frame.decode(image, lsn)
      if (decoded._tag !== "Ok" || !decoded.payload.every((byte, i) => byte === payload[i])) lost++
    }
    return lost
  })

describe.each(["buffered", "direct"] as const)("the durable frontier of a %s journal under power loss", (mode) => {
  it.live("covers only synced bytes: nothing acknowledged is lost", () =>
    Effect.gen(function* () {
      for (let seed = 1; seed <= SEEDS; seed++)
        assert.strictEqual(yield* lostAcknowledged(seed, mode), 0, `seed ${seed}`)
    }),
  )

  it.live("a frontier published before the sync is caught", () =>
    Effect.gen(function* () {
      let caught = 0
      yield* Effect.gen(function* () {
        for (let seed = 1; seed <= SEEDS; seed++) if ((yield* lostAcknowledged(seed, mode)) > 0) caught++
      }).pipe(Effect.provideService(Mutations, { ...noMutations, publishFrontierEarly: true }))
      assert.isAtLeast(caught, SEEDS - 2, `caught in only ${caught} of ${SEEDS} seeds`)
    }),
  )
})
