/**
 * What one `io_uring_enter` costs the event loop for a large buffered READ or WRITE, inline (the
 * kernel tries it in the enter, so the page-cache copy runs on the calling thread) and with
 * `offload: true` (IOSQE_ASYNC: the kernel's worker thread does it). Times only the enter: each op
 * is prepared with `IoUringCallback`, then `submitNow` is timed around (it enters synchronously),
 * then the CQE is awaited. The journal offloads buffered IO of `OFFLOAD_MIN_BYTES` or more
 * (`packages/core/src/internal/ioUring/ops.ts`); this is the measurement behind that.
 *
 * Run: `node_modules/.bin/node scripts/enter-cost.ts [MiB per op=4] [ops=32] [rounds=3]`
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { IoError, IoUring, IoUringCallback } from "@fsys/native"

const opBytes = Number(process.argv[2] ?? 4) * 1024 * 1024
const ops = Number(process.argv[3] ?? 32)
const rounds = Number(process.argv[4] ?? 3)
const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-enter-"))
const path = NodePath.join(directory, "data")

/** Enter times (ms) of `ops` writes, then `ops` reads, of `opBytes` each at consecutive offsets. */
const timeEnters = (ring: IoUring.Ring, fd: number, offload: boolean) =>
  Effect.gen(function* () {
    const bytes = new Uint8Array(opBytes).fill(offload ? 1 : 2)
    const writes: Array<number> = []
    const reads: Array<number> = []
    for (const [kind, into] of [
      ["write", writes],
      ["read", reads],
    ] as const) {
      for (let i = 0; i < ops; i++) {
        yield* Effect.callback<void, IoError.IoError>((resume) => {
          const done = (outcome: number | IoError.IoError) =>
            resume(outcome instanceof IoError.IoError ? Effect.fail(outcome) : Effect.void)
          if (kind === "write") IoUringCallback.startWrite(ring, fd, bytes, i * opBytes, { offload }, done)
          else IoUringCallback.startRead(ring, fd, bytes, i * opBytes, { offload }, done)
          const startMillis = performance.now()
          IoUringCallback.submitNow(ring)
          into.push(performance.now() - startMillis)
        })
      }
    }
    return { writes, reads }
  })

const summary = (millis: ReadonlyArray<number>): string => {
  const sorted = [...millis].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2)
  return `median ${at(0.5)} p90 ${at(0.9)} max ${at(1)} ms`
}

const main = Effect.scoped(
  Effect.gen(function* () {
    const ring = yield* IoUring.make({ entries: 8 })
    const fd = NodeFs.openSync(path, "w+")
    yield* Effect.addFinalizer(() => Effect.sync(() => NodeFs.closeSync(fd)))
    const results = {
      inline: { writes: [] as Array<number>, reads: [] as Array<number> },
      offload: { writes: [] as Array<number>, reads: [] as Array<number> },
    }
    for (let round = 0; round < rounds; round++) {
      for (const offload of round % 2 === 0 ? [false, true] : [true, false]) {
        const timed = yield* timeEnters(ring, fd, offload)
        const into = offload ? results.offload : results.inline
        into.writes.push(...timed.writes)
        into.reads.push(...timed.reads)
      }
    }
    console.log(
      `${ops} buffered ops of ${opBytes / 1024 / 1024} MiB per kind, ${rounds} rounds, time inside io_uring_enter:`,
    )
    for (const [name, timed] of Object.entries(results)) {
      console.log(`  ${name.padEnd(8)} write: ${summary(timed.writes)}; read: ${summary(timed.reads)}`)
    }
  }),
)

await Effect.runPromise(
  Effect.ensuring(
    main,
    Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true })),
  ),
)
