/**
 * The crash harness's same-boot reopen after a failed writeback (PostgreSQL's "fsyncgate",
 * 2018): the epoch's journal is poisoned by an fdatasync that fails with EIO — Linux then marks
 * the pages clean, so they stay readable but never reach the disk — and is closed cleanly or
 * killed without cleanup (its process dies, the machine stays up). A new journal is opened in
 * the same boot, appends records B, acknowledges them with `syncThrough`, and the power goes.
 * The next epoch's check then requires B: a reopen that trusted the cached pages would have
 * resumed past a hole on the media and acknowledged B behind it.
 *
 * @since 0.1.0
 */
import { type Duration, Effect, Exit, Option, Scope } from "effect"
import { FileIo, Frame, Journal } from "@fsys/core"
import * as Generators from "../../Generators.ts"
import * as SimulatedDisk from "../../SimulatedDisk.ts"
import type * as Prng from "../prng.ts"

/** Records appended before the failing sync, and records B appended after the reopen. */
const RECORDS_BEFORE_FAILURE_MAX = 8
const RECORDS_AFTER_REOPEN_MAX = 6
/** B's writer: never used by the epoch's writers (1..writersMax), so its order check is its own. */
export const REOPEN_WRITER = 1000

/** The part of the runner's epoch model this scenario reads and changes. */
export interface SameBootModel {
  readonly epoch: number
  readonly acked: Map<number, Uint8Array>
  readonly submitted: Map<string, Uint8Array>
  durableLsn: number
}

export interface SameBootContext {
  readonly disk: SimulatedDisk.Disk
  readonly rng: Prng.Prng
  readonly model: SameBootModel
  readonly path: string
  readonly options: Journal.Options
  readonly fileIo: () => FileIo.FileIoService
  readonly timeout: Duration.Duration
  readonly logBufferBytes: number
  /** Whether faults were armed this epoch (then a failing reopen is not a violation). */
  readonly faulty: boolean
  readonly fail: (message: string) => void
  readonly trace: (line: string) => void
}

/** Hands out each writer's next record id and records the payload as submitted. */
const submitter = (model: SameBootModel) => {
  const sequences = new Map<number, number>()
  return (writer: number, sizeBytes: number): Uint8Array => {
    const sequence = sequences.get(writer) ?? 0
    sequences.set(writer, sequence + 1)
    const id: Generators.RecordId = { epoch: model.epoch, writer, sequence }
    const payload = Generators.record(id, sizeBytes)
    model.submitted.set(Generators.recordKey(id), payload)
    return payload
  }
}

type Submit = ReturnType<typeof submitter>

/**
 * More records, then the fdatasync that fails: the journal is poisoned. Its process then ends,
 * cleanly (close, then its scope) or killed without any cleanup. Returns whether it was killed,
 * or undefined when the power went meanwhile.
 */
const poisonThenEnd = Effect.fnUntraced(function* (
  context: SameBootContext,
  submit: Submit,
  handle: Journal.Handle,
  scope: Scope.Closeable,
) {
  const { disk, rng, model } = context
  const epochBoot = disk.boot
  yield* disk.inject({ op: "datasync", nth: 1, fault: SimulatedDisk.fail("EIO") })
  const before = rng.range(1, RECORDS_BEFORE_FAILURE_MAX)
  for (let index = 0; index < before; index++) {
    const payload = submit(
      REOPEN_WRITER - 1,
      Generators.recordSizeBytes(rng, { logBufferBytes: context.logBufferBytes }),
    )
    const appended = yield* Effect.result(handle.append(payload))
    if (appended._tag === "Failure") break
    model.acked.set(appended.success - payload.length - Frame.OVERHEAD, payload)
  }
  yield* Effect.exit(handle.sync.pipe(Effect.timeoutOption(context.timeout)))
  yield* disk.clearFaults
  if (disk.boot !== epochBoot) return undefined
  const killed = rng.chance(0.5)
  if (killed) yield* disk.crashProcesses
  else yield* Effect.exit(handle.close.pipe(Effect.timeoutOption(context.timeout)))
  yield* Scope.close(scope, Exit.void).pipe(Effect.timeoutOption(context.timeout))
  return killed
})

/** Records B on the reopened journal, acknowledged by one `syncThrough`; returns B's end. */
const appendB = Effect.fnUntraced(function* (
  context: SameBootContext,
  submit: Submit,
  journal: Journal.Handle,
  nextLsn: number,
) {
  const { rng, model } = context
  const after = rng.range(1, RECORDS_AFTER_REOPEN_MAX)
  let end = nextLsn
  for (let index = 0; index < after; index++) {
    const payload = submit(REOPEN_WRITER, Generators.recordSizeBytes(rng, { logBufferBytes: context.logBufferBytes }))
    const appended = yield* Effect.result(journal.append(payload))
    if (appended._tag === "Failure") {
      context.fail(`append after the same-boot reopen failed: ${appended.failure._tag}`)
      return undefined
    }
    model.acked.set(appended.success - payload.length - Frame.OVERHEAD, payload)
    end = appended.success
  }
  const synced = yield* Effect.exit(journal.syncThrough(end).pipe(Effect.timeoutOption(context.timeout)))
  if (Exit.isSuccess(synced) && Option.isSome(synced.value)) {
    if (end > model.durableLsn) model.durableLsn = end
  } else {
    context.fail(`syncThrough after the same-boot reopen failed: ${String(synced)}`)
  }
  return end
})

/**
 * Runs the scenario on the epoch's open journal; returns the reopened journal's scope (the
 * runner closes it after the power cut), or undefined when the reopen did not happen.
 */
export const failedWritebackThenReopen = Effect.fnUntraced(function* (
  context: SameBootContext,
  handle: Journal.Handle,
  scope: Scope.Closeable,
) {
  const { model } = context
  const submit = submitter(model)
  const killed = yield* poisonThenEnd(context, submit, handle, scope)
  if (killed === undefined) return undefined

  // A new journal in the same boot: it must resume where the media's log ends.
  const reopenScope = yield* Scope.make()
  const reopened = yield* Journal.open(context.path, context.options).pipe(
    Effect.provideService(FileIo.FileIo, context.fileIo()),
    Scope.provide(reopenScope),
    Effect.timeoutOption(context.timeout),
    Effect.exit,
  )
  if (Exit.isFailure(reopened) || Option.isNone(reopened.value)) {
    if (!context.faulty) context.fail(`same-boot reopen after a failed fdatasync failed: ${String(reopened)}`)
    return reopenScope
  }
  const journal = reopened.value.value
  const nextLsn = yield* journal.nextLsn
  const syncedLsn = yield* journal.syncedLsn
  if (nextLsn < model.durableLsn) {
    context.fail(`same-boot reopen resumed at ${nextLsn}, below the acknowledged ${model.durableLsn}`)
  }
  if (syncedLsn !== nextLsn) context.fail(`same-boot reopen has syncedLsn ${syncedLsn}, nextLsn ${nextLsn}`)
  // Appends at or past the resume point that returned before the failure are void now: the
  // reopen rolled them back, and B takes their LSNs.
  for (const lsn of [...model.acked.keys()]) if (lsn >= nextLsn) model.acked.delete(lsn)
  const end = yield* appendB(context, submit, journal, nextLsn)
  if (end !== undefined)
    context.trace(`same-boot reopen (${killed ? "killed" : "closed"}) at ${nextLsn}, B through ${end}`)
  return reopenScope
})
