/**
 * The raw koffi bindings to libc and their lazy loading: the first call loads `libc.so.6` and
 * declares every function; a failed load is remembered as a typed `IoError` (reason
 * `NotSupported`) and returned on every later call. Kept apart from `Libc` so the io_uring ring
 * and the off-thread dispatcher can use the bindings without importing a public module; `Libc`
 * re-exports `Native`, `native` and `nativeUnsafe` unchanged.
 *
 * @internal
 */
import { createRequire } from "node:module"
import { Effect } from "effect"
import * as IoError from "../../IoError.ts"
import { LOCK_NB, SYS_io_uring_enter, SYS_io_uring_register, SYS_io_uring_setup } from "./constants.ts"

type Koffi = typeof import("koffi").default

export type Callback = (error: unknown, result: number | bigint) => void

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
  readonly syncFileRange: AsyncOnly<[fd: number, offset: number, length: number, flags: number]>
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
    syncFileRange: lib.func("int sync_file_range(int fd, int64_t offset, int64_t nbytes, uint32_t flags)"),
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
