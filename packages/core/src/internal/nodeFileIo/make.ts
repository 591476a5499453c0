/**
 * The Node implementation of the `FileIo` port: `node:fs` positional calls on the libuv
 * threadpool, and `@fsys/native`'s `Libc` (koffi) for what `node:fs` lacks: `flock`, `fallocate`,
 * aligned memory — and IO on that memory, whose lifetime `Libc` tracks (see `positional.ts`).
 *
 * `make()` is synchronous and acquires nothing: files, locks and aligned memory are acquired by
 * the operations, each in the caller's Scope. Only types are imported from `FileIo.ts`, because
 * `FileIo` uses this `make()` as its default service (a runtime import back would be a cycle).
 *
 * Cost sketch per operation: one `Effect.callback` plus one threadpool round trip per syscall
 * (≈ 25–50 µs of latency, a few µs of CPU). Hot callers batch: the log buffer writes whole
 * sectors, the reader reads megabytes at a time. The log buffer's writer skips the Effect: the
 * service registers callback-form writes (`writeNow.ts`, `../callbackIo.ts`).
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import { Effect } from "effect"
import { AlignedMemory, IoError, Libc } from "@fsys/native"
import type { FileIoService, Handle, OpenOptions } from "../../FileIo.ts"
import * as CallbackIo from "../callbackIo.ts"
import * as Positional from "../positional.ts"
import { openPath } from "./open.ts"
import * as Alignment from "./alignment.ts"
import { badDescriptor, fromHandle, OpenFile, pin, requestClose, unpin } from "./openFile.ts"
import { type Done, readCall, writeCall } from "./positional.ts"
import { writeNowOf } from "./writeNow.ts"

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

/**
 * Runs an Effect-based call (Libc) with the file's fd pinned open. The call is uninterruptible,
 * so the pin is released only when the thread is done with the fd. The pin and its `ensuring` are
 * one uninterruptible step: pinned in a plain `suspend`, an interrupt at the scheduler yield
 * before `ensuring` ran would leak the pin, and `close` would wait forever (issue 10 item 10).
 */
const onFileEffect = <A>(
  handle: Handle,
  syscall: string,
  use: (file: OpenFile) => Effect.Effect<A, IoError.IoError>,
): Effect.Effect<A, IoError.IoError> =>
  Effect.uninterruptible(
    Effect.suspend(() => {
      const file = fromHandle(handle)
      if (file === undefined || !pin(file)) return Effect.fail(badDescriptor(handle, syscall))
      return Effect.ensuring(
        use(file),
        Effect.sync(() => unpin(file)),
      )
    }),
  )

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

/** fdatasync through libuv (which retries EINTR itself), as an Effect. */
const nodeFdatasync = (file: OpenFile): Effect.Effect<void, IoError.IoError> =>
  Effect.callback<void, IoError.IoError>((resume) => {
    NodeFs.fdatasync(file.fd, (error) =>
      resume(error === null ? Effect.void : Effect.fail(IoError.fromNodeError(error, "fdatasync", file.path))),
    )
  })

/**
 * The shared loop (`../positional.ts`) over this layer's calls, with the fd pinned and the loop
 * uninterruptible: a thread may be using the memory and the fd until its call returns.
 */
const writeAt = (handle: Handle, bytes: Uint8Array, offsetBytes: number, datasync: boolean) => {
  const syscall = datasync ? "pwrite+fdatasync" : "pwrite"
  if (!isByteOffset(offsetBytes)) return Effect.fail(invalidArgument(syscall, handle.path, `offset ${offsetBytes}`))
  return onFileEffect(handle, syscall, (file) => {
    const call = writeCall(bytes, file.fd, file.path)
    const write = Positional.writeAll({ syscall: "pwrite", path: file.path, offsetBytes, call }, bytes)
    if (!datasync) return write
    return Effect.andThen(
      write,
      AlignedMemory.isNative(bytes) ? Libc.fdatasync(file.fd, file.path) : nodeFdatasync(file),
    )
  })
}

const readAt = (handle: Handle, into: Uint8Array, offsetBytes: number) => {
  if (!isByteOffset(offsetBytes)) return Effect.fail(invalidArgument("pread", handle.path, `offset ${offsetBytes}`))
  return onFileEffect(handle, "pread", (file) =>
    Positional.readFull(
      {
        syscall: "pread",
        path: file.path,
        offsetBytes,
        call: readCall(into, file.fd, file.path),
        shortMeansEnd: file.direct,
      },
      into,
    ),
  )
}

/** rename(2) on the threadpool. */
const renamePath = (fromPath: string, toPath: string): Effect.Effect<void, IoError.IoError> =>
  Effect.callback<void, IoError.IoError>((resume) => {
    NodeFs.rename(fromPath, toPath, (error) =>
      resume(error === null ? Effect.void : Effect.fail(IoError.fromNodeError(error, "rename", fromPath))),
    )
  })

/** readdir(3) on the threadpool; names sorted so callers see a deterministic order. */
const listDirectory = (directoryPath: string): Effect.Effect<ReadonlyArray<string>, IoError.IoError> =>
  Effect.callback<ReadonlyArray<string>, IoError.IoError>((resume) => {
    NodeFs.readdir(directoryPath, (error, names) =>
      resume(
        error === null
          ? Effect.succeed(names.sort())
          : Effect.fail(IoError.fromNodeError(error, "readdir", directoryPath)),
      ),
    )
  })

/** mkdir(2), 0o755; an existing directory is not an error (returns false). */
const makeDirectory = (directoryPath: string): Effect.Effect<boolean, IoError.IoError> =>
  Effect.callback<boolean, IoError.IoError>((resume) => {
    NodeFs.mkdir(directoryPath, { mode: 0o755 }, (error) => {
      if (error === null) return resume(Effect.succeed(true))
      if (error.code !== "EEXIST") return resume(Effect.fail(IoError.fromNodeError(error, "mkdir", directoryPath)))
      NodeFs.stat(directoryPath, (statError, stats) => {
        if (statError !== null) return resume(Effect.fail(IoError.fromNodeError(statError, "stat", directoryPath)))
        if (stats.isDirectory()) return resume(Effect.succeed(false))
        resume(Effect.fail(IoError.fromErrno("ENOTDIR", "mkdir", directoryPath)))
      })
    })
  })

/** fsync(2) of a directory (open O_DIRECTORY, fsync, close), so a created or renamed entry is durable. */
const syncDirectory = (directoryPath: string): Effect.Effect<void, IoError.IoError> =>
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
  })

/** unlink(2) on the threadpool. */
const removePath = (path: string): Effect.Effect<void, IoError.IoError> =>
  Effect.callback<void, IoError.IoError>((resume) => {
    NodeFs.unlink(path, (error) =>
      resume(error === null ? Effect.void : Effect.fail(IoError.fromNodeError(error, "unlink", path))),
    )
  })

/** fstat(2)'s size of an open file. */
const sizeOf = (handle: Handle): Effect.Effect<number, IoError.IoError> =>
  onFile<number>(handle, "fstat", (file, done) =>
    NodeFs.fstat(file.fd, (error, stats) =>
      done(
        error === null ? undefined : IoError.fromNodeError(error, "fstat", file.path),
        error === null ? stats.size : 0,
      ),
    ),
  )

/** The Node layer has every optional operation (the io_uring layer borrows them). */
export type NodeService = FileIoService & Required<Pick<FileIoService, "startWriteback">>

/**
 * The Node `FileIo` service. Synchronous and cheap: acquires nothing until an operation runs.
 * `reason` overrides what it says of itself (`FileIoAuto` says why it fell back): pass it here
 * rather than spreading the service into a new object, which would lose the callback-form writes
 * registered for this one (`../callbackIo.ts`).
 *
 * @internal
 */
export const make = (reason: string = REASON): NodeService =>
  CallbackIo.register(service(reason), { dsync: false, write: writeNowOf(writeAt) })

const service = (reason: string): NodeService => ({
  backend: BACKEND,
  reason,

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

  readAt,

  datasync: (handle) =>
    onFile<void>(handle, "fdatasync", (file, done) => NodeFs.fdatasync(file.fd, nodeDone(file, "fdatasync", done))),

  sync: (handle) => onFile<void>(handle, "fsync", (file, done) => NodeFs.fsync(file.fd, nodeDone(file, "fsync", done))),

  syncDirectory,

  truncate: (handle, sizeBytes) => {
    if (!isByteOffset(sizeBytes)) return Effect.fail(invalidArgument("ftruncate", handle.path, `size ${sizeBytes}`))
    return onFile<void>(handle, "ftruncate", (file, done) =>
      NodeFs.ftruncate(file.fd, sizeBytes, nodeDone(file, "ftruncate", done)),
    )
  },

  // fallocate can wait on the disk: Libc runs it on the threadpool.
  allocate: (handle, offsetBytes, lengthBytes, mode = "keepSize") =>
    onFileEffect(handle, "fallocate", (file) =>
      Libc.fallocate(file.fd, mode === "extend" ? 0 : Libc.FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes, file.path),
    ),

  // sync_file_range(WRITE) can wait for the device queue to take the pages: on the threadpool.
  startWriteback: (handle, offsetBytes, lengthBytes) =>
    onFileEffect(handle, "sync_file_range", (file) =>
      Libc.syncFileRange(file.fd, offsetBytes, lengthBytes, Libc.SYNC_FILE_RANGE_WRITE, file.path),
    ),

  size: sizeOf,

  // LOCK_NB never waits: Libc runs it synchronously (≈ 0.2 µs), Busy when held elsewhere.
  lock: (handle) =>
    onFileEffect(handle, "flock", (file) => Libc.flock(file.fd, Libc.LOCK_EX | Libc.LOCK_NB, file.path)),

  directAlignment: (handle) => onFileEffect(handle, "statx", (file) => Alignment.ofDescriptor(file.fd)),

  remove: removePath,

  rename: renamePath,

  listDirectory,

  makeDirectory,

  // posix_memalign'd, zeroed, freed at Scope end only after IO on it has finished.
  allocateAligned: AlignedMemory.allocate,

  // Fixed buffers are an io_uring feature; positional IO has nothing to register.
  registerBuffers: () => Effect.succeed({ fixed: false, reason: "" }),
})
