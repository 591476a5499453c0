/**
 * The Node.js layer of the `FileIo` port: positional IO through `node:fs` on the libuv
 * threadpool, with `@fsys/native`'s `Libc` (koffi) for what `node:fs` lacks (`flock`, `fallocate`,
 * aligned memory).
 *
 * - Backend `"pwrite"`. Works on every Linux filesystem; O_DIRECT when the filesystem accepts it
 *   (`open` fails with reason `InvalidArgument` when it does not, and leaves nothing behind).
 * - The event loop never waits on the disk: every call that can block runs on the threadpool;
 *   only `flock(LOCK_EX | LOCK_NB)` and memory allocation run synchronously.
 * - Closing a handle (or its Scope) while a call on it is still on the threadpool defers the
 *   real `close(2)` until that call returns, so a reused fd number never receives a stale write;
 *   aligned memory is likewise freed only after the last IO on it returned.
 * - Locks are `flock` locks, held per open file description: a second open of the same file,
 *   in this process or another, cannot take the lock (`Busy`) until the first fd is closed.
 *
 * @since 0.1.0
 */
import { Layer } from "effect"
import { FileIo, type FileIoService } from "./FileIo.ts"
import * as internal from "./internal/nodeFileIo/make.ts"

/**
 * The Node `FileIo` service, built synchronously; acquires nothing until an operation runs.
 * (It is also `FileIo`'s default service.)
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: () => FileIoService = internal.make

/**
 * Provides `FileIo` with the Node implementation.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<FileIo> = Layer.sync(FileIo, internal.make)
