/**
 * Our journal as bench subjects: Direct mode over io_uring (with fdatasync rounds, and with
 * RWF_DSYNC rounds: `fsys-direct-dsync`), Direct mode over pwrite, and Buffered
 * mode over the default backend (and, named only, Buffered with adaptive overlap). Producers run as Effect fibers, as an Effect user writes them (`appendDurable` per
 * durable record; `appendBatch` + `sync`); the journal's Scope is held open until
 * `close`. The backend is chosen with the journal's own `backend` option.
 *
 * A subject that cannot get what it asks for here (io_uring disabled, O_DIRECT refused) is
 * reported as skipped with the journal's own reason, not measured as something else.
 *
 * @since 0.1.0
 */
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { Journal, JournalReader } from "@fsys/core"
import { SubjectUnavailable } from "../driver.ts"
import type { Loops, Session, Subject } from "../driver.ts"
import type { Source } from "../records.ts"

/** The journal's file in a workload directory (shared with the Promise API subject). */
export const FILE_NAME = "fsys.journal"

interface Variant {
  readonly options: Journal.Options
  /** What `info` must report for the measurement to count as this subject. */
  readonly expect: { readonly backend?: string; readonly directActive?: boolean; readonly syncMethod?: string }
}

/** The workloads' loops over one handle, each one Effect run (no Promise per record). */
const journalLoops = (handle: Journal.Handle, run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>): Loops => {
  const durableProducer = (source: Source) =>
    Effect.gen(function* () {
      for (let payload = source.next(); payload !== undefined; payload = source.next()) {
        // The single-call durable append: one park per record (what the docs tell producers to use).
        yield* handle.appendDurable(payload)
        source.release(payload)
      }
    })
  return {
    durable: (source, producers) =>
      run(
        Effect.forEach(Array.from({ length: producers }), () => durableProducer(source), {
          concurrency: "unbounded",
          discard: true,
        }),
      ),
    durableBatch: (source, batchSize) =>
      run(
        Effect.gen(function* () {
          for (let batch = source.nextBatch(batchSize); batch !== undefined; batch = source.nextBatch(batchSize)) {
            yield* handle.syncThrough(yield* handle.appendBatch(batch))
          }
        }),
      ),
    unsynced: (source) =>
      run(
        Effect.gen(function* () {
          for (let payload = source.next(); payload !== undefined; payload = source.next()) {
            yield* handle.append(payload)
            // `append` has copied the record into the log buffer (an oversize one's chunks are
            // all written) when it returns: its memory may back the next record.
            source.release(payload)
          }
          yield* handle.sync
        }),
      ),
    unsyncedBatch: (source, batchSize) =>
      run(
        Effect.gen(function* () {
          for (let batch = source.nextBatch(batchSize); batch !== undefined; batch = source.nextBatch(batchSize)) {
            yield* handle.appendBatch(batch)
          }
          yield* handle.sync
        }),
      ),
  }
}

const openSession = async (variant: Variant, directory: string): Promise<Session> => {
  const scope = Scope.makeUnsafe()
  const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect)
  try {
    const handle = await run(
      Journal.open(join(directory, FILE_NAME), variant.options).pipe(
        Scope.provide(scope),
        // A backend this build or kernel cannot give is "cannot run here", not a failure.
        Effect.catchTag("InvalidOptions", (error) =>
          Effect.fail(error.option === "backend" ? new SubjectUnavailable(error.reason) : error),
        ),
      ),
    )
    const info = await run(handle.info)
    const detail =
      `${info.mode}${info.directActive ? " (O_DIRECT)" : ""} over ${info.backend}, ` +
      `${info.logBufferBytes / 1024} KiB slots, sector ${info.sectorBytes} B, ${info.syncMethod} rounds`
    if (variant.expect.backend !== undefined && info.backend !== variant.expect.backend) {
      throw new SubjectUnavailable(`journal chose ${info.backend}: ${info.reason}`)
    }
    if (variant.expect.directActive !== undefined && info.directActive !== variant.expect.directActive) {
      throw new SubjectUnavailable(`O_DIRECT not active: ${info.reason}`)
    }
    if (variant.expect.syncMethod !== undefined && info.syncMethod !== variant.expect.syncMethod) {
      throw new SubjectUnavailable(`rounds use ${info.syncMethod}: ${info.reason}`)
    }

    const loops = journalLoops(handle, run)
    return {
      detail,
      appendDurable: (payload) => run(Effect.asVoid(handle.appendDurable(payload))),
      appendBatchDurable: (payloads) => run(Effect.flatMap(handle.appendBatch(payloads), handle.syncThrough)),
      append: (payload) => run(Effect.asVoid(handle.append(payload))),
      appendBatch: (payloads) => run(Effect.asVoid(handle.appendBatch(payloads))),
      sync: () => run(Effect.asVoid(handle.sync)),
      close: async () => {
        await run(handle.close)
        await run(Scope.close(scope, Exit.void))
      },
      loops,
    }
  } catch (error) {
    await run(Scope.close(scope, Exit.void))
    throw error
  }
}

/** Reads back through the recovery scan: every frame's CRC checked, payloads handed over as views. */
export const readAll = (directory: string, visit: (payload: Uint8Array) => void): Promise<void> =>
  Effect.runPromise(
    Effect.asVoid(JournalReader.scan(join(directory, FILE_NAME), { onRecord: (_lsn, payload) => visit(payload) })),
  )

const makeSubject = (variant: Variant): Subject => ({
  available: async () => undefined,
  open: (directory) => openSession(variant, directory),
  readAll,
})

/**
 * @since 0.1.0
 */
export const subjects = {
  "fsys-direct-io_uring": makeSubject({
    options: { mode: "direct", backend: "io_uring" },
    expect: { backend: "io_uring", directActive: true },
  }),
  "fsys-direct-pwrite": makeSubject({
    options: { mode: "direct", backend: "pwrite" },
    expect: { backend: "pwrite", directActive: true },
  }),
  // Direct over io_uring with rounds made durable by RWF_DSYNC writes (`syncMethod: "dsync"`).
  "fsys-direct-dsync": makeSubject({
    options: { mode: "direct", backend: "io_uring", syncMethod: "dsync" },
    expect: { backend: "io_uring", directActive: true, syncMethod: "dsync" },
  }),
  // Buffered mode with the default backend (io_uring where the kernel allows it), as a user who
  // only asks for `mode: "buffered"` gets it; `info.backend` in the row's detail says which.
  "fsys-buffered": makeSubject({
    options: { mode: "buffered" },
    expect: { directActive: false },
  }),
  "fsys-buffered-overlap": makeSubject({
    options: { mode: "buffered", overlapRounds: "adaptive" },
    expect: { directActive: false },
  }),
} satisfies Record<string, Subject>
