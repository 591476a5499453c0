/**
 * 512 records of 1 MiB, unsynced, then one sync (the bench's unsynced-1MiB workload) in one
 * process, with journal options from the command line, so slot sizes and the oversize path can be
 * compared interleaved (issue 12 item 6). Prints MB/s and the longest event-loop gap (a 1 ms timer).
 *
 * Run: `npx pnpm@12.4.2 exec node scripts/large-records.ts [direct|buffered] [io_uring|pwrite]
 * ['{"logBufferBytes":16777216}']`.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { Journal } from "@fsys/core"
const mode = (process.argv[2] ?? "direct") as "direct" | "buffered"
const backend = (process.argv[3] ?? "io_uring") as "io_uring" | "pwrite"
const extra = process.argv[4] ? JSON.parse(process.argv[4]) : {}
const dir = NodeFs.mkdtempSync(NodePath.join(process.env.PROBE_DIR ?? NodeOs.tmpdir(), "fsys-large-"))
const payload = new Uint8Array(1024 * 1024).fill(7)
let maxGap = 0
let last = performance.now()
const timer = setInterval(() => {
  const now = performance.now()
  maxGap = Math.max(maxGap, now - last)
  last = now
}, 1)
await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const j = yield* Journal.open(NodePath.join(dir, "a.log"), { mode, backend, ...extra })
      const t0 = performance.now()
      for (let i = 0; i < 512; i++) yield* j.append(payload)
      yield* j.sync
      const ms = performance.now() - t0
      console.log(
        JSON.stringify({
          mode,
          backend,
          ...extra,
          MBps: Math.round((512 * 1.048576) / (ms / 1000)),
          maxLoopGapMs: +maxGap.toFixed(1),
        }),
      )
    }),
  ),
)
clearInterval(timer)
NodeFs.rmSync(dir, { recursive: true })
