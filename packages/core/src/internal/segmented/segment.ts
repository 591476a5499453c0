/**
 * One segment of the chain, as the engine tracks it (states and invariants: `engine.ts`).
 *
 * @internal
 */
import { Deferred, type Scope } from "effect"
import * as Frame from "../../Frame.ts"
import type * as Journal from "../../Journal.ts"
import type { JournalError } from "../../JournalError.ts"
import * as FastPath from "../journal/fastPath.ts"
import type { SegmentedError } from "./engine.ts"
import { SparseIndex } from "./sparseIndex.ts"

export interface Segment {
  readonly baseLsn: number
  path: string
  readonly index: SparseIndex
  state: "active" | "sealing" | "sealed"
  localEnd: number
  journal: Journal.Handle | undefined
  scope: Scope.Closeable | undefined
  inflight: number
  named: Deferred.Deferred<void, SegmentedError>
  sealed: Deferred.Deferred<void, SegmentedError>
}

/** Zeroed counters, the shape of `Journal.Stats` (closed segments accumulate into them). */
export const emptyStats = (): { -readonly [K in keyof Journal.Stats]: number } => ({
  appends: 0,
  appendedBytes: 0,
  syncRequests: 0,
  fdatasyncs: 0,
  dsyncWrites: 0,
})

/** The sparse-index note of a single append, for `enter`. */
export const noteAppend =
  (payload: Uint8Array) =>
  (segment: Segment, localEnd: number): void => {
    if (payload instanceof Uint8Array) segment.index.noteTolerant(localEnd - Frame.frameBytes(payload.byteLength))
  }

/** Records one append that ended at `localEnd` in the segment (index, end); its global end LSN. */
export const appended = (segment: Segment, payload: Uint8Array, localEnd: number): number => {
  noteAppend(payload)(segment, localEnd)
  if (localEnd > segment.localEnd) segment.localEnd = localEnd
  return segment.baseLsn + localEnd
}

export const makeSegment = (
  baseLsn: number,
  path: string,
  state: Segment["state"],
  index: SparseIndex = new SparseIndex(),
): Segment => ({
  baseLsn,
  path,
  index,
  state,
  localEnd: 0,
  journal: undefined,
  scope: undefined,
  inflight: 0,
  named: Deferred.makeUnsafe<void, SegmentedError>(),
  sealed: Deferred.makeUnsafe<void, SegmentedError>(),
})

/**
 * Appends `payload` to the segment's journal in this synchronous step if its fast path can
 * (`FastPath.tryAppend`, budgeted so a loop still yields): the global end LSN, the typed error,
 * or `undefined` (take the Effect path). Nothing can rotate the segment in between, so no append
 * is counted in flight. Saves the `onExit` frame and the Effect append, about half of what a
 * segmented append cost over a single-file one.
 */
export const appendNow = (
  segment: Segment,
  journal: Journal.Handle,
  payload: Uint8Array,
): number | JournalError | undefined => {
  const placed = FastPath.lookup(journal)?.tryAppend(payload, true)
  return typeof placed === "number" ? appended(segment, payload, placed) : placed
}
