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
 * Only Linux on x64 and arm64 is supported (the open flags differ between architectures).
 *
 * Layout: the constants live in `internal/libc/constants.ts`, the raw bindings and their lazy
 * loading in `internal/libc/bindings.ts`, the off-thread call runner in
 * `internal/libc/offThreadCall.ts`; this module re-exports them under their public names and
 * holds the calls themselves.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Bindings from "./internal/libc/bindings.ts"
import { LOCK_NB, O_CLOEXEC } from "./internal/libc/constants.ts"
import { checkRange, describeFd, offThreadCall } from "./internal/libc/offThreadCall.ts"
import * as Memory from "./internal/memory.ts"
import * as OffThread from "./internal/offThread.ts"
import * as IoError from "./IoError.ts"

export type { Native } from "./internal/libc/bindings.ts"
export {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  FALLOC_FL_KEEP_SIZE,
  SYNC_FILE_RANGE_WRITE,
  IO_BYTES_MAX,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  LOCK_UN,
  MAP_POPULATE,
  MAP_SHARED,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECT,
  O_DIRECTORY,
  O_DSYNC,
  O_EXCL,
  O_RDONLY,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  PROT_READ,
  PROT_WRITE,
  SYS_io_uring_enter,
  SYS_io_uring_register,
  SYS_io_uring_setup,
} from "./internal/libc/constants.ts"
export { EINTR_RETRIES_MAX } from "./internal/libc/offThreadCall.ts"

/**
 * The raw bindings, loading libc on first use; throws the `IoError` of a failed load. For code in
 * this package that must stay synchronous (the ring's hot path); everything else uses `native`.
 *
 * @since 0.1.0
 * @category utils
 */
export const nativeUnsafe: () => Bindings.Native = Bindings.nativeUnsafe

/**
 * The raw bindings, or the `IoError` (reason `NotSupported`) saying why libc cannot be loaded.
 *
 * @since 0.1.0
 * @category constructors
 */
export const native: Effect.Effect<Bindings.Native, IoError.IoError> = Bindings.native

/**
 * Most koffi async calls outstanding at once; more wait their turn (koffi refuses past ≈ 256).
 *
 * @since 0.1.0
 * @category constants
 */
export const OFF_THREAD_CALLS_MAX = OffThread.CALLS_IN_FLIGHT_MAX

// -------------------------------------------------------------------------------------------------
// Off-thread calls as Effects
// -------------------------------------------------------------------------------------------------

/**
 * open(2) off-thread. If the fiber is interrupted, the descriptor that arrives later is closed.
 *
 * @since 0.1.0
 * @category files
 */
export const open = (path: string, flags: number, mode = 0o644): Effect.Effect<number, IoError.IoError> =>
  offThreadCall(
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
  Effect.asVoid(offThreadCall("close", describeFd(fd, path), (lib, done) => lib.close.async(fd, done)))

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
  return offThreadCall(
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
  return offThreadCall(
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
  Effect.asVoid(offThreadCall("fdatasync", describeFd(fd, path), (lib, done) => lib.fdatasync.async(fd, done)))

/**
 * fsync(2) off-thread.
 *
 * @since 0.1.0
 * @category files
 */
export const fsync = (fd: number, path?: string): Effect.Effect<void, IoError.IoError> =>
  Effect.asVoid(offThreadCall("fsync", describeFd(fd, path), (lib, done) => lib.fsync.async(fd, done)))

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
    offThreadCall("fallocate", where, (lib, done) => lib.fallocate.async(fd, mode, offsetBytes, lengthBytes, done)),
  )
}

/**
 * sync_file_range(2) off-thread, with `flags` e.g. `SYNC_FILE_RANGE_WRITE` (start writeback of
 * the range's dirty pages without waiting for it). Not a durability barrier: it flushes no device
 * cache and commits no metadata; only fdatasync does. With `SYNC_FILE_RANGE_WRITE` alone it does
 * not consume a writeback error either (the kernel only checks the file's errseq when a WAIT flag
 * is given), so the next fdatasync still reports it.
 *
 * @since 0.2.0
 * @category files
 */
export const syncFileRange = (
  fd: number,
  offsetBytes: number,
  lengthBytes: number,
  flags: number,
  path?: string,
): Effect.Effect<void, IoError.IoError> => {
  const where = describeFd(fd, path)
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || !Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
    return Effect.fail(IoError.fromErrno("EINVAL", "sync_file_range", where))
  }
  return Effect.asVoid(
    offThreadCall("sync_file_range", where, (lib, done) =>
      lib.syncFileRange.async(fd, offsetBytes, lengthBytes, flags, done),
    ),
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
  return Effect.asVoid(offThreadCall("ftruncate", where, (lib, done) => lib.ftruncate.async(fd, sizeBytes, done)))
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
    return Effect.asVoid(offThreadCall("flock", where, (lib, done) => lib.flock.async(fd, operation, done)))
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
  Effect.asVoid(offThreadCall("unlink", path, (lib, done) => lib.unlink.async(path, done)))

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
    offThreadCall("statx", path === "" ? `fd ${dirfd}` : path, (lib, done) =>
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
