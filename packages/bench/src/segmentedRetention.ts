/**
 * The segmented journal's retention workload (issue 14): write ≥ 4 GiB through 64 MiB segments,
 * checkpointing as a state machine would and letting retention keep 256 MiB, against the
 * single-file `Journal` writing the same records — interleaved in one run (single, segmented,
 * segmented, single, …) so both see the same disk minute. Reports, per pass and as medians:
 * throughput, the peak size of the journal's directory (allocated blocks, sampled), and append and
 * sync latency percentiles over the whole run and in windows around each rotation.
 *
 * Opt-in and standalone (it writes 4 GiB per subject and pass, too long for `fsys bench`'s default):
 *
 *   npx pnpm@12.4.2 exec node packages/bench/src/segmentedRetention.ts [--gib 4] [--passes 2]
 *     [--mode direct|buffered] [--dir /path] [--record-bytes 4096] [--sync-mib 1]
 *
 * The load: one producer appends `record-bytes` records without awaiting each one, syncs every
 * `sync-mib` MiB (awaiting it), and every 64 MiB checkpoints at the synced end — for the
 * single-file journal that step is skipped (it cannot forget). Appends are timed one by one.
 *
 * @since 0.2.0
 */
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeUtil from "node:util"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { Journal, SegmentedJournal } from "@fsys/core"

const MIB = 1024 * 1024
const SEGMENT_BYTES = 64 * MIB
const CHECKPOINT_EVERY_BYTES = 64 * MIB
/** How often the directory's allocated size is sampled. */
const SAMPLE_MILLIS = 100
/** Appends on each side of a rotation that count as "across the rotation". */
const ROTATION_WINDOW_APPENDS = 512

type SubjectName = "single-file" | "segmented"

interface PassResult {
  readonly subject: SubjectName
  readonly bytes: number
  readonly seconds: number
  readonly mibPerSecond: number
  readonly peakDirectoryBytes: number
  readonly rotations: number
  readonly appendMicros: Percentiles
  readonly appendNearRotationMicros: Percentiles | undefined
  readonly syncMicros: Percentiles
}

interface Percentiles {
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

const percentiles = (values: Float64Array): Percentiles => {
  const sorted = Float64Array.from(values).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: sorted[sorted.length - 1] ?? 0 }
}

/** Directory levels `allocatedBytes` descends (the segmented journal is one directory down). */
const DEPTH_MAX = 2

/** Allocated bytes of every file under `directory` (st_blocks, so preallocated zeros count). */
const allocatedBytes = (directory: string, depth = 0): number => {
  let total = 0
  for (const name of NodeFs.readdirSync(directory)) {
    const path = NodePath.join(directory, name)
    try {
      const stats = NodeFs.statSync(path)
      total += stats.isDirectory() && depth < DEPTH_MAX ? allocatedBytes(path, depth + 1) : stats.blocks * 512
    } catch {
      // Deleted between the listing and the stat (retention): it holds nothing any more.
    }
  }
  return total
}

/** What both subjects offer the loop. */
interface Target {
  readonly append: (payload: Uint8Array) => Effect.Effect<number, unknown>
  readonly sync: Effect.Effect<number, unknown>
  readonly checkpoint: (lsn: number) => Effect.Effect<void, unknown>
  /** The newest segment's base (0 for a single file): a change is a rotation. */
  readonly newestBase: Effect.Effect<number>
}

const open = (subject: SubjectName, directory: string, options: PassOptions) =>
  Effect.gen(function* () {
    if (subject === "single-file") {
      const journal = yield* Journal.open(NodePath.join(directory, "single.journal"), { mode: options.mode })
      const target: Target = {
        append: journal.append,
        sync: journal.sync,
        checkpoint: () => Effect.void,
        newestBase: Effect.succeed(0),
      }
      return target
    }
    const { mode, retainBytes, recycleSegments, preallocateBytes } = options
    const journal = yield* SegmentedJournal.open(NodePath.join(directory, "segmented"), {
      mode,
      segmentBytes: SEGMENT_BYTES,
      retainBytes,
      recycleSegments,
      ...(preallocateBytes === undefined ? {} : { preallocateBytes }),
    })
    const target: Target = {
      append: journal.append,
      sync: journal.sync,
      checkpoint: (lsn) => journal.checkpoint(lsn),
      newestBase: Effect.map(journal.segments, (segments) => segments[segments.length - 1]?.baseLsn ?? 0),
    }
    return target
  })

interface PassOptions {
  readonly totalBytes: number
  readonly recordBytes: number
  readonly syncBytes: number
  readonly mode: "direct" | "buffered"
  readonly preallocateBytes: number | undefined
  readonly checkpoints: boolean
  readonly retainBytes: number
  readonly recycleSegments: boolean
}

interface Samples {
  readonly appendMicros: Float64Array
  readonly syncMicros: Array<number>
  readonly rotationsAt: Array<number>
}

/** The producer: `count` appends, a sync every `syncBytes`, a checkpoint every 64 MiB; seconds taken. */
const writeAll = (target: Target, options: PassOptions, count: number, samples: Samples) =>
  Effect.gen(function* () {
    const payload = new Uint8Array(options.recordBytes).map((_, i) => (i * 31) & 0xff)
    let base = yield* target.newestBase
    let sinceSync = 0
    let sinceCheckpoint = 0
    const started = performance.now()
    for (let i = 0; i < count; i++) {
      const before = performance.now()
      yield* target.append(payload)
      samples.appendMicros[i] = (performance.now() - before) * 1000
      sinceSync += options.recordBytes
      if (sinceSync < options.syncBytes) continue
      sinceSync = 0
      const syncStart = performance.now()
      const end = yield* target.sync
      samples.syncMicros.push((performance.now() - syncStart) * 1000)
      sinceCheckpoint += options.syncBytes
      if (options.checkpoints && sinceCheckpoint >= CHECKPOINT_EVERY_BYTES) {
        sinceCheckpoint = 0
        yield* target.checkpoint(end)
      }
      const newest = yield* target.newestBase
      if (newest !== base) {
        base = newest
        samples.rotationsAt.push(i)
      }
    }
    yield* target.sync
    return (performance.now() - started) / 1000
  })

/** Append latency within ROTATION_WINDOW_APPENDS of each rotation. */
const nearRotations = (samples: Samples, options: PassOptions, count: number): Array<number> => {
  const near: Array<number> = []
  for (const at of samples.rotationsAt) {
    // The rotation happened somewhere in the sync interval before `at`: window around it.
    const from = Math.max(0, at - ROTATION_WINDOW_APPENDS - Math.ceil(options.syncBytes / options.recordBytes))
    for (let i = from; i < Math.min(count, at + ROTATION_WINDOW_APPENDS); i++) near.push(samples.appendMicros[i]!)
  }
  return near
}

/** The device's quiet time after a pass's files are gone (see `settle`). */
const SETTLE_MILLIS = 2000

/**
 * Lets the removal of a pass's files finish before the next pass starts: `sync` waits for the
 * journal commit that frees their blocks (on a `discard` mount, also the discard of gigabytes of
 * extents), which would otherwise land inside whichever subject runs next (single-file rates
 * drifted 110–177 MiB/s within one run before this).
 */
const settle = async (): Promise<void> => {
  await NodeUtil.promisify(NodeChildProcess.execFile)("sync")
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MILLIS))
}

const runPass = (subject: SubjectName, root: string, options: PassOptions) =>
  Effect.gen(function* () {
    const directory = NodeFs.mkdtempSync(NodePath.join(root, `${subject}-`))
    const count = Math.ceil(options.totalBytes / options.recordBytes)
    const samples: Samples = { appendMicros: new Float64Array(count), syncMicros: [], rotationsAt: [] }
    let peak = 0
    const sampler = setInterval(() => {
      peak = Math.max(peak, allocatedBytes(directory))
    }, SAMPLE_MILLIS)
    try {
      const seconds = yield* Effect.scoped(
        Effect.flatMap(open(subject, directory, options), (target) => writeAll(target, options, count, samples)),
      )
      peak = Math.max(peak, allocatedBytes(directory))
      const near = nearRotations(samples, options, count)
      const bytes = count * options.recordBytes
      const pass: PassResult = {
        subject,
        bytes,
        seconds,
        mibPerSecond: bytes / MIB / seconds,
        peakDirectoryBytes: peak,
        rotations: samples.rotationsAt.length,
        appendMicros: percentiles(samples.appendMicros),
        appendNearRotationMicros: near.length === 0 ? undefined : percentiles(Float64Array.from(near)),
        syncMicros: percentiles(Float64Array.from(samples.syncMicros)),
      }
      return pass
    } finally {
      clearInterval(sampler)
      NodeFs.rmSync(directory, { recursive: true, force: true })
    }
  })

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const fmt = (p: Percentiles | undefined): string =>
  p === undefined ? "-" : `${p.p50.toFixed(1)} / ${p.p99.toFixed(1)} / ${p.p999.toFixed(0)} / ${p.max.toFixed(0)}`

const main = async (): Promise<void> => {
  const { values } = parseArgs({
    options: {
      gib: { type: "string", default: "4" },
      passes: { type: "string", default: "2" },
      mode: { type: "string", default: "direct" },
      dir: { type: "string", default: NodeOs.tmpdir() },
      "record-bytes": { type: "string", default: "4096" },
      "sync-mib": { type: "string", default: "1" },
      /** The segmented journal's `preallocateBytes` (default: the standby preallocated whole). */
      "segmented-preallocate-mib": { type: "string" },
      /** No checkpoints (so no retention either): isolates the cost of rotation alone. */
      "no-checkpoint": { type: "boolean", default: false },
      /** Retention's `retainBytes` (default 256 MiB); a large value checkpoints without deleting. */
      "retain-mib": { type: "string", default: "256" },
      /** Recycle retired segments as standbys (`recycleSegments: true`) instead of unlinking them. */
      recycle: { type: "boolean", default: false },
    },
  })
  const mode = values.mode === "buffered" ? "buffered" : "direct"
  const options = {
    totalBytes: Math.round(Number(values.gib) * 1024 * MIB),
    recordBytes: Number(values["record-bytes"]),
    syncBytes: Number(values["sync-mib"]) * MIB,
    mode,
    checkpoints: values["no-checkpoint"] !== true,
    retainBytes: Number(values["retain-mib"]) * MIB,
    recycleSegments: values.recycle === true,
    preallocateBytes:
      values["segmented-preallocate-mib"] === undefined ? undefined : Number(values["segmented-preallocate-mib"]) * MIB,
  } as const
  const passes = Number(values.passes)
  const results: Array<PassResult> = []
  for (let pass = 0; pass < passes; pass++) {
    // Alternate the order so neither subject always runs on a warmer (or more tired) disk.
    const order: ReadonlyArray<SubjectName> =
      pass % 2 === 0 ? ["single-file", "segmented"] : ["segmented", "single-file"]
    for (const subject of order) {
      const result = await Effect.runPromise(runPass(subject, values.dir, options))
      await settle()
      results.push(result)
      console.error(
        `pass ${pass + 1} ${subject}: ${result.mibPerSecond.toFixed(1)} MiB/s, peak dir ${(result.peakDirectoryBytes / MIB).toFixed(0)} MiB, ` +
          `${result.rotations} rotations, append µs p50/p99/p99.9/max ${fmt(result.appendMicros)}, ` +
          `near rotations ${fmt(result.appendNearRotationMicros)}, sync µs ${fmt(result.syncMicros)}`,
      )
    }
  }
  const of = (subject: SubjectName) => results.filter((result) => result.subject === subject)
  const single = median(of("single-file").map((r) => r.mibPerSecond))
  const segmented = median(of("segmented").map((r) => r.mibPerSecond))
  const summary = {
    command: `segmentedRetention ${process.argv.slice(2).join(" ")}`.trim(),
    mode,
    gibPerPass: options.totalBytes / 1024 / MIB,
    recordBytes: options.recordBytes,
    segmentBytes: SEGMENT_BYTES,
    retainBytes: options.retainBytes,
    recycleSegments: options.recycleSegments,
    medianMibPerSecond: { singleFile: single, segmented },
    segmentedVsSingle: segmented / single,
    peakDirectoryMib: {
      singleFile: Math.max(...of("single-file").map((r) => r.peakDirectoryBytes)) / MIB,
      segmented: Math.max(...of("segmented").map((r) => r.peakDirectoryBytes)) / MIB,
    },
    passes: results,
  }
  console.log(JSON.stringify(summary))
}

await main()
