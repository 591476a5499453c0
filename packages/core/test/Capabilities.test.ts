import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import type * as Scope from "effect/Scope"
import { Capabilities } from "@fsys/core"
import { AlignedMemory, Libc } from "@fsys/native"

const tempDirectory = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => NodeFs.promises.mkdtemp(NodePath.join(NodeOs.tmpdir(), prefix))),
    (directory) => Effect.promise(() => NodeFs.promises.rm(directory, { recursive: true, force: true })),
  )

const run = (command: string, args: ReadonlyArray<string>): Effect.Effect<string, Error> =>
  Effect.callback<string, Error>((resume) => {
    ChildProcess.execFile(command, args, { timeout: 60_000 }, (error, stdout, stderr) =>
      resume(
        error === null
          ? Effect.succeed(stdout.trim())
          : Effect.fail(new Error(`${command} ${args.join(" ")}: ${stderr || error.message}`)),
      ),
    )
  })

const isRoot = process.getuid?.() === 0

const leftovers = (directory: string) => NodeFs.readdirSync(directory).filter((name) => name.startsWith(".fsys-probe-"))

/** A filesystem of type `type` mounted on a fresh directory for the Scope; undefined (with why) when it cannot be. */
const mounted = (
  type: string,
  source: string,
  directory: string,
): Effect.Effect<{ readonly ok: true } | { readonly ok: false; readonly why: string }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.match(run("mount", ["-t", type, source, directory]), {
      onSuccess: () => ({ ok: true }) as const,
      onFailure: (error) => ({ ok: false, why: error.message }) as const,
    }),
    (result) => (result.ok ? Effect.ignore(run("umount", [directory])) : Effect.void),
  )

describe("Capabilities", () => {
  it.live("ext4 (the work disk): Direct IO works, statx alignment and sysfs facts are reported", () =>
    Effect.gen(function* () {
      yield* Capabilities.clearCache
      const directory = yield* tempDirectory("fsys-caps-")
      const path = NodePath.join(directory, "journal.log")
      const caps = yield* Capabilities.probe(path)
      assert.strictEqual(caps.path, path)
      assert.strictEqual(caps.filesystem, "ext4")
      assert.strictEqual(caps.directIo, true, caps.directIoReason)
      assert.strictEqual(typeof caps.dioOffsetAlign, "number")
      assert.strictEqual(typeof caps.dioMemAlign, "number")
      assert.strictEqual(caps.sectorBytes, caps.dioOffsetAlign, "the DIO offset alignment is preferred")
      assert.strictEqual(typeof caps.logicalBlockSize, "number")
      assert.strictEqual(typeof caps.physicalBlockSize, "number")
      assert.isAtLeast(caps.physicalBlockSize as number, caps.logicalBlockSize as number)
      assert.notStrictEqual(caps.device, "unknown")
      assert.notStrictEqual(caps.deviceKind, "unknown")
      assert.include(["write back", "write through"], caps.writeCache)
      assert.include([true, false], caps.fua)
      assert.include([true, false], caps.rotational)
      assert.isTrue(caps.ioUring.available)
      assert.include(caps.ioUring.featureNames, "SINGLE_MMAP")
      assert.strictEqual(caps.kernel, NodeOs.release())
      assert.deepStrictEqual(leftovers(directory), [], "the probe file is removed")
      assert.isFalse(NodeFs.existsSync(path), "probing a path never creates it")
      // Cached per device: a second probe of another path on the same filesystem agrees.
      const again = yield* Capabilities.probe(directory)
      assert.deepStrictEqual({ ...again, path: caps.path }, caps)
    }),
  )

  it.live("never writes an existing file; probes its filesystem", () =>
    Effect.gen(function* () {
      yield* Capabilities.clearCache
      const directory = yield* tempDirectory("fsys-caps-")
      const path = NodePath.join(directory, "existing")
      NodeFs.writeFileSync(path, "keep me")
      const caps = yield* Capabilities.probe(path)
      assert.strictEqual(caps.directIo, true)
      assert.strictEqual(NodeFs.readFileSync(path, "utf8"), "keep me")
    }),
  )

  it.live.skipIf(!NodeFs.existsSync("/dev/shm"))(
    "tmpfs (/dev/shm): no block device; unknowns reported, nothing thrown",
    () =>
      Effect.gen(function* () {
        const caps = yield* Capabilities.probe("/dev/shm")
        assert.strictEqual(caps.filesystem, "tmpfs")
        assert.strictEqual(caps.deviceNumber.split(":")[0], "0", "an anonymous device")
        assert.strictEqual(caps.device, "unknown")
        assert.strictEqual(caps.deviceKind, "unknown")
        assert.strictEqual(caps.logicalBlockSize, "unknown")
        assert.strictEqual(caps.writeCache, "unknown")
        assert.strictEqual(caps.fua, "unknown")
        assert.strictEqual(caps.dioOffsetAlign, "unknown", "tmpfs reports no DIO alignment")
        // Linux ≥ 6.6 gives tmpfs "trivial" O_DIRECT; older kernels refuse it. Either is reported.
        assert.include([true, false], caps.directIo)
        assert.strictEqual(caps.sectorBytes, Capabilities.SECTOR_BYTES_DEFAULT)
        assert.deepStrictEqual(leftovers("/dev/shm"), [])
      }),
  )

  it.live.skipIf(!isRoot)("ramfs: O_DIRECT refused → reported as directIo false, no file left", (ctx) =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory("fsys-caps-ramfs-")
      const mount = yield* mounted("ramfs", "ramfs", directory)
      if (!mount.ok) return ctx.skip(`cannot mount ramfs: ${mount.why}`)
      const caps = yield* Capabilities.probe(directory)
      assert.strictEqual(caps.filesystem, "ramfs")
      assert.strictEqual(caps.directIo, false)
      assert.match(caps.directIoReason, /EINVAL/)
      assert.deepStrictEqual(leftovers(directory), [], "the half-created probe file was removed")
      assert.strictEqual(caps.sectorBytes, Capabilities.SECTOR_BYTES_DEFAULT)
    }).pipe(Effect.scoped),
  )

  it.live.skipIf(!isRoot)("a 4Kn device (loop, --sector-size 4096): sectorBytes 4096 (FS-J7)", (ctx) =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory("fsys-caps-4kn-")
      const image = NodePath.join(directory, "4kn.img")
      const mountPoint = NodePath.join(directory, "mnt")
      NodeFs.mkdirSync(mountPoint)
      yield* Effect.promise(() =>
        NodeFs.promises.writeFile(image, "").then(() => NodeFs.promises.truncate(image, 64 << 20)),
      )
      const loop = yield* Effect.acquireRelease(
        Effect.result(run("losetup", ["--find", "--show", "--sector-size", "4096", image])),
        (result) => (result._tag === "Success" ? Effect.ignore(run("losetup", ["-d", result.success])) : Effect.void),
      )
      if (loop._tag === "Failure") return ctx.skip(`cannot set up a 4Kn loop device: ${loop.failure.message}`)
      const formatted = yield* Effect.result(run("mkfs.ext4", ["-q", "-F", loop.success]))
      if (formatted._tag === "Failure") return ctx.skip(`cannot format the loop device: ${formatted.failure.message}`)
      const mount = yield* mounted("ext4", loop.success, mountPoint)
      if (!mount.ok) return ctx.skip(`cannot mount the loop device: ${mount.why}`)
      const path = NodePath.join(mountPoint, "journal.log")
      const caps = yield* Capabilities.probe(path)
      assert.strictEqual(caps.device, NodePath.basename(loop.success))
      assert.strictEqual(caps.deviceKind, "virtual")
      assert.strictEqual(caps.logicalBlockSize, 4096)
      assert.strictEqual(caps.directIo, true, caps.directIoReason)
      assert.strictEqual(caps.sectorBytes, 4096)
      assert.include(caps.directIoReason, "4096")
      // The pair assertion: the device really refuses what a 512-byte journal would write.
      const fd = yield* Effect.acquireRelease(
        Libc.open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT),
        (descriptor) => Effect.ignore(Libc.close(descriptor)),
      )
      const buffer = yield* AlignedMemory.allocate(4096, 4096)
      const small = yield* Effect.exit(Libc.pwrite(fd, buffer.bytes.subarray(0, 512), 512))
      assert.isTrue(Exit.isFailure(small), "512-byte Direct write refused on 4Kn")
      assert.strictEqual(yield* Libc.pwrite(fd, buffer.bytes, 4096), 4096)
    }).pipe(Effect.scoped),
  )

  it.live("a path under a missing directory is a typed NotFound", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Capabilities.probe("/no/such/dir/journal.log"))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const reason = exit.cause.reasons[0]
        assert.isTrue(reason?._tag === "Fail" && reason.error.reason === "NotFound")
      }
    }),
  )

  it("sectorBytes: DIO offset alignment, else logical block, else 4096; never below what was enforced", () => {
    assert.strictEqual(
      Capabilities.sectorBytesOf({ dioOffsetAlign: 512, logicalBlockSize: 512, acceptedAlignment: 512 }),
      512,
    )
    assert.strictEqual(
      Capabilities.sectorBytesOf({ dioOffsetAlign: 4096, logicalBlockSize: 512, acceptedAlignment: 512 }),
      4096,
    )
    assert.strictEqual(
      Capabilities.sectorBytesOf({ dioOffsetAlign: "unknown", logicalBlockSize: 512, acceptedAlignment: "unknown" }),
      512,
    )
    assert.strictEqual(
      Capabilities.sectorBytesOf({ dioOffsetAlign: "unknown", logicalBlockSize: "unknown", acceptedAlignment: 512 }),
      4096,
    )
    assert.strictEqual(
      Capabilities.sectorBytesOf({ dioOffsetAlign: 512, logicalBlockSize: 512, acceptedAlignment: 4096 }),
      4096,
    )
  })
})
