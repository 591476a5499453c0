import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { Journal } from "@fsys/core"

const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "perf-"))
const mode = (process.argv[2] ?? "direct") as "direct" | "buffered"
const payload = new Uint8Array(100).fill(7)
const run = Effect.scoped(
  Effect.gen(function* () {
    const j = yield* Journal.open(NodePath.join(dir, "a.log"), { mode })
    const info = yield* j.info
    console.log(info.reason)
    let t = performance.now()
    const N = 1_000_000
    for (let i = 0; i < N; i++) yield* j.append(payload)
    yield* j.sync
    console.log("unsynced single appends/s", Math.round(N / ((performance.now() - t) / 1000)))
    const batch = Array.from({ length: 1000 }, () => payload)
    t = performance.now()
    for (let i = 0; i < 3000; i++) yield* j.appendBatch(batch)
    yield* j.sync
    console.log("appendBatch records/s", Math.round(3_000_000 / ((performance.now() - t) / 1000)))
    t = performance.now()
    for (let i = 0; i < 3000; i++) {
      const e = yield* j.append(payload)
      yield* j.syncThrough(e)
    }
    console.log("1 producer durable/s", Math.round(3000 / ((performance.now() - t) / 1000)))
    const s0 = yield* j.stats
    t = performance.now()
    yield* Effect.forEach(
      Array.from({ length: 64 }, (_, p) => p),
      () =>
        Effect.gen(function* () {
          for (let i = 0; i < 2000; i++) {
            const e = yield* j.append(payload)
            yield* j.syncThrough(e)
          }
        }),
      { concurrency: "unbounded", discard: true },
    )
    const s1 = yield* j.stats
    console.log(
      "64 producers durable/s",
      Math.round(128000 / ((performance.now() - t) / 1000)),
      "fdatasyncs",
      s1.fdatasyncs - s0.fdatasyncs,
    )
    t = performance.now()
    for (let i = 0; i < 2000; i++) {
      yield* j.appendBatch(batch.slice(0, 100))
      yield* j.sync
    }
    console.log("durable batches of 100 records/s", Math.round(200000 / ((performance.now() - t) / 1000)))
  }),
)
await Effect.runPromise(run)
NodeFs.rmSync(dir, { recursive: true })
