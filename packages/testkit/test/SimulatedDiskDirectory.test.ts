/**
 * The simulated disk's directory operations (rename, listDirectory, makeDirectory): the running
 * system sees them at once, a power cut keeps them only when the directory was fsynced, and a
 * rename is atomic across a crash (the file survives under exactly one of its two names).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { SimulatedDisk } from "@fsys/testkit"

const bytes = (value: number) => new Uint8Array(64).fill(value)

const writeFile = (disk: SimulatedDisk.Disk, path: string, value: number, syncDirectory: boolean) =>
  Effect.gen(function* () {
    const io = disk.fileIo
    const handle = yield* io.open(path, { create: true })
    yield* io.writeAt(handle, bytes(value), 0)
    yield* io.sync(handle)
    if (syncDirectory) yield* io.syncDirectory("/d")
  }).pipe(Effect.scoped)

const firstByteOf = (disk: SimulatedDisk.Disk, path: string) =>
  Effect.map(disk.readFile(path), (file) => (Option.isSome(file) ? file.value[0] : undefined))

describe("SimulatedDisk: directories", () => {
  it.effect("makeDirectory creates once; listDirectory lists files and subdirectories, sorted", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 1 })
      const io = disk.fileIo
      assert.isTrue(yield* io.makeDirectory("/d"))
      assert.isFalse(yield* io.makeDirectory("/d"))
      assert.deepStrictEqual(yield* io.listDirectory("/d"), [])
      yield* writeFile(disk, "/d/b", 1, true)
      yield* writeFile(disk, "/d/a", 2, true)
      assert.isTrue(yield* io.makeDirectory("/d/sub"))
      assert.deepStrictEqual(yield* io.listDirectory("/d"), ["a", "b", "sub"])
      const missing = yield* Effect.exit(io.listDirectory("/nope"))
      assert.isTrue(Exit.isFailure(missing))
      const orphan = yield* Effect.exit(io.makeDirectory("/x/y"))
      assert.isTrue(Exit.isFailure(orphan))
    }),
  )

  it.effect("rename moves and replaces at once; the source must exist", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 2 })
      const io = disk.fileIo
      yield* writeFile(disk, "/d/new", 7, true)
      yield* writeFile(disk, "/d/target", 3, true)
      yield* io.rename("/d/new", "/d/target")
      assert.strictEqual(yield* firstByteOf(disk, "/d/target"), 7)
      assert.strictEqual(yield* firstByteOf(disk, "/d/new"), undefined)
      assert.deepStrictEqual(yield* io.listDirectory("/d"), ["target"])
      const missing = yield* Effect.exit(io.rename("/d/new", "/d/other"))
      assert.isTrue(Exit.isFailure(missing))
    }),
  )

  it.effect("an unsynced rename is undone by dropUnsynced; a synced one survives every mode", () =>
    Effect.gen(function* () {
      for (const mode of SimulatedDisk.crashModes) {
        const disk = yield* SimulatedDisk.make({ seed: 3 })
        yield* writeFile(disk, "/d/tmp", 9, true)
        yield* writeFile(disk, "/d/ckpt", 1, true)
        yield* disk.fileIo.rename("/d/tmp", "/d/ckpt")
        yield* disk.fileIo.syncDirectory("/d")
        yield* disk.crash({ mode })
        assert.strictEqual(yield* firstByteOf(disk, "/d/ckpt"), 9, mode)
        assert.strictEqual(yield* firstByteOf(disk, "/d/tmp"), undefined, mode)
      }
      const disk = yield* SimulatedDisk.make({ seed: 4 })
      yield* writeFile(disk, "/d/tmp", 9, true)
      yield* writeFile(disk, "/d/ckpt", 1, true)
      yield* disk.fileIo.rename("/d/tmp", "/d/ckpt")
      yield* disk.crash({ mode: "dropUnsynced" })
      assert.strictEqual(yield* firstByteOf(disk, "/d/ckpt"), 1)
      assert.strictEqual(yield* firstByteOf(disk, "/d/tmp"), 9)
    }),
  )

  it.effect("an unsynced rename survives a crash atomically: under exactly one name, over many seeds", () =>
    Effect.gen(function* () {
      const outcomes = new Set<string>()
      for (let seed = 1; seed <= 200; seed++) {
        const disk = yield* SimulatedDisk.make({ seed })
        yield* writeFile(disk, "/d/tmp", 9, true)
        yield* writeFile(disk, "/d/ckpt", 1, true)
        yield* disk.fileIo.rename("/d/tmp", "/d/ckpt")
        const report = yield* disk.crash()
        const target = yield* firstByteOf(disk, "/d/ckpt")
        const source = yield* firstByteOf(disk, "/d/tmp")
        const outcome = `${source}/${target}`
        // old state (tmp=9, ckpt=1) or new state (no tmp, ckpt=9); never both names nor neither
        assert.include(["9/1", "undefined/9"], outcome, report.summary)
        outcomes.add(outcome)
      }
      assert.strictEqual(outcomes.size, 2, "both outcomes are reachable")
    }),
  )

  it.effect("an unsynced unlink may come back after a crash; a synced one does not", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 5 })
      yield* writeFile(disk, "/d/a", 1, true)
      yield* writeFile(disk, "/d/b", 2, true)
      yield* disk.fileIo.remove("/d/a")
      yield* disk.fileIo.remove("/d/b")
      yield* disk.fileIo.syncDirectory("/d")
      yield* disk.crash({ mode: "keepSubset" })
      assert.deepStrictEqual(yield* disk.files, [])
      const again = yield* SimulatedDisk.make({ seed: 6 })
      yield* writeFile(again, "/d/a", 1, true)
      yield* again.fileIo.remove("/d/a")
      yield* again.crash({ mode: "dropUnsynced" })
      assert.strictEqual(yield* firstByteOf(again, "/d/a"), 1)
    }),
  )
})
