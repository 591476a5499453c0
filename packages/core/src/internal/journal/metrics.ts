/**
 * The journal's health metrics (Effect `Metric`), updated once per group-commit round rather
 * than per record, so that counting costs nothing on the append hot path. fsys declared health
 * counters and left them at zero; these are tested.
 *
 * @since 0.1.0
 */
import { type Context, Metric } from "effect"

export const appends = Metric.counter("fsys_journal_appends_total", {
  description: "records appended",
  incremental: true,
})
export const appendedBytes = Metric.counter("fsys_journal_appended_bytes_total", {
  description: "frame bytes appended (payload + 12 bytes of overhead)",
  incremental: true,
})
export const syncRequests = Metric.counter("fsys_journal_sync_requests_total", {
  description: "syncThrough/sync calls that had to wait for durability",
  incremental: true,
})
export const fdatasyncs = Metric.counter("fsys_journal_fdatasyncs_total", {
  description: "group-commit rounds, each one fdatasync",
  incremental: true,
})
export const waitersPerSync = Metric.histogram("fsys_journal_waiters_per_sync", {
  description: "sync callers served by one fdatasync",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 2, count: 12 }),
})
export const syncLatencyMicros = Metric.histogram("fsys_journal_sync_latency_micros", {
  description: "flush + fdatasync latency of a group-commit round",
  boundaries: Metric.exponentialBoundaries({ start: 16, factor: 2, count: 16 }),
})

/** Every metric above, as `Journal.metrics` shows them. */
export const journalMetrics = {
  appends,
  appendedBytes,
  syncRequests,
  fdatasyncs,
  waitersPerSync,
  syncLatencyMicros,
} as const

/** Plain counters kept on the handle; the metrics above receive their deltas once per round. */
export interface Counters {
  appends: number
  appendedBytes: number
  syncRequests: number
  fdatasyncs: number
}

/**
 * Publishes one round: the counters' deltas since the last round and the round's histogram
 * samples. Synchronous (`updateUnsafe` in the opener's context, captured once at open): it runs
 * inside the round's completion, where building and running six metric Effects per round cost
 * ≈ 4 µs (issue 12's profile), more than the rest of the round's bookkeeping.
 */
export const publishRoundUnsafe = (
  context: Context.Context<never>,
  delta: Counters,
  waiters: number,
  latencyMicros: number,
): void => {
  if (delta.appends > 0) appends.updateUnsafe(delta.appends, context)
  if (delta.appendedBytes > 0) appendedBytes.updateUnsafe(delta.appendedBytes, context)
  if (delta.syncRequests > 0) syncRequests.updateUnsafe(delta.syncRequests, context)
  if (delta.fdatasyncs > 0) fdatasyncs.updateUnsafe(delta.fdatasyncs, context)
  waitersPerSync.updateUnsafe(waiters, context)
  syncLatencyMicros.updateUnsafe(latencyMicros, context)
}
