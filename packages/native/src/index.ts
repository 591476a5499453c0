/**
 * @fsys/native — the only package in fsys that touches FFI: libc through koffi, aligned native
 * memory, a raw io_uring ring driven from the event loop, and statx.
 *
 * @since 0.1.0
 */
// First: refuses an unsupported Node.js before anything else loads.
import "./internal/nodeVersion.ts"

export type { AlignedBuffer } from "./AlignedBuffer.ts"
export * as AlignedMemory from "./AlignedMemory.ts"
export * as InFlight from "./InFlight.ts"
export * as IoError from "./IoError.ts"
export * as IoUring from "./IoUring.ts"
export * as IoUringCallback from "./IoUringCallback.ts"
export * as Libc from "./Libc.ts"
export * as Statx from "./Statx.ts"
