/**
 * When the writer (`writer.ts`) may start a job while another is in flight. At most
 * `IN_FLIGHT_MAX` jobs run at once, and two jobs overlap only when that cannot change what reaches
 * the disk, or what an fdatasync's success proves (`mayOverlap`, `splitFrom`), and only when the
 * machine has the CPUs for it (`copiesFit`):
 * - Both are slot writes, and the later one is either unsynced or, like the earlier one, linked to
 *   its own fdatasync: every write is covered by the fdatasync that starts after it completed, so
 *   no fdatasync is trusted for a write that may not have completed before it started. An
 *   unsynced write claims nothing durable; the fdatasync that will cover it (a bare one, or a
 *   later synced slot) never starts beside it. Two unsynced slot writes in flight are what keeps
 *   a disk busy under large records: `scripts/write-depth.ts` measured 3 MiB writes two in flight
 *   at 1.3–1.6× one at a time, buffered and O_DIRECT.
 * - Their file ranges are disjoint. A Direct journal's consecutive writes share the carried
 *   sector (written padded, then rewritten with more records): two such writes in flight at once
 *   have no defined order in the kernel and the older, padded version could win, losing
 *   acknowledged records. So a Direct round overlaps the previous one only when that one ended on
 *   a sector boundary; a buffered journal's writes never share a byte. An unsynced Direct slot
 *   write that shares only its first sector with the write in flight is **split** (`splitFrom`):
 *   the rest of it starts at once, disjoint, and that first sector (the carried one, holding the
 *   earlier write's tail bytes and its own first ones) starts only once the earlier write
 *   completed, so its newer version lands last. A crash between the two leaves the earlier
 *   write's padded sector, then bytes after it: a torn tail, which any multi-sector write can
 *   leave and recovery already truncates (nothing of it was acknowledged: it is unsynced, and
 *   the job completes only when both parts did).
 * - Two fdatasyncs in flight run on different **lanes** (open files of the same log). Linux
 *   reports a writeback error once per open file (errseq): of two concurrent fdatasyncs on one
 *   open file, one may get the EIO and the other 0 although its pages were lost too. With one
 *   open file per fdatasync in flight, each reports every error since its lane's previous one.
 *   A journal without a second lane (the default) never has two fdatasyncs in flight.
 * - Two buffered writes are both at most `bufferedOverlapBytesMax` (`copiesFit`): each is a
 *   page-cache copy on a kernel worker thread, and two large ones beside the main thread need
 *   three cores (`internal/capabilities/cores.ts`).
 * Every other job (a bare fdatasync, an oversize chunk, a preallocation) runs alone: it starts
 * when nothing is in flight and nothing starts beside it.
 *
 * @internal
 */
import type { Job } from "./writer.ts"

/** Jobs in flight at most: two group-commit rounds (the device serves concurrent syncs in parallel). */
export const IN_FLIGHT_MAX = 2

/**
 * Whether `later` may start while `earlier` is in flight (see the module doc). `lanes` is how
 * many open files the writer has: two fdatasyncs in flight need one each.
 */
export const mayOverlap = (earlier: Job, later: Job, lanes: number): boolean =>
  earlier.kind === "slot" &&
  later.kind === "slot" &&
  later.fileOffsetBytes >= earlier.fileOffsetBytes + earlier.bytes.byteLength &&
  // An unsynced write claims nothing durable: it may run beside any disjoint slot write. A synced
  // one may not start beside an unsynced write, whose completion its fdatasync must follow.
  (!later.datasync || (earlier.datasync && lanes === IN_FLIGHT_MAX))

/**
 * Whether `later` may start split beside `earlier` in flight (see the module doc): both slot
 * writes, `later` unsynced and overlapping `earlier` in exactly its own first sector.
 */
export const splitFrom = (earlier: Job, later: Job, sectorBytes: number): boolean =>
  sectorBytes > 1 &&
  earlier.kind === "slot" &&
  later.kind === "slot" &&
  !later.datasync &&
  later.bytes.byteLength > sectorBytes &&
  later.fileOffsetBytes + sectorBytes === earlier.fileOffsetBytes + earlier.bytes.byteLength

/**
 * Whether two writes are small enough to be copied at once (see the module doc): always for a
 * Direct log (its writes are DMA from the slots) or without a bound. Found by
 * `scripts/loop-gaps.ts 1048576 3 buffered 0 reused` on 2 cores: with two 4 MiB slot copies in
 * flight the main thread was runnable but off a CPU for 330–650 ms of 3 s.
 */
export const copiesFit = (earlier: Job, later: Job, sectorBytes: number, boundBytes: number | undefined): boolean =>
  boundBytes === undefined ||
  sectorBytes !== 1 ||
  earlier.kind !== "slot" ||
  later.kind !== "slot" ||
  (earlier.bytes.byteLength <= boundBytes && later.bytes.byteLength <= boundBytes)
