/**
 * KillNineHarness itself: the log file (not the pipe) is the evidence and a torn last line is
 * dropped; kills by time and by trigger; a child that never gets ready or exits by itself; an
 * interrupted run kills its child.
 */
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { KillNineHarness } from "@fsys/testkit"

const CHILD = fileURLToPath(new URL("./fixtures/killNineChild.ts", import.meta.url))
const TIMEOUT_MILLIS = 60_000

const run = (behaviour: string, options: Partial<KillNineHarness.RunOptions> = {}) =>
  KillNineHarness.run({ script: CHILD, args: [behaviour], ...options })

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("KillNineHarness.run", () => {
  it.live(
    "SIGKILL mid-run: every complete logged line is in the outcome, the torn one is not",
    () =>
      Effect.gen(function* () {
        let waited = false
        const outcome = yield* run("lines", {
          killWhen: (line) => (waited ||= line === "W waiting"),
        })
        assert.isTrue(outcome.ready)
        assert.isTrue(outcome.killed)
        assert.strictEqual(outcome.signal, "SIGKILL")
        assert.strictEqual(outcome.lines[0], "R ready")
        assert.strictEqual(outcome.lines.filter((line) => line.startsWith("L ")).length, 1000)
        // The torn write joined the next line: that line is complete, the torn text alone never is.
        assert.isFalse(outcome.lines.includes("torn-without-newline"))
        assert.strictEqual(outcome.lines[outcome.lines.length - 1], "torn-without-newlineW waiting")
      }),
    TIMEOUT_MILLIS,
  )

  it.live(
    "killAfterMillis and killWhen kill a running child; a child that exits by itself is not killed",
    () =>
      Effect.gen(function* () {
        const [timed, triggered, exited] = yield* Effect.all(
          [
            run("trigger", { killAfterMillis: 100 }),
            run("trigger", { killWhen: (line) => line === "tick 3" }),
            run("exit"),
          ],
          { concurrency: "unbounded" },
        )
        assert.isTrue(timed.killed && timed.signal === "SIGKILL" && timed.ranMillis >= 100)
        assert.isTrue(triggered.killed)
        assert.include(triggered.lines, "tick 3")
        assert.deepStrictEqual([exited.killed, exited.code, exited.lines], [false, 3, ["R ready", "L 0"]])
      }),
    TIMEOUT_MILLIS,
  )

  it.live(
    "a child that never prints its ready line fails NotReady (and is killed); interrupting a run kills the child",
    () =>
      Effect.gen(function* () {
        const notReady = yield* Effect.flip(run("silent", { readyTimeoutMillis: 300 }))
        assert.strictEqual(notReady.reason, "NotReady")
        let ticking = false
        const fiber = yield* Effect.forkChild(
          run("trigger", { onLine: (line) => void (ticking ||= line.startsWith("tick")) }),
        )
        // Wait for the child to run, then find it through /proc (its command line names the fixture).
        for (let step = 0; step < 400 && !ticking; step++) yield* Effect.sleep(10)
        assert.isTrue(ticking, "the child started")
        const children = yield* Effect.promise(() => childPidsRunning(CHILD))
        assert.isAbove(children.length, 0)
        yield* Fiber.interrupt(fiber)
        for (let step = 0; step < 200 && children.some(isAlive); step++) yield* Effect.sleep(10)
        assert.isFalse(children.some(isAlive), "the interrupted run's child is gone")
      }),
    TIMEOUT_MILLIS,
  )
})

/** Pids of this process's children whose command line mentions `script`. */
const childPidsRunning = async (script: string): Promise<ReadonlyArray<number>> => {
  const { readdir, readFile } = await import("node:fs/promises")
  const pids: Array<number> = []
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const status = await readFile(`/proc/${entry}/status`, "utf8")
      const parent = /PPid:\s+(\d+)/.exec(status)?.[1]
      const command = await readFile(`/proc/${entry}/cmdline`, "utf8")
      if (Number(parent) === process.pid && command.includes(script)) pids.push(Number(entry))
    } catch {
      // The process ended meanwhile.
    }
  }
  return pids
}
