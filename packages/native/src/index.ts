/**
 * @fsys/native — the only package in fsys that touches FFI.
 *
 * @since 0.1.0
 */
export * as IoError from "./IoError.ts"
export type { AlignedBuffer } from "./AlignedBuffer.ts"
