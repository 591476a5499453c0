/**
 * The registry of native allocations made by `AlignedMemory`, keyed by the `ArrayBuffer` that
 * views them.
 *
 * Every view a caller can hold over an allocation (the `bytes` of an `AlignedBuffer` and any
 * `subarray` of it) shares one `ArrayBuffer`, so the IO paths (the ring, `Libc.pwrite`) find the
 * allocation behind any `Uint8Array` in O(1): its native address, and the `InFlight` counter its
 * free waits on. A `WeakMap` keeps the registry from extending any lifetime.
 *
 * @internal
 */
import type * as InFlight from "../InFlight.ts"

/** @internal */
export interface Allocation {
  /** Address of the first byte (a JS number: user-space addresses are below 2^47). */
  readonly address: number
  readonly byteLength: number
  readonly alignmentBytes: number
  /** Operations the kernel or a threadpool thread still holds on this memory. */
  readonly inFlight: InFlight.InFlight
  /** Set once the memory was returned to the allocator; an IO on it must then be refused. */
  freed: boolean
}

const byBuffer = new WeakMap<ArrayBufferLike, Allocation>()

/** @internal */
export const register = (buffer: ArrayBufferLike, allocation: Allocation): void => {
  byBuffer.set(buffer, allocation)
}

/** @internal */
export const unregister = (buffer: ArrayBufferLike): void => {
  byBuffer.delete(buffer)
}

/** The allocation behind `bytes`, or undefined for ordinary JS memory. @internal */
export const lookup = (bytes: Uint8Array): Allocation | undefined => byBuffer.get(bytes.buffer)
