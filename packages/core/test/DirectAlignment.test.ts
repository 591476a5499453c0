/**
 * `FileIo.directAlignment` on the real Node and io_uring layers, and the Direct journal aligning
 * to it (issue 10 item 11, issue 11 item 4): on a 512e disk (logical 512, physical 4096, like this
 * machine's virtio disk) the journal writes whole physical sectors.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { FileIo, IoUringFileIo, Journal } from "@fsys/core"
import { Statx } from "@fsys/native"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => NodeFs.promises.mkdtemp(NodePath.join(NodeOs.tmpdir(), "fsys-alignment-"))),
  (dir) => Effect.promise(() => NodeFs.promises.rm(dir, { recursive: true, force: true })),
)

/** The device's physical block size from sysfs, or undefined (tmpfs, overlay…). */
const physicalBlockOf = (path: string) =>
  Effect.map(Statx.path(path), (stat) => {
    const device = `/sys/dev/block/${stat.devMajor}:${stat.devMinor}`
    for (const queue of [`${device}/queue`, `${device}/../queue`]) {
      try {
        return Number(NodeFs.readFileSync(`${queue}/physical_block_size`, "utf8").trim())
      } catch {}
    }
    return undefined
  })

describe("FileIo.directAlignment", () => {
  it.live("the Node layer reports statx DIO alignment and the physical sector; the journal uses the larger", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "a.log")
      const io = FileIo.nodeDefault()
      const handle = yield* io.open(path, { create: true })
      const alignment = yield* io.directAlignment(handle)
      assert.isAtLeast(alignment.offsetBytes, 1)
      assert.isAtLeast(alignment.physicalSectorBytes, alignment.offsetBytes)
      const physical = yield* physicalBlockOf(path)
      if (physical !== undefined && physical >= alignment.offsetBytes) {
        assert.strictEqual(alignment.physicalSectorBytes, physical, "the sysfs physical block size")
      }
      const journal = yield* Journal.open(path, { mode: "direct", preallocateBytes: 0, backend: "pwrite" })
      const info = yield* journal.info
      if (info.directActive) {
        assert.strictEqual(info.sectorBytes, FileIo.journalAlignmentBytes(alignment))
        if (physical !== undefined && physical > 512) assert.isAtLeast(info.sectorBytes, physical)
      }
      yield* journal.close
    }),
  )

  it.live("the io_uring layer answers like the Node layer", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "b.log")
      const node = FileIo.nodeDefault()
      const ring = yield* Effect.result(IoUringFileIo.make())
      if (ring._tag === "Failure") return // io_uring unavailable here: the Node test covers the code
      const handle = yield* ring.success.open(path, { create: true })
      assert.deepStrictEqual(yield* ring.success.directAlignment(handle), yield* node.directAlignment(handle))
    }),
  )

  it.effect("journalAlignmentBytes takes the largest rule, as a power of two in [512, 65536]", () =>
    Effect.sync(() => {
      const of = (offsetBytes: number, memoryBytes: number, physicalSectorBytes: number) =>
        FileIo.journalAlignmentBytes({ offsetBytes, memoryBytes, physicalSectorBytes })
      assert.strictEqual(of(512, 512, 512), 512)
      assert.strictEqual(of(512, 4, 4096), 4096)
      assert.strictEqual(of(4096, 512, 4096), 4096)
      assert.strictEqual(of(1, 1, 1), 512)
      assert.strictEqual(of(512, 512, 6000), 8192)
      assert.strictEqual(of(512, 512, 1 << 20), 65536)
    }),
  )
})
