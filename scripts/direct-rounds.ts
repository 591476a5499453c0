/**
 * One durable group-commit workload for a few seconds, printing records/s, rounds and records
 * per round (issue 12 item 5): `producers` Effect fibers each append a `recordBytes` record and
 * await its durability, like the bench's durable-64p workloads, in one process.
 *
 * Run: `npx pnpm@12.4.2 exec node scripts/direct-rounds.ts [direct|buffered] [io_uring|pwrite]
 * [seconds=3] [producers=64] [recordBytes=4096] ['{"preallocateBytes":0}']`. `PREZERO_MIB=400`
 * writes and syncs that many MiB of zeros into the file before the journal opens (the journal
 * then never preallocates during the run: the ceiling of any preallocation strategy);
 * `PROBE_DIR` picks the file system.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { Journal } from "@fsys/core"

const mode = (process.argv[2] ?? "direct") as "direct" | "buffered"
const backend = (process.argv[3] ?? "io_uring") as "io_uring" | "pwrite"
const seconds = Number(process.argv[4] ?? 3)
const producers = Number(process.argv[5] ?? 64)
const recordBytes = Number(process.argv[6] ?? 4096)
const extra = process.argv[7] ? JSON.parse(process.argv[7]) : {}
const dir = NodeFs.mkdtempSync(NodePath.join(process.env.PROBE_DIR ?? NodeOs.tmpdir(), "fsys-rounds-"))
const payload = new Uint8Array(recordBytes).fill(7)
const prezeroMiB = Number(process.env.PREZERO_MIB ?? 0)
if (prezeroMiB > 0) {
  const fd = NodeFs.openSync(NodePath.join(dir, "a.log"), "w")
  const zeros = new Uint8Array(1024 * 1024)
  for (let i = 0; i < prezeroMiB; i++) NodeFs.writeSync(fd, zeros, 0, zeros.length, i * zeros.length)
  NodeFs.fdatasyncSync(fd)
  NodeFs.closeSync(fd)
}
const run = Effect.scoped(
  Effect.gen(function* () {
    const j = yield* Journal.open(NodePath.join(dir, "a.log"), { mode, backend, ...extra })
    const info = yield* j.info
    console.log(info.mode, info.backend, info.directActive, info.reason)
    const s0 = yield* j.stats
    const t0 = performance.now()
    const deadline = t0 + seconds * 1000
    let records = 0
    yield* Effect.forEach(
      Array.from({ length: producers }),
      () =>
        Effect.gen(function* () {
          while (performance.now() < deadline) {
            yield* j.syncThrough(yield* j.append(payload))
            records++
          }
        }),
      { concurrency: "unbounded", discard: true },
    )
    const ms = performance.now() - t0
    const s1 = yield* j.stats
    const rounds = s1.fdatasyncs - s0.fdatasyncs
    console.log(
      JSON.stringify({
        mode,
        backend,
        recPerS: Math.round(records / (ms / 1000)),
        rounds,
        perRound: +(records / rounds).toFixed(1),
        msPerRound: +(ms / rounds).toFixed(3),
      }),
    )
  }),
)
await Effect.runPromise(run)
NodeFs.rmSync(dir, { recursive: true })
