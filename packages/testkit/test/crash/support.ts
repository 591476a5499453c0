/**
 * Helpers for the crash and fault suites: a journal on a simulated disk, its file decoded by the
 * harness's independent decoder, and a strict prefix check of what a reopen recovered.
 */
import { assert } from "@effect/vitest"
import { Effect, Exit, Option, Scope } from "effect"
import { FileIo, Journal, type JournalError } from "@fsys/core"
import { CrashHarness, Generators, type SimulatedDisk } from "@fsys/testkit"

export const PATH = "/sim/journal.log"

export const modes = ["buffered", "direct"] as const
export type Mode = (typeof modes)[number]

/** Journal options for a mode on the simulated disk: small slots so rotations happen often. */
export const optionsFor = (mode: Mode, extra?: Journal.Options): Journal.Options => ({
  mode,
  logBufferBytes: 4096,
  preallocateBytes: 0,
  ...(mode === "direct" ? { sectorBytes: 512 } : {}),
  ...extra,
})

/** Opens the journal on the disk's current boot, in the caller's Scope. */
export const openOn = (disk: SimulatedDisk.Disk, mode: Mode, extra?: Journal.Options) =>
  Journal.open(PATH, optionsFor(mode, extra)).pipe(Effect.provideService(FileIo.FileIo, disk.fileIo))

/**
 * Opens the journal in a Scope of its own, for tests that crash it: the test abandons it with
 * `abandon` (after `disk.crash`) instead of closing it.
 */
export const openAbandonable = (disk: SimulatedDisk.Disk, mode: Mode, extra?: Journal.Options) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const journal = yield* openOn(disk, mode, extra).pipe(Scope.provide(scope))
    return { journal, abandon: Scope.close(scope, Exit.void) }
  })

/** A self-describing record (checked byte for byte after recovery). */
export const recordOf = (sequence: number, sizeBytes = 100, writer = 1): Uint8Array =>
  Generators.record({ epoch: 1, writer, sequence }, sizeBytes)

/** The journal file as the disk holds it now, decoded independently of the journal's reader. */
export const decodedFile = (disk: SimulatedDisk.Disk, path = PATH) =>
  Effect.map(disk.readFile(path), (file) => CrashHarness.decodeJournal(Option.getOrElse(file, () => new Uint8Array(0))))

/**
 * Asserts `recovered` is a prefix of `appended` (same records, same order, from LSN 0) that
 * includes at least the first `durableCount` records.
 */
export const assertPrefix = (
  recovered: ReadonlyArray<CrashHarness.JournalRecord>,
  appended: ReadonlyArray<Uint8Array>,
  durableCount: number,
  context: string,
): void => {
  assert.isAtLeast(recovered.length, durableCount, `${context}: durable records lost`)
  assert.isAtMost(recovered.length, appended.length, `${context}: more records than appended`)
  let lsn = 0
  for (let index = 0; index < recovered.length; index++) {
    const record = recovered[index] as CrashHarness.JournalRecord
    assert.strictEqual(record.lsn, lsn, `${context}: record ${index} at the wrong LSN`)
    assert.deepStrictEqual(record.payload, appended[index], `${context}: record ${index} differs`)
    lsn += record.payload.length + 12
  }
}

/** The error of a failed exit (fails the test on success). */
export const failureOf = <A>(exit: Exit.Exit<A, JournalError.JournalError>): JournalError.JournalError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
  assert.isDefined(error)
  return error as JournalError.JournalError
}

/** Asserts the journal is poisoned by an IoError with this errno. */
export const assertPoisoned = (error: JournalError.JournalError, code: string): void => {
  assert.strictEqual(error._tag, "JournalPoisoned", `expected JournalPoisoned, got ${error._tag}`)
  if (error._tag === "JournalPoisoned") assert.strictEqual(error.cause.code, code)
}
