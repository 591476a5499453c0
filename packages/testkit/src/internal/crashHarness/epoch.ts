/**
 * One crash epoch after its open: faults armed, concurrent writers, one of five endings, and the
 * crash that abandons the journal (its fibers die with its scope).
 *
 * The endings: a power loss at the nth write or datasync, a power loss after a random number of
 * scheduler turns, a power loss once the writers are done, a clean close (everything appended must
 * then survive) followed by a power loss, or a failed writeback reopened in the same boot
 * (`sameBoot.ts`). Some epochs also arm random EIO / ENOSPC / short writes, and most let IO take
 * several scheduler turns so that appends race it.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Fiber, Option, Scope } from "effect"
import * as SimulatedDisk from "../../SimulatedDisk.ts"
import type { Opened } from "./open.ts"
import { type EpochModel, errorTag, fail, fileIoOf, JOURNAL_PATH, type Run, yieldTimes } from "./run.ts"
import { failedWritebackThenReopen } from "./sameBoot.ts"
import { type EpochWriters, writer } from "./writer.ts"

/** The "power loss after n turns" trigger fires within this many turns. */
const TRIGGER_TURNS_MAX = 400

type Ending =
  | "powerLossAtIo"
  | "powerLossAfterTurns"
  | "powerLossWhenIdle"
  | "cleanCloseThenPowerLoss"
  | "failedWritebackThenReopen"
const ENDINGS: ReadonlyArray<Ending> = [
  "powerLossAtIo",
  "powerLossAtIo",
  "powerLossAfterTurns",
  "powerLossWhenIdle",
  "cleanCloseThenPowerLoss",
  "failedWritebackThenReopen",
]

/** Arms the epoch's faults; returns whether errors (not only reordering) were armed. */
const armFaults = Effect.fnUntraced(function* (run: Run, ending: Ending) {
  const { disk, rng } = run
  const faulty = rng.chance(0.25)
  // Deterministic reordering: IO that takes several scheduler turns lets appends race it.
  if (rng.chance(0.7)) {
    yield* disk.inject({
      op: ["write", "datasync"],
      probability: rng.float() * 0.5,
      fault: SimulatedDisk.yieldFirst(rng.range(1, 20)),
    })
  }
  if (faulty) {
    yield* disk.inject({ op: "datasync", probability: 0.05, fault: SimulatedDisk.fail("EIO") })
    yield* disk.inject({ op: "write", probability: 0.02, fault: SimulatedDisk.fail(rng.pick(["EIO", "ENOSPC"])) })
    yield* disk.inject({ op: "write", probability: 0.05, fault: SimulatedDisk.shortWrite(rng.range(0, 8192)) })
  }
  if (ending === "powerLossAtIo") {
    yield* disk.inject({
      op: rng.pick<SimulatedDisk.FaultOp>(["write", "datasync"]),
      nth: rng.range(1, 40),
      fault: SimulatedDisk.powerLoss(),
    })
  }
  return faulty
})

/** Runs the epoch's writers (and the turn-count trigger) until they are done or hung. */
const runWriters = Effect.fnUntraced(function* (writers: EpochWriters, ending: Ending, epochBoot: number) {
  const { disk, rng } = writers.run
  const writerCount = rng.range(1, writers.run.writersMax)
  const fibers = yield* Effect.forkChild(
    Effect.forEach(
      Array.from({ length: writerCount }, (_, index) => index + 1),
      (index) => writer(writers, index),
      { concurrency: "unbounded", discard: true },
    ),
  )
  const trigger =
    ending === "powerLossAfterTurns"
      ? yield* Effect.forkChild(
          Effect.andThen(yieldTimes(rng.range(1, TRIGGER_TURNS_MAX)), () =>
            disk.boot === epochBoot ? disk.crash() : Effect.void,
          ),
        )
      : undefined
  const finished = yield* Fiber.join(fibers).pipe(Effect.timeoutOption(writers.run.timeout))
  if (Option.isNone(finished)) fail(writers.run, writers.model.epoch, `writers hung (ending ${ending})`)
  yield* Fiber.interrupt(fibers)
  if (trigger !== undefined) yield* Fiber.interrupt(trigger)
  return writerCount
})

/** The ending's own step before the power goes: a clean close, or the same-boot reopen. */
const endEpoch = Effect.fnUntraced(function* (
  run: Run,
  opened: Opened,
  current: EpochModel,
  ending: Ending,
  faulty: boolean,
) {
  const { disk } = run
  const { handle, scope } = opened
  const epoch = current.epoch
  if (ending === "cleanCloseThenPowerLoss") {
    const target = yield* handle.nextLsn
    const closed = yield* Effect.exit(handle.close.pipe(Effect.timeoutOption(run.timeout)))
    if (Exit.isSuccess(closed) && Option.isSome(closed.value)) {
      if (target > current.durableLsn) current.durableLsn = target
    } else if (!faulty) {
      fail(run, epoch, `clean close failed: ${Exit.isFailure(closed) ? String(closed.cause) : "hung"}`)
    }
    return undefined
  }
  if (ending !== "failedWritebackThenReopen") return undefined
  return yield* failedWritebackThenReopen(
    {
      disk,
      rng: run.rng,
      model: current,
      path: JOURNAL_PATH,
      options: run.journalOptions,
      fileIo: () => fileIoOf(run),
      timeout: run.timeout,
      logBufferBytes: run.logBufferBytes,
      faulty,
      fail: (message) => fail(run, epoch, message),
      trace: (line) => run.trace.push(line),
    },
    handle,
    scope,
  )
})

/** The optional sabotage of a crash image (to prove the checker catches it). */
const sabotageImage = Effect.fnUntraced(function* (run: Run) {
  const { disk, options, rng, model } = run
  if (options.sabotage !== "flipDurableByte" && options.sabotage !== "dropDurableTail") return
  const image = Option.getOrUndefined(yield* disk.readFile(JOURNAL_PATH))
  if (image === undefined || model.durableLsn === 0) return
  const at = rng.int(Math.min(model.durableLsn, image.length))
  const mutated = options.sabotage === "flipDurableByte" ? image.slice() : image.slice(0, at)
  if (options.sabotage === "flipDurableByte") mutated[at] = (mutated[at] as number) ^ 0x01
  yield* disk.writeFile(JOURNAL_PATH, mutated)
})

/** Runs epoch `epoch` on the journal `opened` returned, and crashes it. */
export const runEpoch = Effect.fnUntraced(function* (run: Run, epoch: number, opened: Opened) {
  const { disk, rng } = run
  const current: EpochModel = {
    epoch,
    base: opened.records,
    startLsn: opened.cleanEnd,
    acked: new Map(),
    submitted: new Map(),
    durableLsn: opened.syncedLsn,
  }
  run.model = current
  const epochBoot = disk.boot
  const ending = rng.pick(ENDINGS)
  const faulty = yield* armFaults(run, ending)
  const writers: EpochWriters = {
    run,
    handle: opened.handle,
    model: current,
    unexpected: (what, error) => {
      // Before the power goes and with no fault armed, nothing may fail.
      if (!faulty && disk.boot === epochBoot) fail(run, epoch, `${what} failed unexpectedly: ${errorTag(error)}`)
    },
  }
  const crashed = yield* Effect.forkChild(disk.awaitCrash, { startImmediately: true })
  const writerCount = yield* runWriters(writers, ending, epochBoot)
  const reopenScope = disk.boot === epochBoot ? yield* endEpoch(run, opened, current, ending, faulty) : undefined
  // Abandon the journal: the power goes now (if it has not yet); its fibers die with the scope.
  if (disk.boot === epochBoot) yield* disk.crash()
  const report = yield* Fiber.join(crashed)
  const closed = yield* Scope.close(opened.scope, Exit.void).pipe(Effect.timeoutOption(run.timeout))
  if (Option.isNone(closed)) fail(run, epoch, "closing the crashed journal's scope hung")
  if (reopenScope !== undefined) {
    const reclosed = yield* Scope.close(reopenScope, Exit.void).pipe(Effect.timeoutOption(run.timeout))
    if (Option.isNone(reclosed)) fail(run, epoch, "closing the reopened journal's scope hung")
  }
  yield* disk.clearFaults
  yield* sabotageImage(run)
  run.lastCrash = `${report.summary} (ending ${ending})`
  run.crashes.push(run.lastCrash)
  const stats = yield* disk.stats
  run.trace.push(
    `e${epoch} ${ending}${faulty ? " faulty" : ""} w${writerCount} acked ${current.acked.size} durable ${current.durableLsn} writes ${stats.writes} syncs ${stats.datasyncs}`,
  )
})
