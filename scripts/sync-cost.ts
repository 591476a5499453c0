/**
 * What a small durable append costs depending on what lies past the end of the log — the
 * measurement behind the journal's preallocation (`preallocateBytes`). In one run, the same loop
 * of "write 512 B at the next offset with O_DIRECT, then fdatasync" over three files:
 *
 * - grow: an empty file, every write extends it (fdatasync commits the size and the allocation);
 * - fallocated: the range allocated with fallocate mode 0 (unwritten extents to convert);
 * - zero-written: the range written with zeros and synced first (what the journal does).
 *
 * Run: `node scripts/sync-cost.ts [--writes 1000]` (Node 24). Prints µs per write + fdatasync and
 * ratios to "grow". Uses the Node FileIo layer, so each call is one threadpool round trip.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { NodeFileIo } from "@fsys/core"

const { values } = parseArgs({ options: { writes: { type: "string", default: "1000" } } })
const WRITES = Number(values.writes)
const WRITE_BYTES = 512
const REGION_BYTES = 8 * 1024 * 1024
if (!Number.isSafeInteger(WRITES) || WRITES < 1 || WRITES * WRITE_BYTES > REGION_BYTES) {
  throw new RangeError(`--writes must be between 1 and ${REGION_BYTES / WRITE_BYTES}`)
}

type Layout = "grow" | "fallocated" | "zero-written"

const measure = (directory: string, layout: Layout) =>
  Effect.scoped(
    Effect.gen(function* () {
      const io = NodeFileIo.make()
      const handle = yield* io.open(NodePath.join(directory, `${layout}.bin`), { create: true, direct: true })
      const buffer = yield* io.allocateAligned(1024 * 1024, 4096)
      buffer.bytes.fill(0)
      if (layout === "fallocated") yield* io.allocate(handle, 0, REGION_BYTES, "extend")
      if (layout === "zero-written") {
        for (let offset = 0; offset < REGION_BYTES; offset += buffer.byteLength)
          yield* io.writeAt(handle, buffer.bytes, offset)
      }
      yield* io.sync(handle)
      buffer.bytes.fill(0x5a, 0, WRITE_BYTES)
      const record = buffer.bytes.subarray(0, WRITE_BYTES)
      const startMillis = performance.now()
      for (let i = 0; i < WRITES; i++) yield* io.writeAtThenDatasync(handle, record, i * WRITE_BYTES)
      return ((performance.now() - startMillis) * 1000) / WRITES
    }),
  )

const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-sync-cost-"))
try {
  const results: Array<[Layout, number]> = []
  for (const layout of ["grow", "fallocated", "zero-written"] as const) {
    results.push([layout, await Effect.runPromise(measure(directory, layout))])
  }
  const grow = results[0]![1]
  for (const [layout, micros] of results) {
    console.log(
      `${layout.padEnd(14)} ${micros.toFixed(0).padStart(5)} µs per 512 B write + fdatasync  ${(micros / grow).toFixed(2)}x grow`,
    )
  }
} finally {
  NodeFs.rmSync(directory, { recursive: true, force: true })
}
