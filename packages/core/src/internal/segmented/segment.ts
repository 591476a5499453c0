/**
 * One segment of the chain, as the engine tracks it (states and invariants: `engine.ts`).
 *
 * @internal
 */
import { Deferred, type Scope } from "effect"
import type * as Journal from "../../Journal.ts"
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
