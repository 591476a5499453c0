/**
 * Issue 10 items 2 and 10: every journal call and every FileIo operation, interrupted at every
 * scheduler yield under `MaxOpsBeforeYield` 3…16, leaves a journal (and a file) that still works
 * and holds every acknowledged record. On the simulated disk (deterministic, every ops value), and
 * on the real Node and io_uring layers in a temp dir, Direct and buffered (fewer ops values, to
 * stay within the CI budget; `FSYS_INTERRUPT_FULL=1` runs them all).
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type FileIo, IoUringFileIo, NodeFileIo } from "@fsys/core"
import { Interruption, SimulatedDisk } from "@fsys/testkit"

const full = process.env.FSYS_INTERRUPT_FULL === "1"
const verbose = process.env.FSYS_INTERRUPT_VERBOSE === "1"
/** Real layers: the smallest values (most yields) and the end of the range. */
const realOps = full ? Interruption.opsBeforeYieldAll : [3, 16]
const modes = ["buffered", "direct"] as const

// tmpfs where there is one: the suite exercises the layers' code, not the device, and thousands
// of fdatasyncs on a real disk would take minutes. (tmpfs accepts O_DIRECT since Linux 6.6.)
const tempRoot = NodeFs.existsSync("/dev/shm") ? "/dev/shm" : NodeOs.tmpdir()
const tempDir = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(tempRoot, "fsys-interrupt-"))),
  (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true })),
)
const openFds = () => NodeFs.readdirSync("/proc/self/fd").length

const runAll = (env: Interruption.Env, ops: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    let interrupted = 0
    for (const call of Interruption.journalCalls) {
      const started = Date.now()
      const report = yield* Interruption.sweep(call.name, ops, (o, k) => Interruption.checkJournalCall(env, call, o, k))
      if (verbose) console.log(env.mode, "journal", call.name, report, Date.now() - started, "ms")
      interrupted += report.interrupted
    }
    for (const call of Interruption.fileIoCalls) {
      const started = Date.now()
      const report = yield* Interruption.sweep(call.name, ops, (o, k) => Interruption.checkFileIoCall(env, call, o, k))
      if (verbose) console.log(env.mode, "fileIo", call.name, report, Date.now() - started, "ms")
      interrupted += report.interrupted
    }
    // The harness must really interrupt: a sweep whose calls always finished first tests nothing.
    assert.isAbove(interrupted, 0)
  })

describe.each(modes)("interrupting every call at every yield (%s)", (mode) => {
  it.live(
    "on the simulated disk, MaxOpsBeforeYield 3…16",
    () =>
      Effect.gen(function* () {
        const disk = yield* SimulatedDisk.make({ seed: 10 })
        yield* runAll({ fileIo: disk.fileIo, dir: "/data", mode }, Interruption.opsBeforeYieldAll)
        assert.deepStrictEqual(yield* disk.violations, [])
      }),
    120_000,
  )

  it.live(
    "on the Node layer in a temp dir",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* runAll({ fileIo: NodeFileIo.make(), dir, mode, openFds }, realOps)
      }),
    120_000,
  )

  it.live(
    "on the io_uring layer in a temp dir",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const fileIo: FileIo.FileIoService = yield* IoUringFileIo.make()
        yield* runAll({ fileIo, dir, mode, openFds }, realOps)
      }),
    120_000,
  )
})
