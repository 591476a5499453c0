/**
 * Sector- or page-aligned native memory for Direct IO, as a scoped resource.
 *
 * `allocate` returns an `AlignedBuffer` whose `bytes` view native memory from `posix_memalign`
 * (zeroed, because Direct writes pad records with whatever follows them). The memory is freed
 * exactly once, when the Scope closes, and only after every IO that still uses it has completed:
 * the ring and `Libc.pwrite`/`pread` retain the allocation's `InFlight` counter for as long as the
 * kernel or a threadpool thread may touch it, and the finalizer waits for that counter to drop to
 * zero (fsys bug FS-C2: freeing memory a cancelled write was still reading).
 *
 * Use-after-free is impossible through the API: before the memory is returned to the allocator,
 * the `ArrayBuffer` behind `bytes` is detached, so every view of it (including `subarray`s taken
 * by callers) has length 0 and reads `undefined` instead of touching freed memory. (Transferring
 * `bytes.buffer` yourself defeats this: never do it.)
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
import type { AlignedBuffer } from "./AlignedBuffer.ts"
import * as InFlight from "./InFlight.ts"
import * as Memory from "./internal/memory.ts"
import * as IoError from "./IoError.ts"
import * as Libc from "./Libc.ts"

/**
 * The largest single allocation (1 GiB): journal slots are KiB to MiB; anything near this is a
 * unit mistake.
 *
 * @since 0.1.0
 * @category constants
 */
export const BYTES_MAX = 1 << 30

/**
 * The largest alignment accepted (2 MiB, a huge page). Sectors are 512 B–64 KiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const ALIGNMENT_MAX = 2 << 20

const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0

const acquire = (
  byteLength: number,
  alignmentBytes: number,
): Effect.Effect<Memory.Allocation & { bytes: Uint8Array }, IoError.IoError> =>
  Effect.gen(function* () {
    const where = `${byteLength} bytes aligned to ${alignmentBytes}`
    if (!Number.isSafeInteger(byteLength) || byteLength <= 0 || byteLength > BYTES_MAX) {
      return yield* IoError.fromErrno("EINVAL", "posix_memalign", "", where)
    }
    // posix_memalign wants a power of two that is a multiple of sizeof(void *).
    if (!isPowerOfTwo(alignmentBytes) || alignmentBytes < 8 || alignmentBytes > ALIGNMENT_MAX) {
      return yield* IoError.fromErrno("EINVAL", "posix_memalign", "", where)
    }
    const lib = yield* Libc.native
    const address = yield* Libc.posixMemalign(alignmentBytes, byteLength)
    if (address % alignmentBytes !== 0) {
      lib.free(address)
      return yield* Effect.die(new Error(`posix_memalign returned ${address}, not aligned to ${alignmentBytes}`))
    }
    const buffer = lib.koffi.view(address, byteLength)
    const bytes = new Uint8Array(buffer)
    bytes.fill(0)
    const allocation = { address, byteLength, alignmentBytes, inFlight: InFlight.make(), freed: false, bytes }
    Memory.register(buffer, allocation)
    return allocation
  })

const release = (allocation: Memory.Allocation & { bytes: Uint8Array }): Effect.Effect<void> =>
  Effect.flatMap(InFlight.awaitIdle(allocation.inFlight), () =>
    Effect.sync(() => {
      if (allocation.freed) return
      allocation.freed = true
      const buffer = allocation.bytes.buffer as ArrayBuffer
      Memory.unregister(buffer)
      // Detach first: from here on no view can reach the memory we are about to free.
      if (!buffer.detached) buffer.transfer(0)
      Libc.nativeUnsafe().free(allocation.address)
    }),
  )

/**
 * Allocates `byteLength` zeroed bytes aligned to `alignmentBytes` (a power of two from 8 to
 * `ALIGNMENT_MAX`). Freed when the Scope closes, after all IO on the memory has completed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const allocate = (
  byteLength: number,
  alignmentBytes: number,
): Effect.Effect<AlignedBuffer, IoError.IoError, Scope.Scope> =>
  Effect.map(Effect.acquireRelease(acquire(byteLength, alignmentBytes), release), (allocation) => ({
    bytes: allocation.bytes,
    address: BigInt(allocation.address),
    byteLength: allocation.byteLength,
    alignmentBytes: allocation.alignmentBytes,
  }))

/**
 * How many IO operations still use the memory behind `bytes` (0 for JS memory or freed memory).
 *
 * @since 0.1.0
 * @category utils
 */
export const inFlightCount = (bytes: Uint8Array): number => Memory.lookup(bytes)?.inFlight.count ?? 0

/**
 * Marks one IO on the memory behind `bytes` as started, for IO this package does not run itself
 * (`node:fs` on the threadpool): the memory is not freed until the returned release was called.
 * `undefined` when `bytes` is not live memory from `allocate` (nothing to hold).
 *
 * @since 0.1.0
 * @category utils
 */
export const hold = (bytes: Uint8Array): (() => void) | undefined => {
  const allocation = Memory.lookup(bytes)
  if (allocation === undefined || allocation.freed) return undefined
  InFlight.retain(allocation.inFlight)
  let released = false
  return () => {
    if (released) return
    released = true
    InFlight.release(allocation.inFlight)
  }
}

/**
 * True when `bytes` views memory from `allocate` that has not been freed.
 *
 * @since 0.1.0
 * @category utils
 */
export const isNative = (bytes: Uint8Array): boolean => {
  const allocation = Memory.lookup(bytes)
  return allocation !== undefined && !allocation.freed
}
