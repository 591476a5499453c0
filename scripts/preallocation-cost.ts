/**
 * What the journal's preallocation costs, and what the rounds written into it cost afterwards
 * (issue 12 item 5). For each strategy, one fresh O_DIRECT file over the io_uring FileIo layer:
 * 16 MiB are prepared past the end (timed: this is the stall a preallocation job puts in front of
 * the next round), then `--rounds` rounds of a 256 KiB write + fdatasync go into the region
 * (timed, µs per round). Strategies, interleaved over `--passes` passes (medians printed):
 *
 * - serial: 16 zero writes of 1 MiB, one awaited at a time (the journal before this change);
 * - parallel: the same writes, 8 in flight;
 * - fallocate+parallel: fallocate (mode 0: size and blocks) first, then the 8-in-flight zeros;
 * - fallocate: fallocate only (unwritten extents, converted by the rounds' writes).
 *
 * Run: `npx pnpm@12.4.2 exec node scripts/preallocation-cost.ts [--passes 5] [--rounds 32]`.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { IoUringFileIo } from "@fsys/core"

const { values } = parseArgs({
  options: { passes: { type: "string", default: "5" }, rounds: { type: "string", default: "32" } },
})
const PASSES = Number(values.passes)
const ROUNDS = Number(values.rounds)
const REGION_BYTES = 16 * 1024 * 1024
const CHUNK_BYTES = 1024 * 1024
const ROUND_BYTES = 256 * 1024
const IN_FLIGHT = 8
if (ROUNDS * ROUND_BYTES > REGION_BYTES) throw new RangeError("--rounds must fit 16 MiB")

type Strategy = "serial" | "parallel" | "fallocate+parallel" | "fallocate"
const STRATEGIES: ReadonlyArray<Strategy> = ["serial", "parallel", "fallocate+parallel", "fallocate"]

const measure = (directory: string, strategy: Strategy, pass: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const io = yield* IoUringFileIo.make()
      const path = NodePath.join(directory, `${strategy}-${pass}.bin`)
      const handle = yield* io.open(path, { create: true, direct: true })
      const zeros = (yield* io.allocateAligned(CHUNK_BYTES, 4096)).bytes.fill(0)
      const round = (yield* io.allocateAligned(ROUND_BYTES, 4096)).bytes.fill(0x5a)
      // A first round so the file exists on disk with a synced size, as a journal's does.
      yield* io.writeAtThenDatasync(handle, round, 0)
      const offsets = Array.from({ length: REGION_BYTES / CHUNK_BYTES }, (_, i) => ROUND_BYTES + i * CHUNK_BYTES)
      const startMillis = performance.now()
      if (strategy.startsWith("fallocate")) yield* io.allocate(handle, ROUND_BYTES, REGION_BYTES, "extend")
      if (strategy === "serial") for (const offset of offsets) yield* io.writeAt(handle, zeros, offset)
      if (strategy.endsWith("parallel")) {
        yield* Effect.forEach(offsets, (offset) => io.writeAt(handle, zeros, offset), { concurrency: IN_FLIGHT })
      }
      const prepareMillis = performance.now() - startMillis
      const roundsStart = performance.now()
      for (let i = 1; i <= ROUNDS; i++) yield* io.writeAtThenDatasync(handle, round, i * ROUND_BYTES)
      const roundMicros = ((performance.now() - roundsStart) * 1000) / ROUNDS
      NodeFs.rmSync(path)
      return { prepareMillis, roundMicros }
    }),
  )

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const directory = NodeFs.mkdtempSync(NodePath.join(process.env.TMPDIR ?? NodeOs.tmpdir(), "fsys-prealloc-"))
try {
  const results = new Map<Strategy, Array<{ prepareMillis: number; roundMicros: number }>>()
  for (let pass = 0; pass < PASSES; pass++) {
    const order = pass % 2 === 0 ? STRATEGIES : [...STRATEGIES].reverse()
    for (const strategy of order) {
      const result = await Effect.runPromise(measure(directory, strategy, pass))
      results.set(strategy, [...(results.get(strategy) ?? []), result])
    }
  }
  for (const strategy of STRATEGIES) {
    const runs = results.get(strategy)!
    console.log(
      `${strategy.padEnd(20)} prepare 16 MiB ${median(runs.map((r) => r.prepareMillis))
        .toFixed(1)
        .padStart(6)} ms   ` +
        `then 256 KiB write + fdatasync ${median(runs.map((r) => r.roundMicros))
          .toFixed(0)
          .padStart(5)} µs per round`,
    )
  }
} finally {
  NodeFs.rmSync(directory, { recursive: true, force: true })
}
