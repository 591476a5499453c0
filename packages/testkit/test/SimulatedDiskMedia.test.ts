/**
 * The simulated disk's media model: stale pages after a failed writeback, process kills,
 * latent sector errors, physical sectors torn by a read-modify-write, and `directAlignment`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import type { FileIo } from "@fsys/core"
import { SimulatedDisk } from "@fsys/testkit"

const PATH = "/d/f"

const filled = (length: number, value: number) => new Uint8Array(length).fill(value)

/** Reads `length` bytes at `offset` through a fresh handle (direct or buffered). */
const readVia = (io: FileIo.FileIoService, direct: boolean, offset: number, length: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const handle = yield* io.open(PATH, { direct })
      const buffer = direct ? (yield* io.allocateAligned(length, 512)).bytes : new Uint8Array(length)
      const read = yield* io.readAt(handle, buffer, offset)
      return buffer.slice(0, read)
    }),
  )

describe("SimulatedDisk media model", () => {
  it.effect("a failed writeback leaves clean, readable, not durable pages: O_DIRECT reads the device", () =>
    Effect.gen(function* () {
      // Seeds where the failed writeback lost the second write (it keeps a seeded part).
      let staleSeen = 0
      for (let seed = 1; seed <= 10; seed++) {
        const disk = yield* SimulatedDisk.make({ seed })
        const io = disk.fileIo
        yield* Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* io.open(PATH, { create: true })
            yield* io.syncDirectory("/d")
            yield* io.writeAt(handle, filled(1024, 1), 0)
            yield* io.datasync(handle)
            yield* io.writeAt(handle, filled(1024, 2), 0)
            yield* disk.inject({ op: "datasync", nth: 1, fault: SimulatedDisk.fail("EIO") })
            assert.isTrue(Exit.isFailure(yield* Effect.exit(io.datasync(handle))))
            // A retried fdatasync succeeds and writes nothing (the pages are clean).
            yield* io.datasync(handle)
          }),
        )
        const cached = yield* readVia(io, false, 0, 1024)
        const device = yield* readVia(io, true, 0, 1024)
        const durable = Option.getOrThrow(yield* disk.readDurableFile(PATH))
        assert.deepStrictEqual(cached, filled(1024, 2), "the page cache keeps the failed bytes")
        assert.deepStrictEqual(device, durable, "O_DIRECT reads what the media holds")
        if (device[0] === 1) staleSeen++
        // After a reboot the page cache is gone: everyone reads the media.
        yield* disk.crash({ mode: "dropUnsynced" })
        assert.deepStrictEqual(yield* readVia(disk.fileIo, false, 0, 1024), durable)
      }
      assert.isAbove(staleSeen, 0, "no seed lost the write on the failed fdatasync")
    }),
  )

  it.effect("rewriting or truncating a stale sector makes the device agree again", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 2 })
      const io = disk.fileIo
      yield* disk.inject({ op: "datasync", nth: 1, fault: SimulatedDisk.fail("EIO") })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* io.open(PATH, { create: true })
          yield* io.writeAt(handle, filled(2048, 3), 0)
          yield* Effect.exit(io.datasync(handle))
          yield* io.writeAt(handle, filled(512, 4), 0)
          // Cut and grown again: the stale pages past 1024 are gone, both views read zeros.
          yield* io.truncate(handle, 1024)
          yield* io.truncate(handle, 2048)
        }),
      )
      const device = yield* readVia(io, true, 0, 2048)
      const cached = yield* readVia(io, false, 0, 2048)
      assert.deepStrictEqual(device.subarray(0, 512), filled(512, 4), "the rewritten sector")
      assert.deepStrictEqual(device.subarray(1024), filled(1024, 0))
      assert.deepStrictEqual(cached.subarray(1024), filled(1024, 0))
    }),
  )

  it.effect("crashProcesses: handles die, locks are released, the page cache stays", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 3 })
      const io = disk.fileIo
      const handle = yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* io.open(PATH, { create: true })
          yield* io.lock(handle)
          yield* io.writeAt(handle, filled(100, 9), 0)
          yield* disk.crashProcesses
          const write = yield* Effect.exit(io.writeAt(handle, filled(1, 1), 0))
          assert.isTrue(Exit.isFailure(write), "a dead process's handle still wrote")
          return handle
        }),
      )
      assert.isDefined(handle)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const next = yield* io.open(PATH)
          assert.isFalse(next.created)
          yield* io.lock(next)
        }),
      )
      assert.deepStrictEqual(yield* readVia(io, false, 0, 100), filled(100, 9))
      assert.strictEqual((yield* disk.stats).processCrashes, 1)
      // Never synced: a power cut may drop it.
      yield* disk.crash({ mode: "dropUnsynced" })
      assert.isTrue(Option.isNone(yield* disk.readFile(PATH)), "the unsynced name survived dropUnsynced")
    }),
  )

  it.effect("the processCrash fault kills at the call, which fails EBADF", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 4 })
      yield* disk.inject({ op: "syncDirectory", nth: 1, fault: SimulatedDisk.processCrash })
      const exit = yield* Effect.exit(disk.fileIo.syncDirectory("/d"))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual((yield* disk.stats).processCrashes, 1)
      assert.strictEqual(disk.boot, 1, "a process kill is not a power cut")
    }),
  )

  it.effect("a latent sector error fails every read touching it, survives reboots, heals on write", () =>
    Effect.gen(function* () {
      const disk = yield* SimulatedDisk.make({ seed: 5, physicalSectorBytes: 4096 })
      yield* disk.writeFile(PATH, filled(16384, 7))
      yield* disk.markBadSector(PATH, 5000)
      const io = disk.fileIo
      for (const direct of [false, true]) {
        assert.isTrue(Exit.isFailure(yield* Effect.exit(readVia(io, direct, 4096, 512))), `direct ${direct}`)
        assert.isTrue(Exit.isFailure(yield* Effect.exit(readVia(io, direct, 0, 8192))), `direct ${direct}`)
        assert.deepStrictEqual(yield* readVia(io, direct, 0, 4096), filled(4096, 7))
        assert.deepStrictEqual(yield* readVia(io, direct, 8192, 4096), filled(4096, 7))
      }
      yield* disk.crash({ mode: "dropUnsynced" })
      assert.isTrue(Exit.isFailure(yield* Effect.exit(readVia(disk.fileIo, false, 7680, 512))), "after a reboot")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* disk.fileIo.open(PATH)
          yield* disk.fileIo.writeAt(handle, filled(4096, 8), 4096)
        }),
      )
      assert.deepStrictEqual(yield* readVia(disk.fileIo, false, 4096, 4096), filled(4096, 8))
    }),
  )

  it.effect(
    "physical sectors: whole-sector writes tear only at physical boundaries; partial Direct writes may leave the whole sector unreadable",
    () =>
      Effect.gen(function* () {
        let unreadable = 0
        let insidePhysical = 0
        for (let seed = 1; seed <= 60; seed++) {
          for (const partial of [false, true]) {
            const disk = yield* SimulatedDisk.make({ seed, physicalSectorBytes: 4096 })
            const io = disk.fileIo
            yield* disk.writeFile(PATH, filled(8192, 1))
            yield* Effect.scoped(
              Effect.gen(function* () {
                const handle = yield* io.open(PATH, { direct: true })
                // Partial: one 512-byte logical sector inside each physical sector.
                const length = partial ? 512 : 8192
                const buffer = (yield* io.allocateAligned(length, 512)).bytes.fill(2)
                if (partial) {
                  yield* io.writeAt(handle, buffer, 512)
                  yield* io.writeAt(handle, buffer, 4096 + 512)
                } else yield* io.writeAt(handle, buffer, 0)
              }),
            )
            yield* disk.crash({ mode: "tornWrite" })
            const image = yield* Effect.exit(readVia(disk.fileIo, false, 0, 8192))
            if (Exit.isFailure(image)) {
              assert.isTrue(partial, `seed ${seed}: a whole-physical-sector write left an unreadable sector`)
              unreadable++
              continue
            }
            for (let sector = 0; sector < 2; sector++) {
              const bytes = image.value.subarray(sector * 4096, (sector + 1) * 4096)
              const values = new Set(partial ? [bytes[512]] : bytes)
              if (!partial && values.size > 1) insidePhysical++
            }
          }
        }
        assert.strictEqual(insidePhysical, 0, "a whole physical sector was torn inside")
        assert.isAbove(unreadable, 0, "no partial physical write was ever torn")
      }),
  )

  it.effect("directAlignment reports the configuration", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const disk = yield* SimulatedDisk.make({ seed: 6, physicalSectorBytes: 8192, directAlignmentBytes: 1024 })
        const handle = yield* disk.fileIo.open(PATH, { create: true })
        assert.deepStrictEqual(yield* disk.fileIo.directAlignment(handle), {
          offsetBytes: 1024,
          memoryBytes: 1024,
          physicalSectorBytes: 8192,
        })
      }),
    ),
  )
})
