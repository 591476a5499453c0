/**
 * The off-thread dispatcher (`internal/offThread.ts`) and `Libc`'s transient-error handling:
 * bounded calls in flight with the rest queued, koffi refusals retried, EINTR retried.
 */
import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Libc } from "@fsys/native"
import * as OffThread from "../src/internal/offThread.ts"
import { openFd, tempDir } from "./helpers.ts"

const tick = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5)))

describe("OffThread dispatcher", () => {
  it.live("at most CALLS_IN_FLIGHT_MAX started; the rest start in order as calls finish", () =>
    Effect.sync(() => {
      const started: Array<number> = []
      const finishers: Array<() => void> = []
      const total = OffThread.CALLS_IN_FLIGHT_MAX + 50
      const tasks = Array.from({ length: total }, (_, i) =>
        OffThread.makeTask(
          (finished) => {
            started.push(i)
            finishers.push(finished)
          },
          () => assert.fail("not refused"),
        ),
      )
      for (const task of tasks) OffThread.submit(task)
      assert.strictEqual(started.length, OffThread.CALLS_IN_FLIGHT_MAX)
      assert.isTrue(OffThread.cancel(tasks[total - 1]!), "a queued task can be dropped")
      assert.isFalse(OffThread.cancel(tasks[0]!), "a started one cannot")
      // Bounded: each finish starts at most one more.
      for (let i = 0; i < total && finishers.length > 0; i++) finishers.shift()!()
      assert.deepStrictEqual(
        started,
        Array.from({ length: total - 1 }, (_, i) => i),
        "FIFO, without the dropped one",
      )
      assert.strictEqual(OffThread.stats.inFlight, 0)
      assert.strictEqual(OffThread.stats.queued, 0)
    }),
  )

  it.live("a call koffi refuses (its queue full) is retried later, not failed", () =>
    Effect.gen(function* () {
      let refusals = 3
      let ran = false
      const task = OffThread.makeTask(
        (finished) => {
          if (refusals-- > 0) throw new Error("Too many asynchronous calls are running")
          ran = true
          finished()
        },
        () => assert.fail("a transient refusal must not fail the call"),
      )
      OffThread.submit(task)
      for (let i = 0; i < 100 && !ran; i++) yield* tick
      assert.isTrue(ran)
      assert.strictEqual(task.refusals, 3)
    }),
  )
})

describe("Libc off-thread calls", () => {
  it.live("600 concurrent fdatasyncs (koffi refuses past ≈ 256): all succeed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "many"), Libc.O_RDWR | Libc.O_CREAT)
      const results = yield* Effect.forEach(Array.from({ length: 600 }), () => Effect.exit(Libc.fdatasync(fd)), {
        concurrency: "unbounded",
      })
      const failed = results.filter((exit) => exit._tag === "Failure")
      assert.strictEqual(failed.length, 0, String(failed[0]))
      assert.isAtMost(OffThread.stats.inFlightHigh, Libc.OFF_THREAD_CALLS_MAX)
    }),
  )

  it.live("an interrupted caller's queued call is dropped, and later calls still run", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "dropped"), Libc.O_RDWR | Libc.O_CREAT)
      const fibers = yield* Effect.forEach(Array.from({ length: 400 }), () => Effect.forkChild(Libc.fdatasync(fd)))
      yield* Fiber.interruptAll(fibers)
      for (let i = 0; i < 200 && (OffThread.stats.inFlight > 0 || OffThread.stats.queued > 0); i++) yield* tick
      assert.strictEqual(OffThread.stats.queued, 0)
      yield* Libc.fdatasync(fd)
    }),
  )

  const strace = (() => {
    try {
      ChildProcess.execFileSync("strace", ["-f", "-qq", "-e", "trace=none", "true"], { stdio: "ignore" })
      return true
    } catch {
      return false
    }
  })()

  it.live.skipIf(!strace)("EINTR from pwrite, fdatasync and pread is retried (strace injects it)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fixture = NodePath.join(import.meta.dirname, "fixtures", "interruptedCalls.ts")
      // On this file only (`-P`; the loader reads libc with pread64 too), the first three calls
      // of each kind fail EINTR without doing anything (strace's `when=1..3`).
      const file = NodePath.join(dir, "interrupted")
      NodeFs.writeFileSync(file, "")
      const inject = ["pwrite64", "fdatasync", "pread64"].flatMap((call) => [
        "-e",
        `inject=${call}:error=EINTR:when=1..3`,
      ])
      const output = ChildProcess.execFileSync(
        "strace",
        ["-f", "-qq", "-o", "/dev/null", "-P", file, ...inject, process.execPath, fixture, dir],
        { encoding: "utf8", timeout: 60_000 },
      )
      const result = JSON.parse(output.trim().split("\n").at(-1)!)
      assert.deepStrictEqual(result, {
        ok: true,
        written: 21,
        read: 21,
        text: "written through EINTR",
        onDisk: "written through EINTR",
      })
    }),
  )
})
