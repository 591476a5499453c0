/**
 * One writer fiber of a crash epoch: a random sequence of append, appendBatch, syncThrough, sync
 * and yields (some calls interrupted, like a user's timeout), recording in the epoch model what
 * was submitted, which LSN each append returned and which LSN was acknowledged durable.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Frame, type Journal, type JournalError } from "@fsys/core"
import * as Generators from "../../Generators.ts"
import type * as Prng from "../prng.ts"
import { type EpochModel, maybeInterrupted, type Run, yieldTimes } from "./run.ts"

/** A writer's `yield` step waits at most this many scheduler turns. */
const WRITER_YIELDS_MAX = 20
/** Percent of writer operations run under an interrupt (a user's timeout on append or sync). */
const INTERRUPTED_OPERATION_PERCENT = 8
/** Most scheduler yields before such an interrupt fires (0: before the call's first step). */
const INTERRUPT_YIELDS_MAX = 24

/** What the writers of one epoch share. */
export interface EpochWriters {
  readonly run: Run
  readonly handle: Journal.Handle
  readonly model: EpochModel
  /** Reports a failure that no fault or power loss explains (a violation). */
  readonly unexpected: (what: string, error: JournalError.JournalError) => void
}

/** What one writer knows: its random stream, its next sequence number and its returned ends. */
interface WriterState {
  readonly index: number
  readonly random: Prng.Prng
  readonly ends: Array<number>
  sequence: number
}

const submit = (epoch: EpochWriters, writer: WriterState): Uint8Array => {
  const id: Generators.RecordId = { epoch: epoch.model.epoch, writer: writer.index, sequence: writer.sequence++ }
  const payload = Generators.record(
    id,
    Generators.recordSizeBytes(writer.random, { logBufferBytes: epoch.run.logBufferBytes }),
  )
  epoch.model.submitted.set(Generators.recordKey(id), payload)
  return payload
}

/** The batch's acknowledged LSNs: all of them (one reservation), or only the last one's. */
const ackBatch = (epoch: EpochWriters, payloads: ReadonlyArray<Uint8Array>, returnedEnd: number): void => {
  // Without batchContiguity only the last member's LSN is known (the returned end); earlier ones
  // are checked by the writer-order invariant: before it, in order, no gap.
  if (epoch.run.options.batchContiguity !== false) {
    // The spec's "one reservation": every member's LSN follows from the returned end.
    let end = returnedEnd
    for (let index = payloads.length - 1; index >= 0; index--) {
      const payload = payloads[index] as Uint8Array
      epoch.model.acked.set(end - payload.length - Frame.OVERHEAD, payload)
      end -= payload.length + Frame.OVERHEAD
    }
  } else {
    const last = payloads[payloads.length - 1] as Uint8Array
    epoch.model.acked.set(returnedEnd - last.length - Frame.OVERHEAD, last)
  }
}

type Step = "continue" | "stop"

/** One operation of a writer, drawn from its random stream. */
const operation = Effect.fnUntraced(function* (epoch: EpochWriters, writer: WriterState): Effect.fn.Return<Step> {
  const { handle, model, run, unexpected } = epoch
  const random = writer.random
  const draw = random.int(100)
  const interrupt = run.interrupts && random.int(100) < INTERRUPTED_OPERATION_PERCENT
  const yields = interrupt ? random.range(0, INTERRUPT_YIELDS_MAX) : 0
  const stopOn = (what: string, error: JournalError.JournalError): Step => {
    unexpected(what, error)
    return "stop"
  }
  const call = <A>(effect: Effect.Effect<A, JournalError.JournalError>) => maybeInterrupted(effect, interrupt, yields)
  if (draw < 45) {
    const payload = submit(epoch, writer)
    const result = yield* call(handle.append(payload))
    // Interrupted: the record may be in the log or not; this writer stops so that its records
    // stay a gapless sequence (the check's writer-order invariant).
    if (result === undefined) return "stop"
    if (result._tag === "Failure") return stopOn("append", result.failure)
    model.acked.set(result.success - payload.length - Frame.OVERHEAD, payload)
    writer.ends.push(result.success)
    run.appended++
  } else if (draw < 60 && run.useBatches) {
    const payloads = Array.from({ length: random.range(1, 6) }, () => submit(epoch, writer))
    const result = yield* call(handle.appendBatch(payloads))
    if (result === undefined) return "stop" // a prefix of the batch may be in the log
    if (result._tag === "Failure") return stopOn("appendBatch", result.failure)
    ackBatch(epoch, payloads, result.success)
    writer.ends.push(result.success)
    run.appended += payloads.length
  } else if (draw < 85) {
    if (writer.ends.length === 0) return "continue"
    const target = random.pick(writer.ends)
    const result = yield* call(handle.syncThrough(target))
    if (result === undefined) return "continue" // not acknowledged: nothing is promised
    if (result._tag === "Failure") return stopOn("syncThrough", result.failure)
    if (target > model.durableLsn) model.durableLsn = target
  } else if (draw < 95) {
    const result = yield* call(handle.sync)
    if (result === undefined) return "continue"
    if (result._tag === "Failure") return stopOn("sync", result.failure)
    if (result.success > model.durableLsn) model.durableLsn = result.success
  } else {
    yield* yieldTimes(random.range(1, WRITER_YIELDS_MAX))
  }
  return "continue"
})

/** Writer `index` (1-based) of the epoch: its operations until done, interrupted or failed. */
export const writer = (epoch: EpochWriters, index: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    const random = epoch.run.rng.fork(index)
    const state: WriterState = { index, random, ends: [], sequence: 0 }
    const operations = random.range(1, epoch.run.operationsMax)
    for (let step = 0; step < operations; step++) {
      if ((yield* operation(epoch, state)) === "stop") return
    }
  })
