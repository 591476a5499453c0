/**
 * How the commands tell the user about damage: what the scan stopped at, whether intact frames
 * follow it (`JournalReader.survey`), and what the next `Journal.open` would do with them.
 */
import type { JournalReader } from "@fsys/core"

/** LSN ranges listed in one line before "…". */
const RUNS_SHOWN = 4

/**
 * What `--json` output carries about the damage: the survey's numbers, flattened.
 */
export interface DamageReport {
  readonly firstBadLsn: number
  readonly intactFramesAfterDamage: number
  readonly intactBytesAfterDamage: number
  /** Runs of consecutive intact frames after the damage (the first few). */
  readonly intactRuns: ReadonlyArray<JournalReader.IntactRun>
  /** False when the survey stopped at its CRC-checking budget before the end of the file. */
  readonly surveyComplete: boolean
}

export const report = (damage: JournalReader.Damage): DamageReport => ({
  firstBadLsn: damage.firstBadLsn,
  intactFramesAfterDamage: damage.intactFrames,
  intactBytesAfterDamage: damage.intactBytes,
  intactRuns: damage.runs,
  surveyComplete: damage.complete,
})

const runText = (run: JournalReader.IntactRun): string =>
  run.frames === 1 ? `${run.firstLsn}` : `${run.firstLsn}…${run.lastLsn} (${run.frames})`

/**
 * One line about intact frames after the damage, or `undefined` when there are none (a torn or
 * garbage tail: nothing of value would be cut).
 */
export const intactLine = (damage: DamageReport): string | undefined => {
  if (damage.intactFramesAfterDamage === 0) {
    return damage.surveyComplete ? undefined : "the search for intact frames after it stopped at its budget"
  }
  const runs = damage.intactRuns
  const listed = runs.slice(0, RUNS_SHOWN).map(runText).join(", ")
  const more = runs.length > RUNS_SHOWN || !damage.surveyComplete ? ", …" : ""
  return (
    `${damage.intactFramesAfterDamage} intact frames follow the damage at ${damage.firstBadLsn}` +
    ` (LSNs ${listed}${more}); the next open would save them, with the rest of the tail, to` +
    ` <journal>.corrupt-${damage.firstBadLsn}… and cut them from the journal — copy the file first to keep them`
  )
}
