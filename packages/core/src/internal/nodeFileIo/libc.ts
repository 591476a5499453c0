/**
 * The three libc calls `node:fs` lacks — flock, fallocate, posix_memalign/free — through koffi.
 *
 * A stopgap private binding: once `@fsys/native` exports its `Libc` module, this file should
 * become a re-export of it. koffi (and libc.so.6) are loaded on first use, not at import, so a
 * layer that never locks, preallocates or allocates aligned memory never touches FFI, and a
 * platform without koffi fails those calls with `NotSupported` instead of failing to import.
 *
 * Which calls may run synchronously on the event loop: `flock` with `LOCK_NB` (never waits),
 * `posix_memalign`/`free` (memory only). `fallocate` allocates disk blocks and can wait on the
 * disk, so it only has an `.async` form here (libuv threadpool).
 *
 * @internal
 */
import { createRequire } from "node:module"
import type Koffi from "koffi"

/** `flock` operations (sys/file.h). */
export const LOCK_EX = 2
export const LOCK_NB = 4
/** `fallocate` mode: reserve blocks, keep the file size (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 1

export interface Libc {
  readonly koffi: typeof Koffi
  /** Returns 0, or -1 with `errno()`. Non-blocking only with `LOCK_NB`. */
  readonly flock: (fd: number, operation: number) => number
  /** Runs on the threadpool; `callback(error, result)`, `errno()` valid inside the callback. */
  readonly fallocateAsync: (
    fd: number,
    mode: number,
    offsetBytes: number,
    lengthBytes: number,
    callback: (error: unknown, result: number) => void,
  ) => void
  /** Returns 0 with `out[0]` the address, or an errno number (posix_memalign does not set errno). */
  readonly posixMemalign: (out: [bigint | null], alignmentBytes: number, byteLength: number) => number
  readonly free: (address: bigint) => void
  readonly errno: () => number
}

/** The binding, or the reason it could not be loaded (remembered: loading is tried once). */
let loaded: { readonly libc: Libc } | { readonly error: unknown } | undefined

const load = (): Libc => {
  const koffi = createRequire(import.meta.url)("koffi") as typeof Koffi
  const library = koffi.load("libc.so.6")
  const flock = library.func("int flock(int fd, int operation)")
  const fallocate = library.func("int fallocate(int fd, int mode, int64_t offset, int64_t len)")
  const posixMemalign = library.func("int posix_memalign(_Out_ void **memptr, size_t alignment, size_t size)")
  const free = library.func("void free(void *ptr)")
  return {
    koffi,
    flock: (fd, operation) => flock(fd, operation) as number,
    fallocateAsync: (fd, mode, offsetBytes, lengthBytes, callback) =>
      fallocate.async(fd, mode, offsetBytes, lengthBytes, callback),
    posixMemalign: (out, alignmentBytes, byteLength) => posixMemalign(out, alignmentBytes, byteLength) as number,
    free: (address) => {
      free(address)
    },
    errno: () => koffi.errno(),
  }
}

/** The libc binding, loading it on first call; the load error if koffi or libc is unavailable. */
export const get = (): { readonly libc: Libc } | { readonly error: unknown } => {
  if (loaded === undefined) {
    try {
      loaded = { libc: load() }
    } catch (error) {
      loaded = { error }
    }
  }
  return loaded
}
