/**
 * The Linux constants of `Libc` (open flags, mmap, flock, fallocate, statx, syscall numbers and
 * the per-call byte cap), kept apart so the raw bindings and the public calls can share them
 * without importing the public module. `Libc` re-exports every one under the same name.
 *
 * Only Linux on x64 and arm64: the open flags differ between the two architectures.
 *
 * @internal
 */

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

/**
 * sync_file_range: start writeback of the range's dirty pages, waiting for nothing (and
 * promising nothing about durability). @since 0.2.0 @category constants
 */
export const SYNC_FILE_RANGE_WRITE = 0x02

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
