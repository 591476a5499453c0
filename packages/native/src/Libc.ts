/**
 * libc through koffi: the system calls fsys needs and Node's `fs` lacks or hides.
 *
 * The library is loaded lazily, on the first call, so importing `@fsys/native` costs nothing on a
 * machine that never uses it (and fails with a typed `IoError`, not at import, where it cannot
 * load). Two kinds of calls, kept apart on purpose:
 *
 * - calls that may wait on the disk (`open`, `close`, `pwrite`, `pread`, `fdatasync`, `fsync`,
 *   `fallocate`, `ftruncate`, `unlink`, a blocking `flock`, `statx`) run only through koffi's
 *   `.async`, on the libuv threadpool, and are exposed as Effects;
 * - calls that never wait on the disk (`posix_memalign`, `free`, `mmap`, `munmap`, `flock` with
 *   `LOCK_NB`, the io_uring syscalls) are synchronous.
 *
 * A failing call becomes an `IoError` carrying the syscall name and the errno read right after it
 * (koffi saves errno on the worker thread and restores it around the completion callback).
 *
 * Memory safety for the threadpool calls: the `Uint8Array` passed to `pwrite`/`pread` is kept
 * referenced by the completion callback, and when it views `AlignedMemory` its free waits for the
 * call to finish, so interrupting the calling fiber never frees memory a thread still uses. An
 * interrupted `open` closes the descriptor it eventually returns.
 *
 * Only Linux on x64 and arm64 is supported (the open flags below differ between architectures).
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"
import { Effect } from "effect"
import * as InFlight from "./InFlight.ts"
import * as Memory from "./internal/memory.ts"
import * as OffThread from "./internal/offThread.ts"
import * as IoError from "./IoError.ts"

type Koffi = typeof import("koffi").default

// -------------------------------------------------------------------------------------------------
// Constants (Linux, x64 / arm64)
// -------------------------------------------------------------------------------------------------

const isArm64 = process.arch === "arm64"

/** @since 0.1.0 @category constants */
export const O_RDONLY = 0
/** @since 0.1.0 @category constants */
export const O_WRONLY = 1
/** @since 0.1.0 @category constants */
export const O_RDWR = 2
/** @since 0.1.0 @category constants */
export const O_CREAT = 0o100
/** @since 0.1.0 @category constants */
export const O_EXCL = 0o200
/** @since 0.1.0 @category constants */
export const O_TRUNC = 0o1000
/** @since 0.1.0 @category constants */
export const O_DSYNC = 0o10000
/** @since 0.1.0 @category constants */
export const O_DIRECT = isArm64 ? 0o200000 : 0o40000
/** @since 0.1.0 @category constants */
export const O_DIRECTORY = isArm64 ? 0o40000 : 0o200000
/** @since 0.1.0 @category constants */
export const O_CLOEXEC = 0o2000000

/** @since 0.1.0 @category constants */
export const PROT_READ = 1
/** @since 0.1.0 @category constants */
export const PROT_WRITE = 2
/** @since 0.1.0 @category constants */
export const MAP_SHARED = 0x01
/** @since 0.1.0 @category constants */
export const MAP_POPULATE = 0x8000

/** @since 0.1.0 @category constants */
export const LOCK_SH = 1
/** @since 0.1.0 @category constants */
export const LOCK_EX = 2
/** @since 0.1.0 @category constants */
export const LOCK_NB = 4
/** @since 0.1.0 @category constants */
export const LOCK_UN = 8

/** fallocate: reserve blocks without changing the file size. @since 0.1.0 @category constants */
export const FALLOC_FL_KEEP_SIZE = 0x01

/** @since 0.1.0 @category constants */
export const AT_FDCWD = -100
/** @since 0.1.0 @category constants */
export const AT_SYMLINK_NOFOLLOW = 0x100
/** @since 0.1.0 @category constants */
export const AT_EMPTY_PATH = 0x1000

/** Syscall numbers; the io_uring ones are the same on every Linux architecture. @since 0.1.0 @category constants */
export const SYS_io_uring_setup = 425
/** @since 0.1.0 @category constants */
export const SYS_io_uring_enter = 426
/** @since 0.1.0 @category constants */
export const SYS_io_uring_register = 427

/**
 * Largest byte count one read or write may move (Linux caps a single call at 0x7ffff000).
 *
 * @since 0.1.0
 * @category constants
 */
export const IO_BYTES_MAX = 0x7ffff000

// -------------------------------------------------------------------------------------------------
// Raw bindings
// -------------------------------------------------------------------------------------------------

type Callback = (error: unknown, result: number | bigint) => void

/** A koffi function that may wait on the disk: callable only off-thread. */
interface AsyncOnly<Args extends ReadonlyArray<unknown>> {
  readonly async: (...args: [...Args, Callback]) => void
}

/**
 * The raw koffi functions. Synchronous members never wait on the disk; the others expose only
 * their `.async` form. Results are numbers (negative on failure, errno in `errno()`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Native {
  readonly koffi: Koffi
  readonly errno: () => number
  readonly posixMemalign: (out: Array<number | bigint>, alignmentBytes: number, byteLength: number) => number
  readonly free: (address: number) => void
  readonly mmap: (address: number, length: number, prot: number, flags: number, fd: number, offset: number) => number
  readonly munmap: (address: number, length: number) => number
  readonly flockNonBlocking: (fd: number, operation: number) => number
  /** close(2) for descriptors whose close cannot wait on the disk (an io_uring ring, a probe). */
  readonly closeNonBlocking: (fd: number) => number
  readonly ioUringSetup: (entries: number, params: Uint8Array) => number
  readonly ioUringEnter: (
    fd: number,
    toSubmit: number,
    minComplete: number,
    flags: number,
    sig: null,
    sigBytes: number,
  ) => number
  readonly ioUringRegister: (fd: number, opcode: number, arg: Uint8Array | null, argCount: number) => number
  /** The address of the first byte a typed array views (materializes small on-heap arrays). */
  readonly addressOf: (bytes: Uint8Array) => number
  readonly open: AsyncOnly<[path: string, flags: number, mode: number]>
  readonly close: AsyncOnly<[fd: number]>
  readonly pwrite: AsyncOnly<[fd: number, bytes: Uint8Array, length: number, offset: number]>
  readonly pread: AsyncOnly<[fd: number, into: Uint8Array, length: number, offset: number]>
  readonly fdatasync: AsyncOnly<[fd: number]>
  readonly fsync: AsyncOnly<[fd: number]>
  readonly fallocate: AsyncOnly<[fd: number, mode: number, offset: number, length: number]>
  readonly ftruncate: AsyncOnly<[fd: number, length: number]>
  readonly flock: AsyncOnly<[fd: number, operation: number]>
  readonly unlink: AsyncOnly<[path: string]>
  readonly statx: AsyncOnly<[dirfd: number, path: string, flags: number, mask: number, into: Uint8Array]>
}

let loaded: Native | undefined
let loadFailure: IoError.IoError | undefined

const loadNative = (): Native => {
  if (process.platform !== "linux" || (process.arch !== "x64" && process.arch !== "arm64")) {
    throw IoError.fromErrno("ENOSYS", "dlopen", "", `libc on ${process.platform}/${process.arch}`)
  }
  const koffi = createRequire(import.meta.url)("koffi") as Koffi
  const lib = koffi.load("libc.so.6")
  // Fixed-arity declarations of the variadic syscall(2): faster than koffi's variadic calls.
  const syscall = (args: Array<string>) => lib.func("syscall", "long", ["long", ...args])
  const setup = syscall(["uint32_t", "void *"])
  const enter = syscall(["int", "uint32_t", "uint32_t", "uint32_t", "void *", "size_t"])
  const register = syscall(["int", "uint32_t", "void *", "uint32_t"])
  const memmove = lib.func("uintptr_t memmove(void *dst, void *src, size_t n)")
  const flock = lib.func("int flock(int fd, int operation)")
  const close = lib.func("int close(int fd)")
  return {
    koffi,
    errno: () => koffi.errno(),
    posixMemalign: lib.func("int posix_memalign(_Out_ uintptr_t *memptr, size_t alignment, size_t size)"),
    free: lib.func("void free(uintptr_t ptr)"),
    mmap: lib.func("intptr_t mmap(uintptr_t addr, size_t length, int prot, int flags, int fd, int64_t offset)"),
    munmap: lib.func("int munmap(uintptr_t addr, size_t length)"),
    flockNonBlocking: (fd, operation) => {
      if ((operation & LOCK_NB) === 0) throw new Error("flockNonBlocking needs LOCK_NB")
      return flock(fd, operation)
    },
    closeNonBlocking: close,
    ioUringSetup: (entries, params) => Number(setup(SYS_io_uring_setup, entries, params)),
    ioUringEnter: (fd, toSubmit, minComplete, flags, sig, sigBytes) =>
      Number(enter(SYS_io_uring_enter, fd, toSubmit, minComplete, flags, sig, sigBytes)),
    ioUringRegister: (fd, opcode, arg, argCount) => Number(register(SYS_io_uring_register, fd, opcode, arg, argCount)),
    // memmove(p, p, 0) returns p: the cheapest way to learn where a typed array's bytes live.
    addressOf: (bytes) => Number(memmove(bytes, bytes, 0)),
    open: lib.func("int open(const char *path, int flags, uint32_t mode)"),
    close,
    pwrite: lib.func("intptr_t pwrite(int fd, void *buf, size_t count, int64_t offset)"),
    pread: lib.func("intptr_t pread(int fd, void *buf, size_t count, int64_t offset)"),
    fdatasync: lib.func("int fdatasync(int fd)"),
    fsync: lib.func("int fsync(int fd)"),
    fallocate: lib.func("int fallocate(int fd, int mode, int64_t offset, int64_t len)"),
    ftruncate: lib.func("int ftruncate(int fd, int64_t length)"),
    flock,
    unlink: lib.func("int unlink(const char *path)"),
    statx: lib.func("int statx(int dirfd, const char *path, int flags, uint32_t mask, void *statxbuf)"),
  }
}

/**
 * The raw bindings, loading libc on first use; throws the `IoError` of a failed load. For code in
 * this package that must stay synchronous (the ring's hot path); everything else uses `native`.
 *
 * @since 0.1.0
 * @category utils
 */
export const nativeUnsafe = (): Native => {
  if (loaded !== undefined) return loaded
  if (loadFailure !== undefined) throw loadFailure
  try {
    loaded = loadNative()
    return loaded
  } catch (error) {
    loadFailure =
      error instanceof IoError.IoError
        ? error
        : IoError.make({ errno: "ENOSYS", syscall: "dlopen", description: "libc.so.6", cause: error })
    throw loadFailure
  }
}

/**
 * The raw bindings, or the `IoError` (reason `NotSupported`) saying why libc cannot be loaded.
 *
 * @since 0.1.0
 * @category constructors
 */
export const native: Effect.Effect<Native, IoError.IoError> = Effect.suspend(() => {
  try {
    return Effect.succeed(nativeUnsafe())
  } catch (error) {
    return Effect.fail(error as IoError.IoError)
  }
})

// -------------------------------------------------------------------------------------------------
// Off-thread calls as Effects
// -------------------------------------------------------------------------------------------------

/**
 * EINTR retries of one off-thread call. A signal during a blocking write or sync (FUSE, NFS with
 * `intr`) fails the call with EINTR without doing it; the call is simply made again. `close` is
 * never retried: Linux releases the descriptor even when close reports EINTR.
 *
 * @since 0.1.0
 * @category constants
 */
export const EINTR_RETRIES_MAX = 16

/**
 * Most koffi async calls outstanding at once; more wait their turn (koffi refuses past ≈ 256).
 *
 * @since 0.1.0
 * @category constants
 */
export const OFF_THREAD_CALLS_MAX = OffThread.CALLS_IN_FLIGHT_MAX

const EINTR = 4

/**
 * Runs one `.async` call through the dispatcher (`internal/offThread.ts`: bounded in flight,
 * queued beyond). The callback reads errno synchronously (koffi restores it around the callback
 * only). Interrupting the fiber drops a call still queued; a started one runs on: `onAbandoned`
 * sees its result (to close a descriptor nobody will use), and `hold` stays retained until the
 * thread is done.
 */
const offThread = (
  syscall: string,
  path: string,
  start: (native: Native, done: Callback) => void,
  hold?: InFlight.InFlight,
  onAbandoned?: (native: Native, result: number) => void,
): Effect.Effect<number, IoError.IoError> =>
  Effect.flatMap(native, (lib) =>
    Effect.callback<number, IoError.IoError>((resume) => {
      let abandoned = false
      let interruptedCalls = 0
      let task: OffThread.Task
      if (hold !== undefined) InFlight.retain(hold)
      const settle = (exit: Effect.Effect<number, IoError.IoError>): void => {
        if (hold !== undefined) InFlight.release(hold)
        if (!abandoned) resume(exit)
      }
      const attempt = (): void => {
        task = OffThread.makeTask(
          (finished) =>
            start(lib, (error, raw) => {
              const result = Number(raw)
              const errno = result < 0 ? lib.errno() : 0
              finished()
              if (abandoned) {
                if (hold !== undefined) InFlight.release(hold)
                if (error == null && result >= 0 && onAbandoned !== undefined) onAbandoned(lib, result)
                return
              }
              if (errno === EINTR && syscall !== "close" && interruptedCalls < EINTR_RETRIES_MAX) {
                interruptedCalls += 1
                attempt()
                return
              }
              if (error != null) settle(Effect.fail(IoError.fromErrno("EIO", syscall, path, error)))
              else if (result < 0) settle(Effect.fail(IoError.fromErrno(errno, syscall, path)))
              else settle(Effect.succeed(result))
            }),
          (cause) =>
            settle(
              Effect.fail(
                IoError.make({
                  errno: "EAGAIN",
                  syscall,
                  path,
                  description: "koffi's queue of asynchronous calls stayed full; the call was never made",
                  cause,
                }),
              ),
            ),
        )
        OffThread.submit(task)
      }
      attempt()
      return Effect.sync(() => {
        abandoned = true
        // Never started: nothing to wait for.
        if (OffThread.cancel(task) && hold !== undefined) InFlight.release(hold)
      })
    }),
  )

const describeFd = (fd: number, path: string | undefined): string => path ?? `fd ${fd}`

const checkRange = (
  syscall: string,
  path: string,
  bytes: Uint8Array,
  offsetBytes: number,
): IoError.IoError | undefined => {
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) return IoError.fromErrno("EINVAL", syscall, path)
  if (bytes.byteLength > IO_BYTES_MAX) return IoError.fromErrno("EINVAL", syscall, path)
  const allocation = Memory.lookup(bytes)
  if (allocation?.freed === true) return IoError.fromErrno("EFAULT", syscall, path)
  return undefined
}

/**
 * open(2) off-thread. If the fiber is interrupted, the descriptor that arrives later is closed.
 *
 * @since 0.1.0
 * @category files
 */
export const open = (path: string, flags: number, mode = 0o644): Effect.Effect<number, IoError.IoError> =>
  offThread(
    "open",
    path,
    (lib, done) => lib.open.async(path, flags | O_CLOEXEC, mode, done),
    undefined,
    (lib, fd) => lib.close.async(fd, () => {}),
  )

/**
 * close(2) off-thread (a close can flush on some filesystems).
 *
 * @since 0.1.0
 * @category files
 */
export const close = (fd: number, path?: string): Effect.Effect<void, IoError.IoError> =>
  Effect.asVoid(offThread("close", describeFd(fd, path), (lib, done) => lib.close.async(fd, done)))

/**
 * pwrite(2) off-thread; returns the bytes written (may be short).
 *
 * @since 0.1.0
 * @category files
 */
export const pwrite = (
  fd: number,
  bytes: Uint8Array,
  offsetBytes: number,
  path?: string,
): Effect.Effect<number, IoError.IoError> => {
  const where = describeFd(fd, path)
  const invalid = checkRange("pwrite", where, bytes, offsetBytes)
  if (invalid !== undefined) return Effect.fail(invalid)
  return offThread(
    "pwrite",
    where,
    (lib, done) => lib.pwrite.async(fd, bytes, bytes.byteLength, offsetBytes, done),
    Memory.lookup(bytes)?.inFlight,
  )
}

/**
 * pread(2) off-thread; returns the bytes read (0 at end of file).
 *
 * @since 0.1.0
 * @category files
 */
export const pread = (
  fd: number,
  into: Uint8Array,
  offsetBytes: number,
  path?: string,
): Effect.Effect<number, IoError.IoError> => {
  const where = describeFd(fd, path)
  const invalid = checkRange("pread", where, into, offsetBytes)
  if (invalid !== undefined) return Effect.fail(invalid)
  return offThread(
    "pread",
    where,
    (lib, done) => lib.pread.async(fd, into, into.byteLength, offsetBytes, done),
    Memory.lookup(into)?.inFlight,
  )
}

/**
 * fdatasync(2) off-thread.
 *
 * @since 0.1.0
 * @category files
 */
export const fdatasync = (fd: number, path?: string): Effect.Effect<void, IoError.IoError> =>
  Effect.asVoid(offThread("fdatasync", describeFd(fd, path), (lib, done) => lib.fdatasync.async(fd, done)))

/**
 * fsync(2) off-thread.
 *
 * @since 0.1.0
 * @category files
 */
export const fsync = (fd: number, path?: string): Effect.Effect<void, IoError.IoError> =>
  Effect.asVoid(offThread("fsync", describeFd(fd, path), (lib, done) => lib.fsync.async(fd, done)))

/**
 * fallocate(2) off-thread (`mode` e.g. `FALLOC_FL_KEEP_SIZE`); `NotSupported` where the
 * filesystem has none.
 *
 * @since 0.1.0
 * @category files
 */
export const fallocate = (
  fd: number,
  mode: number,
  offsetBytes: number,
  lengthBytes: number,
  path?: string,
): Effect.Effect<void, IoError.IoError> => {
  const where = describeFd(fd, path)
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || !Number.isSafeInteger(lengthBytes) || lengthBytes <= 0) {
    return Effect.fail(IoError.fromErrno("EINVAL", "fallocate", where))
  }
  return Effect.asVoid(
    offThread("fallocate", where, (lib, done) => lib.fallocate.async(fd, mode, offsetBytes, lengthBytes, done)),
  )
}

/**
 * ftruncate(2) off-thread.
 *
 * @since 0.1.0
 * @category files
 */
export const ftruncate = (fd: number, sizeBytes: number, path?: string): Effect.Effect<void, IoError.IoError> => {
  const where = describeFd(fd, path)
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    return Effect.fail(IoError.fromErrno("EINVAL", "ftruncate", where))
  }
  return Effect.asVoid(offThread("ftruncate", where, (lib, done) => lib.ftruncate.async(fd, sizeBytes, done)))
}

/**
 * flock(2). With `LOCK_NB` it never waits and runs synchronously (fails `Busy` when held
 * elsewhere); without it, it runs off-thread.
 *
 * @since 0.1.0
 * @category files
 */
export const flock = (fd: number, operation: number, path?: string): Effect.Effect<void, IoError.IoError> => {
  const where = describeFd(fd, path)
  if ((operation & LOCK_NB) === 0) {
    return Effect.asVoid(offThread("flock", where, (lib, done) => lib.flock.async(fd, operation, done)))
  }
  return Effect.flatMap(native, (lib) => {
    const result = lib.flockNonBlocking(fd, operation)
    return result < 0 ? Effect.fail(IoError.fromErrno(lib.errno(), "flock", where)) : Effect.void
  })
}

/**
 * unlink(2) off-thread.
 *
 * @since 0.1.0
 * @category files
 */
export const unlink = (path: string): Effect.Effect<void, IoError.IoError> =>
  Effect.asVoid(offThread("unlink", path, (lib, done) => lib.unlink.async(path, done)))

/**
 * statx(2) off-thread into a caller-owned 256-byte buffer (see `Statx` for the decoded form).
 *
 * @since 0.1.0
 * @category files
 */
export const statxInto = (
  dirfd: number,
  path: string,
  flags: number,
  mask: number,
  into: Uint8Array,
): Effect.Effect<void, IoError.IoError> => {
  if (into.byteLength < 256) return Effect.fail(IoError.fromErrno("EINVAL", "statx", path))
  return Effect.asVoid(
    offThread("statx", path === "" ? `fd ${dirfd}` : path, (lib, done) =>
      lib.statx.async(dirfd, path, flags, mask, into, done),
    ),
  )
}

// -------------------------------------------------------------------------------------------------
// Calls that never wait on the disk
// -------------------------------------------------------------------------------------------------

/**
 * posix_memalign(3): `byteLength` bytes at an address that is a multiple of `alignmentBytes` (a
 * power of two, at least 8). Returns the address; free it with `free` exactly once.
 *
 * @since 0.1.0
 * @category memory
 */
export const posixMemalign = (alignmentBytes: number, byteLength: number): Effect.Effect<number, IoError.IoError> =>
  Effect.flatMap(native, (lib) => {
    const out: Array<number | bigint> = [0]
    const status = lib.posixMemalign(out, alignmentBytes, byteLength)
    // posix_memalign returns the error number instead of setting errno.
    if (status !== 0) return Effect.fail(IoError.fromErrno(status, "posix_memalign", "", `${byteLength} bytes`))
    return Effect.succeed(Number(out[0]))
  })

/**
 * free(3).
 *
 * @since 0.1.0
 * @category memory
 */
export const free = (address: number): Effect.Effect<void, IoError.IoError> =>
  Effect.flatMap(native, (lib) => Effect.sync(() => lib.free(address)))

/**
 * mmap(2) of a descriptor (shared, e.g. an io_uring ring); returns the address.
 *
 * @since 0.1.0
 * @category memory
 */
export const mmap = (
  lengthBytes: number,
  prot: number,
  flags: number,
  fd: number,
  offsetBytes: number,
): Effect.Effect<number, IoError.IoError> =>
  Effect.flatMap(native, (lib) => {
    const address = lib.mmap(0, lengthBytes, prot, flags, fd, offsetBytes)
    return address === -1 || address === 0
      ? Effect.fail(IoError.fromErrno(lib.errno(), "mmap", `fd ${fd}`))
      : Effect.succeed(address)
  })

/**
 * munmap(2).
 *
 * @since 0.1.0
 * @category memory
 */
export const munmap = (address: number, lengthBytes: number): Effect.Effect<void, IoError.IoError> =>
  Effect.flatMap(native, (lib) =>
    lib.munmap(address, lengthBytes) < 0
      ? Effect.fail(IoError.fromErrno(lib.errno(), "munmap", "", `${lengthBytes} bytes at ${address}`))
      : Effect.void,
  )
