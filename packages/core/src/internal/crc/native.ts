/**
 * The optional native CRC-32C: `@node-rs/crc32` (SSE4.2 / ARMv8 CRC instructions, via N-API).
 *
 * Loaded once, synchronously, when this module is first imported. It is an optional dependency:
 * when the package or its platform binary is missing, `crc32c` is `undefined` and callers use the
 * TypeScript tables. Its `initialState` is a previous finalized CRC, the same convention as ours.
 *
 * @internal
 */
import { createRequire } from "node:module"

type NativeCrc32c = (input: Uint8Array, initialState?: number | null) => number

/** Loads and verifies the native CRC through `require` (injectable for tests); undefined on any failure. */
export const load = (require: (id: string) => unknown): NativeCrc32c | undefined => {
  try {
    const module = require("@node-rs/crc32") as { readonly crc32c?: unknown }
    if (typeof module.crc32c !== "function") return undefined
    const crc32c = module.crc32c as NativeCrc32c
    // Trust but verify: a binary that loads but computes something else must not be used.
    return crc32c(new TextEncoder().encode("123456789"), 0) === 0xe3069283 ? crc32c : undefined
  } catch {
    return undefined
  }
}

/** The native function, or `undefined` when it could not be loaded on this platform. */
export const crc32c: NativeCrc32c | undefined = load(createRequire(import.meta.url))
