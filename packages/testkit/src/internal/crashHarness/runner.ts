/**
 * One randomized crash run of the real journal on a simulated disk (see `CrashHarness.runSeed`).
 *
 * A run is a sequence of **epochs**. Each epoch:
 * 1. optionally arms a power loss inside recovery (at the nth write/truncate/sync of the open),
 *    and retries the open on the rebooted disk until it succeeds (bounded);
 * 2. checks what the open recovered against the model (`checkRecovery`) and the resume rules
 *    (nextLsn, syncedLsn, sidecar) against an independent decode of the crash image;
 * 3. runs 1..writersMax concurrent writer fibers, each a random sequence of append, appendBatch,
 *    syncThrough, sync and yields, recording what was submitted, what returned which LSN and
 *    which LSN was acknowledged durable;
 * 4. ends the epoch in one of four ways — power loss at the nth write or datasync, power loss
 *    after a random number of scheduler turns, power loss once the writers are done, or a clean
 *    close (everything appended must then survive) followed by a power loss — with, in some
 *    epochs, random EIO / ENOSPC / short writes / IO reordering armed;
 * 5. abandons the crashed journal (interrupts its fibers, closes its scope).
 * After the last epoch a final reopen is checked and closed cleanly.
 *
 * Every random choice comes from the seed (the writers' scheduling too: no timers run unless a
 * journal option asks for them), so a failing seed replays exactly.
 *
 * @since 0.1.0
 */
import { Cause, Duration, Effect, Exit, Fiber, Option, Result, Scope } from "effect"
import { FileIo, Frame, Journal } from "@fsys/core"
import type { JournalError } from "@fsys/core"
import type * as CrashHarness from "../../CrashHarness.ts"
import * as Generators from "../../Generators.ts"
import * as SimulatedDisk from "../../SimulatedDisk.ts"
import * as Prng from "../prng.ts"
import { checkRecovery, decodeJournal, sameBytes } from "./check.ts"
import { failedWritebackThenReopen } from "./sameBoot.ts"

const JOURNAL_DIRECTORY = "/sim"
const JOURNAL_PATH = `${JOURNAL_DIRECTORY}/journal.log`
/** Opens that a power loss inside recovery may interrupt before one is let through. */
const MAX_OPEN_ATTEMPTS = 4
/** A writer's `yield` step waits at most this many scheduler turns. */
const MAX_WRITER_YIELDS = 20
/** The "power loss after n turns" trigger fires within this many turns. */
const MAX_TRIGGER_TURNS = 400
const DEFAULT_EPOCHS = 4
const DEFAULT_OPERATIONS_MAX = 30
const DEFAULT_WRITERS_MAX = 6
const DEFAULT_PHASE_TIMEOUT_MILLIS = 20_000
/** The journal's preallocation is set in multiples of 64 KiB. */
const PREALLOCATE_GRANULE_BYTES = 65536

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

interface EpochModel {
  readonly epoch: number
  readonly base: ReadonlyArray<CrashHarness.JournalRecord>
  readonly startLsn: number
  readonly acked: Map<number, Uint8Array>
  readonly submitted: Map<string, Uint8Array>
  durableLsn: number
}

const yieldTimes = (times: number): Effect.Effect<void> =>
  times <= 0
    ? Effect.void
    : Effect.andThen(
        Effect.yieldNow,
        Effect.suspend(() => yieldTimes(times - 1)),
      )

/** Percent of writer operations run under an interrupt (a user's timeout on append or sync). */
const INTERRUPTED_OPERATION_PERCENT = 8
/** Most scheduler yields before such an interrupt fires (0: before the call's first step). */
const INTERRUPT_YIELDS_MAX = 24

/**
 * Runs `effect`, or (when `interrupt`) forks it, lets `yields` scheduler turns pass and interrupts
 * it. `undefined` means the interrupt won: the call's outcome is unknown to its caller.
 */
const maybeInterrupted = <A, E>(
  effect: Effect.Effect<A, E>,
  interrupt: boolean,
  yields: number,
): Effect.Effect<Result.Result<A, E> | undefined> =>
  interrupt
    ? Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(effect, { startImmediately: true })
        yield* yieldTimes(yields)
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        if (Exit.isSuccess(exit)) return Result.succeed(exit.value)
        if (Cause.hasInterruptsOnly(exit.cause)) return undefined
        return yield* Effect.result(Effect.failCause(exit.cause))
      })
    : Effect.result(effect)

/** A FileIo that claims durability it never provides: the `lyingDatasync` sabotage. */
const lyingFileIo = (io: FileIo.FileIoService): FileIo.FileIoService => ({
  ...io,
  datasync: () => Effect.void,
  sync: () => Effect.void,
  writeAtThenDatasync: (handle, bytes, offsetBytes) => io.writeAt(handle, bytes, offsetBytes),
})

/** A FileIo whose linked write→datasync syncs before it writes: the `syncBeforeWrite` sabotage. */
const syncFirstFileIo = (io: FileIo.FileIoService): FileIo.FileIoService => ({
  ...io,
  writeAtThenDatasync: (handle, bytes, offsetBytes) =>
    Effect.andThen(io.datasync(handle), io.writeAt(handle, bytes, offsetBytes)),
})

const errorTag = (error: JournalError.JournalError): string =>
  error._tag === "JournalPoisoned" ? `JournalPoisoned(${error.cause.code} in ${error.cause.syscall})` : error._tag

export const runSeedWith = (options: CrashHarness.SeedOptions): Effect.Effect<CrashHarness.SeedResult> =>
  Effect.gen(function* () {
    const seed = options.seed
    const mode = options.mode
    const epochs = options.epochs ?? DEFAULT_EPOCHS
    const operationsMax = options.operationsMax ?? DEFAULT_OPERATIONS_MAX
    const writersMax = options.writersMax ?? DEFAULT_WRITERS_MAX
    const useBatches = options.appendBatch ?? true
    const interrupts = options.interrupts ?? true
    const timeout = Duration.millis(options.phaseTimeoutMillis ?? DEFAULT_PHASE_TIMEOUT_MILLIS)
    const rng = Prng.make(Prng.derive(seed, mode === "direct" ? 0xd1 : 0xb0))
    // Logical sectors of 512 bytes; physical sectors of 512 or 4096 (a 512e disk, where a Direct
    // write covering part of a physical sector may leave it unreadable after a power cut).
    const physicalSectorBytes = rng.pick([512, 4096])
    const disk = yield* SimulatedDisk.make({ seed, sectorBytes: 512, physicalSectorBytes, directAlignmentBytes: 512 })

    // Direct journals align to what the disk reports (FileIo.directAlignment), or to a forced
    // whole number of physical sectors; a slot holds ≥ 2 sectors.
    const sectorBytes = mode === "direct" && rng.chance(0.5) ? rng.pick([physicalSectorBytes, 4096]) : undefined
    const alignedBytes = mode === "direct" ? (sectorBytes ?? physicalSectorBytes) : 1
    const logBufferBytes = rng.pick([4096, 8192, 16384, 65536].filter((bytes) => bytes >= 2 * alignedBytes))
    // Preallocation (zeros written ahead of the log) is exercised, but small: the simulated disk
    // copies images on every crash, and megabytes of zeros per epoch would cost seconds per seed.
    const preallocateBytes = rng.pick([0, 0, 2 * PREALLOCATE_GRANULE_BYTES, 4 * PREALLOCATE_GRANULE_BYTES])
    const journalOptions: Journal.Options = {
      mode,
      logBufferBytes,
      preallocateBytes,
      groupCommitMaxBatch: rng.range(1, 64),
      ...(sectorBytes === undefined ? {} : { sectorBytes }),
    }
    const failures: Array<string> = []
    const crashes: Array<string> = []
    const trace: Array<string> = [
      `${mode} buffer ${logBufferBytes} sector ${journalOptions.sectorBytes ?? "-"} physical ${physicalSectorBytes} preallocate ${preallocateBytes}`,
    ]
    /** Every sidecar an open reported, with its bytes then. */
    const sidecars = new Map<string, Uint8Array>()
    let appended = 0
    let lastRecovered = 0
    let lastCrash = "no crash yet"
    const fail = (epoch: number, message: string) => {
      failures.push(`seed ${seed} ${mode} epoch ${epoch}: ${message} [after ${lastCrash}]`)
    }
    const fileIoNow = () =>
      options.sabotage === "lyingDatasync"
        ? lyingFileIo(disk.fileIo)
        : options.sabotage === "syncBeforeWrite"
          ? syncFirstFileIo(disk.fileIo)
          : disk.fileIo

    let model: EpochModel = {
      epoch: 0,
      base: [],
      startLsn: 0,
      acked: new Map(),
      submitted: new Map(),
      durableLsn: 0,
    }

    /** The optional sabotage of a crash image (to prove the checker catches it). */
    const sabotageImage = Effect.fnUntraced(function* () {
      if (options.sabotage !== "flipDurableByte" && options.sabotage !== "dropDurableTail") return
      const image = Option.getOrUndefined(yield* disk.readFile(JOURNAL_PATH))
      if (image === undefined || model.durableLsn === 0) return
      const at = rng.int(Math.min(model.durableLsn, image.length))
      const mutated = options.sabotage === "flipDurableByte" ? image.slice() : image.slice(0, at)
      if (options.sabotage === "flipDurableByte") mutated[at] = (mutated[at] as number) ^ 0x01
      yield* disk.writeFile(JOURNAL_PATH, mutated)
    })

    /**
     * Opens the journal (retrying after a power loss during recovery), checks the recovery, and
     * returns the handle and its scope; undefined when the run must stop.
     */
    const openAndCheck = Effect.fnUntraced(function* (epoch: number, armRecoveryFault: boolean) {
      for (let attempt = 1; attempt <= MAX_OPEN_ATTEMPTS; attempt++) {
        const image = Option.getOrElse(yield* disk.readFile(JOURNAL_PATH), () => new Uint8Array(0))
        const expected = decodeJournal(image)
        const bootBefore = disk.boot
        const killsBefore = (yield* disk.stats).processCrashes
        if (attempt < MAX_OPEN_ATTEMPTS) {
          // A power loss or a process kill inside recovery; the retry recovers the same clean end
          // again (in the same boot after a kill). A fresh file's creator is sometimes killed
          // before its directory fsync, so a later, non-creating open must make the name durable.
          const fresh = image.length === 0 && epoch === 1 && attempt === 1 && rng.chance(0.3)
          const tornTail = expected.tail === "nonZero" && rng.chance(0.3)
          if (fresh) {
            yield* disk.inject({ op: "syncDirectory", nth: 1, fault: SimulatedDisk.processCrash })
          } else if (tornTail) {
            const fault = rng.chance(0.5) ? SimulatedDisk.processCrash : SimulatedDisk.powerLoss()
            yield* disk.inject({ op: "truncate", nth: 1, fault })
          } else if (armRecoveryFault) {
            yield* disk.inject({
              op: rng.pick(RECOVERY_OPS),
              nth: rng.range(1, 3),
              fault: rng.chance(0.7) ? SimulatedDisk.powerLoss() : SimulatedDisk.processCrash,
            })
          }
        }
        const scope = yield* Scope.make()
        const opened = yield* Journal.open(JOURNAL_PATH, journalOptions).pipe(
          Effect.provideService(FileIo.FileIo, fileIoNow()),
          Scope.provide(scope),
          Effect.timeoutOption(timeout),
          Effect.exit,
        )
        yield* disk.clearFaults
        if (Exit.isFailure(opened) || Option.isNone(opened.value)) {
          yield* Scope.close(scope, Exit.void).pipe(Effect.timeoutOption(timeout))
          if (Exit.isSuccess(opened)) {
            fail(epoch, "open hung")
            return undefined
          }
          const killed = (yield* disk.stats).processCrashes !== killsBefore
          if (disk.boot !== bootBefore || killed) {
            const report = `${killed ? "process killed" : "power loss"} during recovery (attempt ${attempt})`
            crashes.push(report)
            trace.push(report)
            lastCrash = report
            continue
          }
          fail(epoch, `open failed: ${String(opened.cause)}`)
          return undefined
        }
        const handle = opened.value.value
        // The resume rules, against the independent decode of the crash image.
        const nextLsn = yield* handle.nextLsn
        const syncedLsn = yield* handle.syncedLsn
        if (nextLsn !== expected.cleanEnd)
          fail(epoch, `reopened at nextLsn ${nextLsn}, the clean end is ${expected.cleanEnd}`)
        if (syncedLsn !== expected.cleanEnd)
          fail(epoch, `reopened with syncedLsn ${syncedLsn}, the clean end is ${expected.cleanEnd}`)
        const after = Option.getOrElse(yield* disk.readFile(JOURNAL_PATH), () => new Uint8Array(0))
        if (
          after.length < expected.cleanEnd ||
          !sameBytes(after.subarray(0, expected.cleanEnd), image.subarray(0, expected.cleanEnd))
        ) {
          fail(epoch, "open changed the records before the clean end")
        }
        const sidecarPath = (yield* handle.info).sidecarPath
        if (expected.tail === "nonZero") {
          const sidecar =
            sidecarPath === undefined ? undefined : Option.getOrUndefined(yield* disk.readFile(sidecarPath))
          const tail = image.subarray(expected.cleanEnd)
          if (sidecar === undefined || !sameBytes(sidecar, tail)) {
            fail(epoch, `the non-zero tail [${expected.cleanEnd}, ${image.length}) was not saved to the sidecar intact`)
          }
          if (after.length !== expected.cleanEnd)
            fail(epoch, `a non-zero tail was not truncated (size ${after.length})`)
        }
        // Saved tails are evidence: each open saves to a new file, and none changes afterwards.
        if (sidecarPath !== undefined) {
          if (sidecars.has(sidecarPath)) fail(epoch, `open reused the sidecar ${sidecarPath} of an earlier recovery`)
          sidecars.set(
            sidecarPath,
            Option.getOrElse(yield* disk.readFile(sidecarPath), () => new Uint8Array(0)),
          )
        }
        for (const [path, saved] of sidecars) {
          const now = Option.getOrUndefined(yield* disk.readFile(path))
          if (now === undefined || !sameBytes(now, saved)) fail(epoch, `the saved tail ${path} changed or vanished`)
        }
        const violations = checkRecovery(model, expected.records)
        for (const violation of violations) fail(epoch, violation)
        lastRecovered = expected.records.length
        trace.push(`open e${epoch} end ${expected.cleanEnd} tail ${expected.tail} records ${expected.records.length}`)
        return { handle, scope, records: expected.records, cleanEnd: expected.cleanEnd, syncedLsn }
      }
      fail(epoch, "open never succeeded")
      return undefined
    })

    for (let epoch = 1; epoch <= epochs + 1 && failures.length === 0; epoch++) {
      const lastEpoch = epoch === epochs + 1
      const opened = yield* openAndCheck(epoch, epoch > 1 && rng.chance(0.25))
      if (opened === undefined) break
      const { handle, scope } = opened
      const current: EpochModel = {
        epoch,
        base: opened.records,
        startLsn: opened.cleanEnd,
        acked: new Map(),
        submitted: new Map(),
        durableLsn: opened.syncedLsn,
      }
      model = current

      if (lastEpoch) {
        // The final reopen: it must also accept appends and close cleanly.
        const probe = Generators.record({ epoch, writer: 0, sequence: 0 }, 64)
        current.submitted.set(Generators.recordKey({ epoch, writer: 0, sequence: 0 }), probe)
        const closed = yield* Effect.exit(
          Effect.andThen(handle.append(probe), handle.close).pipe(Effect.timeoutOption(timeout)),
        )
        if (Exit.isFailure(closed) || Option.isNone(closed.value))
          fail(epoch, `final append + close failed: ${Exit.isFailure(closed) ? String(closed.cause) : "hung"}`)
        yield* Scope.close(scope, Exit.void)
        break
      }

      const epochBoot = disk.boot
      const ending = rng.pick(ENDINGS)
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

      const unexpected = (what: string, error: JournalError.JournalError) => {
        // Before the power goes and with no fault armed, nothing may fail.
        if (!faulty && disk.boot === epochBoot) fail(epoch, `${what} failed unexpectedly: ${errorTag(error)}`)
      }

      const writer = (writerIndex: number) =>
        Effect.gen(function* () {
          const random = rng.fork(writerIndex)
          const operations = random.range(1, operationsMax)
          let sequence = 0
          const ends: Array<number> = []
          const submit = (): Uint8Array => {
            const id: Generators.RecordId = { epoch, writer: writerIndex, sequence: sequence++ }
            const payload = Generators.record(id, Generators.recordSizeBytes(random, { logBufferBytes }))
            current.submitted.set(Generators.recordKey(id), payload)
            return payload
          }
          for (let operation = 0; operation < operations; operation++) {
            const draw = random.int(100)
            const interrupt = interrupts && random.int(100) < INTERRUPTED_OPERATION_PERCENT
            const yields = interrupt ? random.range(0, INTERRUPT_YIELDS_MAX) : 0
            const run = <A>(call: Effect.Effect<A, JournalError.JournalError>) =>
              maybeInterrupted(call, interrupt, yields)
            if (draw < 45) {
              const payload = submit()
              const result = yield* run(handle.append(payload))
              // Interrupted: the record may be in the log or not; this writer stops so that its
              // records stay a gapless sequence (the check's writer-order invariant).
              if (result === undefined) return
              if (result._tag === "Failure") return unexpected("append", result.failure)
              current.acked.set(result.success - payload.length - Frame.OVERHEAD, payload)
              ends.push(result.success)
              appended++
            } else if (draw < 60 && useBatches) {
              const payloads = Array.from({ length: random.range(1, 6) }, submit)
              const result = yield* run(handle.appendBatch(payloads))
              if (result === undefined) return // a prefix of the batch may be in the log
              if (result._tag === "Failure") return unexpected("appendBatch", result.failure)
              // Without batchContiguity only the last member's LSN is known (the returned end);
              // earlier ones are checked by the writer-order invariant: before it, in order, no gap.
              if (options.batchContiguity !== false) {
                // The spec's "one reservation": every member's LSN follows from the returned end.
                let end = result.success
                for (let index = payloads.length - 1; index >= 0; index--) {
                  const payload = payloads[index] as Uint8Array
                  current.acked.set(end - payload.length - Frame.OVERHEAD, payload)
                  end -= payload.length + Frame.OVERHEAD
                }
              } else {
                const last = payloads[payloads.length - 1] as Uint8Array
                current.acked.set(result.success - last.length - Frame.OVERHEAD, last)
              }
              ends.push(result.success)
              appended += payloads.length
            } else if (draw < 85) {
              if (ends.length === 0) continue
              const target = random.pick(ends)
              const result = yield* run(handle.syncThrough(target))
              if (result === undefined) continue // not acknowledged: nothing is promised
              if (result._tag === "Failure") return unexpected("syncThrough", result.failure)
              if (target > current.durableLsn) current.durableLsn = target
            } else if (draw < 95) {
              const result = yield* run(handle.sync)
              if (result === undefined) continue
              if (result._tag === "Failure") return unexpected("sync", result.failure)
              if (result.success > current.durableLsn) current.durableLsn = result.success
            } else {
              yield* yieldTimes(random.range(1, MAX_WRITER_YIELDS))
            }
          }
        })

      const crashed = yield* Effect.forkChild(disk.awaitCrash, { startImmediately: true })
      const writerCount = rng.range(1, writersMax)
      const writers = yield* Effect.forkChild(
        Effect.forEach(
          Array.from({ length: writerCount }, (_, index) => index + 1),
          writer,
          {
            concurrency: "unbounded",
            discard: true,
          },
        ),
      )
      const trigger =
        ending === "powerLossAfterTurns"
          ? yield* Effect.forkChild(
              Effect.andThen(yieldTimes(rng.range(1, MAX_TRIGGER_TURNS)), () =>
                disk.boot === epochBoot ? disk.crash() : Effect.void,
              ),
            )
          : undefined
      const finished = yield* Fiber.join(writers).pipe(Effect.timeoutOption(timeout))
      if (Option.isNone(finished)) fail(epoch, `writers hung (ending ${ending})`)
      yield* Fiber.interrupt(writers)
      if (trigger !== undefined) yield* Fiber.interrupt(trigger)

      if (ending === "cleanCloseThenPowerLoss" && disk.boot === epochBoot) {
        const target = yield* handle.nextLsn
        const closed = yield* Effect.exit(handle.close.pipe(Effect.timeoutOption(timeout)))
        if (Exit.isSuccess(closed) && Option.isSome(closed.value)) {
          if (target > current.durableLsn) current.durableLsn = target
        } else if (!faulty) {
          fail(epoch, `clean close failed: ${Exit.isFailure(closed) ? String(closed.cause) : "hung"}`)
        }
      }
      let reopenScope: Scope.Closeable | undefined
      if (ending === "failedWritebackThenReopen" && disk.boot === epochBoot) {
        reopenScope = yield* failedWritebackThenReopen(
          {
            disk,
            rng,
            model: current,
            path: JOURNAL_PATH,
            options: journalOptions,
            fileIo: fileIoNow,
            timeout,
            logBufferBytes,
            faulty,
            fail: (message) => fail(epoch, message),
            trace: (line) => trace.push(line),
          },
          handle,
          scope,
        )
      }
      // Abandon the journal: the power goes now (if it has not yet); its fibers die with the scope.
      if (disk.boot === epochBoot) yield* disk.crash()
      const report = yield* Fiber.join(crashed)
      const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.timeoutOption(timeout))
      if (Option.isNone(closed)) fail(epoch, "closing the crashed journal's scope hung")
      if (reopenScope !== undefined) {
        const reclosed = yield* Scope.close(reopenScope, Exit.void).pipe(Effect.timeoutOption(timeout))
        if (Option.isNone(reclosed)) fail(epoch, "closing the reopened journal's scope hung")
      }
      yield* disk.clearFaults
      yield* sabotageImage()
      lastCrash = `${report.summary} (ending ${ending})`
      crashes.push(lastCrash)
      const stats = yield* disk.stats
      trace.push(
        `e${epoch} ${ending}${faulty ? " faulty" : ""} w${writerCount} acked ${current.acked.size} durable ${current.durableLsn} writes ${stats.writes} syncs ${stats.datasyncs}`,
      )
    }

    const violations = yield* disk.violations
    for (const violation of violations) fail(epochs, `memory lifetime: ${violation}`)

    return {
      seed,
      mode,
      failures,
      epochs,
      appended,
      recovered: lastRecovered,
      crashes,
      fingerprint: trace.join("\n"),
    }
  })
