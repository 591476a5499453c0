/**
 * CPU per durable record: 64 producers × 100 B, each awaiting its own durability, on tmpfs
 * (/dev/shm), so the disk costs nothing and what is left is our CPU. Measures, in one run with
 * interleaved passes (the machine is shared and noisy: compare ratios, not absolute numbers):
 *
 * - `journal`: the Effect API, `append` then `syncThrough(end)` per record (what issue 12 measured);
 * - `durable`: the Effect API's single call, `appendDurable(payload)`;
 * - `promise`: the Promise API's single call, `await journal.appendDurable(payload)`;
 * - `promise2`: the Promise API's two calls, `await journal.syncThrough(await journal.append(payload))`;
 * - `nodefs`: a hand-written node:fs group commit (one `FileHandle.write` + `datasync` per round,
 *   plain Promises, the same v1 frames), what a careful user writes without a library.
 *
 * For each pass: µs of process CPU (user + system, `process.cpuUsage`) per record and records/s
 * over the wall clock. Prints per-pass lines, then medians and each subject's ratio to `nodefs`.
 *
 * Run: `nice npx pnpm@12.4.2 exec node scripts/cpu-per-record.ts [passes=5] [records=128000] [backend=auto]`
 * With `node --max-semi-space-size=512 scripts/cpu-per-record.ts 3 32000` no collection runs in a
 * pass, and each pass line also prints the JS heap bytes allocated per record.
 * (`FSYS_CPU_SUBJECTS=journal,nodefs` picks subjects; `FSYS_CPU_PRODUCERS=8` runs rounds of 8, so
 * comparing two producer counts splits the cost into a per-round and a per-record part;
 * `FSYS_CPU_DIR=/tmp` runs on the disk instead of tmpfs.)
 */
import * as NodeFs from "node:fs"
import * as NodeFsPromises from "node:fs/promises"
import * as NodePath from "node:path"
import { PerformanceObserver } from "node:perf_hooks"
import * as NodeV8 from "node:v8"
import { Effect } from "effect"
import { Frame, Journal } from "@fsys/core"
import { openJournal } from "@fsys/core/promise"

/** 64 unless `FSYS_CPU_PRODUCERS` says otherwise (fewer producers: smaller rounds, the per-round cost shows). */
const PRODUCERS = Number(process.env.FSYS_CPU_PRODUCERS ?? 64)
const PAYLOAD_BYTES = 100
const passes = Number(process.argv[2] ?? 5)
const records = Number(process.argv[3] ?? 128_000)
const backend = (process.argv[4] ?? "auto") as "auto" | "io_uring" | "pwrite"
const perProducer = Math.ceil(records / PRODUCERS)
/** `FSYS_CPU_OPTIONS='{"preallocateBytes":0}'`: more journal options (JSON) for an A/B run. */
const extraOptions = JSON.parse(process.env.FSYS_CPU_OPTIONS ?? "{}") as Journal.Options
const directory = NodeFs.mkdtempSync(
  NodePath.join(process.env.FSYS_CPU_DIR ?? (NodeFs.existsSync("/dev/shm") ? "/dev/shm" : "/tmp"), "fsys-cpu-"),
)
const payload = new Uint8Array(PAYLOAD_BYTES).fill(7)

interface Sample {
  readonly cpuMicrosPerRecord: number
  /** The kernel's share (system time): the writes, fdatasyncs, thread and ring wake-ups. */
  readonly systemMicrosPerRecord: number
  /**
   * JS heap bytes allocated per record: the heap's growth over the pass, meaningful only when no
   * garbage collection ran during it (run with `--max-semi-space-size=512`); `undefined` otherwise.
   */
  readonly heapBytesPerRecord: number | undefined
  readonly recordsPerSecond: number
  readonly roundsPerSecond: number
}

/** Times `body` (which makes `PRODUCERS × perProducer` records durable and returns the rounds used). */
const measure = async (body: () => Promise<number>): Promise<Sample> => {
  const total = PRODUCERS * perProducer
  let collections = 0
  const gcObserver = new PerformanceObserver((list) => {
    collections += list.getEntries().length
  })
  gcObserver.observe({ entryTypes: ["gc"] })
  const heap0 = NodeV8.getHeapStatistics().used_heap_size
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const rounds = await body()
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const heapBytes = NodeV8.getHeapStatistics().used_heap_size - heap0
  // GC entries are delivered asynchronously: let them arrive before deciding.
  await new Promise((resolve) => setImmediate(resolve))
  gcObserver.disconnect()
  return {
    heapBytesPerRecord: collections === 0 ? heapBytes / total : undefined,
    cpuMicrosPerRecord: (cpu.user + cpu.system) / total,
    systemMicrosPerRecord: cpu.system / total,
    recordsPerSecond: total / seconds,
    roundsPerSecond: rounds / seconds,
  }
}

const journalPass =
  (durable: boolean) =>
  async (file: string): Promise<Sample> => {
    let sample: Sample | undefined
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(file, { mode: "buffered", backend, ...extraOptions })
          // Warm-up round trip (opens lazily allocated state, JIT).
          yield* journal.syncThrough(yield* journal.append(payload))
          const producer = durable
            ? Effect.gen(function* () {
                for (let i = 0; i < perProducer; i++) yield* journal.appendDurable(payload)
              })
            : Effect.gen(function* () {
                for (let i = 0; i < perProducer; i++) yield* journal.syncThrough(yield* journal.append(payload))
              })
          const all = Effect.forEach(Array.from({ length: PRODUCERS }), () => producer, {
            concurrency: "unbounded",
            discard: true,
          })
          const before = (yield* journal.stats).fdatasyncs
          sample = yield* Effect.promise(() =>
            measure(async () => {
              await Effect.runPromise(all)
              return 0
            }),
          )
          const rounds = (yield* journal.stats).fdatasyncs - before
          const seconds = (PRODUCERS * perProducer) / sample.recordsPerSecond
          sample = { ...sample, roundsPerSecond: rounds / seconds }
        }),
      ),
    )
    return sample!
  }

/** The Promise API: 64 async producers, each awaiting `appendDurable` (or `append` + `syncThrough`) per record. */
const promisePass =
  (durable: boolean) =>
  async (file: string): Promise<Sample> => {
    const journal = await openJournal(file, { mode: "buffered", backend, ...extraOptions })
    // Warm-up round trip, as for the Effect subjects.
    await journal.appendDurable(payload)
    const producer = async (): Promise<void> => {
      if (durable) for (let i = 0; i < perProducer; i++) await journal.appendDurable(payload)
      else for (let i = 0; i < perProducer; i++) await journal.syncThrough(await journal.append(payload))
    }
    const before = journal.stats().fdatasyncs
    const sample = await measure(async () => {
      await Promise.all(Array.from({ length: PRODUCERS }, producer))
      return 0
    })
    const rounds = journal.stats().fdatasyncs - before
    await journal.close()
    return { ...sample, roundsPerSecond: (rounds * sample.recordsPerSecond) / (PRODUCERS * perProducer) }
  }

/** The node:fs baseline: one committer, one write + datasync per round for everyone queued. */
const nodeFsPass = async (file: string): Promise<Sample> => {
  const handle = await NodeFsPromises.open(file, "w+")
  let endBytes = 0
  let queue: Array<Uint8Array> = []
  let waiters: Array<() => void> = []
  let running = false
  let rounds = 0
  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const items = queue
      const woken = waiters
      queue = []
      waiters = []
      const bytes = new Uint8Array(items.length * (PAYLOAD_BYTES + Frame.OVERHEAD_BYTES))
      let offset = 0
      for (const item of items) offset += Frame.encodeInto(bytes, offset, item)
      await handle.write(bytes, 0, offset, endBytes)
      endBytes += offset
      await handle.datasync()
      rounds++
      for (const wake of woken) wake()
    }
    running = false
  }
  const submit = (item: Uint8Array): Promise<void> =>
    new Promise<void>((resolve) => {
      queue.push(item)
      waiters.push(resolve)
      if (!running) {
        running = true
        queueMicrotask(() => void drain())
      }
    })
  await submit(payload)
  const producer = async (): Promise<void> => {
    for (let i = 0; i < perProducer; i++) await submit(payload)
  }
  const sample = await measure(async () => {
    const before = rounds
    await Promise.all(Array.from({ length: PRODUCERS }, producer))
    return rounds - before
  })
  await handle.close()
  return sample
}

const subjects: Record<string, (file: string) => Promise<Sample>> = {
  journal: journalPass(false),
  durable: journalPass(true),
  promise: promisePass(true),
  promise2: promisePass(false),
  nodefs: nodeFsPass,
}
const chosen = (process.env.FSYS_CPU_SUBJECTS ?? "journal,durable,nodefs").split(",")
const results = new Map<string, Array<Sample>>(chosen.map((name) => [name, []]))

const heapText = (bytes: number | undefined): string =>
  bytes === undefined ? "" : `${Math.round(bytes)} B heap/record  `

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

console.log(
  `cpu-per-record: ${PRODUCERS} producers × ${PAYLOAD_BYTES} B, ${PRODUCERS * perProducer} records/pass, ${passes} passes, ${directory}, backend ${backend}`,
)
for (let pass = 0; pass < passes; pass++) {
  // Rotate the order each pass so no subject always runs first (or right after GC-heavy peers).
  const order = chosen.map((_, i) => chosen[(i + pass) % chosen.length]!)
  for (const name of order) {
    const file = NodePath.join(directory, `${name}-${pass}.log`)
    const sample = await subjects[name]!(file)
    NodeFs.rmSync(file, { force: true })
    results.get(name)!.push(sample)
    console.log(
      `pass ${pass} ${name.padEnd(8)} ${sample.cpuMicrosPerRecord.toFixed(2)} µs CPU/record (${sample.systemMicrosPerRecord.toFixed(2)} system)  ${heapText(sample.heapBytesPerRecord)}${Math.round(sample.recordsPerSecond)} records/s  ${Math.round(sample.roundsPerSecond)} rounds/s`,
    )
  }
}
const baseline = results.get("nodefs")
const baselineCpu = baseline === undefined ? undefined : median(baseline.map((s) => s.cpuMicrosPerRecord))
const baselineRate = baseline === undefined ? undefined : median(baseline.map((s) => s.recordsPerSecond))
console.log("median:")
for (const [name, samples] of results) {
  const cpu = median(samples.map((s) => s.cpuMicrosPerRecord))
  const system = median(samples.map((s) => s.systemMicrosPerRecord))
  const rate = median(samples.map((s) => s.recordsPerSecond))
  const ratio =
    baselineCpu === undefined || baselineRate === undefined
      ? ""
      : `  CPU ${(cpu / baselineCpu).toFixed(2)}× nodefs, throughput ${(rate / baselineRate).toFixed(2)}× nodefs`
  console.log(
    `  ${name.padEnd(8)} ${cpu.toFixed(2)} µs CPU/record (${system.toFixed(2)} system)  ${Math.round(rate)} records/s${ratio}`,
  )
}
NodeFs.rmSync(directory, { recursive: true, force: true })
