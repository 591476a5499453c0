/**
 * Durable batches (100 × 100 B, each awaited durable) in one process: the journal through its
 * Promise API beside a hand-written node:fs loop (one `FileHandle.write` + `datasync` per batch,
 * the bench's `node-fs` subject), so the gap in the bench's `durable-batch100-100B` row can be
 * taken apart. node:fs runs twice: with 64 MiB of zeros written and synced before the timed phase
 * (what the bench's subject does), and preallocating the way the journal does (16 MiB of zeros
 * written ahead in the background, 8 × 1 MiB in flight, whenever the log comes within 8 MiB of
 * the allocated end; only the first step before the timed phase, as the journal's first round
 * starts its own). Prints per pass records/s, µs per round, and the rounds that took > 3 ms and
 * their sum: the stalls behind a preallocation's zeros. Variants interleaved, medians printed.
 *
 * Run: `npx pnpm@12.4.2 exec node scripts/batch-rounds.ts [--passes 3] [--ms 2500] [--mode buffered|direct]`.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { parseArgs } from "node:util"
import { Frame } from "@fsys/core"
import * as Fsys from "@fsys/core/promise"

const { values } = parseArgs({
  options: {
    passes: { type: "string", default: "3" },
    ms: { type: "string", default: "2500" },
    mode: { type: "string", default: "buffered" },
  },
})
const PASSES = Number(values.passes)
const PASS_MS = Number(values.ms)
const MODE = values.mode as "buffered" | "direct"
const BATCH = 100
const RECORD_BYTES = 100
const STALL_MS = 3
const MiB = 1024 * 1024
/** Each batch is fresh views into one new block, as the bench's record source builds them. */
const batchOf = (): Array<Uint8Array> => {
  const block = new Uint8Array(BATCH * RECORD_BYTES)
  return Array.from({ length: BATCH }, (_, i) => block.subarray(i * RECORD_BYTES, (i + 1) * RECORD_BYTES).fill(i))
}

interface Pass {
  readonly recordsPerSecond: number
  readonly roundMicros: number
  readonly stalls: number
  readonly stallMs: number
}

/** Runs `round` until the deadline; a round slower than STALL_MS counts as a stall. */
const timed = async (round: () => Promise<void>): Promise<Pass> => {
  let rounds = 0
  let stalls = 0
  let stallMs = 0
  const start = performance.now()
  for (let now = start; now - start < PASS_MS; ) {
    await round()
    const after = performance.now()
    if (after - now > STALL_MS) {
      stalls++
      stallMs += after - now
    }
    now = after
    rounds++
  }
  const elapsedMs = performance.now() - start
  return {
    recordsPerSecond: (rounds * BATCH) / (elapsedMs / 1000),
    roundMicros: (elapsedMs / rounds) * 1000,
    stalls,
    stallMs,
  }
}

const inTempDir = async <A>(body: (directory: string) => Promise<A>): Promise<A> => {
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-batch-"))
  try {
    return await body(directory)
  } finally {
    NodeFs.rmSync(directory, { recursive: true, force: true })
  }
}

const journalPass = () =>
  inTempDir(async (directory) => {
    const journal = await Fsys.openJournal(NodePath.join(directory, "journal.log"), { mode: MODE })
    try {
      return await timed(async () => {
        await journal.syncThrough(await journal.appendBatch(batchOf()))
      })
    } finally {
      await journal.close()
    }
  })

/** node:fs: `upFrontMiB` of zeros before timing; with `stepMiB` > 0, more ahead in the background. */
const nodeFsPass = (upFrontMiB: number, stepMiB: number) =>
  inTempDir(async (directory) => {
    const file = await NodeFs.promises.open(NodePath.join(directory, "log"), "w+")
    const zeros = Buffer.alloc(MiB)
    const writeZeros = async (fromBytes: number, mebibytes: number) => {
      const chunks = Array.from({ length: mebibytes }, (_, i) => fromBytes + i * MiB)
      for (let i = 0; i < chunks.length; i += 8) {
        await Promise.all(chunks.slice(i, i + 8).map((at) => file.write(zeros, 0, MiB, at)))
      }
    }
    try {
      await writeZeros(0, upFrontMiB)
      await file.datasync()
      let allocatedBytes = upFrontMiB * MiB
      let step: { readonly fromBytes: number; readonly done: Promise<void> } | undefined
      let endBytes = 0
      const frameBytes = Frame.frameBytes(RECORD_BYTES)
      return await timed(async () => {
        const payloads = batchOf()
        const round = Buffer.allocUnsafe(BATCH * frameBytes)
        for (let i = 0; i < BATCH; i++) round.set(Frame.encode(payloads[i]!), i * frameBytes)
        if (stepMiB > 0 && step === undefined && endBytes + 8 * MiB >= allocatedBytes) {
          step = { fromBytes: allocatedBytes, done: writeZeros(allocatedBytes, stepMiB) }
          allocatedBytes += stepMiB * MiB
        }
        // Zeros must not land over records: a round reaching into a step still in flight waits.
        if (step !== undefined && endBytes + round.length > step.fromBytes) {
          await step.done
          step = undefined
        }
        await file.write(round, 0, round.length, endBytes)
        await file.datasync()
        endBytes += round.length
      })
    } finally {
      await file.close()
    }
  })

const VARIANTS = {
  journal: journalPass,
  "node:fs, 64 MiB up front": () => nodeFsPass(64, 0),
  "node:fs, 16 MiB steps": () => nodeFsPass(16, 16),
} satisfies Record<string, () => Promise<Pass>>

const results = new Map<string, Array<Pass>>()
for (let pass = 0; pass < PASSES; pass++) {
  const names = Object.keys(VARIANTS) as Array<keyof typeof VARIANTS>
  for (const name of pass % 2 === 0 ? names : names.reverse()) {
    const result = await VARIANTS[name]()
    results.set(name, [...(results.get(name) ?? []), result])
    console.log(
      `pass ${pass} ${name.padEnd(26)} ${(result.recordsPerSecond / 1000).toFixed(1)} K rec/s  ` +
        `${result.roundMicros.toFixed(0)} µs/round  ${result.stalls} rounds > ${STALL_MS} ms, ${result.stallMs.toFixed(0)} ms`,
    )
  }
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(
  `median of ${PASSES} passes (${MODE} journal, batches of ${BATCH} × ${RECORD_BYTES} B, ${PASS_MS} ms each):`,
)
const baseline = median((results.get("node:fs, 64 MiB up front") ?? []).map((p) => p.recordsPerSecond))
for (const [name, passes] of results) {
  const rate = median(passes.map((p) => p.recordsPerSecond))
  console.log(
    `  ${name.padEnd(26)} ${(rate / 1000).toFixed(1)} K rec/s (${(rate / baseline).toFixed(2)}× node:fs up front)  ` +
      `stalls ${median(passes.map((p) => p.stallMs)).toFixed(0)} ms per pass`,
  )
}
