/**
 * Fixed-buffer registration for the io_uring FileIo layer, never fatal.
 *
 * Registered buffers save the kernel pinning the slot's pages on every write, nothing more: the
 * same writes work as plain WRITE/READ. Registration is refused in ordinary places — pinned pages
 * count against RLIMIT_MEMLOCK (8 MiB by default, per user) for any process without
 * CAP_IPC_LOCK, i.e. every non-root user and a default Docker container, and two 4 MiB slots
 * already reach it; a ring's table can be full; kernels before 5.19 allow one registration per
 * ring. So a refusal becomes an unregistered `Registration` whose reason says why and what to
 * change, and the journal reports it in `Journal.info().reason`.
 *
 * @internal
 */
import * as NodeFs from "node:fs/promises"
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
import { type AlignedBuffer, type IoError, IoUring } from "@fsys/native"
import type { Registration } from "../../FileIo.ts"

/** Reported when the kernel took the buffers. */
export const REGISTERED_REASON = "slots are registered fixed buffers (WRITE_FIXED)"

const MiB = 1024 * 1024

const formatBytes = (bytes: number): string =>
  bytes >= MiB && bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${bytes} bytes`

/** This process's RLIMIT_MEMLOCK soft limit, from /proc/self/limits (not a disk read). */
const memlockLimit: Effect.Effect<string | undefined> = Effect.promise(() =>
  NodeFs.readFile("/proc/self/limits", "utf8").then(
    (text) => {
      const match = /^Max locked memory\s+(\S+)/m.exec(text)
      if (match === null) return undefined
      const soft = match[1]!
      return soft === "unlimited" ? soft : formatBytes(Number(soft))
    },
    () => undefined,
  ),
)

const explain = (error: IoError.IoError, pinnedBytes: number): Effect.Effect<string> =>
  Effect.gen(function* () {
    const prefix = `fixed buffers not registered (io_uring_register: ${error.code})`
    const fallback = "writes use plain WRITE (same durability, a page pin per IO)"
    switch (error.code) {
      case "ENOMEM": {
        const limit = yield* memlockLimit
        return `${prefix}: pinning ${formatBytes(pinnedBytes)} more would exceed RLIMIT_MEMLOCK (${limit ?? "unknown"}, shared by every process of this user without CAP_IPC_LOCK); ${fallback}; raise \`ulimit -l\` to use WRITE_FIXED`
      }
      case "EBUSY":
        return `${prefix}: the ring's buffer table is full, or taken (kernels before 5.19 allow one registration per ring); ${fallback}`
      default:
        return `${prefix}: ${error.message}; ${fallback}`
    }
  })

/** `FileIo.registerBuffers` over `ring`: registered, or unregistered with the reason. */
export const registerBuffers = (
  ring: IoUring.Ring,
  buffers: ReadonlyArray<AlignedBuffer>,
): Effect.Effect<Registration, never, Scope.Scope> =>
  IoUring.registerBuffers(ring, buffers).pipe(
    Effect.as<Registration>({ fixed: true, reason: REGISTERED_REASON }),
    Effect.catch((error) =>
      Effect.map(
        explain(
          error,
          buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0),
        ),
        (reason): Registration => ({ fixed: false, reason }),
      ),
    ),
  )
