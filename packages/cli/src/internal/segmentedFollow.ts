/**
 * `fsys tail -f` on a segmented journal's directory: follows the records from a global LSN,
 * segment after segment, across the writer's rotations, until interrupted (Ctrl-C).
 *
 * How a switch is decided without any help from the writer (another process, no lock taken):
 * the follower reads the current segment with `JournalReader.records({ follow })` and tracks the
 * end of the last record it printed. A rotation seals the old segment (synced, zeros cut) before
 * it renames the standby to `<old end>.journal`, so once a segment named by that end exists,
 * every record of the current segment has been printed: the follower moves on. The standby
 * (`standby.journal`) is never read: its records show once its name is durable.
 *
 * What it prints is what reached the files, as for a single file's `tail -f`: the records of
 * every segment but the newest are durable (a rotation syncs a segment before sealing it); the
 * newest segment's may not be (the writer's durable frontier is not published to other
 * processes). A `truncateBack` that cuts below what was printed is detected (the file shrank
 * under the follower, or its segment vanished with no successor) and ends the run with exit 1.
 */
import { stat } from "node:fs/promises"
import * as NodePath from "node:path"
import { Effect, Stream } from "effect"
import { Frame, JournalReader } from "@fsys/core"
import * as Failure from "./failure.ts"

/** How often the follower looks for new records and for the next segment. */
export const POLL_MILLIS = 100
/** Segments one run may switch through: a bound on the loop (at 64 MiB each, 64 PiB). */
const SWITCHES_MAX = 1_000_000_000

/** `<base, 20 digits>.journal` (docs/FORMAT.md). */
export const segmentName = (baseLsn: number): string => `${String(baseLsn).padStart(20, "0")}.journal`

type Presence = { readonly _tag: "Missing" } | { readonly _tag: "Present"; readonly sizeBytes: number }

const presence = (path: string): Effect.Effect<Presence, Failure.CliFailure> =>
  Effect.tryPromise({
    try: () =>
      stat(path).then(
        (stats): Presence => ({ _tag: "Present", sizeBytes: stats.size }),
        (error: unknown): Presence => {
          if (typeof error === "object" && error !== null && "code" in error && error.code === "ENOENT") {
            return { _tag: "Missing" }
          }
          throw error
        },
      ),
    catch: Failure.fromError,
  })

const truncatedUnder = (directory: string, name: string, printedEnd: number): Failure.CliFailure =>
  new Failure.CliFailure({
    message:
      `${directory}: ${name} was truncated under the follower (a truncateBack cut below LSN ${printedEnd}, ` +
      "the end of what was printed): the records after the cut may be replaced",
    exitCode: Failure.ExitCode.Damaged,
  })

/**
 * Follows `directory` from global LSN `from` (a record start, or the end of the valid prefix)
 * in the segment whose base is `baseLsn`; `print` gets each batch. Ends only by interruption or
 * a failure.
 */
export const follow = Effect.fnUntraced(function* (
  directory: string,
  start: { readonly baseLsn: number; readonly from: number },
  options: { readonly legacyGaps: boolean; readonly pollMillis?: number },
  print: (batch: ReadonlyArray<JournalReader.JournalRecord>) => Effect.Effect<void>,
) {
  const pollMillis = options.pollMillis ?? POLL_MILLIS
  let baseLsn = start.baseLsn
  /** The end of the last record printed (global): where the next record, or segment, starts. */
  let printedEnd = start.from
  for (let switches = 0; switches < SWITCHES_MAX; switches++) {
    const name = segmentName(baseLsn)
    const path = NodePath.join(directory, name)
    const segmentBase = baseLsn
    // Completes once this segment is done: its successor exists at the end of what was printed.
    const finished = Effect.gen(function* () {
      for (;;) {
        yield* Effect.sleep(pollMillis)
        if (
          printedEnd > segmentBase &&
          (yield* presence(NodePath.join(directory, segmentName(printedEnd))))._tag === "Present"
        ) {
          return
        }
        const current = yield* presence(path)
        if (current._tag === "Missing" || current.sizeBytes < printedEnd - segmentBase) {
          return yield* truncatedUnder(directory, name, printedEnd)
        }
      }
    })
    const records = JournalReader.records(path, {
      from: printedEnd - segmentBase,
      follow: true,
      legacyGaps: options.legacyGaps,
      pollMillis,
    }).pipe(Stream.mapError(Failure.fromError), Stream.interruptWhen(finished))
    // The watcher only ever ends the stream when nothing is left to print from this segment.
    yield* Stream.runForEachArray(records, (batch) => {
      const global = batch.map((record) => ({ lsn: segmentBase + record.lsn, payload: record.payload }))
      const last = global[global.length - 1]
      if (last !== undefined) printedEnd = last.lsn + Frame.frameBytes(last.payload.length)
      return print(global)
    })
    baseLsn = printedEnd
  }
  return yield* Failure.failed(`${directory}: followed more than ${SWITCHES_MAX} segments`)
})
