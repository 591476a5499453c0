/**
 * Sector-aligned native memory for Direct IO: `posix_memalign` + a zero-copy `koffi.view`.
 *
 * Why frees are deferred: the buffer is handed to `fs.write`/`fs.read`, which run on the
 * threadpool and cannot be cancelled. When a fiber is interrupted mid-write and its Scope frees
 * the buffer, the kernel may still be reading it (fsys bug FS-C2). So every IO on a buffer from
 * here retains it for the duration of the call, and `release` of the allocation only frees the
 * memory when no call holds it any more.
 *
 * Invariant: an address is in `live` from allocation until `free(3)`; `inFlight` counts IO calls
 * on it that have not returned.
 *
 * @internal
 */
import type { AlignedBuffer } from "@fsys/native"
import { IoError } from "@fsys/native"
import * as Libc from "./libc.ts"

/** posix_memalign's floor: a power of two multiple of sizeof(void *). */
export const MIN_ALIGNMENT_BYTES = 8
/** A page-size multiple is the largest alignment any device asks for; more is a caller bug. */
export const MAX_ALIGNMENT_BYTES = 64 * 1024
/** One allocation at most 1 GiB: a log buffer slot is 4 KiB–64 MiB. */
export const MAX_ALLOCATION_BYTES = 2 ** 30

export interface Allocation {
  readonly address: bigint
  readonly libc: Libc.Libc
  inFlight: number
  freeRequested: boolean
}

/** Keyed by the view's ArrayBuffer: every subarray of an aligned buffer shares it. */
const live = new Map<ArrayBufferLike, Allocation>()

const invalid = (syscall: string, detail: string): IoError.IoError =>
  IoError.fromErrno("EINVAL", syscall, `<${detail}>`)

/** Allocates and zeroes `byteLength` bytes aligned to `alignmentBytes`. */
export const allocate = (
  byteLength: number,
  alignmentBytes: number,
): { readonly buffer: AlignedBuffer } | { readonly error: IoError.IoError } => {
  if (!(Number.isInteger(byteLength) && byteLength > 0 && byteLength <= MAX_ALLOCATION_BYTES)) {
    return { error: invalid("posix_memalign", `byteLength ${byteLength}`) }
  }
  if (
    !(
      Number.isInteger(alignmentBytes) &&
      alignmentBytes >= MIN_ALIGNMENT_BYTES &&
      alignmentBytes <= MAX_ALIGNMENT_BYTES &&
      (alignmentBytes & (alignmentBytes - 1)) === 0
    )
  ) {
    return { error: invalid("posix_memalign", `alignmentBytes ${alignmentBytes}`) }
  }
  const loaded = Libc.get()
  if ("error" in loaded) {
    return { error: IoError.fromErrno("ENOSYS", "posix_memalign", "<koffi unavailable>", loaded.error) }
  }
  const libc = loaded.libc
  const out: [bigint | null] = [null]
  const status = libc.posixMemalign(out, alignmentBytes, byteLength)
  const address = out[0]
  if (status !== 0 || address === null) {
    return { error: IoError.fromErrno(status === 0 ? "ENOMEM" : status, "posix_memalign", `<${byteLength} bytes>`) }
  }
  const bytes = new Uint8Array(libc.koffi.view(address, byteLength))
  // posix_memalign returns recycled heap bytes: zero them so padding written to disk never leaks
  // old memory, and so a fresh slot reads as zeros like the file's unwritten tail.
  bytes.fill(0)
  live.set(bytes.buffer, { address, libc, inFlight: 0, freeRequested: false })
  return { buffer: { bytes, address, byteLength, alignmentBytes } }
}

/** Frees the allocation now, or as soon as the last IO call holding it returns. */
export const release = (buffer: AlignedBuffer): void => {
  const allocation = live.get(buffer.bytes.buffer)
  if (allocation === undefined || allocation.freeRequested) return
  allocation.freeRequested = true
  if (allocation.inFlight === 0) freeNow(buffer.bytes.buffer, allocation)
}

const freeNow = (key: ArrayBufferLike, allocation: Allocation): void => {
  live.delete(key)
  allocation.libc.free(allocation.address)
}

/**
 * Holds the allocation `bytes` belongs to (if any) while an IO call uses it; returns the token to
 * pass to `unretain`. Heap buffers are not tracked (the GC keeps them alive).
 */
export const retain = (bytes: Uint8Array): Allocation | undefined => {
  const allocation = live.get(bytes.buffer)
  if (allocation !== undefined) allocation.inFlight++
  return allocation
}

export const unretain = (bytes: Uint8Array, allocation: Allocation | undefined): void => {
  if (allocation === undefined) return
  allocation.inFlight--
  if (allocation.freeRequested && allocation.inFlight === 0) freeNow(bytes.buffer, allocation)
}
