/**
 * The names in a segmented journal's directory, and what each one means.
 *
 * | name                          | what it is                                                     |
 * |-------------------------------|----------------------------------------------------------------|
 * | `<base, 20 digits>.journal`   | a segment: an fsys v1 journal whose byte 0 is LSN `base`        |
 * | `<segment>.corrupt-<offset>`  | a torn tail saved by the single-file journal's recovery        |
 * | `standby.journal`             | the next segment, created ahead of need; holds no acknowledged record |
 * | `recycled.journal`            | a retired segment being zeroed to become the standby (`recycleSegments`) |
 * | `checkpoint`                  | the last checkpoint (replaced atomically through `checkpoint.tmp`) |
 * | `truncate-intent`             | a `truncateBack` in progress: recovery finishes it (roll forward) |
 * | `lock`                        | held with flock by the open handle (a second open fails `JournalLocked`) |
 *
 * Twenty digits hold every LSN up to 2^64, so names sort in LSN order as strings.
 *
 * @internal
 */
import * as NodePath from "node:path"

export const SEGMENT_SUFFIX = ".journal"
export const BASE_DIGITS = 20
export const STANDBY_NAME = "standby.journal"
export const RECYCLED_NAME = "recycled.journal"
export const CHECKPOINT_NAME = "checkpoint"
export const CHECKPOINT_TEMP_NAME = "checkpoint.tmp"
export const INTENT_NAME = "truncate-intent"
export const INTENT_TEMP_NAME = "truncate-intent.tmp"
export const LOCK_NAME = "lock"

const SEGMENT_PATTERN = /^(\d{20})\.journal$/

export const segmentName = (baseLsn: number): string => `${String(baseLsn).padStart(BASE_DIGITS, "0")}${SEGMENT_SUFFIX}`

export const segmentPath = (directory: string, baseLsn: number): string =>
  NodePath.join(directory, segmentName(baseLsn))

/** The base LSN a segment's name declares, or undefined when the name is not a segment's. */
export const parseSegmentName = (name: string): number | undefined => {
  const match = SEGMENT_PATTERN.exec(name)
  if (match === null) return undefined
  const base = Number(match[1])
  return Number.isSafeInteger(base) ? base : undefined
}
