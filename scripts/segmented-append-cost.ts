/**
 * CPU cost of the segmented journal's append path against the single-file journal's, on tmpfs
 * (the flush is nearly free there, so the difference is CPU): one producer, unsynced appends of
 * 100 B, a sync at the end; the two subjects alternate, `passes` times each.
 *
 *   npx pnpm@12.4.2 exec node scripts/segmented-append-cost.ts [records=400000] [passes=3]
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { Journal, SegmentedJournal } from "@fsys/core"

const records = Number(process.argv[2] ?? 400_000)
const passes = Number(process.argv[3] ?? 3)
const payload = new Uint8Array(100).fill(7)

const timed = (append: (payload: Uint8Array) => Effect.Effect<number, unknown>, sync: Effect.Effect<number, unknown>) =>
  Effect.gen(function* () {
    const cpu = process.cpuUsage()
    const started = performance.now()
    for (let i = 0; i < records; i++) yield* append(payload)
    yield* sync
    const used = process.cpuUsage(cpu)
    return {
      wallMicros: ((performance.now() - started) * 1000) / records,
      cpuMicros: (used.user + used.system) / records,
    }
  })

const run = (subject: "single-file" | "segmented", root: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      if (subject === "single-file") {
        const journal = yield* Journal.open(NodePath.join(root, "single.journal"), { mode: "buffered" })
        return yield* timed(journal.append, journal.sync)
      }
      const journal = yield* SegmentedJournal.open(NodePath.join(root, "segmented"), { mode: "buffered" })
      return yield* timed(journal.append, journal.sync)
    }),
  )

for (let pass = 0; pass < passes; pass++) {
  for (const subject of pass % 2 === 0
    ? (["single-file", "segmented"] as const)
    : (["segmented", "single-file"] as const)) {
    const root = NodeFs.mkdtempSync("/dev/shm/fsys-append-cost-")
    const result = await Effect.runPromise(run(subject, root))
    NodeFs.rmSync(root, { recursive: true, force: true })
    console.log(`${subject}: ${result.wallMicros.toFixed(2)} µs/append wall, ${result.cpuMicros.toFixed(2)} µs CPU`)
  }
}
