/**
 * The crash-safety harness: a reference model of what a journal must hold after a crash, the
 * checker that compares a recovered file against it, and `runSeed`, one randomized crash run of
 * the real `Journal` on a `SimulatedDisk`.
 *
 * The invariants checked after every crash (docs/CRASH-SAFETY.md explains why each must hold):
 *
 * 1. **Prefix**: the recovered records are contiguous from LSN 0 (no hole, no overlap).
 * 2. **Durability**: every byte below the highest LSN a `syncThrough`/`sync`/`close` acknowledged
 *    (or that an open reported as `syncedLsn`) is recovered.
 * 3. **Identity**: every recovered record is, byte for byte, either a record recovered before
 *    (unchanged, at the same LSN), the record whose append returned that LSN, or a record whose
 *    append was submitted but never returned — each at most once. Nothing else: no garbage under a
 *    valid frame, nothing resurrected from a run that was rolled back.
 * 4. **Order**: each writer's records appear in the order it appended them, with no gap.
 * 5. **Resume**: the reopened journal's `nextLsn` is the clean end an independent decoder finds,
 *    its `syncedLsn` is exactly that, a non-zero tail was saved byte for byte to
 *    `<path>.corrupt-<cleanEnd>`, and the journal accepts appends that the next crash checks.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import * as Check from "./internal/crashHarness/check.ts"
import { runSeedWith } from "./internal/crashHarness/runner.ts"

/**
 * A record as recovered from a file: its start LSN and payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface JournalRecord {
  readonly lsn: number
  readonly payload: Uint8Array
}

/**
 * What an independent decoder (Frame.decode alone, strict about zero runs) finds in a file.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decoded {
  readonly records: ReadonlyArray<JournalRecord>
  readonly cleanEnd: number
  readonly fileSize: number
  /** What follows the clean end: nothing, only zeros, or anything else (torn or corrupt). */
  readonly tail: "none" | "zeros" | "nonZero"
}

/**
 * Decodes a journal image from offset 0 until the first frame that is not intact. It does not use
 * the journal's reader, so a reader bug cannot hide a writer bug.
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeJournal: (bytes: Uint8Array) => Decoded = Check.decodeJournal

/**
 * What the model expects of a file recovered after a crash in `epoch` (one journal open).
 *
 * @since 0.1.0
 * @category models
 */
export interface Expectation {
  readonly epoch: number
  /** The records verified at the start of this epoch (all durable: open synced them). */
  readonly base: ReadonlyArray<JournalRecord>
  /** Where this epoch's appends started (the end of `base`). */
  readonly startLsn: number
  /**
   * Start LSN → payload of every append that returned in this epoch, and of the last member of
   * every appendBatch that returned (its returned end LSN places only that one).
   */
  readonly acked: ReadonlyMap<number, Uint8Array>
  /** Record key → payload of every append submitted in this epoch, returned or not. */
  readonly submitted: ReadonlyMap<string, Uint8Array>
  /** The highest LSN acknowledged durable so far. */
  readonly durableLsn: number
}

/**
 * Checks recovered records against the model; returns the violations (empty when correct).
 *
 * @since 0.1.0
 * @category utils
 */
export const checkRecovery: (expect: Expectation, recovered: ReadonlyArray<JournalRecord>) => Array<string> =
  Check.checkRecovery

/**
 * A deliberate defect, to prove the checker catches what it claims to:
 * - `flipDurableByte`: after each crash, flip one byte inside the acknowledged-durable prefix;
 * - `dropDurableTail`: after each crash, cut the file inside the acknowledged-durable prefix;
 * - `lyingDatasync`: a FileIo whose datasync/fsync report success without making anything durable
 *   (a journal that publishes its durable frontier without a real sync);
 * - `syncBeforeWrite`: a FileIo whose linked write→datasync runs the datasync first (a journal
 *   that publishes a frontier covering bytes that reached the file after the sync began — fsys
 *   bug FS-J3's effect).
 *
 * @since 0.1.0
 * @category models
 */
export type Sabotage = "flipDurableByte" | "dropDurableTail" | "lyingDatasync" | "syncBeforeWrite"

/**
 * @since 0.1.0
 * @category models
 */
export interface SeedOptions {
  readonly seed: number
  readonly mode: "direct" | "buffered"
  /** Journal opens (each ended by a crash or a clean close then a crash). Default 4. */
  readonly epochs?: number
  /** Most operations per writer per epoch. Default 30. */
  readonly operationsMax?: number
  /** Most concurrent writer fibers. Default 6. */
  readonly writersMax?: number
  /** Include appendBatch in the workload (default true); turn it off to narrow a failure down. */
  readonly appendBatch?: boolean
  /**
   * Also require each appendBatch to be one contiguous reservation (its members back to back,
   * ending at the returned LSN), as fsys specifies. Default true; false checks only the last
   * member's LSN (and the others by the writer-order invariant), to narrow a failure down.
   */
  readonly batchContiguity?: boolean
  readonly sabotage?: Sabotage
  /**
   * Interrupt some operations after a random number of scheduler yields, as a user's
   * `Effect.timeout` does (default true). An interrupted append's record may or may not be in
   * the log; its writer then stops, so its records stay a gapless sequence. An interrupt must
   * never wedge the journal: later calls, close and the next epoch's open still have to work.
   */
  readonly interrupts?: boolean
  /** Limit for each phase (open, workload, close) before the run is declared hung. Default 20 s. */
  readonly phaseTimeoutMillis?: number
  /**
   * The journal's `syncMethod` for every epoch; default: `"dsync"` for seeds 2–3, 6–7, …
   * (`Math.floor(seed / 2)` odd), `"fdatasync"` for the others.
   */
  readonly syncMethod?: "fdatasync" | "dsync"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SeedResult {
  readonly seed: number
  readonly mode: "direct" | "buffered"
  /** Empty when every invariant held; each entry names the seed, epoch and crash. */
  readonly failures: ReadonlyArray<string>
  readonly epochs: number
  /** Appends (and batch members) that returned. */
  readonly appended: number
  /** Records in the file at the last check. */
  readonly recovered: number
  readonly crashes: ReadonlyArray<string>
  /** A digest of everything that happened, to prove a seed replays exactly. */
  readonly fingerprint: string
}

/**
 * Runs one randomized crash run: opens the real `Journal` on a fresh `SimulatedDisk`, runs
 * concurrent writers (append, appendBatch, syncThrough, sync) while the power fails at a random
 * IO or moment (sometimes during recovery itself, sometimes with EIO/ENOSPC/short writes armed),
 * reopens and checks every invariant, `epochs` times. Deterministic from the seed. Needs the live
 * clock (phase timeouts), not the TestClock.
 *
 * @since 0.1.0
 * @category constructors
 */
export const runSeed = (options: SeedOptions): Effect.Effect<SeedResult> => runSeedWith(options)
