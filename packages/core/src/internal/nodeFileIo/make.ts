/**
 * The Node implementation of the `FileIo` port: `node:fs` positional calls on the libuv
 * threadpool, and koffi for the three calls `node:fs` lacks (flock, fallocate, posix_memalign).
 *
 * `make()` is synchronous and acquires nothing: files, locks and aligned memory are acquired by
 * the operations, each in the caller's Scope. Only types are imported from `FileIo.ts`, because
 * `FileIo` uses this `make()` as its default service (a runtime import back would be a cycle).
 *
 * Cost sketch per operation: one `Effect.callback` plus one threadpool round trip per syscall
 * (≈ 25–50 µs of latency, a few µs of CPU). Hot callers batch: the log buffer writes whole
 * sectors, the reader reads megabytes at a time.
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import { Effect } from "effect"
import { IoError } from "@fsys/native"
import type { FileIoService, Handle, OpenOptions } from "../../FileIo.ts"
import * as AlignedMemory from "./alignedMemory.ts"
import * as Libc from "./libc.ts"
import { openPath } from "./open.ts"
import { badDescriptor, fromHandle, OpenFile, pin, requestClose, unpin } from "./openFile.ts"
import { type Done, readFull, writeAll } from "./positional.ts"

/** @internal */
export const BACKEND = "pwrite" as const
/** @internal */
export const REASON = "node:fs positional IO on the libuv threadpool"

/**
 * Process-wide, so ids stay unique even across several `make()` services (FS-C1: never key
 * anything by fd number, which the kernel reuses).
 */
let nextHandleId = 1

const invalidArgument = (syscall: string, path: string, detail: string): IoError.IoError =>
  IoError.fromErrno("EINVAL", syscall, path, detail)

const isByteOffset = (value: number): boolean => Number.isSafeInteger(value) && value >= 0

/**
 * Runs `run` with the file's fd pinned open (see `openFile.ts`), completing the Effect from the
 * callback. The pin is released before the fiber resumes.
 */
const onFile = <A>(
  handle: Handle,
  syscall: string,
  run: (file: OpenFile, done: Done<A>) => void,
): Effect.Effect<A, IoError.IoError> =>
  Effect.callback<A, IoError.IoError>((resume) => {
    const file = fromHandle(handle)
    if (file === undefined || !pin(file)) {
      resume(Effect.fail(badDescriptor(handle, syscall)))
      return
    }
    run(file, (error, value) => {
      unpin(file)
      resume(error === undefined ? Effect.succeed(value) : Effect.fail(error))
    })
  })

/** Adapts a `node:fs` callback to `Done`, naming the syscall in the error. */
const nodeDone =
  <A>(file: OpenFile, syscall: string, done: Done<A | undefined>) =>
  (error: NodeJS.ErrnoException | null, value?: A): void =>
    done(error === null ? undefined : IoError.fromNodeError(error, syscall, file.path), value)

const closeEffect = (file: OpenFile): Effect.Effect<void, IoError.IoError> =>
  Effect.callback<void, IoError.IoError>((resume) => {
    requestClose(file, (error) => resume(error === undefined ? Effect.void : Effect.fail(error)))
  })

const openEffect = (path: string, options: OpenOptions): Effect.Effect<OpenFile, IoError.IoError> =>
  Effect.callback<OpenFile, IoError.IoError>((resume) => {
    const direct = options.direct === true
    const readOnly = options.readOnly === true
    openPath(path, { create: options.create === true, direct, readOnly }, (error, opened) => {
      if (error !== undefined || opened === undefined) {
        resume(Effect.fail(error ?? IoError.fromErrno("EUNKNOWN", "open", path)))
        return
      }
      resume(Effect.succeed(new OpenFile(nextHandleId++, path, opened.fd, direct, readOnly, opened.created)))
    })
  })

const writeAt = (handle: Handle, bytes: Uint8Array, offsetBytes: number, datasync: boolean) => {
  const syscall = datasync ? "pwrite+fdatasync" : "pwrite"
  if (!isByteOffset(offsetBytes)) return Effect.fail(invalidArgument(syscall, handle.path, `offset ${offsetBytes}`))
  return onFile<void>(handle, syscall, (file, done) => {
    const held = AlignedMemory.retain(bytes)
    writeAll(file.fd, file.path, bytes, offsetBytes, (error) => {
      AlignedMemory.unretain(bytes, held)
      if (error !== undefined || !datasync) return done(error, undefined)
      NodeFs.fdatasync(file.fd, nodeDone(file, "fdatasync", done))
    })
  })
}

const lock = (handle: Handle): Effect.Effect<void, IoError.IoError> =>
  Effect.suspend(() => {
    const file = fromHandle(handle)
    if (file === undefined || !pin(file)) return Effect.fail(badDescriptor(handle, "flock"))
    try {
      const loaded = Libc.get()
      if ("error" in loaded) return Effect.fail(IoError.fromErrno("ENOSYS", "flock", file.path, loaded.error))
      // LOCK_NB: never waits, so a synchronous call on the event loop is fine (≈ 0.2 µs).
      const status = loaded.libc.flock(file.fd, Libc.LOCK_EX | Libc.LOCK_NB)
      return status === 0 ? Effect.void : Effect.fail(IoError.fromErrno(loaded.libc.errno(), "flock", file.path))
    } finally {
      unpin(file)
    }
  })

const allocate = (handle: Handle, offsetBytes: number, lengthBytes: number) => {
  if (!isByteOffset(offsetBytes) || !(isByteOffset(lengthBytes) && lengthBytes > 0)) {
    return Effect.fail(invalidArgument("fallocate", handle.path, `range ${offsetBytes}+${lengthBytes}`))
  }
  return onFile<void>(handle, "fallocate", (file, done) => {
    const loaded = Libc.get()
    if ("error" in loaded) return done(IoError.fromErrno("ENOSYS", "fallocate", file.path, loaded.error), undefined)
    const libc = loaded.libc
    try {
      // Allocating blocks can wait on the disk: threadpool, never the event loop.
      libc.fallocateAsync(file.fd, Libc.FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes, (error, status) => {
        if (error !== null && error !== undefined) return done(IoError.fromNodeError(error, "fallocate", file.path), undefined)
        done(status === 0 ? undefined : IoError.fromErrno(libc.errno(), "fallocate", file.path), undefined)
      })
    } catch (error) {
      // koffi throws synchronously when its async queue is full.
      done(IoError.fromNodeError(error, "fallocate", file.path), undefined)
    }
  })
}

/**
 * The Node `FileIo` service. Synchronous and cheap: acquires nothing until an operation runs.
 *
 * @internal
 */
export const make = (): FileIoService => ({
  backend: BACKEND,
  reason: REASON,

  open: (path, options = {}) =>
    Effect.acquireRelease(openEffect(path, options), (file) =>
      // A close error at Scope end is not actionable (durability comes from datasync, which
      // reports its own errors), so it is dropped here; an explicit `close` reports it.
      Effect.ignore(closeEffect(file)),
    ),

  close: (handle) => {
    const file = fromHandle(handle)
    return file === undefined ? Effect.fail(badDescriptor(handle, "close")) : closeEffect(file)
  },

  writeAt: (handle, bytes, offsetBytes) => writeAt(handle, bytes, offsetBytes, false),

  writeAtThenDatasync: (handle, bytes, offsetBytes) => writeAt(handle, bytes, offsetBytes, true),

  readAt: (handle, into, offsetBytes) => {
    if (!isByteOffset(offsetBytes)) return Effect.fail(invalidArgument("pread", handle.path, `offset ${offsetBytes}`))
    return onFile<number>(handle, "pread", (file, done) => {
      const held = AlignedMemory.retain(into)
      readFull(file.fd, file.path, into, offsetBytes, file.direct, (error, count) => {
        AlignedMemory.unretain(into, held)
        done(error, count)
      })
    })
  },

  datasync: (handle) =>
    onFile<void>(handle, "fdatasync", (file, done) => NodeFs.fdatasync(file.fd, nodeDone(file, "fdatasync", done))),

  sync: (handle) => onFile<void>(handle, "fsync", (file, done) => NodeFs.fsync(file.fd, nodeDone(file, "fsync", done))),

  syncDirectory: (directoryPath) =>
    Effect.callback<void, IoError.IoError>((resume) => {
      const failed = (error: unknown, syscall: string) =>
        resume(Effect.fail(IoError.fromNodeError(error, syscall, directoryPath)))
      NodeFs.open(directoryPath, NodeFs.constants.O_RDONLY | NodeFs.constants.O_DIRECTORY, (openError, fd) => {
        if (openError !== null) return failed(openError, "open")
        NodeFs.fsync(fd, (syncError) =>
          NodeFs.close(fd, (closeError) => {
            if (syncError !== null) return failed(syncError, "fsync")
            if (closeError !== null) return failed(closeError, "close")
            resume(Effect.void)
          }),
        )
      })
    }),

  truncate: (handle, sizeBytes) => {
    if (!isByteOffset(sizeBytes)) return Effect.fail(invalidArgument("ftruncate", handle.path, `size ${sizeBytes}`))
    return onFile<void>(handle, "ftruncate", (file, done) =>
      NodeFs.ftruncate(file.fd, sizeBytes, nodeDone(file, "ftruncate", done)),
    )
  },

  allocate,

  size: (handle) =>
    onFile<number>(handle, "fstat", (file, done) =>
      NodeFs.fstat(file.fd, (error, stats) =>
        done(error === null ? undefined : IoError.fromNodeError(error, "fstat", file.path), error === null ? stats.size : 0),
      ),
    ),

  lock,

  remove: (path) =>
    Effect.callback<void, IoError.IoError>((resume) => {
      NodeFs.unlink(path, (error) =>
        resume(error === null ? Effect.void : Effect.fail(IoError.fromNodeError(error, "unlink", path))),
      )
    }),

  allocateAligned: (byteLength, alignmentBytes) =>
    Effect.acquireRelease(
      Effect.suspend(() => {
        const result = AlignedMemory.allocate(byteLength, alignmentBytes)
        return "error" in result ? Effect.fail(result.error) : Effect.succeed(result.buffer)
      }),
      (buffer) => Effect.sync(() => AlignedMemory.release(buffer)),
    ),

  // Fixed buffers are an io_uring feature; positional IO has nothing to register.
  registerBuffers: () => Effect.void,
})
