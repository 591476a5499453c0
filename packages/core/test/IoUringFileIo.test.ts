import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import { FileIo, IoUringFileIo, NodeFileIo } from "@fsys/core"
import { AlignedMemory, type IoError, IoUring } from "@fsys/native"
import * as CallbackIo from "../src/internal/callbackIo.ts"
import { OFFLOAD_MIN_BYTES } from "../src/internal/ioUring/ops.ts"
import { fromHandle } from "../src/internal/nodeFileIo/openFile.ts"

const KiB = 1024

const tempDirectory = Effect.acquireRelease(
  Effect.promise(() => NodeFs.promises.mkdtemp(NodePath.join(NodeOs.tmpdir(), "fsys-uringfileio-"))),
  (directory) => Effect.promise(() => NodeFs.promises.rm(directory, { recursive: true, force: true })),
)

/** A ring and the io_uring service over it, both released with the test's Scope. */
const setup = (entries = 16) =>
  Effect.map(IoUring.make({ entries }), (ring) => ({ ring, io: IoUringFileIo.fromRing(ring) }))

const failureOf = <A>(exit: Exit.Exit<A, IoError.IoError>): IoError.IoError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (reason === undefined || reason._tag !== "Fail") throw new Error(`expected a typed failure: ${exit.cause}`)
  return reason.error
}

const fdTarget = (fd: number): string | undefined => {
  try {
    return NodeFs.readlinkSync(`/proc/self/fd/${fd}`)
  } catch {
    return undefined
  }
}

const until = (predicate: () => boolean, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 2000; i++) {
      if (predicate()) return
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
    throw new Error(`timed out waiting for ${what}`)
  })

describe("IoUringFileIo", () => {
  it.live("implements the FileIo contract through the ring (JS buffers)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const { ring, io } = yield* setup()
      assert.strictEqual(io.backend, "io_uring")
      assert.include(io.reason, "io_uring")
      const path = NodePath.join(dir, "contract")
      const handle = yield* io.open(path, { create: true })
      assert.isTrue(handle.created)
      const payload = new TextEncoder().encode("through the ring")
      yield* io.writeAt(handle, payload, 10)
      assert.strictEqual(yield* io.size(handle), 10 + payload.length)
      const into = new Uint8Array(payload.length + 20)
      assert.strictEqual(yield* io.readAt(handle, into, 10), payload.length, "stops at end of file")
      assert.deepStrictEqual(into.subarray(0, payload.length), payload)
      yield* io.datasync(handle)
      yield* io.sync(handle)
      const before = ring.stats()
      yield* io.writeAtThenDatasync(handle, payload, 100)
      const after = ring.stats()
      assert.strictEqual(after.sqesSubmitted - before.sqesSubmitted, 2, "WRITE and FSYNC")
      assert.strictEqual(after.enters - before.enters, 1, "linked, in one submission")
      yield* io.truncate(handle, 5)
      assert.strictEqual(yield* io.size(handle), 5)
      yield* io.allocate(handle, 0, 1 << 20)
      assert.strictEqual(yield* io.size(handle), 5, "allocate keeps the size")
      yield* io.lock(handle)
      const second = yield* io.open(path)
      assert.strictEqual(failureOf(yield* Effect.exit(io.lock(second))).reason, "Busy")
      yield* io.syncDirectory(dir)
      yield* io.close(handle)
      yield* io.close(handle) // idempotent
      assert.strictEqual(failureOf(yield* Effect.exit(io.writeAt(handle, payload, 0))).reason, "BadDescriptor")
      yield* io.remove(path)
      assert.isFalse(NodeFs.existsSync(path))
      // Invalid input is a typed error and writes nothing.
      const other = yield* io.open(NodePath.join(dir, "other"), { create: true })
      assert.strictEqual(failureOf(yield* Effect.exit(io.writeAt(other, payload, -1))).reason, "InvalidArgument")
      assert.strictEqual(yield* io.size(other), 0)
    }),
  )

  it.live("Direct IO from registered aligned buffers uses WRITE_FIXED/READ_FIXED", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const { ring, io } = yield* setup()
      const handle = yield* io.open(NodePath.join(dir, "direct"), { create: true, direct: true })
      assert.isTrue(handle.direct)
      const slots = [yield* io.allocateAligned(64 * KiB, 4096), yield* io.allocateAligned(64 * KiB, 4096)]
      slots[0]!.bytes.fill(1)
      slots[1]!.bytes.fill(2)
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* io.registerBuffers(slots)
          const before = ring.stats().fixedSqes
          yield* io.writeAt(handle, slots[0]!.bytes, 0)
          yield* io.writeAtThenDatasync(handle, slots[1]!.bytes.subarray(0, 8 * KiB), 64 * KiB)
          assert.strictEqual(yield* io.readAt(handle, slots[0]!.bytes.subarray(0, 4 * KiB), 64 * KiB), 4 * KiB)
          assert.strictEqual(ring.stats().fixedSqes - before, 3)
          assert.strictEqual(slots[0]!.bytes[0], 2)
        }),
      )
      // Direct reads are short only at end of file; the loop stops there (no unaligned retry).
      const big = yield* io.allocateAligned(256 * KiB, 4096)
      assert.strictEqual(yield* io.readAt(handle, big.bytes, 0), 72 * KiB)
      // Misaligned offsets are the kernel's EINVAL, typed.
      const misaligned = failureOf(yield* Effect.exit(io.writeAt(handle, slots[0]!.bytes.subarray(0, 512), 100)))
      assert.strictEqual(misaligned.code, "EINVAL")
    }),
  )

  it.live("buffered IO of OFFLOAD_MIN_BYTES or more runs in the kernel's worker, not in the enter", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const { ring, io } = yield* setup()
      const buffered = yield* io.open(NodePath.join(dir, "buffered"), { create: true })
      const direct = yield* io.open(NodePath.join(dir, "direct"), { create: true, direct: true })
      assert.isTrue(direct.direct)
      const big = yield* io.allocateAligned(OFFLOAD_MIN_BYTES, 4096)
      big.bytes.fill(3)
      const small = big.bytes.subarray(0, OFFLOAD_MIN_BYTES - 4096)
      const offloaded = () => ring.stats().offloadedSqes
      const before = offloaded()
      // Below the bound, and any O_DIRECT IO: inline (an O_DIRECT enter only queues bios).
      yield* io.writeAt(buffered, small, 0)
      yield* io.writeAtThenDatasync(buffered, small, 0)
      yield* io.writeAt(direct, big.bytes, 0)
      yield* io.readAt(direct, big.bytes, 0)
      assert.strictEqual(offloaded() - before, 0)
      // At the bound, buffered: the write, the linked pair's write, the read, the callback write.
      yield* io.writeAt(buffered, big.bytes, 0)
      yield* io.writeAtThenDatasync(buffered, big.bytes, OFFLOAD_MIN_BYTES)
      const into = new Uint8Array(2 * OFFLOAD_MIN_BYTES)
      assert.strictEqual(yield* io.readAt(buffered, into, 0), into.length)
      assert.isTrue(into.every((byte) => byte === 3))
      const callbackIo = CallbackIo.lookup(io)!
      yield* Effect.callback<void>((resume) =>
        callbackIo.write(buffered, big.bytes, 0, "datasync", (failure) =>
          resume(failure === undefined ? Effect.void : Effect.die(failure)),
        ),
      )
      assert.strictEqual(offloaded() - before, 4)
    }),
  )

  it.live("closing a handle with a ring write in flight defers close(2) until the CQE (FS-C1)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const { ring, io } = yield* setup()
      const pathA = NodePath.join(dir, "a")
      const handle = yield* io.open(pathA, { create: true, direct: true })
      const fd = fromHandle(handle)!.fd
      const buffer = yield* io.allocateAligned(32 << 20, 4096)
      buffer.bytes.fill(0x3c)
      const writer = yield* Effect.forkChild(io.writeAtThenDatasync(handle, buffer.bytes, 0))
      yield* until(() => ring.inFlight() > 0, "the write to be submitted")
      const closer = yield* Effect.forkChild(io.close(handle))
      yield* Effect.yieldNow
      assert.isAbove(ring.inFlight(), 0, "32 MiB + fdatasync still in flight")
      // Close was requested, but while the SQE is in flight the fd stays open…
      assert.isDefined(fdTarget(fd), "fd still open while the kernel uses it")
      // …so a file opened now cannot get that number.
      const b = yield* io.open(NodePath.join(dir, "b"), { create: true })
      assert.notStrictEqual(fromHandle(b)!.fd, fd)
      yield* Fiber.join(writer)
      yield* Fiber.join(closer)
      assert.strictEqual(NodeFs.statSync(pathA).size, 32 << 20)
      assert.notStrictEqual(fdTarget(fd), pathA, "closed after the CQE")
      assert.strictEqual(yield* io.size(b), 0, "nothing landed in the other file")
    }),
  )

  it.live("an interrupted write keeps its buffer and fd until the CQE", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const { ring, io } = yield* setup()
      const path = NodePath.join(dir, "interrupted")
      const handleScope = yield* Scope.make()
      const handle = yield* Scope.provide(io.open(path, { create: true, direct: true }), handleScope)
      const fd = fromHandle(handle)!.fd
      const bufferScope = yield* Scope.make()
      const buffer = yield* Scope.provide(io.allocateAligned(16 << 20, 4096), bufferScope)
      buffer.bytes.fill(0x42)
      const writer = yield* Effect.forkChild(io.writeAtThenDatasync(handle, buffer.bytes, 0))
      yield* until(() => ring.inFlight() > 0, "the write to be submitted")
      yield* Fiber.interrupt(writer)
      const heldAfterInterrupt = AlignedMemory.inFlightCount(buffer.bytes)
      const fdOpenAfterInterrupt = fdTarget(fd) !== undefined
      // Closing both scopes waits for the kernel; neither frees what it still uses.
      yield* Scope.close(handleScope, Exit.void)
      yield* Scope.close(bufferScope, Exit.void)
      assert.strictEqual(heldAfterInterrupt, 1)
      assert.isTrue(fdOpenAfterInterrupt)
      assert.strictEqual(ring.inFlight(), 0)
      assert.strictEqual(buffer.bytes.byteLength, 0, "freed after the CQE")
      const bytes = NodeFs.readFileSync(path)
      assert.strictEqual(bytes.length, 16 << 20, "the interrupted write still completed in full")
      assert.strictEqual(bytes[(16 << 20) - 1], 0x42)
    }),
  )

  it.live("handles from another layer are refused with BadDescriptor", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const { io } = yield* setup()
      const foreign: FileIo.Handle = {
        id: 1,
        path: NodePath.join(dir, "x"),
        direct: false,
        readOnly: false,
        created: false,
      }
      const error = failureOf(yield* Effect.exit(io.writeAt(foreign, new Uint8Array(4), 0)))
      assert.strictEqual(error.reason, "BadDescriptor")
      assert.strictEqual(failureOf(yield* Effect.exit(io.datasync(foreign))).reason, "BadDescriptor")
    }),
  )

  it.live("layer provides FileIo with one ring for the layer's life", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const service = yield* Effect.provide(
        Effect.gen(function* () {
          const io = yield* FileIo.FileIo
          const handle = yield* io.open(NodePath.join(dir, "layer"), { create: true })
          yield* io.writeAtThenDatasync(handle, new Uint8Array(100).fill(9), 0)
          return io
        }),
        Layer.fresh(IoUringFileIo.layer),
      )
      assert.strictEqual(service.backend, "io_uring")
      assert.strictEqual(NodeFs.readFileSync(NodePath.join(dir, "layer"))[99], 9)
      // The default (no layer) is still the Node layer.
      assert.strictEqual((yield* FileIo.FileIo).backend, NodeFileIo.make().backend)
    }),
  )
})
