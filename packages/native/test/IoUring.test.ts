import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { AlignedMemory, type IoError, IoUring, IoUringCallback, Libc } from "@fsys/native"
import { openFd, readFile, tempDir } from "./helpers.ts"

const KiB = 1024

const typedFailure = <A>(exit: Exit.Exit<A, IoError.IoError>): IoError.IoError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (reason === undefined || reason._tag !== "Fail") throw new Error(`expected a typed failure: ${exit.cause}`)
  return reason.error
}

/** A file pattern: block i is filled with byte (i * 7 + 1) & 0xff. */
const patternByte = (block: number) => (block * 7 + 1) & 0xff

/** Yields to the event loop until `predicate` holds (bounded). */
const until = (predicate: () => boolean, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 2000; i++) {
      if (predicate()) return
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
    throw new Error(`timed out waiting for ${what}`)
  })

describe("IoUring", () => {
  it.live("sets up a ring, reports capacity and features, and round-trips a NOP", () =>
    Effect.gen(function* () {
      const ring = yield* IoUring.make({ entries: 8 })
      assert.strictEqual(ring.sqEntries, 8)
      assert.strictEqual(ring.cqEntries, 16)
      assert.strictEqual(ring.capacity, 8)
      assert.include(IoUring.featureNames(ring.features), "SINGLE_MMAP")
      yield* IoUring.nop(ring)
      assert.strictEqual(ring.inFlight(), 0)
      const bad = typedFailure(yield* Effect.exit(Effect.scoped(IoUring.make({ entries: 1 }))))
      assert.strictEqual(bad.reason, "InvalidArgument")
    }),
  )

  it.live("flushTiming: microtask submits before the event loop's check phase, immediate after", () =>
    Effect.gen(function* () {
      const bad = typedFailure(
        yield* Effect.exit(
          Effect.scoped(IoUring.make({ entries: 8, flushTiming: "later" as unknown as IoUring.FlushTiming })),
        ),
      )
      assert.strictEqual(bad.reason, "InvalidArgument")
      for (const flushTiming of ["microtask", "immediate"] as const) {
        let enters = 0
        const ring = yield* IoUring.make({
          entries: 8,
          flushTiming,
          seams: { observer: { onEnter: () => enters++ } },
        })
        // Three NOPs prepared in one synchronous run: one enter either way; a microtask flush has
        // made it by the time a microtask queued after them runs, a setImmediate flush has not.
        const nops = Effect.runPromise(
          Effect.all([IoUring.nop(ring), IoUring.nop(ring), IoUring.nop(ring)], { concurrency: "unbounded" }),
        )
        const seenAfterMicrotask = yield* Effect.promise(
          () => new Promise<number>((resolve) => queueMicrotask(() => queueMicrotask(() => resolve(enters)))),
        )
        yield* Effect.promise(() => nops)
        assert.strictEqual(enters, 1, `${flushTiming}: one io_uring_enter for the three SQEs`)
        assert.strictEqual(seenAfterMicrotask, flushTiming === "microtask" ? 1 : 0, flushTiming)
      }
    }),
  )

  it.live("IoUringCallback.submitNow enters what is prepared before returning, and nothing else", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "now"), Libc.O_RDWR | Libc.O_CREAT)
      let enters = 0
      const ring = yield* IoUring.make({ entries: 8, seams: { observer: { onEnter: () => enters++ } } })
      IoUringCallback.submitNow(ring)
      assert.strictEqual(enters, 0, "nothing prepared: no io_uring_enter")
      const bytes = new Uint8Array(4 * KiB).fill(9)
      const written = yield* Effect.callback<number | IoError.IoError>((resume) => {
        IoUringCallback.startWrite(ring, fd, bytes, 0, undefined, (outcome) => resume(Effect.succeed(outcome)))
        assert.strictEqual(enters, 0, "prepared, not yet entered (the ring's flush would run later)")
        IoUringCallback.submitNow(ring)
        assert.strictEqual(enters, 1, "entered before submitNow returned")
      })
      assert.strictEqual(written, 4 * KiB)
      // The flush the write scheduled found nothing left to submit.
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      assert.strictEqual(enters, 1)
      const onDisk = yield* readFile(NodePath.join(dir, "now"))
      assert.deepStrictEqual([...onDisk.subarray(0, 4)], [9, 9, 9, 9])
    }),
  )

  it.live("many O_DIRECT writes in flight, batched: one io_uring_enter per event-loop turn", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "many")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT)
      const ring = yield* IoUring.make({ entries: 64 })
      const blocks = 48
      const buffer = yield* AlignedMemory.allocate(blocks * 4 * KiB, 4096)
      for (let i = 0; i < blocks; i++) buffer.bytes.fill(patternByte(i), i * 4 * KiB, (i + 1) * 4 * KiB)
      const before = ring.stats()
      const written = yield* Effect.all(
        Array.from({ length: blocks }, (_, i) =>
          IoUring.write(ring, fd, buffer.bytes.subarray(i * 4 * KiB, (i + 1) * 4 * KiB), i * 4 * KiB),
        ),
        { concurrency: "unbounded" },
      )
      const after = ring.stats()
      assert.deepStrictEqual(
        written,
        Array.from({ length: blocks }, () => 4 * KiB),
      )
      assert.strictEqual(after.sqesSubmitted - before.sqesSubmitted, blocks)
      assert.strictEqual(after.enters - before.enters, 1, "48 SQEs prepared in one turn, one io_uring_enter")
      assert.strictEqual(after.inFlightHigh, blocks)
      assert.strictEqual(ring.inFlight(), 0)
      const bytes = yield* readFile(path)
      for (let i = 0; i < blocks; i++) assert.strictEqual(bytes[i * 4 * KiB + 123], patternByte(i))
      // Reads come back through the ring too.
      const into = yield* AlignedMemory.allocate(8 * KiB, 4096)
      assert.strictEqual(yield* IoUring.read(ring, fd, into.bytes, 10 * 4 * KiB), 8 * KiB)
      assert.strictEqual(into.bytes[0], patternByte(10))
      assert.strictEqual(into.bytes[4 * KiB], patternByte(11))
      assert.strictEqual(yield* IoUring.read(ring, fd, into.bytes, blocks * 4 * KiB), 0, "0 at end of file")
    }),
  )

  it.live("SQ full: callers wait (bounded in flight), all complete in order of data", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "backpressure")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT)
      const ring = yield* IoUring.make({ entries: 4 })
      const writes = 200
      let maxInFlight = 0
      let maxQueued = 0
      const results = yield* Effect.all(
        Array.from({ length: writes }, (_, i) =>
          Effect.tap(IoUring.write(ring, fd, new Uint8Array(100).fill(i & 0xff), i * 100), () =>
            Effect.sync(() => {
              maxInFlight = Math.max(maxInFlight, ring.inFlight())
              maxQueued = Math.max(maxQueued, ring.queued())
            }),
          ),
        ),
        { concurrency: "unbounded" },
      )
      assert.strictEqual(results.length, writes)
      assert.isTrue(results.every((n) => n === 100))
      const stats = ring.stats()
      assert.isAtMost(stats.inFlightHigh, ring.capacity, "never more SQEs in flight than the capacity")
      assert.isAtLeast(stats.queuedWaits, writes - ring.capacity)
      assert.isAbove(maxQueued, 0)
      assert.isAtMost(maxInFlight, ring.capacity)
      assert.strictEqual(stats.overflowFlushes, 0, "the CQ never overflowed")
      assert.strictEqual(ring.queued(), 0)
      const bytes = yield* readFile(path)
      assert.strictEqual(bytes.length, writes * 100)
      for (let i = 0; i < writes; i++) assert.strictEqual(bytes[i * 100 + 50], i & 0xff)
    }),
  )

  it.live("linked WRITE→FSYNC(DATASYNC) in one submission; a failed write never syncs", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "linked")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT)
      const ring = yield* IoUring.make({ entries: 8 })
      const buffer = yield* AlignedMemory.allocate(64 * KiB, 4096)
      buffer.bytes.fill(0x5a)
      const before = ring.stats()
      const result = yield* IoUring.writeThenFsync(ring, fd, buffer.bytes, 0)
      const after = ring.stats()
      assert.deepStrictEqual(result, { writtenBytes: 64 * KiB, synced: true })
      assert.strictEqual(after.sqesSubmitted - before.sqesSubmitted, 2)
      assert.strictEqual(after.enters - before.enters, 1)
      assert.strictEqual((yield* readFile(path))[65535], 0x5a)
      // A misaligned Direct write fails EINVAL; the linked fsync is cancelled, the error is the write's.
      const failed = typedFailure(
        yield* Effect.exit(IoUring.writeThenFsync(ring, fd, buffer.bytes.subarray(0, 100), 0)),
      )
      assert.strictEqual(failed.code, "EINVAL")
      assert.strictEqual(failed.syscall, "io_uring:WRITE")
      assert.strictEqual(ring.inFlight(), 0)
      // Plain fsync and fdatasync through the ring.
      yield* IoUring.fsync(ring, fd)
      yield* IoUring.fsync(ring, fd, { datasync: false })
      // RWF_DSYNC (FUA where the device honours it) is accepted on this kernel.
      assert.strictEqual(yield* IoUring.write(ring, fd, buffer.bytes.subarray(0, 4096), 0, { dsync: true }), 4096)
    }),
  )

  it.live("offload: buffered READ/WRITE go to the kernel's worker (IOSQE_ASYNC), data intact", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "offload")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT)
      const ring = yield* IoUring.make({ entries: 8 })
      const bytes = Uint8Array.from({ length: 1024 * KiB }, (_, i) => patternByte(i >>> 12))
      const before = ring.stats()
      assert.strictEqual(yield* IoUring.write(ring, fd, bytes, 0, { offload: true }), bytes.length)
      const linked = yield* IoUring.writeThenFsync(ring, fd, bytes, bytes.length, { offload: true })
      assert.deepStrictEqual(linked, { writtenBytes: bytes.length, synced: true })
      const into = new Uint8Array(2 * bytes.length)
      assert.strictEqual(yield* IoUring.read(ring, fd, into, 0, { offload: true }), into.length)
      // The flag is an SQE flag of the data op only: the linked FSYNC is not counted.
      assert.strictEqual(ring.stats().offloadedSqes - before.offloadedSqes, 3)
      assert.deepStrictEqual(into.subarray(0, bytes.length), bytes)
      assert.deepStrictEqual(into.subarray(bytes.length), bytes)
      // Without the option nothing is offloaded.
      yield* IoUring.write(ring, fd, bytes.subarray(0, 4 * KiB), 0)
      const callbackWritten = yield* Effect.callback<number | IoError.IoError>((resume) =>
        IoUringCallback.startWrite(ring, fd, bytes, 0, { offload: true }, (outcome) => resume(Effect.succeed(outcome))),
      )
      assert.strictEqual(callbackWritten, bytes.length)
      const back = new Uint8Array(bytes.length)
      const callbackRead = yield* Effect.callback<number | IoError.IoError>((resume) =>
        IoUringCallback.startRead(ring, fd, back, 0, { offload: true }, (outcome) => resume(Effect.succeed(outcome))),
      )
      assert.strictEqual(callbackRead, bytes.length)
      assert.deepStrictEqual(back, bytes)
      assert.strictEqual(ring.stats().offloadedSqes - before.offloadedSqes, 5)
    }),
  )

  it.live("negative CQE results become typed IoErrors naming the opcode", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "ro")
      NodeFs.writeFileSync(path, "read only")
      const fd = yield* openFd(path, Libc.O_RDONLY)
      const ring = yield* IoUring.make({ entries: 4 })
      const ebadf = typedFailure(yield* Effect.exit(IoUring.write(ring, fd, new Uint8Array(4), 0, { path })))
      assert.strictEqual(ebadf.code, "EBADF")
      assert.strictEqual(ebadf.reason, "BadDescriptor")
      assert.strictEqual(ebadf.syscall, "io_uring:WRITE")
      assert.strictEqual(ebadf.path, path)
      const closedFd = typedFailure(yield* Effect.exit(IoUring.fsync(ring, 1_000_000)))
      assert.strictEqual(closedFd.code, "EBADF")
      assert.strictEqual(closedFd.syscall, "io_uring:FSYNC")
      // Bad input is refused before it reaches the kernel.
      const empty = typedFailure(yield* Effect.exit(IoUring.write(ring, fd, new Uint8Array(0), 0)))
      assert.strictEqual(empty.reason, "InvalidArgument")
      const negative = typedFailure(yield* Effect.exit(IoUring.read(ring, fd, new Uint8Array(4), -1)))
      assert.strictEqual(negative.reason, "InvalidArgument")
      assert.strictEqual(ring.stats().sqesSubmitted, 2)
      // The ring survives errors.
      const into = new Uint8Array(9)
      assert.strictEqual(yield* IoUring.read(ring, fd, into, 0), 9)
      assert.strictEqual(new TextDecoder().decode(into), "read only")
    }),
  )

  it.live("registered buffers: WRITE_FIXED/READ_FIXED chosen by address, unregistered before free", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "fixed")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT)
      const ring = yield* IoUring.make({ entries: 8 })
      const slotA = yield* AlignedMemory.allocate(16 * KiB, 4096)
      const slotB = yield* AlignedMemory.allocate(16 * KiB, 4096)
      const other = yield* AlignedMemory.allocate(4 * KiB, 4096)
      slotA.bytes.fill(0xa1)
      slotB.bytes.fill(0xb2)
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* IoUring.registerBuffers(ring, [slotA, slotB])
          assert.isTrue(IoUring.hasRegisteredBuffers(ring))
          // Another caller's buffers share the ring's table (and leave it with their Scope)…
          yield* Effect.scoped(IoUring.registerBuffers(ring, [other]))
          // …but one buffer is in one registration at a time.
          const twice = typedFailure(yield* Effect.exit(Effect.scoped(IoUring.registerBuffers(ring, [slotA]))))
          assert.strictEqual(twice.reason, "Busy")
          const before = ring.stats().fixedSqes
          yield* IoUring.write(ring, fd, slotA.bytes, 0)
          yield* IoUring.write(ring, fd, slotB.bytes.subarray(4 * KiB, 8 * KiB), 16 * KiB)
          yield* IoUring.write(ring, fd, other.bytes, 20 * KiB) // not registered: plain WRITE
          assert.strictEqual(ring.stats().fixedSqes - before, 2)
          const error = typedFailure(yield* Effect.exit(IoUring.read(ring, fd, slotB.bytes.subarray(0, 512), 100)))
          assert.strictEqual(error.syscall, "io_uring:READ_FIXED")
          assert.strictEqual(yield* IoUring.read(ring, fd, slotB.bytes.subarray(0, 4 * KiB), 0), 4 * KiB)
          assert.strictEqual(slotB.bytes[0], 0xa1, "READ_FIXED landed in the registered buffer")
        }),
      )
      assert.isFalse(IoUring.hasRegisteredBuffers(ring))
      const before = ring.stats().fixedSqes
      yield* IoUring.write(ring, fd, slotA.bytes, 0)
      assert.strictEqual(ring.stats().fixedSqes, before, "after unregistering, plain WRITE again")
      const bytes = yield* readFile(path)
      assert.strictEqual(bytes[16 * KiB], 0xb2)
      // Only AlignedMemory can be registered.
      const js = typedFailure(
        yield* Effect.exit(
          Effect.scoped(
            IoUring.registerBuffers(ring, [
              { bytes: new Uint8Array(4096), address: 0n, byteLength: 4096, alignmentBytes: 4096 },
            ]),
          ),
        ),
      )
      assert.strictEqual(js.reason, "InvalidArgument")
    }),
  )

  it.live("ordinary JS memory is kept alive until the CQE (writes and reads)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "js")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT)
      const ring = yield* IoUring.make({ entries: 16 })
      // Small arrays live on V8's heap until their address is taken; the ring must still work.
      yield* Effect.all(
        Array.from({ length: 64 }, (_, i) => IoUring.write(ring, fd, new Uint8Array(16).fill(i), i * 16)),
        { concurrency: "unbounded" },
      )
      ;(globalThis as { gc?: () => void }).gc?.()
      const bytes = yield* readFile(path)
      for (let i = 0; i < 64; i++) assert.strictEqual(bytes[i * 16 + 15], i)
      const into = new Uint8Array(16)
      yield* IoUring.read(ring, fd, into, 5 * 16)
      assert.isTrue(into.every((b) => b === 5))
    }),
  )

  it.live("interrupting a fiber mid-write: the op stays tracked and the buffer's free waits for the CQE", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "interrupt")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT)
      const ring = yield* IoUring.make({ entries: 8 })
      const bufferScope = yield* Scope.make()
      const buffer = yield* Scope.provide(AlignedMemory.allocate(8 << 20, 4096), bufferScope)
      buffer.bytes.fill(0x77)
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(
        Effect.andThen(Deferred.succeed(started, undefined), IoUring.writeThenFsync(ring, fd, buffer.bytes, 0)),
      )
      yield* Deferred.await(started)
      yield* until(() => ring.inFlight() > 0, "submission")
      yield* Fiber.interrupt(fiber)
      // The fiber is gone, but the kernel still owns the memory.
      const inFlightAfterInterrupt = AlignedMemory.inFlightCount(buffer.bytes)
      yield* Scope.close(bufferScope, Exit.void)
      // The free waited for the CQE: nothing in flight, and the views are detached.
      assert.strictEqual(ring.inFlight(), 0)
      assert.strictEqual(buffer.bytes.byteLength, 0)
      assert.strictEqual(inFlightAfterInterrupt, 1, "the interrupted op still held the buffer")
      // The write was not torn by the free: it completed in full.
      const bytes = yield* readFile(path)
      assert.strictEqual(bytes.length, 8 << 20)
      assert.strictEqual(bytes[(8 << 20) - 1], 0x77)
    }),
  )

  it.live("interrupting a queued op drops it before the kernel sees it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "queued"), Libc.O_RDWR | Libc.O_CREAT)
      const ring = yield* IoUring.make({ entries: 2 })
      const buffer = yield* AlignedMemory.allocate(4096, 4096)
      // Fill the ring (capacity 2) with two fsyncs, queue a write behind them, interrupt it.
      const fsyncs = yield* Effect.forkChild(
        Effect.all([IoUring.fsync(ring, fd), IoUring.fsync(ring, fd)], { concurrency: "unbounded" }),
      )
      const queued = yield* Effect.forkChild(IoUring.write(ring, fd, buffer.bytes, 0))
      yield* until(() => ring.queued() === 1, "the write to queue")
      assert.strictEqual(AlignedMemory.inFlightCount(buffer.bytes), 1, "a queued op already holds its memory")
      yield* Fiber.interrupt(queued)
      assert.strictEqual(ring.queued(), 0)
      assert.strictEqual(AlignedMemory.inFlightCount(buffer.bytes), 0, "…and releases it when dropped")
      yield* Fiber.join(fsyncs)
      assert.strictEqual(ring.stats().sqesSubmitted, 2, "the dropped write never reached the kernel")
    }),
  )

  it.live("closing the ring with ops in flight cancels/waits for them; later ops fail BadDescriptor", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "teardown"), Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT)
      const buffer = yield* AlignedMemory.allocate(1 << 20, 4096)
      const ringScope = yield* Scope.make()
      const ring = yield* Scope.provide(IoUring.make({ entries: 4 }), ringScope)
      const fibers = yield* Effect.forkChild(
        Effect.all(
          Array.from({ length: 12 }, (_, i) =>
            Effect.exit(
              IoUring.writeThenFsync(
                ring,
                fd,
                buffer.bytes.subarray((i % 4) * 256 * KiB, ((i % 4) + 1) * 256 * KiB),
                i * 256 * KiB,
              ),
            ),
          ),
          { concurrency: "unbounded" },
        ),
      )
      yield* until(() => ring.inFlight() > 0 && ring.queued() > 0, "ops in flight and queued")
      yield* Scope.close(ringScope, Exit.void)
      assert.strictEqual(ring.inFlight(), 0, "teardown returned only after every CQE")
      assert.strictEqual(AlignedMemory.inFlightCount(buffer.bytes), 0)
      const exits = yield* Fiber.join(fibers)
      // Queued ops fail (cancelled); in-flight ones either completed or were cancelled.
      const failures = exits.filter(Exit.isFailure)
      assert.isAbove(failures.length, 0)
      const late = typedFailure(yield* Effect.exit(IoUring.nop(ring)))
      assert.strictEqual(late.reason, "BadDescriptor")
    }),
  )

  it.live("an idle ring does not keep the process alive (poll unref'ed when nothing is in flight)", () =>
    Effect.gen(function* () {
      const fixture = NodePath.join(import.meta.dirname, "fixtures", "idleRingExits.ts")
      const result = yield* Effect.promise(
        () =>
          new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
            ChildProcess.execFile(process.execPath, [fixture], { timeout: 20_000 }, (error, stdout, stderr) =>
              resolve({ code: error === null ? 0 : ((error.code as number | null) ?? -1), stdout, stderr }),
            )
          }),
      )
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, "nop done, in flight 0")
    }),
  )

  it.live("probe reports availability and features", () =>
    Effect.gen(function* () {
      const availability = yield* IoUring.probe
      assert.isTrue(availability.available)
      assert.isUndefined(availability.missingOpcodes, "READ/WRITE/FIXED/FSYNC all supported")
      assert.include(availability.featureNames ?? [], "NODROP")
    }),
  )
})
