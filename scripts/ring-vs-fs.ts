/**
 * O_DIRECT writes through our io_uring ring vs Node's `fs`, in one run, as ratios — and what each
 * does to the event loop (`perf_hooks.monitorEventLoopDelay`) while it runs.
 *
 * Subjects, for 4 KiB and 64 KiB blocks at queue depth 1 and 32, overwriting a preallocated file
 * (so the numbers are about the IO path, not block allocation):
 * - `ring WRITE`        — `IoUring.write` Effects, `depth` fibers each awaiting its own write;
 * - `ring WRITE_FIXED`  — the same with the buffer registered (`IoUring.registerBuffers`);
 * - `fs.write`          — `node:fs` callbacks with `depth` writes outstanding (libuv threadpool,
 *                         default 4 threads): the baseline, "fs done right";
 * - `fs.writeSync`      — depth 1 only: the blocking call, for the event-loop column.
 * Every subject writes the same bytes from the same aligned memory to the same file. Each
 * measurement is repeated `ROUNDS` times in rotating order; the median is reported.
 *
 * This VM's disk acknowledges writes from the host's cache, so absolute numbers say little;
 * the ratios in the same run are the point.
 *
 * Run: `node scripts/ring-vs-fs.ts [--quick] [--json]` (Node 24 from node_modules/.bin).
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Effect } from "effect"
import { AlignedMemory, IoUring, Libc } from "@fsys/native"

const quick = process.argv.includes("--quick")
const json = process.argv.includes("--json")

const KiB = 1024
const MiB = 1024 * KiB
/** The file written over and over: large enough that depth × block never overlaps itself. */
const FILE_BYTES = 64 * MiB
/** Bytes moved per measurement, per block size. */
const BYTES_PER_RUN = quick ? 16 * MiB : 128 * MiB
const ROUNDS = quick ? 1 : 3
const BLOCKS = [4 * KiB, 64 * KiB] as const
const DEPTHS = [1, 32] as const
const RING_ENTRIES = 64

type Subject = "ring WRITE" | "ring WRITE_FIXED" | "fs.write" | "fs.writeSync"

interface Sample {
  readonly opsPerSecond: number
  readonly loopP50Millis: number
  readonly loopP99Millis: number
  readonly loopMaxMillis: number
}

interface Row extends Sample {
  readonly blockBytes: number
  readonly depth: number
  readonly subject: Subject
  readonly mibPerSecond: number
  /** ops/s relative to `fs.write` at the same block size and depth. */
  readonly vsFsWrite: number
}

const offsetOf = (index: number, blockBytes: number) => (index * blockBytes) % FILE_BYTES

/** Runs `body` (which performs `ops` writes) with the event-loop delay histogram on. */
const measure = async (ops: number, body: () => Promise<void>): Promise<Sample> => {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  // The histogram's first tick only sets its baseline: let it happen before the body runs.
  await new Promise((resolve) => setTimeout(resolve, 3))
  const start = process.hrtime.bigint()
  await body()
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  // Let the histogram's timer fire once more, so a loop blocked until the very end (writeSync)
  // is recorded as the stall it was.
  await new Promise((resolve) => setTimeout(resolve, 2))
  histogram.disable()
  return {
    opsPerSecond: ops / seconds,
    loopP50Millis: histogram.percentile(50) / 1e6,
    loopP99Millis: histogram.percentile(99) / 1e6,
    loopMaxMillis: histogram.max / 1e6,
  }
}

const fsWrite = (fd: number, source: Buffer, blockBytes: number, depth: number, ops: number) =>
  new Promise<void>((resolve, reject) => {
    let next = 0
    let completed = 0
    let outstanding = 0
    let failed = false
    const pump = () => {
      while (!failed && outstanding < depth && next < ops) {
        const index = next++
        outstanding++
        NodeFs.write(
          fd,
          source,
          (index % depth) * blockBytes,
          blockBytes,
          offsetOf(index, blockBytes),
          (error, written) => {
            outstanding--
            if (error !== null || written !== blockBytes) {
              failed = true
              return reject(error ?? new Error(`short write ${written}`))
            }
            if (++completed === ops) return resolve()
            pump()
          },
        )
      }
    }
    pump()
  })

const fsWriteSync = (fd: number, source: Buffer, blockBytes: number, ops: number) =>
  new Promise<void>((resolve) => {
    for (let index = 0; index < ops; index++) {
      const written = NodeFs.writeSync(fd, source, 0, blockBytes, offsetOf(index, blockBytes))
      if (written !== blockBytes) throw new Error(`short write ${written}`)
    }
    resolve()
  })

const ringWrite = (
  ring: IoUring.Ring,
  fd: number,
  source: Uint8Array,
  blockBytes: number,
  depth: number,
  ops: number,
) => {
  let next = 0
  const worker = Effect.gen(function* () {
    while (true) {
      const index = next++
      if (index >= ops) return
      const slot = (index % depth) * blockBytes
      const written = yield* IoUring.write(
        ring,
        fd,
        source.subarray(slot, slot + blockBytes),
        offsetOf(index, blockBytes),
      )
      if (written !== blockBytes) return yield* Effect.die(new Error(`short write ${written}`))
    }
  })
  return Effect.all(
    Array.from({ length: depth }, () => worker),
    { concurrency: "unbounded", discard: true },
  )
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const main = Effect.gen(function* () {
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-ring-vs-fs-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true })))
  const path = NodePath.join(directory, "target")
  const fd = yield* Effect.acquireRelease(Libc.open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT), (descriptor) =>
    Effect.ignore(Libc.close(descriptor)),
  )
  const maxDepth = Math.max(...DEPTHS)
  const memory = yield* AlignedMemory.allocate(maxDepth * Math.max(...BLOCKS), 4096)
  for (let i = 0; i < memory.byteLength; i++) memory.bytes[i] = (i * 131) & 0xff
  const source = Buffer.from(memory.bytes.buffer, memory.bytes.byteOffset, memory.byteLength)
  // Preallocate and write the whole file once, so every measured write is an overwrite.
  for (let offset = 0; offset < FILE_BYTES; offset += memory.byteLength) {
    yield* Libc.pwrite(fd, memory.bytes.subarray(0, Math.min(memory.byteLength, FILE_BYTES - offset)), offset)
  }
  yield* Libc.fdatasync(fd)
  const ring = yield* IoUring.make({ entries: RING_ENTRIES })

  const samples = new Map<string, Array<Sample>>()
  const record = (key: string, sample: Sample) => samples.set(key, [...(samples.get(key) ?? []), sample])
  const runRing = (blockBytes: number, depth: number, ops: number) =>
    Effect.promise(() =>
      measure(ops, () => Effect.runPromise(ringWrite(ring, fd, memory.bytes, blockBytes, depth, ops))),
    )

  for (let round = 0; round < ROUNDS; round++) {
    for (const blockBytes of BLOCKS) {
      const ops = Math.floor(BYTES_PER_RUN / blockBytes)
      for (const depth of DEPTHS) {
        const subjects: Array<[Subject, Effect.Effect<Sample>]> = [
          ["fs.write", Effect.promise(() => measure(ops, () => fsWrite(fd, source, blockBytes, depth, ops)))],
          ["ring WRITE", runRing(blockBytes, depth, ops)],
          [
            "ring WRITE_FIXED",
            Effect.scoped(
              Effect.andThen(Effect.orDie(IoUring.registerBuffers(ring, [memory])), runRing(blockBytes, depth, ops)),
            ),
          ],
        ]
        if (depth === 1)
          subjects.push([
            "fs.writeSync",
            Effect.promise(() => measure(ops, () => fsWriteSync(fd, source, blockBytes, ops))),
          ])
        // Rotate the order each round so no subject always runs first (cache, allocation, noise).
        for (let i = 0; i < subjects.length; i++) {
          const [subject, run] = subjects[(i + round) % subjects.length]!
          record(`${blockBytes}/${depth}/${subject}`, yield* run)
        }
      }
    }
  }

  const rows: Array<Row> = []
  for (const blockBytes of BLOCKS) {
    for (const depth of DEPTHS) {
      const summary = (subject: Subject): Sample | undefined => {
        const list = samples.get(`${blockBytes}/${depth}/${subject}`)
        if (list === undefined) return undefined
        return {
          opsPerSecond: median(list.map((s) => s.opsPerSecond)),
          loopP50Millis: median(list.map((s) => s.loopP50Millis)),
          loopP99Millis: median(list.map((s) => s.loopP99Millis)),
          loopMaxMillis: median(list.map((s) => s.loopMaxMillis)),
        }
      }
      const baseline = summary("fs.write")!
      for (const subject of ["fs.write", "ring WRITE", "ring WRITE_FIXED", "fs.writeSync"] as const) {
        const sample = summary(subject)
        if (sample === undefined) continue
        rows.push({
          blockBytes,
          depth,
          subject,
          ...sample,
          mibPerSecond: (sample.opsPerSecond * blockBytes) / MiB,
          vsFsWrite: sample.opsPerSecond / baseline.opsPerSecond,
        })
      }
    }
  }
  const stats = ring.stats()
  return { rows, ringStats: stats }
})

const format = (rows: ReadonlyArray<Row>): string => {
  const header = [
    "block",
    "depth",
    "subject",
    "ops/s",
    "MiB/s",
    "vs fs.write",
    "loop p50 ms",
    "loop p99 ms",
    "loop max ms",
  ]
  const lines = rows.map((row) => [
    `${row.blockBytes / KiB} KiB`,
    String(row.depth),
    row.subject,
    Math.round(row.opsPerSecond).toLocaleString("en-US"),
    row.mibPerSecond.toFixed(0),
    `${row.vsFsWrite.toFixed(2)}×`,
    row.loopP50Millis.toFixed(2),
    row.loopP99Millis.toFixed(2),
    row.loopMaxMillis.toFixed(2),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)))
  const render = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")
  return [render(header), ...lines.map(render)].join("\n")
}

Effect.runPromise(Effect.scoped(main)).then(
  ({ rows, ringStats }) => {
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ kernel: NodeOs.release(), node: process.version, quick, rows, ringStats }, null, 2)}\n`,
      )
      return
    }
    process.stdout.write(
      `O_DIRECT overwrites, ${ROUNDS} round(s), median; kernel ${NodeOs.release()}, Node ${process.version}\n`,
    )
    process.stdout.write(`${format(rows)}\n`)
    process.stdout.write(
      `ring: ${ringStats.sqesSubmitted} SQEs in ${ringStats.enters} io_uring_enter calls (${(ringStats.sqesSubmitted / ringStats.enters).toFixed(1)} per call), ${ringStats.fixedSqes} fixed\n`,
    )
  },
  (error) => {
    process.stderr.write(`${error}\n`)
    process.exitCode = 1
  },
)
