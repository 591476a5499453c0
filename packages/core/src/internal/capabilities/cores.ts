/**
 * How many CPUs this process may run on, and what that allows the log buffer to hand to the
 * kernel's worker threads at once. A buffered write is a page-cache copy: all CPU, done by an
 * io_uring worker (or a libuv thread for pwrite) beside the main thread, which meanwhile copies
 * the next records into a slot. Two large copies in flight beside the main thread need three
 * cores; on two, the main thread waits for a CPU and the event loop stalls for milliseconds.
 *
 * @internal
 */
import * as NodeOs from "node:os"

/**
 * The largest buffered write that may start while another is in flight on a machine with no core
 * to spare for a second copy: 1 MiB copies in ≈ 0.1–0.3 ms, a short enough stall to keep the
 * overlap a durable round gains from it (64 × 4 KiB rounds are 264 KiB).
 */
export const BUFFERED_OVERLAP_BYTES_MAX_FEW_CORES = 1024 * 1024

/**
 * `bufferedOverlapBytesMax` for a machine with `cores` CPUs: unbounded with at least three (the
 * main thread and two copies each have one), else `BUFFERED_OVERLAP_BYTES_MAX_FEW_CORES`.
 */
export const bufferedOverlapBytesMax = (cores: number = NodeOs.availableParallelism()): number =>
  cores >= 3 ? Number.POSITIVE_INFINITY : BUFFERED_OVERLAP_BYTES_MAX_FEW_CORES
