/**
 * The crash run's open phase: open the journal on the crashed disk (a power loss or a process
 * kill may be armed inside its recovery, then the open is retried), and check what the open did
 * against an independent decode of the crash image — the records (`checkRecovery`), the resume
 * point, the truncation and the saved tails.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Option, Scope } from "effect"
import { FileIo, Journal } from "@fsys/core"
import type * as CrashHarness from "../../CrashHarness.ts"
import * as SimulatedDisk from "../../SimulatedDisk.ts"
import { checkRecovery, decodeJournal, sameBytes } from "./check.ts"
import { fail, fileIoOf, JOURNAL_PATH, type Run } from "./run.ts"

/** Opens that a power loss inside recovery may interrupt before one is let through. */
const OPEN_ATTEMPTS_MAX = 4
/** Recovery steps a power loss or a process kill is armed at (the nth such call of the open). */
const RECOVERY_OPS: ReadonlyArray<SimulatedDisk.FaultOp> = [
  "write",
  "truncate",
  "sync",
  "datasync",
  "syncDirectory",
  "read",
  "open",
]

/** An open journal, what it recovered and the scope that holds it. */
export interface Opened {
  readonly handle: Journal.Handle
  readonly scope: Scope.Closeable
  readonly records: ReadonlyArray<CrashHarness.JournalRecord>
  readonly cleanEnd: number
  readonly syncedLsn: number
}

const readImage = (run: Run, path: string) =>
  Effect.map(
    run.disk.readFile(path),
    Option.getOrElse(() => new Uint8Array(0)),
  )

/**
 * A power loss or a process kill inside recovery; the retry recovers the same clean end again (in
 * the same boot after a kill). A fresh file's creator is sometimes killed before its directory
 * fsync, so a later, non-creating open must make the name durable.
 */
const armRecoveryFault = Effect.fnUntraced(function* (
  run: Run,
  image: Uint8Array,
  expected: CrashHarness.Decoded,
  epoch: number,
  attempt: number,
  armed: boolean,
) {
  const { disk, rng } = run
  const fresh = image.length === 0 && epoch === 1 && attempt === 1 && rng.chance(0.3)
  const tornTail = expected.tail === "nonZero" && rng.chance(0.3)
  if (fresh) {
    yield* disk.inject({ op: "syncDirectory", nth: 1, fault: SimulatedDisk.processCrash })
  } else if (tornTail) {
    const fault = rng.chance(0.5) ? SimulatedDisk.processCrash : SimulatedDisk.powerLoss()
    yield* disk.inject({ op: "truncate", nth: 1, fault })
  } else if (armed) {
    yield* disk.inject({
      op: rng.pick(RECOVERY_OPS),
      nth: rng.range(1, 3),
      fault: rng.chance(0.7) ? SimulatedDisk.powerLoss() : SimulatedDisk.processCrash,
    })
  }
})

/** The resume rules, against the independent decode of the crash image; returns `syncedLsn`. */
const checkResume = Effect.fnUntraced(function* (
  run: Run,
  epoch: number,
  handle: Journal.Handle,
  image: Uint8Array,
  expected: CrashHarness.Decoded,
) {
  const nextLsn = yield* handle.nextLsn
  const syncedLsn = yield* handle.syncedLsn
  if (nextLsn !== expected.cleanEnd)
    fail(run, epoch, `reopened at nextLsn ${nextLsn}, the clean end is ${expected.cleanEnd}`)
  if (syncedLsn !== expected.cleanEnd)
    fail(run, epoch, `reopened with syncedLsn ${syncedLsn}, the clean end is ${expected.cleanEnd}`)
  const after = yield* readImage(run, JOURNAL_PATH)
  if (
    after.length < expected.cleanEnd ||
    !sameBytes(after.subarray(0, expected.cleanEnd), image.subarray(0, expected.cleanEnd))
  ) {
    fail(run, epoch, "open changed the records before the clean end")
  }
  const sidecarPath = (yield* handle.info).sidecarPath
  if (expected.tail === "nonZero") {
    const sidecar = sidecarPath === undefined ? undefined : Option.getOrUndefined(yield* run.disk.readFile(sidecarPath))
    const tail = image.subarray(expected.cleanEnd)
    if (sidecar === undefined || !sameBytes(sidecar, tail)) {
      fail(run, epoch, `the non-zero tail [${expected.cleanEnd}, ${image.length}) was not saved to the sidecar intact`)
    }
    if (after.length !== expected.cleanEnd) fail(run, epoch, `a non-zero tail was not truncated (size ${after.length})`)
  }
  yield* checkSidecars(run, epoch, sidecarPath)
  return syncedLsn
})

/** Saved tails are evidence: each open saves to a new file, and none changes afterwards. */
const checkSidecars = Effect.fnUntraced(function* (run: Run, epoch: number, sidecarPath: string | undefined) {
  if (sidecarPath !== undefined) {
    if (run.sidecars.has(sidecarPath)) fail(run, epoch, `open reused the sidecar ${sidecarPath} of an earlier recovery`)
    run.sidecars.set(sidecarPath, yield* readImage(run, sidecarPath))
  }
  for (const [path, saved] of run.sidecars) {
    const now = Option.getOrUndefined(yield* run.disk.readFile(path))
    if (now === undefined || !sameBytes(now, saved)) fail(run, epoch, `the saved tail ${path} changed or vanished`)
  }
})

/**
 * Opens the journal (retrying after a power loss during recovery), checks the recovery, and
 * returns the handle and its scope; undefined when the run must stop.
 */
export const openAndCheck = Effect.fnUntraced(function* (run: Run, epoch: number, armFault: boolean) {
  const { disk } = run
  for (let attempt = 1; attempt <= OPEN_ATTEMPTS_MAX; attempt++) {
    const image = yield* readImage(run, JOURNAL_PATH)
    const expected = decodeJournal(image)
    const bootBefore = disk.boot
    const killsBefore = (yield* disk.stats).processCrashes
    if (attempt < OPEN_ATTEMPTS_MAX) yield* armRecoveryFault(run, image, expected, epoch, attempt, armFault)
    const scope = yield* Scope.make()
    const opened = yield* Journal.open(JOURNAL_PATH, run.journalOptions).pipe(
      Effect.provideService(FileIo.FileIo, fileIoOf(run)),
      Scope.provide(scope),
      Effect.timeoutOption(run.timeout),
      Effect.exit,
    )
    yield* disk.clearFaults
    if (Exit.isFailure(opened) || Option.isNone(opened.value)) {
      yield* Scope.close(scope, Exit.void).pipe(Effect.timeoutOption(run.timeout))
      if (Exit.isSuccess(opened)) {
        fail(run, epoch, "open hung")
        return undefined
      }
      const killed = (yield* disk.stats).processCrashes !== killsBefore
      if (disk.boot !== bootBefore || killed) {
        const report = `${killed ? "process killed" : "power loss"} during recovery (attempt ${attempt})`
        run.crashes.push(report)
        run.trace.push(report)
        run.lastCrash = report
        continue
      }
      fail(run, epoch, `open failed: ${String(opened.cause)}`)
      return undefined
    }
    const handle = opened.value.value
    const syncedLsn = yield* checkResume(run, epoch, handle, image, expected)
    for (const violation of checkRecovery(run.model, expected.records)) fail(run, epoch, violation)
    run.lastRecovered = expected.records.length
    run.trace.push(`open e${epoch} end ${expected.cleanEnd} tail ${expected.tail} records ${expected.records.length}`)
    const result: Opened = { handle, scope, records: expected.records, cleanEnd: expected.cleanEnd, syncedLsn }
    return result
  }
  fail(run, epoch, "open never succeeded")
  return undefined
})
