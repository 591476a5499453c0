/**
 * The calls the interruption harness drives, and the checks it runs after each interrupt.
 *
 * A journal check opens a journal with synced records, interrupts the call, then requires that
 * the journal still appends, syncs and closes, that its Scope ends, that a reopen is not
 * `JournalLocked`, and that the file holds every acknowledged record (the records before, a prefix
 * of the interrupted call's, and the one synced after). A FileIo check interrupts one operation on
 * an open file, then requires that `close` answers (no pin leaked), that the file opens and locks
 * again, and, on real layers, that no descriptor leaked.
 *
 * @internal
 */
import { Effect, Exit, type Scope } from "effect"
import type { AlignedBuffer } from "@fsys/native"
import { FileIo, Frame, Journal } from "@fsys/core"
import { interruptAfter, mustAnswer } from "./driver.ts"

/** Where and how the checks run. */
export interface Env {
  readonly fileIo: FileIo.FileIoService
  /** A directory the checks may fill (one file per attempt). */
  readonly dir: string
  readonly mode: "direct" | "buffered"
  /** Open descriptors of this process, on real layers: a leaked fd shows up here. */
  readonly openFds?: () => number
}

/** A journal call to interrupt; `payloads` are the records it appends, in order. */
export interface JournalCall {
  readonly name: string
  readonly payloads: ReadonlyArray<Uint8Array>
  /** The call closes the journal: no append after it. */
  readonly closes?: boolean
  /** The call is `open`: the journal is closed before it runs. */
  readonly opens?: boolean
  readonly run: (
    journal: Journal.Handle,
    open: Effect.Effect<Journal.Handle, unknown, Scope.Scope>,
  ) => Effect.Effect<unknown, unknown>
}

const payload = (tag: number, sizeBytes: number): Uint8Array => {
  const bytes = new Uint8Array(sizeBytes)
  for (let i = 0; i < sizeBytes; i++) bytes[i] = (tag * 31 + i) & 0xff
  return bytes
}

/** Slot size of every checked journal: small, so batches wait for slots and 10 KB is oversize. */
const LOG_BUFFER_BYTES = 4096
const small = [payload(10, 100)]
const oversize = [payload(11, 10_000)]
const fitting = Array.from({ length: 3 }, (_, i) => payload(20 + i, 100))
const gated = Array.from({ length: 20 }, (_, i) => payload(40 + i, 500))

/**
 * Every public journal call. Add a new call here and every layer's suite covers it.
 *
 * @internal
 */
export const journalCalls: ReadonlyArray<JournalCall> = [
  { name: "open", payloads: [], opens: true, run: (_, open) => Effect.scoped(Effect.flatMap(open, (j) => j.nextLsn)) },
  { name: "append", payloads: small, run: (j) => j.append(small[0]!) },
  { name: "append-oversize", payloads: oversize, run: (j) => j.append(oversize[0]!) },
  { name: "appendBatch", payloads: fitting, run: (j) => j.appendBatch(fitting) },
  { name: "appendBatch-gated", payloads: gated, run: (j) => j.appendBatch(gated) },
  { name: "syncThrough", payloads: small, run: (j) => Effect.flatMap(j.append(small[0]!), j.syncThrough) },
  { name: "sync", payloads: gated, run: (j) => Effect.andThen(j.appendBatch(gated), j.sync) },
  { name: "close", payloads: small, closes: true, run: (j) => Effect.andThen(j.append(small[0]!), j.close) },
]

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i])

/** The records of the file at `path`, decoded with `Frame.decode` alone (an independent oracle). */
const readRecords = (io: FileIo.FileIoService, path: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const handle = yield* io.open(path, { readOnly: true })
      const size = yield* io.size(handle)
      const bytes = new Uint8Array(size)
      const read = yield* io.readAt(handle, bytes, 0)
      const records: Array<Uint8Array> = []
      let offset = 0
      while (offset < read) {
        const decoded = Frame.decode(bytes.subarray(0, read), offset)
        if (decoded._tag !== "Ok") break
        records.push(decoded.payload.slice())
        offset += decoded.consumed
      }
      return records
    }),
  )

/** `records` is `before`, then a prefix of `during` (all of it when the call completed), then `after`. */
const checkRecords = (
  records: ReadonlyArray<Uint8Array>,
  before: ReadonlyArray<Uint8Array>,
  during: ReadonlyArray<Uint8Array>,
  completed: boolean,
  after: ReadonlyArray<Uint8Array>,
): string | undefined => {
  const middle = records.length - before.length - after.length
  if (middle < 0 || middle > during.length) return `${records.length} records`
  if (completed && middle !== during.length) return `completed call left ${middle} of ${during.length} records`
  const expected = [...before, ...during.slice(0, middle), ...after]
  const at = expected.findIndex((bytes, i) => !sameBytes(bytes, records[i]!))
  return at < 0 ? undefined : `record ${at} differs`
}

/**
 * Interrupts `call` after `yields` yields under `opsBeforeYield`, then checks the aftermath (see
 * the module comment). Returns how the call ended; a broken journal is a defect naming the attempt.
 *
 * @internal
 */
export const checkJournalCall = (env: Env, call: JournalCall, opsBeforeYield: number, yields: number) => {
  const attempt = `${call.name} (${env.mode}) ops=${opsBeforeYield} k=${yields}`
  const path = `${env.dir}/${call.name}-${env.mode}-${opsBeforeYield}-${yields}.log`
  const options = { mode: env.mode, logBufferBytes: LOG_BUFFER_BYTES, preallocateBytes: 0 } as const
  const open = Journal.open(path, options)
  const before = [payload(1, 50), payload(2, 700)]
  const after = call.closes === true || call.opens === true ? [] : [payload(3, 60)]
  return Effect.gen(function* () {
    const exit = yield* mustAnswer(
      attempt,
      Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* open
          yield* journal.syncThrough(yield* journal.appendBatch(before))
          if (call.opens === true) yield* journal.close
          const exit = yield* interruptAfter(call.run(journal, open), opsBeforeYield, yields)
          for (const record of after) yield* journal.syncThrough(yield* journal.append(record))
          yield* journal.close
          return exit
        }),
      ),
    )
    const records = yield* mustAnswer(
      `${attempt}: reopen`,
      Effect.scoped(Effect.andThen(open, readRecords(env.fileIo, path))),
    )
    const wrong = checkRecords(records, before, call.payloads, Exit.isSuccess(exit), after)
    if (wrong !== undefined) return yield* Effect.die(new Error(`${attempt}: ${wrong}`))
    return exit
  }).pipe(Effect.provideService(FileIo.FileIo, env.fileIo))
}

/** What a FileIo call gets: an open file with one aligned block written, and buffers. */
export interface FileTarget {
  readonly handle: FileIo.Handle
  readonly path: string
  readonly dir: string
  readonly direct: boolean
  readonly aligned: AlignedBuffer
  readonly heap: Uint8Array
}

/** A FileIo operation to interrupt; it runs in its own Scope. */
export interface FileIoCall {
  readonly name: string
  readonly run: (io: FileIo.FileIoService, target: FileTarget) => Effect.Effect<unknown, unknown, Scope.Scope>
}

/**
 * Every FileIo operation. Add a new operation here and every layer's suite covers it.
 *
 * @internal
 */
export const fileIoCalls: ReadonlyArray<FileIoCall> = [
  { name: "open", run: (io, t) => io.open(`${t.path}.other`, { create: true, direct: t.direct }) },
  { name: "close", run: (io, t) => io.close(t.handle) },
  { name: "writeAt", run: (io, t) => io.writeAt(t.handle, t.aligned.bytes, 0) },
  { name: "writeAt-heap", run: (io, t) => io.writeAt(t.handle, t.heap, 0) },
  { name: "writeAtThenDatasync", run: (io, t) => io.writeAtThenDatasync(t.handle, t.aligned.bytes, 0) },
  { name: "writeAtThenDatasync-heap", run: (io, t) => io.writeAtThenDatasync(t.handle, t.heap, 0) },
  { name: "readAt", run: (io, t) => io.readAt(t.handle, t.aligned.bytes, 0) },
  { name: "readAt-heap", run: (io, t) => io.readAt(t.handle, t.heap, 0) },
  { name: "datasync", run: (io, t) => io.datasync(t.handle) },
  { name: "sync", run: (io, t) => io.sync(t.handle) },
  { name: "syncDirectory", run: (io, t) => io.syncDirectory(t.dir) },
  { name: "truncate", run: (io, t) => io.truncate(t.handle, t.aligned.bytes.byteLength) },
  { name: "allocate", run: (io, t) => io.allocate(t.handle, 0, 2 * t.aligned.bytes.byteLength) },
  // Optional in the interface; every layer here has it.
  { name: "startWriteback", run: (io, t) => io.startWriteback?.(t.handle, 0, BLOCK_BYTES) ?? Effect.void },
  { name: "size", run: (io, t) => io.size(t.handle) },
  { name: "lock", run: (io, t) => io.lock(t.handle) },
  { name: "remove", run: (io, t) => io.remove(`${t.path}.other`) },
  { name: "allocateAligned", run: (io) => io.allocateAligned(4096, 4096) },
  { name: "registerBuffers", run: (io, t) => io.registerBuffers([t.aligned]) },
]

/** How long a real layer's descriptor count may take to settle after an interrupt: 50 × 10 ms. */
const FD_SETTLE_TURNS_MAX = 50
const FD_SETTLE_TURN = "10 millis"

/** Bytes of the block every FileIo check writes first (a multiple of every DIO alignment). */
const BLOCK_BYTES = 4096

/**
 * Interrupts one FileIo operation after `yields` yields under `opsBeforeYield`, then checks the
 * aftermath (see the module comment). Returns how the operation ended.
 *
 * @internal
 */
export const checkFileIoCall = (env: Env, call: FileIoCall, opsBeforeYield: number, yields: number) => {
  const io = env.fileIo
  const attempt = `FileIo.${call.name} (${env.mode}) ops=${opsBeforeYield} k=${yields}`
  const path = `${env.dir}/${call.name}-${env.mode}-${opsBeforeYield}-${yields}.bin`
  const direct = env.mode === "direct"
  return Effect.gen(function* () {
    const fdsBefore = env.openFds?.()
    const exit = yield* mustAnswer(
      attempt,
      Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* io.open(path, { create: true, direct })
          const aligned = yield* io.allocateAligned(BLOCK_BYTES, BLOCK_BYTES)
          yield* io.writeAt(handle, aligned.bytes, 0)
          const target: FileTarget = { handle, path, dir: env.dir, direct, aligned, heap: new Uint8Array(BLOCK_BYTES) }
          const exit = yield* interruptAfter(Effect.scoped(call.run(io, target)), opsBeforeYield, yields)
          // A leaked pin makes this wait forever for the operation count to reach zero.
          yield* io.close(handle)
          return exit
        }),
      ),
    )
    yield* mustAnswer(
      `${attempt}: reopen and lock`,
      Effect.scoped(Effect.flatMap(io.open(path, { direct }), (handle) => io.lock(handle))),
    )
    if (fdsBefore !== undefined) {
      // An interrupted call may leave a close in flight on the threadpool (syncDirectory's own
      // fd): wait for the count to settle; a leaked descriptor never comes back.
      for (let turn = 0; turn < FD_SETTLE_TURNS_MAX && env.openFds!() !== fdsBefore; turn++) {
        yield* Effect.sleep(FD_SETTLE_TURN)
      }
      const leaked = env.openFds!() - fdsBefore
      if (leaked !== 0) return yield* Effect.die(new Error(`${attempt}: ${leaked} descriptors leaked`))
    }
    return exit
  })
}
