/**
 * The layers' callback-form writes (`internal/callbackIo.ts`: io_uring's `internal/ioUring/ops.ts
 * writeNow`, the Node layer's `internal/nodeFileIo/writeNow.ts`), which the log buffer's writer
 * submits its rounds through without a fiber: the same
 * contract as `writeAt` / `writeAtThenDatasync` (typed errors, short writes and split links
 * finished, the fd pinned until the CQE), reported exactly once, and never used for a service that
 * wraps the layer.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { FileIo, FileIoAuto, IoUringFileIo, Journal, JournalReader, NodeFileIo } from "@fsys/core"
import { type IoError, IoUring } from "@fsys/native"
import * as CallbackIo from "../src/internal/callbackIo.ts"
import { fromHandle } from "../src/internal/nodeFileIo/openFile.ts"

const tempDirectory = Effect.acquireRelease(
  Effect.promise(() => NodeFs.promises.mkdtemp(NodePath.join(NodeOs.tmpdir(), "fsys-callbackio-"))),
  (directory) => Effect.promise(() => NodeFs.promises.rm(directory, { recursive: true, force: true })),
)

/** Runs one callback-form write and resumes with every report it made (the contract: exactly one). */
const writeNow = (
  io: FileIo.FileIoService,
  handle: FileIo.Handle,
  bytes: Uint8Array,
  offsetBytes: number,
  datasync: boolean,
) =>
  Effect.gen(function* () {
    const callbackIo = CallbackIo.lookup(io)
    assert.isDefined(callbackIo, "the io_uring service registers callback-form writes")
    const reports: Array<IoError.IoError | undefined> = []
    yield* Effect.callback<void>((resume) => {
      callbackIo!.write(handle, bytes, offsetBytes, datasync ? "datasync" : "none", (failure) => {
        reports.push(failure)
        resume(Effect.void)
      })
    })
    // A second report would arrive from a later CQE or microtask: give it the chance.
    yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    return reports
  })

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text)

/**
 * Starts a callback-form write and at once asks to close the handle: the fd must stay open while
 * the kernel (or a thread) still uses it, the write must succeed, and the close complete after.
 */
const closeWhileWriting = (io: FileIo.FileIoService, handle: FileIo.Handle, bytes: Uint8Array) =>
  Effect.gen(function* () {
    const fd = fromHandle(handle)!.fd
    const reports: Array<IoError.IoError | undefined> = []
    let resume: (() => void) | undefined
    const done = new Promise<void>((resolve) => {
      resume = resolve
    })
    CallbackIo.lookup(io)!.write(handle, bytes, 0, "datasync", (failure) => {
      reports.push(failure)
      resume!()
    })
    const closing = Effect.runPromise(io.close(handle))
    assert.isDefined(NodeFs.readlinkSync(`/proc/self/fd/${fd}`), "fd still open while the write is in flight")
    yield* Effect.promise(() => done)
    yield* Effect.promise(() => closing)
    assert.deepStrictEqual(reports, [undefined])
  })

describe("callback-form writes (io_uring)", () => {
  it.live("write and write→datasync land whole, reported once", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const ring = yield* IoUring.make({ entries: 8 })
      const io = IoUringFileIo.fromRing(ring)
      const handle = yield* io.open(NodePath.join(dir, "a"), { create: true })
      assert.deepStrictEqual(yield* writeNow(io, handle, bytesOf("first "), 0, false), [undefined])
      assert.deepStrictEqual(yield* writeNow(io, handle, bytesOf("second"), 6, true), [undefined])
      assert.strictEqual(NodeFs.readFileSync(NodePath.join(dir, "a"), "utf8"), "first second")
      assert.strictEqual(ring.stats().linkSplits, 0)
    }),
  )

  it.live("a pair split by a partial submission is synced apart, not reported synced early", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      // One SQE per io_uring_enter: the kernel takes the WRITE of each pair alone.
      const ring = yield* IoUring.make({ entries: 8, seams: { submitCount: () => 1 } })
      const io = IoUringFileIo.fromRing(ring)
      const handle = yield* io.open(NodePath.join(dir, "split"), { create: true })
      const sqesBefore = ring.stats().sqesSubmitted
      assert.deepStrictEqual(yield* writeNow(io, handle, bytesOf("split pair"), 0, true), [undefined])
      assert.strictEqual(ring.stats().linkSplits, 1)
      // WRITE, the FSYNC turned NOP, then the FSYNC submitted on its own after the write completed.
      assert.strictEqual(ring.stats().sqesSubmitted - sqesBefore, 3)
      assert.strictEqual(NodeFs.readFileSync(NodePath.join(dir, "split"), "utf8"), "split pair")
    }),
  )

  it.live("bad input and a closed handle are typed errors, reported once", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const ring = yield* IoUring.make({ entries: 8 })
      const io = IoUringFileIo.fromRing(ring)
      const path = NodePath.join(dir, "b")
      const handle = yield* io.open(path, { create: true })
      const negative = yield* writeNow(io, handle, bytesOf("x"), -1, true)
      assert.strictEqual(negative.length, 1)
      assert.strictEqual(negative[0]?.code, "EINVAL")
      yield* io.close(handle)
      const closed = yield* writeNow(io, handle, bytesOf("x"), 0, false)
      assert.strictEqual(closed.length, 1)
      assert.strictEqual(closed[0]?.reason, "BadDescriptor")
      assert.strictEqual(NodeFs.statSync(path).size, 0, "nothing written")
    }),
  )

  it.live("the fd stays open until the CQE even when the handle is closed meanwhile (FS-C1)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const ring = yield* IoUring.make({ entries: 8 })
      const io = IoUringFileIo.fromRing(ring)
      const path = NodePath.join(dir, "c")
      const handle = yield* io.open(path, { create: true })
      yield* closeWhileWriting(io, handle, new Uint8Array(16 << 20).fill(0x3c))
      assert.strictEqual(NodeFs.statSync(path).size, 16 << 20)
    }),
  )

  it.live("a wrapped service finds no callback writes, so its own writes are the ones that run", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const ring = yield* IoUring.make({ entries: 16 })
      const inner = IoUringFileIo.fromRing(ring)
      let wrappedSyncedWrites = 0
      const wrapped: FileIo.FileIoService = {
        ...inner,
        writeAtThenDatasync: (handle, bytes, offsetBytes) => {
          wrappedSyncedWrites++
          return inner.writeAtThenDatasync(handle, bytes, offsetBytes)
        },
      }
      assert.isUndefined(CallbackIo.lookup(wrapped))
      const path = NodePath.join(dir, "wrapped.journal")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const journal = yield* Journal.open(path, { mode: "buffered" })
          for (let i = 0; i < 5; i++) yield* journal.appendDurable(bytesOf(`record ${i}`))
        }),
      ).pipe(Effect.provideService(FileIo.FileIo, wrapped))
      assert.isAtLeast(wrappedSyncedWrites, 5, "every round went through the wrapper")
      const result = yield* JournalReader.scan(path)
      assert.strictEqual(result.records, 5)
    }),
  )

  it.live("a journal whose every round is split by partial submissions loses nothing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const ring = yield* IoUring.make({ entries: 16, seams: { submitCount: () => 1 } })
      const io = IoUringFileIo.fromRing(ring)
      for (const mode of ["buffered", "direct"] as const) {
        const path = NodePath.join(dir, `${mode}.journal`)
        const ends = yield* Effect.scoped(
          Effect.gen(function* () {
            const journal = yield* Journal.open(path, { mode })
            return yield* Effect.forEach(
              Array.from({ length: 40 }, (_, i) => i),
              (i) => journal.appendDurable(bytesOf(`${mode} ${i}`)),
              { concurrency: 8 },
            )
          }),
        ).pipe(Effect.provideService(FileIo.FileIo, io))
        assert.strictEqual(ends.length, 40)
        const result = yield* JournalReader.scan(path)
        assert.strictEqual(result.records, 40, mode)
      }
      assert.isAbove(ring.stats().linkSplits, 0, "the rounds' pairs really were split")
    }),
  )

  it.live(
    "a journal on a kernel that cancels requests unrun (io-wq without a worker) loses nothing, poisons nothing",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDirectory
        // Every third WRITE, WRITE_FIXED or FSYNC completion says -ECANCELED, as io-wq answers for a
        // request it cancelled before running it (it could not create a worker while a signal was
        // pending): slot writes, linked pairs, preallocation zeros and the open's fdatasync alike.
        const [WRITE, WRITE_FIXED, FSYNC, ECANCELED] = [23, 5, 3, 125] // io_uring opcodes, errno
        let completions = 0
        const completionResult = (opcode: number, _position: number, result: number): number =>
          (opcode === WRITE || opcode === WRITE_FIXED || opcode === FSYNC) && ++completions % 3 === 0
            ? -ECANCELED
            : result
        const ring = yield* IoUring.make({ entries: 16, seams: { completionResult } })
        const io = IoUringFileIo.fromRing(ring)
        for (const mode of ["buffered", "direct"] as const) {
          const path = NodePath.join(dir, `${mode}-cancelled.journal`)
          const ends = yield* Effect.scoped(
            Effect.gen(function* () {
              const journal = yield* Journal.open(path, { mode })
              const durable = yield* Effect.forEach(
                Array.from({ length: 60 }, (_, i) => i),
                (i) => journal.appendDurable(bytesOf(`${mode} ${i}`)),
                { concurrency: 8 },
              )
              yield* journal.appendBatch(Array.from({ length: 40 }, (_, i) => bytesOf(`${mode} batch ${i}`)))
              yield* journal.sync
              return durable
            }),
          ).pipe(Effect.provideService(FileIo.FileIo, io))
          assert.strictEqual(ends.length, 60)
          const result = yield* JournalReader.scan(path)
          assert.strictEqual(result.records, 100, mode)
        }
        assert.isAbove(ring.stats().resubmits, 10, "the cancelled requests really were submitted again")
      }),
  )
})

describe("callback-form writes (Node layer: pwrite on the threadpool)", () => {
  it.live("aligned memory goes through pwrite (+ fdatasync); ordinary memory through node:fs; both land whole", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const io = NodeFileIo.make()
      const path = NodePath.join(dir, "a")
      const handle = yield* io.open(path, { create: true })
      const aligned = yield* io.allocateAligned(8192, 4096)
      aligned.bytes.fill(0x41)
      assert.deepStrictEqual(yield* writeNow(io, handle, aligned.bytes, 0, true), [undefined])
      assert.deepStrictEqual(yield* writeNow(io, handle, bytesOf("tail"), 8192, false), [undefined])
      const content = NodeFs.readFileSync(path)
      assert.strictEqual(content.byteLength, 8196)
      assert.strictEqual(content[8191], 0x41)
      assert.strictEqual(content.subarray(8192).toString("utf8"), "tail")
    }),
  )

  it.live("bad input and a closed handle are typed errors, reported once, and write nothing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const io = NodeFileIo.make()
      const path = NodePath.join(dir, "b")
      const handle = yield* io.open(path, { create: true })
      const aligned = yield* io.allocateAligned(4096, 4096)
      const negative = yield* writeNow(io, handle, aligned.bytes, -4096, true)
      assert.strictEqual(negative.length, 1)
      assert.strictEqual(negative[0]?.code, "EINVAL")
      yield* io.close(handle)
      const closed = yield* writeNow(io, handle, aligned.bytes, 0, true)
      assert.strictEqual(closed.length, 1)
      assert.strictEqual(closed[0]?.reason, "BadDescriptor")
      assert.strictEqual(NodeFs.statSync(path).size, 0)
    }),
  )

  it.live("the fd stays open until the thread returned even when the handle is closed meanwhile (FS-C1)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const io = NodeFileIo.make()
      const path = NodePath.join(dir, "c")
      const handle = yield* io.open(path, { create: true })
      const aligned = yield* io.allocateAligned(16 << 20, 4096)
      yield* closeWhileWriting(io, handle, aligned.bytes.fill(0x3c))
      assert.strictEqual(NodeFs.statSync(path).size, 16 << 20)
    }),
  )

  it.live("Direct and buffered journals over the Node layer read back every durable record", () =>
    Effect.gen(function* () {
      const dir = yield* tempDirectory
      const io = NodeFileIo.make()
      for (const mode of ["buffered", "direct"] as const) {
        const path = NodePath.join(dir, `${mode}.journal`)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const journal = yield* Journal.open(path, { mode })
            yield* Effect.forEach(
              Array.from({ length: 40 }, (_, i) => i),
              (i) => journal.appendDurable(bytesOf(`${mode} ${i}`)),
              { concurrency: 8 },
            )
          }),
        ).pipe(Effect.provideService(FileIo.FileIo, io))
        assert.strictEqual((yield* JournalReader.scan(path)).records, 40, mode)
      }
    }),
  )
})

describe("which services have callback-form writes", () => {
  // A service the journal writes through but that lost its registration (a spread copy with a new
  // `reason`, as FileIoAuto once made for pwrite) silently costs a fiber per round: found only by
  // a profile. So every service the library itself hands a journal is checked here.
  it.live("every service the library builds for a journal: Node, io_uring and each FileIoAuto choice", () =>
    Effect.gen(function* () {
      assert.isDefined(CallbackIo.lookup(FileIo.nodeDefault()), "the default Node service")
      assert.isDefined(CallbackIo.lookup(NodeFileIo.make()), "NodeFileIo.make")
      const ring = yield* IoUring.make({ entries: 8 })
      assert.isDefined(CallbackIo.lookup(IoUringFileIo.fromRing(ring)), "IoUringFileIo.fromRing")
      for (const backend of ["pwrite", "io_uring", "auto"] as const) {
        const service = yield* FileIoAuto.make({ backend })
        assert.isDefined(CallbackIo.lookup(service), `FileIoAuto.make({ backend: "${backend}" }) (${service.reason})`)
      }
    }),
  )
})
